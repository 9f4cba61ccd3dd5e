#!/bin/sh
# ctest_junit_selftest.sh CMAKE CTEST PYTHON CTEST_JUNIT_PY — scripts/ctest_junit.py, which
# makes scripts/test.sh's `skipped:` line and scripts/soak.sh's table, on a scratch CTest
# project whose tests pass, skip with and without a `skip:` line, fail, fail when a fixture
# failed, and fail on every other iteration: the line names each skip with its reason (and
# none of the rest), the table counts each test per iteration and saves the flaky test's first
# failing output, and both exit as documented.
set -eu
cmake=$1 ctest=$2 python=$3 junit=$4
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/src" "$d/res"
cat >"$d/src/CMakeLists.txt" <<EOF2
cmake_minimum_required(VERSION 3.21)
project(selftest NONE)
enable_testing()
add_test(NAME t.pass COMMAND sh -c "echo hello")
add_test(NAME t.skip COMMAND sh -c "echo noise; echo '  skip: no frobnicator here'; exit 77")
add_test(NAME t.mute COMMAND sh -c "exit 77")
set_tests_properties(t.skip t.mute PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME t.fail COMMAND sh -c "echo 'skip: not a skip'; exit 1")
add_test(NAME t.setup COMMAND sh -c "exit 1")
set_tests_properties(t.setup PROPERTIES FIXTURES_SETUP fx)
add_test(NAME t.needs COMMAND sh -c "true")
set_tests_properties(t.needs PROPERTIES FIXTURES_REQUIRED fx)
add_test(NAME t.flaky COMMAND sh -c "n=\\\$(cat $d/n 2>/dev/null || echo 0); n=\\\$((n + 1)); echo \\\$n >$d/n; seq 100; [ \\\$((n % 2)) -eq 1 ] || { echo flaky failure \\\$n; exit 1; }")
EOF2
"$cmake" -S "$d/src" -B "$d/b" >"$d/cmake.log" 2>&1 || { cat "$d/cmake.log"; exit 1; }
bad=0
check() { # check DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then echo "ok: $1"; else printf 'FAIL: %s:\n got: %s\nwant: %s\n' "$1" "$2" "$3"; bad=1; fi
}
for k in 1 2 3; do
    (cd "$d/b" && "$ctest" --output-junit "$d/res/iter-$k.xml" >/dev/null 2>&1) || true
done
check "the skipped: line" "$("$python" "$junit" skips "$d/res/iter-1.xml")" \
    "skipped: 2 (t.skip: no frobnicator here; t.mute: no 'skip:' line in its output)"
check "no JUnit file" "$("$python" "$junit" skips "$d/res/none.xml")" \
    "skipped: unknown (ctest wrote no $d/res/none.xml)"
rc=0
"$python" "$junit" soak "$d/res" "$d/res/iter-1.xml" "$d/res/iter-2.xml" "$d/res/iter-3.xml" \
    >"$d/table" || rc=$?
cat "$d/table"
check "soak exit status with failures" "$rc" 1
row() { grep "^$1 " "$d/table" | tr -s ' '; }
check "t.pass row" "$(row t.pass)" "t.pass 3 3 0 0"
check "t.skip row" "$(row t.skip)" "t.skip 3 0 0 3 skip: no frobnicator here"
check "t.fail row" "$(row t.fail)" "t.fail 3 0 3 0 1,2,3: $d/res/t.fail.fail.txt"
check "t.needs row (its fixture failed: not run, a failure)" "$(row t.needs)" \
    "t.needs 3 0 3 0 1,2,3: $d/res/t.needs.fail.txt"
check "t.flaky row" "$(row t.flaky)" "t.flaky 3 2 1 0 2: $d/res/t.flaky.fail.txt"
check "t.flaky's first failure saved" "$(tail -n 1 "$d/res/t.flaky.fail.txt")" "flaky failure 2"
rc=0
"$python" "$junit" soak "$d/res" "$d/res/iter-1.xml" "$d/res/iter-9.xml" >/dev/null || rc=$?
check "soak exit status with an iteration missing" "$rc" 1
[ $bad -eq 0 ] && echo PASS
exit $bad
