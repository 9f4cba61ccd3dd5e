#!/bin/sh
# deb.sh SRC WORK VERSION — test install.deb: the Debian package (scripts/package.sh, built in
# WORK/pkg) holds what an operator expects and installs.
#   - dpkg-deb: package xpv VERSION-1, Depends from dpkg-shlibdeps (libc6, libhwloc...),
#     a shlibs file for libxpv and libxpv-malloc;
#   - dpkg -c lists the binary, the libraries, the ABI headers, the pkg-config files, the
#     units, the man pages and the completion, under /usr;
#   - dpkg -x: the units run /usr/bin/xpv, the unpacked xpv prints VERSION;
#   - as root, a real `dpkg -i`: /usr/bin/xpv --version, man -w xpv, and outside.c built with
#     the system's pkg-config runs without LD_LIBRARY_PATH (ldconfig ran); then `dpkg -r`
#     leaves none of it (and `dpkg --purge` drops the package's record). Skipped (said so) when not root, or when a package xpv is already
#     installed here (it is not this test's to replace).
# shellcheck disable=SC2015,SC2046,SC2086 # "A && B || fail" on purpose; pkg-config flags split on purpose
set -eu
src=$1 work=$2 version=$3
here=$(cd "$(dirname "$0")" && pwd)
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
mkdir -p "$work"
deb=$(bash "$src/scripts/package.sh" "$work/pkg") || fail "scripts/package.sh failed"
echo "package: $deb"
[ "$(basename "$deb")" = "xpv_${version}-1_$(dpkg --print-architecture).deb" ] || fail "unexpected name $deb"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = xpv ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version-1" ] || fail "Version: $(field Version)"
depends=$(field Depends)
for d in libc6 libhwloc libjansson libnuma libjemalloc libyaml; do
    echo "$depends" | grep -q "$d" || fail "Depends lacks $d: $depends"
done
[ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] || fail "no Maintainer or Description"
rm -rf "$work/control"
dpkg-deb -e "$deb" "$work/control"
grep -qx "libxpv 1 xpv (>= $version-1)" "$work/control/shlibs" || fail "shlibs: $(cat "$work/control/shlibs")"
echo "control: Version $version-1; Depends: $depends"

dpkg -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents"
multi=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for f in /usr/bin/xpv \
    "/usr/lib/$multi/libxpv.so.$version" "/usr/lib/$multi/libxpv.so.1" "/usr/lib/$multi/libxpv.so" \
    "/usr/lib/$multi/libxpv-malloc.so.$version" "/usr/lib/$multi/libxpv-malloc.so.1" \
    "/usr/lib/$multi/libxpv-malloc.so" "/usr/lib/$multi/xpv/libxpv-cfsampler.so" \
    "/usr/lib/$multi/libxpv-malloc-mi.so.$version" "/usr/lib/$multi/libxpv-malloc-mi.so.1" \
    "/usr/lib/$multi/libxpv-malloc-mi.so" "/usr/lib/$multi/pkgconfig/libxpv-malloc-mi.pc" \
    "/usr/lib/$multi/xpv/libxpv-numa.so" "/usr/lib/$multi/xpv/libxpv-gmsampler.so" \
    "/usr/lib/$multi/pkgconfig/libxpv.pc" "/usr/lib/$multi/pkgconfig/libxpv-malloc.pc" \
    /usr/include/xpv/channel.h /usr/include/xpv/record.h /usr/include/xpv/xpv_malloc.h \
    /usr/lib/systemd/system/xpv-hostd.service /usr/lib/systemd/system/xpv-guestd.service \
    /usr/share/man/man1/xpv.1 /usr/share/man/man3/libxpv.3 /usr/share/man/man3/xpv-malloc.3 \
    /usr/share/bash-completion/completions/xpv /usr/share/doc/xpv/install.md; do
    grep -qx -- "$f" "$work/contents" || fail "dpkg -c: no $f"
done
if grep -E '^/usr/include/xpv/(topo|ops|policy|hostd|sim)\.h$' "$work/contents"; then
    fail "internal headers in the package (above)"
fi
echo "dpkg -c: $(grep -vc '/$' "$work/contents") files, the expected ones among them"

root=$work/root
rm -rf "$root"
dpkg -x "$deb" "$root"
for u in hostd guestd; do
    grep -qx "ExecStart=/usr/bin/xpv $u.*" "$root/usr/lib/systemd/system/xpv-$u.service" ||
        fail "xpv-$u.service: $(grep ExecStart "$root/usr/lib/systemd/system/xpv-$u.service")"
done
[ "$("$root/usr/bin/xpv" --version)" = "xpv $version" ] || fail "unpacked xpv --version: $("$root/usr/bin/xpv" --version)"
echo "dpkg -x: units run /usr/bin/xpv; xpv --version: xpv $version"

if [ "$(id -u)" != 0 ]; then
    echo "not root: the real dpkg -i / dpkg -r part is skipped"
    echo PASS
    exit 0
fi
if dpkg-query -W -f '${Status}' xpv 2>/dev/null | grep -q 'install ok installed'; then
    echo "a package xpv is already installed here: the real dpkg -i / dpkg -r part is skipped"
    echo PASS
    exit 0
fi
for f in /usr/bin/xpv /usr/include/xpv "/usr/lib/$multi/libxpv.so.1"; do
    if [ -e "$f" ]; then
        echo "$f exists (not from a package): the real dpkg -i / dpkg -r part is skipped"
        echo PASS
        exit 0
    fi
done
remove() { dpkg --purge xpv >/dev/null 2>&1 || true; }
trap remove EXIT
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
[ "$(/usr/bin/xpv --version)" = "xpv $version" ] || fail "installed /usr/bin/xpv --version: $(/usr/bin/xpv --version)"
[ "$(man -w xpv 2>/dev/null)" = /usr/share/man/man1/xpv.1 ] || fail "man -w xpv: $(man -w xpv 2>&1)"
ldconfig -p | grep -q 'libxpv\.so\.1 ' || fail "libxpv.so.1 is not in the ldconfig cache after dpkg -i (no ldconfig trigger)"
rm -f "$work/record"
/usr/bin/xpv publish --path "$work/record" --once >/dev/null || fail "installed xpv publish failed"
cc -o "$work/outside" "$here/outside.c" $(pkg-config --cflags --libs libxpv) ||
    fail "outside.c does not build with the installed package's pkg-config libxpv"
got=$(env -u LD_LIBRARY_PATH "$work/outside" "$work/record") || fail "outside failed: $got"
echo "$got" | grep -q '^generation 1: ' || fail "outside printed '$got'"
# (merged /usr: the ldconfig cache may name it /lib/<triplet>/)
ldd "$work/outside" | grep -qE "libxpv\.so\.1 => (/usr)?/lib/$multi/libxpv\.so\.1" ||
    fail "outside does not find /usr/lib/$multi/libxpv.so.1: $(ldd "$work/outside" | grep libxpv)"
echo "dpkg -i: /usr/bin/xpv --version ok; man -w xpv ok; libxpv.so.1 in the ldconfig cache; outside (system pkg-config, no LD_LIBRARY_PATH): $got"
dpkg -r xpv >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
dpkg --purge xpv >>"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg --purge failed"; }
trap - EXIT
! dpkg-query -W xpv >/dev/null 2>&1 || fail "dpkg still knows xpv after dpkg --purge"
for f in /usr/bin/xpv "/usr/lib/$multi/libxpv.so.1" /usr/include/xpv/channel.h /usr/lib/systemd/system/xpv-hostd.service; do
    [ ! -e "$f" ] || fail "$f is still there after dpkg -r"
done
! ldconfig -p | grep -q 'libxpv\.so\.1 ' || fail "libxpv.so.1 still in the ldconfig cache after dpkg -r"
echo "dpkg -r: nothing left"
echo PASS
