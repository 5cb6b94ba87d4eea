# CI/CD pipeline stand-in.
. scripts/common.sh
mkdir -p build
echo "pipeline: build -> test -> canary -> blue-green" > build/pipeline.txt
echo "pipeline configured"
