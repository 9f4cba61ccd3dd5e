#!/usr/bin/env bash
# test.sh [CTEST ARGS...] — the README's second command: install what is missing (lab
# kernel included), build everything with ASan+UBSan in build/, and run every test:
# unit, oracle (xpv vs hwloc on real machines' trees), fuzz smoke, stress and the QEMU lab.
# Extra arguments go to ctest (e.g. `scripts/test.sh -R unit`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

bash scripts/setup.sh test
source scripts/configure.sh
xpv_configure build -DXPV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build -j"$(nproc)"
cd build
exec ctest --output-on-failure -j"$(nproc)" "$@"
