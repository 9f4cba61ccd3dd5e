#!/usr/bin/env bash
# test.sh [CTEST ARGS...] — the README's second command: install what is missing (lab
# kernel included), build everything with ASan+UBSan in build/, and run every test:
# unit, oracle (xpv vs hwloc on real machines' trees), fuzz smoke, stress and the QEMU lab.
# Extra arguments go to ctest (e.g. `scripts/test.sh -R unit`).
# Last line: `skipped: N (name: reason; ...)`, each reason from the test's `skip: ` line
# (docs/development.md, "Skips"). The exit status is ctest's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

bash scripts/setup.sh test
source scripts/configure.sh
xpv_configure build -DXPV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build -j"$(nproc)"
cd build
junit=Testing/junit.xml
rm -f "$junit"
rc=0
ctest --output-on-failure -j"$(nproc)" --output-junit "$junit" "$@" || rc=$?
python3 "$here/scripts/ctest_junit.py" skips "$junit" || true # a summary never changes rc
exit "$rc"
