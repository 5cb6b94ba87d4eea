# work.3.2: "builds" the release named in .demo/release.
. scripts/common.sh
mkdir -p build
echo "app $(release)" > "build/app-$(release).txt"
echo "built $(release)"
