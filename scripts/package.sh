#!/usr/bin/env bash
# package.sh [BUILD_DIR] — the Debian package of this tree: configure a Release tree without
# tests or sanitizers, installing under /usr, in BUILD_DIR (default build/pkg), build it, pack
# it with CPack's DEB generator (dist/CMakeLists.txt), and print the .deb's path on stdout
# (the build's and CPack's output go to BUILD_DIR/build.log and BUILD_DIR/cpack.log).
# Installs what is missing first (scripts/setup.sh package: the build's packages and
# dpkg-dev, whose dpkg-shlibdeps gives the package's Depends).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$here/build/pkg}
cd "$here"

bash scripts/setup.sh package >&2

source scripts/configure.sh
xpv_configure "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DXPV_SANITIZE=OFF \
    -DCMAKE_INSTALL_PREFIX=/usr
cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1 || {
    tail -40 "$dir/build.log" >&2
    echo "package: build failed (log: $dir/build.log)" >&2
    exit 1
}
rm -f "$dir"/xpv_*.deb
(cd "$dir" && cpack -G DEB >cpack.log 2>&1) || {
    cat "$dir/cpack.log" >&2
    echo "package: cpack failed (log: $dir/cpack.log)" >&2
    exit 1
}
debs=("$dir"/xpv_*.deb)
[[ -f ${debs[0]} ]] || { echo "package: no .deb in $dir" >&2; exit 1; }
echo "${debs[0]}"
