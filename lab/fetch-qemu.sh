#!/usr/bin/env bash
# fetch-qemu.sh DIR — put the QEMU the lab runs its guests with under DIR: Debian's
# qemu-system-x86 from bookworm-backports (10.0 when this was written), with its firmware
# (qemu-system-data, seabios), unpacked with dpkg-deb -x. Nothing is installed as a package
# and the system's apt configuration is not changed: the backports index is read into a
# private apt state directory. Afterwards DIR/usr/bin/qemu-system-x86_64 runs with
# -L DIR/usr/share/qemu -L DIR/usr/share/seabios (lab/run-lab.sh adds them).
#
# Why not bookworm's QEMU 7.2 (docs/lab.md, "vCPU hotplug under TCG"): under TCG it cannot
# unplug a vCPU safely. With multi-threaded TCG, once one vCPU is unplugged the other
# hot-added vCPUs stop running (the guest hangs in the next stop_machine) and the next
# device_add kills QEMU ("double free or corruption"); with thread=single the unplug itself
# aborts QEMU ("qemu_thread_join: Resource deadlock avoided"). tests/lab/hotplug_soak.sh
# shows it in every boot with 7.2 and in none with 10.0.
#
# The shared libraries it links are bookworm's (backports are built against bookworm); those
# missing are installed from bookworm when run as root, otherwise named. A no-op when DIR
# already holds a QEMU of major version 8 or later. Exit 0 also when apt is unreachable, with
# a warning (the lab tests then skip, saying why), unless XPV_LAB_REQUIRED=1.
set -euo pipefail

dir=${1:?usage: lab/fetch-qemu.sh DIR}
bin=$dir/usr/bin/qemu-system-x86_64
suite=bookworm-backports
pkgs=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

# major version of the QEMU at $bin, 0 when there is none that runs
major() {
    local v
    v=$("$bin" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
    echo "${v:-0}"
}
missing_libs() { ldd "$bin" 2>/dev/null | awk '/not found/ {print $1}'; }

fail() {
    echo "lab: cannot fetch the lab's QEMU: $*" >&2
    echo "lab: the lab tests will skip; to retry: bash lab/fetch-qemu.sh $dir" >&2
    [[ ${XPV_LAB_REQUIRED:-0} == 1 ]] && exit 1
    exit 0
}

if [[ -x $bin ]] && (($(major) >= 8)) && [[ -z $(missing_libs) ]]; then
    exit 0
fi
command -v apt-get >/dev/null || fail "apt-get not found (not a Debian machine?)"
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt drops privileges to _apt for downloads: everything it writes must be writable by it
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb" "$tmp/x"
chmod -R 0777 "$tmp"
# the system's Debian mirror (deb822 URIs: or one-line deb entries), else deb.debian.org
mirror=$({ awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null
           awk '/^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' /etc/apt/sources.list 2>/dev/null
         } | grep -v -- '-security\|snapshot' | head -1 || true)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} $suite main" \
    >"$tmp/sources.list"
apt=(apt-get -qq -o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/nonexistent
     -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1)
echo "lab: fetching ${pkgs[*]} from $suite (unpacked under $dir, not installed)"
"${apt[@]}" update 2>"$tmp/err" || fail "apt-get update of $suite failed: $(tail -n 2 "$tmp/err")"
# each package's version in the suite (apt-get download PKG/SUITE does not find arch-all
# packages there, and the installed version may win apt's candidate choice)
list=()
for p in "${pkgs[@]}"; do
    v=$("${apt[@]/apt-get/apt-cache}" madison "$p" 2>/dev/null | awk -F' *[|] *' -v s="$suite/" 'index($3, s) {print $2; exit}')
    [[ -n $v ]] || fail "$suite has no $p"
    list+=("$p=$v")
done
(cd "$tmp/deb" && "${apt[@]}" download "${list[@]}" 2>"$tmp/err") ||
    fail "apt-get download from $suite failed: $(tail -n 2 "$tmp/err")"
for f in "$tmp"/deb/*.deb; do
    dpkg-deb -x "$f" "$tmp/x" || fail "dpkg-deb -x $(basename "$f") failed"
done
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
mv "$tmp/x" "$dir"
chmod 0755 "$dir"
[[ -x $bin ]] || fail "the packages held no qemu-system-x86_64"

libs=$(missing_libs)
if [[ -n $libs ]]; then
    # the packages that provide them: every Depends of the debs that is not installed
    deps=$(for f in "$tmp"/deb/*.deb; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' |
        sed 's/|.*//; s/(.*)//; s/ //g' | grep -v '^qemu-\|^seabios\|^ipxe\|^$' | sort -u)
    want=()
    for p in $deps; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want+=("$p")
    done
    ((EUID == 0)) || fail "it needs libraries not installed ($(echo $libs)); as root: apt-get install ${want[*]}"
    echo "lab: installing the libraries the lab's QEMU links: ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null ||
        fail "apt-get install ${want[*]} failed"
    libs=$(missing_libs)
    [[ -z $libs ]] || fail "still missing: $(echo $libs)"
fi
(($(major) >= 8)) || fail "$("$bin" --version 2>&1 | head -1): not a QEMU 8 or later"
echo "lab: $("$bin" --version | head -1) ready in $dir"
