#!/usr/bin/env bash
# setup.sh [build|package|test] — install what xpv needs on Debian 12, and nothing more.
#
#   build    compilers, CMake and the libraries xpv links (hwloc, libnuma, jansson, cmocka,
#            libyaml, jemalloc, mimalloc; libvirt and libxml2 for hostd's libvirt backend)
#   package  build + dpkg-dev (dpkg-shlibdeps, for the .deb's Depends; scripts/package.sh)
#   test     package + what the tests use: clang's sanitizer/fuzzer runtimes, python3 and
#            hwloc's tools (the oracle), gnuplot (xpv sim's plots), QEMU, busybox and cpio (the
#            lab), groff and man-db (the man pages, install.*), and Debian's kernel image for
#            the lab guest (unpacked under build/lab/kernel, not installed), QEMU 10 from
#            bookworm-backports for the lab (unpacked under build/lab/qemu, not installed), curl
#            (the host daemon's metrics endpoint scraped, hostd.ops_metrics), and libvirt's
#            daemons, QEMU driver and clients (hostd.libvirt starts its own libvirtd and virtlogd
#            by hand: no systemd needed; libvirt-daemon-system makes libvirt-qemu), and OpenJDK 17
#            (lab4.jvm.*: javac builds the workload, the guest runs the host's JDK over 9p)
#
# Idempotent and quick when nothing is missing: it asks dpkg first and runs apt only for
# what is absent. Needs root (or sudo) only when something must be installed.
set -euo pipefail

mode=${1:-build}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_pkgs=(cmake make pkg-config gcc clang libc6-dev libhwloc-dev libnuma-dev libjansson-dev
            libcmocka-dev libyaml-dev libjemalloc-dev libmimalloc-dev libvirt-dev libxml2-dev)
package_pkgs=(dpkg-dev)
test_pkgs=(libclang-rt-14-dev python3 hwloc-nox qemu-system-x86 busybox-static cpio gnuplot-nox openjdk-17-jdk-headless
           libtcmalloc-minimal4 libmimalloc2.0 pigz groff-base man-db curl libvirt-daemon
           libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-clients)

case "$mode" in
build) want=("${build_pkgs[@]}") ;;
package) want=("${build_pkgs[@]}" "${package_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${package_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
    echo "usage: scripts/setup.sh [build|package|test]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null; then
            sudo=(sudo)
        else
            echo "setup: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    # An apt cache that is empty or older than a day does not know current package versions.
    if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
        "${sudo[@]}" apt-get update -qq
    fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ $mode == test ]]; then
    # The lab guest boots Debian's own kernel; fetch-kernel.sh is a no-op when it is there.
    bash "$here/lab/fetch-kernel.sh" "$here/build/lab/kernel"
    # and runs on QEMU 10 from bookworm-backports, unpacked (bookworm's 7.2 cannot unplug a
    # vCPU under TCG: docs/lab.md); fetch-qemu.sh is a no-op when it is there.
    bash "$here/lab/fetch-qemu.sh" "$here/build/lab/qemu"
fi
