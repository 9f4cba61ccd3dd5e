#!/bin/sh
# prefix.sh SRC WORK VERSION CC — test install.prefix: what `cmake --install` puts in a
# prefix works for a program outside the tree (docs/install.md).
#
# Configures SRC in WORK/build on its own (Release, no sanitizers, BUILD_TESTING=OFF, with a
# pkg-config that cannot see cmocka: the tools need the runtime libraries only), installs it
# into WORK/prefix-... (a long name on purpose: the man pages name the documentation directory,
# and a long prefix once made groff warn on a CI machine whose clone lived deep), then checks:
#   - the tree: binary, libraries (SONAMEs, links), the ABI headers and no other, pkg-config
#     files, systemd units (running the installed xpv), man pages (render without warnings),
#     bash completion, docs;
#   - libxpv.so: links libc alone (ldd: no hwloc, jansson, numa), exports exactly the
#     functions the installed headers declare, each at version LIBXPV_1;
#   - every installed header compiles on its own (C17 -pedantic, and C++ where there is one);
#   - outside.c, built with `pkg-config --cflags --libs libxpv` against the prefix, reads a
#     record the installed `xpv publish` wrote and prints what `xpv watch` sees;
#     outside_malloc.c the same way with libxpv-malloc;
#   - libxpv-numa.so (LIBDIR/xpv/) links libc alone, keeps no build-tree RUNPATH and exports
#     exactly getcpu and the libnuma functions it changes, at libc's and libnuma's versions
#     (its libnuma.so.1 shim is not installed: docs/runtimes.md);
#   - the installed xpv prints VERSION and finds the installed Carrefour sampler.
# shellcheck disable=SC2015,SC2046,SC2086 # "A && B || fail" on purpose; pkg-config flags split on purpose
set -eu
src=$1 work=$2 version=$3 cc=$4
here=$(cd "$(dirname "$0")" && pwd)
prefix=$work/prefix-deliberately-long-so-the-man-pages-are-rendered-with-a-docdir-beyond-one-line
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
mkdir -p "$work"
rm -rf "$prefix" "$work/run"
mkdir -p "$work/run"

# A pkg-config search path with every .pc of this machine but cmocka's.
pcdir=$work/pc-runtime
rm -rf "$pcdir"
mkdir -p "$pcdir"
for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
    for f in "$d"/*.pc; do
        [ -e "$f" ] && [ "$(basename "$f")" != cmocka.pc ] && ln -sf "$f" "$pcdir/"
    done
done
PKG_CONFIG_LIBDIR=$pcdir cmake -S "$src" -B "$work/build" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DXPV_SANITIZE=OFF \
    -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; fail "configure without tests (and without cmocka) failed"; }
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 ||
    { grep -E 'error|warning' "$work/build.log" | head -30; fail "build failed ($work/build.log)"; }
cmake --install "$work/build" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "install failed"; }
echo "installed into $prefix"

# --- the tree ---
# LIBDIR: lib, or lib/<triplet> when the prefix is /usr
libdir=$(cd "$prefix" && find . -name libxpv.so.1 | head -1)
[ -n "$libdir" ] || fail "not installed: libxpv.so.1"
libdir=$prefix/$(dirname "${libdir#./}")
for f in bin/xpv include/xpv/channel.h share/man/man1/xpv.1 share/man/man3/libxpv.3 \
    share/man/man3/xpv-malloc.3 share/bash-completion/completions/xpv \
    lib/systemd/system/xpv-hostd.service lib/systemd/system/xpv-guestd.service \
    share/doc/xpv/README.md share/doc/xpv/channel.md; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
for f in libxpv.so libxpv.so.1 "libxpv.so.$version" libxpv-malloc.so libxpv-malloc.so.1 \
    "libxpv-malloc.so.$version" xpv/libxpv-cfsampler.so xpv/libxpv-gmsampler.so xpv/libxpv-numa.so pkgconfig/libxpv.pc \
    pkgconfig/libxpv-malloc.pc libxpv-malloc-mi.so libxpv-malloc-mi.so.1 "libxpv-malloc-mi.so.$version" \
    pkgconfig/libxpv-malloc-mi.pc; do
    [ -e "$libdir/$f" ] || fail "not installed: ${libdir#"$prefix"/}/$f"
done
[ -L "$libdir/libxpv.so" ] && [ -L "$libdir/libxpv.so.1" ] || fail "libxpv.so and .so.1 are not links"
[ "$(readlink "$libdir/libxpv.so.1")" = "libxpv.so.$version" ] || fail "libxpv.so.1 -> $(readlink "$libdir/libxpv.so.1")"
for l in libxpv libxpv-malloc libxpv-malloc-mi; do
    soname=$(readelf -d "$libdir/$l.so.$version" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
    [ "$soname" = "$l.so.1" ] || fail "$l: SONAME '$soname', expected $l.so.1"
done
headers=$(cd "$prefix/include" && find . -type f | sort | tr '\n' ' ')
want="./xpv/bitmap.h ./xpv/channel.h ./xpv/crc32c.h ./xpv/effective.h ./xpv/error.h ./xpv/frame.h ./xpv/publisher.h ./xpv/record.h ./xpv/xpv_malloc.h "
[ "$headers" = "$want" ] || fail "installed headers: $headers; expected the ABI headers: $want"
for u in hostd guestd; do
    exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$prefix/lib/systemd/system/xpv-$u.service")
    [ "$exec_start" = "$prefix/bin/xpv" ] || fail "xpv-$u.service runs '$exec_start', not $prefix/bin/xpv"
done
for m in man1/xpv.1 man3/libxpv.3 man3/xpv-malloc.3; do
    w=$(groff -man -Tascii -ww -z "$prefix/share/man/$m" 2>&1) || fail "groff failed on $m"
    [ -z "$w" ] || fail "$m: groff warnings: $w"
done
bash -n "$prefix/share/bash-completion/completions/xpv" || fail "the completion is not valid bash"

# --- libxpv.so: dependencies and symbols ---
ldd "$libdir/libxpv.so.1" >"$work/run/ldd" || fail "ldd libxpv.so.1 failed"
if grep -E 'hwloc|jansson|numa|yaml|jemalloc' "$work/run/ldd"; then
    fail "libxpv.so.1 pulls in the libraries above"
fi
needed=$(readelf -d "$libdir/libxpv.so.1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v -E '^(libc\.so\.6|libpthread\.so\.0)$' || true)
[ -z "$needed" ] || fail "libxpv.so.1 needs more than libc: $needed"
# Declared: a line that starts a declaration (not static inline, not typedef) and names a
# function xpv_*( of an installed libxpv header.
for h in error bitmap record channel effective publisher frame crc32c; do
    grep -E '^[a-z]' "$prefix/include/xpv/$h.h" | grep -v -E '^(static|typedef|extern|struct [a-z_]+ \{)' |
        grep -oE '\bxpv_[a-z0-9_]+\(' | tr -d '('
done | sort -u >"$work/run/declared"
nm -D --defined-only "$libdir/libxpv.so.1" | awk '$2 ~ /^[TWiD]$/ {print $3}' | sed 's/@.*//' |
    sort -u >"$work/run/exported"
[ -s "$work/run/declared" ] || fail "no declarations found in the installed headers"
if ! diff "$work/run/declared" "$work/run/exported" >"$work/run/symdiff"; then
    sed 's/^</declared, not exported:/; s/^>/exported, not declared:/' "$work/run/symdiff" | grep : >&2
    fail "libxpv.so.1 exports differ from the installed headers' functions (src/channel/libxpv.map)"
fi
unversioned=$(objdump -T "$libdir/libxpv.so.1" | awk '$2 != "*UND*" && / xpv_/ && !/ LIBXPV_1 /')
[ -z "$unversioned" ] || fail "symbols without version LIBXPV_1: $unversioned"
echo "libxpv.so.1: libc only, $(wc -l <"$work/run/exported") functions exported at LIBXPV_1, as declared"

# --- libxpv-numa: the preload form ---
numa=$libdir/xpv/libxpv-numa.so
needed=$(readelf -d "$numa" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v -E '^(libc\.so\.6|libpthread\.so\.0|libdl\.so\.2)$' || true)
[ -z "$needed" ] || fail "libxpv-numa.so needs more than libc: $needed"
objdump -T "$numa" | awk '/ \.text\t/ {print $NF "@" $(NF-1)}' | tr -d '()' | sort >"$work/run/numa-exported"
printf '%s\n' getcpu@GLIBC_2.29 numa_distance@libnuma_1.1 numa_max_node@libnuma_1.1 \
    numa_node_of_cpu@libnuma_1.2 numa_node_to_cpus@libnuma_1.1 numa_node_to_cpus@libnuma_1.2 \
    numa_num_configured_nodes@libnuma_1.2 | sort >"$work/run/numa-want"
diff "$work/run/numa-want" "$work/run/numa-exported" >&2 || fail "libxpv-numa.so exports differ (src/numa/libxpv-numa.map)"
! readelf -d "$numa" | grep -qE 'RPATH|RUNPATH' || fail "the installed libxpv-numa.so keeps a build-tree RUNPATH"
echo "libxpv-numa.so: libc only, $(wc -l <"$work/run/numa-exported") functions at libnuma's/libc's versions"

# --- the headers stand alone ---
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_LIBDIR="$libdir/pkgconfig"
cflags=$(pkg-config --cflags libxpv) || fail "pkg-config --cflags libxpv failed"
[ "$(pkg-config --modversion libxpv)" = "$version" ] || fail "libxpv.pc version $(pkg-config --modversion libxpv)"
cxx=$(command -v c++ || command -v clang++ || command -v g++ || true)
for h in $want; do
    h=${h#./}
    echo "#include <$h>" >"$work/run/h.c"
    "$cc" -std=c17 -pedantic -Wall -Wextra -Werror $cflags -fsyntax-only "$work/run/h.c" ||
        fail "$h does not compile on its own (C17)"
    if [ -n "$cxx" ]; then
        "$cxx" -x c++ -std=c++17 -Wall -Wextra -Werror $cflags -fsyntax-only "$work/run/h.c" ||
            fail "$h does not compile on its own (C++)"
    fi
done
echo "headers: each compiles on its own (C17 -pedantic${cxx:+, C++17})"

# --- a program outside the tree ---
xpv=$prefix/bin/xpv
rec=$work/run/record
"$xpv" publish --path "$rec" --once >/dev/null || fail "xpv publish failed"
"$xpv" publish --path "$rec" --once >/dev/null || fail "xpv publish failed (again)"
"$cc" -o "$work/run/outside" "$here/outside.c" $(pkg-config --cflags --libs libxpv) ||
    fail "outside.c does not build with pkg-config libxpv"
got=$(LD_LIBRARY_PATH=$libdir "$work/run/outside" "$rec") || fail "outside failed: $got"
# What xpv watch sees: generation 2, the nodes and CPUs of this machine.
json=$("$xpv" watch "$rec" --count 1 --json)
gen=$(echo "$json" | sed 's/^{"generation":\([0-9]*\),.*/\1/')
nodes=$(echo "$json" | grep -o '"id":' | wc -l)
cpus=$(echo "$json" | sed 's/.*"cpu_node":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | wc -l)
[ "$got" = "generation $gen: $nodes nodes, $cpus cpus" ] && [ "$gen" = 2 ] ||
    fail "outside printed '$got'; xpv watch says generation $gen, $nodes nodes, $cpus cpus"
echo "outside (pkg-config libxpv): $got"
LD_LIBRARY_PATH=$libdir ldd "$work/run/outside" | grep -q "libxpv.so.1 => $libdir/" || fail "outside does not use the installed libxpv.so.1"

"$cc" -o "$work/run/outside-malloc" "$here/outside_malloc.c" $(pkg-config --cflags --libs libxpv-malloc) ||
    fail "outside_malloc.c does not build with pkg-config libxpv-malloc"
got=$(XPV_RECORD=$rec LD_LIBRARY_PATH=$libdir "$work/run/outside-malloc") || fail "outside-malloc failed: $got"
echo "$got" | grep -qE '^heap: [1-9][0-9]* node arenas, [1-9][0-9]* binds$' || fail "outside-malloc printed '$got'"
echo "outside (pkg-config libxpv-malloc): $got"
"$cc" -o "$work/run/outside-malloc-mi" "$here/outside_malloc.c" $(pkg-config --cflags --libs libxpv-malloc-mi) ||
    fail "outside_malloc.c does not build with pkg-config libxpv-malloc-mi"
got=$(XPV_RECORD=$rec LD_LIBRARY_PATH=$libdir "$work/run/outside-malloc-mi") || fail "outside-malloc-mi failed: $got"
echo "$got" | grep -qE '^heap: [1-9][0-9]* node arenas, [1-9][0-9]* binds$' || fail "outside-malloc-mi printed '$got'"
LD_LIBRARY_PATH=$libdir ldd "$work/run/outside-malloc-mi" | grep -q "libmimalloc.so.2" || fail "outside-malloc-mi does not use mimalloc"
echo "outside (pkg-config libxpv-malloc-mi): $got"

# --- the installed CLI ---
[ "$("$xpv" --version)" = "xpv $version" ] || fail "xpv --version: $("$xpv" --version)"
[ "$("$xpv" -V)" = "xpv $version" ] || fail "xpv -V: $("$xpv" -V)"
# The sampler: no ../lib/libxpv-cfsampler.so next to the installed xpv, so this is the
# installed plugin (LIBDIR/xpv/) or nothing.
[ ! -e "$prefix/bin/../lib/libxpv-cfsampler.so" ] || fail "a sampler next to bin/ would hide what this checks"
timeout 60 "$xpv" carrefour --dry-run --rounds 1 -- true >"$work/run/cf.out" 2>"$work/run/cf.err" ||
    { cat "$work/run/cf.err"; fail "the installed xpv carrefour -- true failed"; }
echo "xpv --version: $("$xpv" --version); xpv carrefour found $libdir/xpv/libxpv-cfsampler.so"
echo "PASS"
