#!/usr/bin/env bash
# soak.sh [--clean] N [CTEST ARGS...] — hunt flaky tests: build a tree of its own from the
# current sources (by default configured like scripts/test.sh: ASan+UBSan, Debug), then run
# the tests CTEST ARGS choose N times, each iteration a complete ctest run, and print a table
# per test: runs, passes, failures, skips and the iterations it failed in. For each test that
# failed, the last lines of its first failing output are saved to a file the table names.
#
#   scripts/soak.sh 20 -R 'unit.(bitmap|topo)'     # 20 runs of two tests
#   scripts/soak.sh 5 -R hostd -j2                 # ctest's own options pass through
#
# Environment:
#   SOAK_DIR         the build tree (default: build/soak); results in SOAK_DIR/soak-results/
#                    (iter-K.xml: each iteration's JUnit, iter-K.log: its ctest output,
#                    iter-K.labN.log: the lab guests' console logs, TEST.fail.txt: a test's
#                    first failure)
#   SOAK_CMAKE_ARGS  the configuration (default: -DXPV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
# --clean removes SOAK_DIR first (otherwise the tree is brought up to date, as a build does).
# The lab kernel and QEMU are looked for where scripts/setup.sh test puts them (build/lab/kernel,
# build/lab/qemu).
# Installs nothing (scripts/setup.sh test does). Exit 0 when no test failed in any iteration,
# 1 when one did, 2 on bad usage or a failed build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
clean=0
case ${1:-} in
-h | --help) usage; exit 0 ;;
--clean) clean=1; shift ;;
esac
if [[ $# -lt 1 || ! ${1:-} =~ ^[1-9][0-9]*$ ]]; then
    echo "soak.sh: the first argument is the number of iterations (see --help)" >&2
    exit 2
fi
n=$1
shift

cd "$here"
dir=${SOAK_DIR:-build/soak}
read -r -a config <<<"${SOAK_CMAKE_ARGS:--DXPV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug}"
if ((clean)); then
    rm -rf "$dir"
fi
source scripts/configure.sh
echo "soak: building $dir (${config[*]})"
xpv_configure "$dir" "${config[@]}" -DXPV_LAB_KERNEL="$here/build/lab/kernel" \
    -DXPV_LAB_QEMU="$here/build/lab/qemu/usr/bin/qemu-system-x86_64" || exit 2
if ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
    grep -E 'error|warning' "$dir/build.log" | head -n 40 >&2
    echo "soak: the build failed (log: $dir/build.log)" >&2
    exit 2
fi

results=$(cd "$dir" && pwd)/soak-results
rm -rf "$results"
mkdir -p "$results"
files=()
for ((k = 1; k <= n; k++)); do
    start=$SECONDS
    rc=0
    (cd "$dir" && ctest --output-junit "$results/iter-$k.xml" "$@") >"$results/iter-$k.log" 2>&1 || rc=$?
    files+=("$results/iter-$k.xml")
    # the lab's console logs (the whole output of its in-guest tests; JUnit keeps 1 KiB)
    for f in "$dir"/lab/*.log; do
        [[ -f $f ]] && cp "$f" "$results/iter-$k.$(basename "$f")"
    done
    echo "soak: iteration $k of $n: ctest exit $rc, $((SECONDS - start)) s;" \
        "$(grep -E '^[0-9]+% tests passed' "$results/iter-$k.log" || echo 'no test ran')"
done
python3 scripts/ctest_junit.py soak "$results" "${files[@]}"
