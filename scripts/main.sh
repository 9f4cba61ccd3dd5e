#!/usr/bin/env bash
# main.sh [ARGS...] — the README's first command: install what is missing, build xpv
# (optimised, no sanitizers) in build/, and run the main job on its built-in default.
# The main job is `xpv sim` on its built-in default (sim/default.yaml: one labelled case per
# class of VM re-placement, eleven VM policies compared; per case a headline — what the move
# cost static vNUMA, what XPV recovered — then its table; a summary line); ARGS replace it
# (e.g. `scripts/main.sh topo --json`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

bash scripts/setup.sh build
source scripts/configure.sh
xpv_configure build -DXPV_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target xpv >/dev/null

if (($#)); then
    exec build/bin/xpv "$@"
fi
exec build/bin/xpv sim
