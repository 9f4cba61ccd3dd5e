#!/usr/bin/env bash
# fetch-kernel.sh DIR — put Debian's own amd64 kernel image for the lab guest under DIR.
#
# The package is downloaded (apt-get download) and unpacked with dpkg-deb -x: nothing is
# installed on the host and no install hooks run. Afterwards DIR holds boot/vmlinuz-* and
# lib/modules/<version>/ (the virtio modules the guest loads). A no-op when DIR already
# holds a kernel. Needs apt reachable only the first time.
#
# Failure here is not fatal for the test suite: without a kernel the lab tests skip with a
# message saying so (docs/lab.md); this script warns and exits 0 unless
# XPV_LAB_REQUIRED=1, so a machine without apt still runs every other test.
set -euo pipefail

dir=${1:?usage: lab/fetch-kernel.sh DIR}

have_kernel() { compgen -G "$dir/boot/vmlinuz-*" >/dev/null && compgen -G "$dir/lib/modules/*/kernel" >/dev/null; }

if have_kernel; then
    exit 0
fi

fail() {
    echo "lab: cannot fetch the guest kernel: $*" >&2
    echo "lab: the lab tests will skip; to retry: bash lab/fetch-kernel.sh $dir" >&2
    [[ ${XPV_LAB_REQUIRED:-0} == 1 ]] && exit 1
    exit 0
}

command -v apt-get >/dev/null || fail "apt-get not found (not a Debian machine?)"
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"

# linux-image-amd64 is the metapackage; its first linux-image-* dependency is the
# versioned image package (e.g. linux-image-6.1.0-28-amd64).
pkg_of() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
pkg=$(pkg_of)
if [[ -z $pkg ]]; then
    # An empty apt cache knows no packages yet.
    if ((EUID == 0)); then apt-get update -qq || true; fi
    pkg=$(pkg_of)
fi
[[ -n $pkg ]] || fail "apt knows no linux-image-amd64 (run apt-get update as root)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "lab: fetching $pkg (unpacked under $dir, not installed)"
# apt-get download writes into the current directory; as root it drops privileges to _apt,
# which must be able to write there.
chmod 0777 "$tmp"
(cd "$tmp" && apt-get download -qq "$pkg") || fail "apt-get download $pkg failed"
mkdir -p "$tmp/x"
dpkg-deb -x "$tmp"/"${pkg}"_*.deb "$tmp/x" || fail "dpkg-deb -x failed"
mkdir -p "$dir"
rm -rf "$dir/boot" "$dir/lib"
mv "$tmp/x/boot" "$dir/boot"
mkdir -p "$dir/lib"
mv "$tmp/x/lib/modules" "$dir/lib/modules"
have_kernel || fail "the package $pkg held no vmlinuz or modules"
echo "lab: kernel $(basename "$(compgen -G "$dir/boot/vmlinuz-*" | head -1)") ready in $dir"
