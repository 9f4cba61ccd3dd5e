#!/bin/sh
# libvirt_hostd.sh XPV FIXTURES_PY — hostd's libvirt backend against a real libvirtd
# (docs/libvirt.md). Starts its own virtlogd and libvirtd by hand (no systemd), their sockets
# in a private directory, and two TCG domains defined from `xpv libvirt-xml` (no guest OS:
# SeaBIOS finds nothing to boot, which is all pinning, hotplug and lifecycle need). The
# daemon runs with the host topology of a 2-node fixture of one CPU each (node 0 = CPU 0,
# node 1 = CPU 1: real CPUs of any 2-CPU host, so libvirt's pinning is real) and checks:
#  1. the emitted XML validates (virt-xml-validate), defines and starts untainted;
#  2. hostd finds both domains with no config entry (the <xpv:vm> element);
#  3. `xpv move A --nodes 1` changes what `virsh vcpupin` reports (every vCPU on CPU 1) and
#     libvirt's emulator pinning;
#  4. a `virsh vcpupin` behind hostd's back is reported (log line, `xpv domains --json`
#     libvirt.conflicts) and left as libvirt has it;
#  5. `virsh setvcpus B 3` adds a vCPU that hostd binds (virsh vcpupin shows it on its
#     vNode's CPU) and publishes (the record in B's ivshmem file has 3 vCPUs);
#  6. `virsh destroy B`: B leaves the daemon and its ivshmem record file is removed;
#  7. a domain defined and started after the daemon started is picked up.
# Cleans up (domains destroyed and undefined, daemons stopped) on any exit. Needs root (77
# otherwise, and when libvirt's daemons are not installed). A libvirtd already running (started
# by the host's init) is used instead of a private one.
set -u
xpv=$1 mkfixture=$2
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
[ "$(id -u)" = 0 ] || { echo "skip: needs root (a system libvirtd and its QEMU user)"; exit 77; }
for b in /usr/sbin/libvirtd /usr/sbin/virtlogd virsh qemu-system-x86_64; do
    command -v "$b" >/dev/null || {
        echo "skip: $b not installed (scripts/setup.sh test: libvirt-daemon, libvirt-clients, qemu-system-x86)"
        exit 77
    }
done
[ "$(nproc)" -ge 2 ] || { echo "skip: one CPU: pinning to another node's CPU cannot be seen"; exit 77; }
# the system's libvirtd if it runs, else none (another test's own is waited out)
. "$(dirname "$0")/libvirtd_pick.sh"
d=$(mktemp -d /tmp/xpv-lv.XXXXXX)
chmod 711 "$d"
export XPV_HOSTD_STATE_DIR="$d/state"
mkdir -m 700 "$d/state" "$d/rec"
if [ -n "$other" ]; then
    uri="qemu:///system"
    echo "using the running libvirtd (pid $other), $uri"
else
    uri="qemu:///system?socket=$d/libvirt-sock"
fi
A=xpvlv$$a B=xpvlv$$b C=xpvlv$$c
V() { virsh -q -c "$uri" "$@"; }
cleanup() {
    [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    if [ -n "$other" ] || [ -S "$d/libvirt-sock" ]; then
        for n in $A $B $C; do
            V destroy "$n" >/dev/null 2>&1
            V undefine "$n" >/dev/null 2>&1
            rm -f "/var/log/libvirt/qemu/$n.log"
        done
    fi
    for p in libvirtd virtlogd; do
        [ -s "$d/$p.pid" ] && kill "$(cat "$d/$p.pid")" 2>/dev/null
    done
    for p in libvirtd virtlogd; do
        [ -s "$d/$p.pid" ] && wait_until 15 "$p to stop" sh -c "! kill -0 $(cat "$d/$p.pid") 2>/dev/null"
    done
    # a QEMU libvirt could not destroy (libvirtd died first) is ended by its pid
    for n in $A $B $C; do
        for p in $(pgrep -f "guest=$n,"); do kill "$p" 2>/dev/null; done
    done
    rm -f "/dev/shm/xpv-vm-$A" "/dev/shm/xpv-vm-$B" "/dev/shm/xpv-vm-$C"
    rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
    echo "FAIL: $*"
    echo "--- daemon log:"; cat "$d/log" 2>/dev/null
    echo "--- libvirtd log (errors):"; grep -E ' error ' "$d/libvirtd.log" 2>/dev/null | tail -20
    exit 1
}

libvirtd_start

# 1. the XML as shipped
two_node_fixture "$d/fx"
for n in $A $B; do
    "$xpv" libvirt-xml "$n" --type qemu --vcpus 2 --max-vcpus 4 --memory 128 >"$d/$n.xml" ||
        fail "xpv libvirt-xml $n"
    if command -v virt-xml-validate >/dev/null; then
        virt-xml-validate "$d/$n.xml" domain >"$d/validate" 2>&1 || fail "$n.xml does not validate: $(cat "$d/validate")"
    fi
    V define "$d/$n.xml" >/dev/null || fail "define $n"
    V start "$n" >/dev/null || fail "start $n"
done
for n in $A $B; do # libvirt writes the taints it applies into the domain's log
    if grep -qi 'taint' "/var/log/libvirt/qemu/$n.log" 2>/dev/null; then
        fail "$n is tainted: $(grep -i taint "/var/log/libvirt/qemu/$n.log")"
    fi
done

# 2. discovery: no config entry, only the metadata element
"$xpv" hostd --root "$d/fx" --libvirt="$uri" --socket "$d/h.sock" --record-dir "$d/rec" \
    --period 0.2 2>"$d/log" &
daemon=$!
for n in $A $B; do
    wait_until 30 "hostd to find $n" out_has "^$n +vm +alive" "$xpv" domains --socket "$d/h.sock" ||
        fail "$n not found"
done
grep -q "$A: libvirt domain '$A' .* opts in: 2 vCPUs (max 4), 2 cells$" "$d/log" || fail "adoption line"
grep -q "$A: found through libvirt: QEMU pid [0-9]*: 2 vCPUs, 2 vNodes, 2 RAM backends, ivshmem /dev/shm/xpv-vm-$A, virtio-serial connected" "$d/log" ||
    fail "describe line"
json() { # json EXPR: evaluated with x = domain NAME of `xpv domains --json` (NAME in $n)
    "$xpv" domains --socket "$d/h.sock" --json | python3 -c \
        "import json,sys; x=[x for x in json.load(sys.stdin)['domains'] if x['name']=='$n'][0]; print($1)"
}
pins() { # pins NAME: "vcpu:cpus" per line, as virsh vcpupin --live reports
    V vcpupin "$1" --live | awk '{print $1 ":" $2}'
}

# 3. xpv move reaches libvirt's pinning
"$xpv" move "$A" --nodes 1 --socket "$d/h.sock" >/dev/null || fail "xpv move"
all_on_1() { pins "$A" | head -2; [ "$(pins "$A" | head -2 | tr '\n' ' ')" = "0:1 1:1 " ]; }
wait_until 15 "virsh vcpupin to show $A's vCPUs 0 and 1 on CPU 1" all_on_1 || fail "pinning not in libvirt"
V emulatorpin "$A" --live | grep -Eq '(^| )1$' || fail "emulator pinning: $(V emulatorpin "$A" --live)"

# 4. a pinning behind hostd's back is reported, and stays
V vcpupin "$A" 0 0 --live >/dev/null || fail "virsh vcpupin"
n=$A
wait_until 15 "the conflict in xpv domains --json" out_has "^\[\{'vcpu': 0, 'libvirt': '0', 'xpv': '1'\}\]$" \
    json "x['vm']['libvirt']['conflicts']" || fail "conflict not reported"
grep -q "$A: conflict: vCPU 0 is pinned to CPUs 0 in libvirt, not 1 as xpv set it" "$d/log" ||
    fail "conflict log line"
r0=$(json "x['generation']")
"$xpv" move "$A" --nodes 0-1 --socket "$d/h.sock" >/dev/null || fail "xpv move 0-1"
wait_until 15 "a republish after the move" sh -c "[ \$(\"$xpv\" domains --socket '$d/h.sock' --json | python3 -c \"import json,sys; print([x for x in json.load(sys.stdin)['domains'] if x['name']=='$A'][0]['generation'])\") -gt $r0 ]" ||
    fail "no republish"
[ "$(pins "$A" | head -1)" = "0:0" ] || fail "hostd overwrote the operator's libvirt pinning: $(pins "$A")"

# 5. virsh setvcpus: hostd binds and publishes the new vCPU
n=$B
"$xpv" move "$B" --nodes 1 --socket "$d/h.sock" >/dev/null || fail "xpv move $B"
V setvcpus "$B" 3 --live || fail "virsh setvcpus"
wait_until 30 "hostd to see $B's third vCPU" out_has '^3$' json "len(x['vm']['vcpus'])" ||
    fail "vCPU not seen"
grep -q "$B: vCPUs changed outside xpv: 3 now (2 were described), 1 new bound with their vNode" "$d/log" ||
    fail "hotplug line"
wait_until 15 "vCPU 2 of $B bound (virsh vcpupin)" out_has '^2:1$' pins "$B" || fail "new vCPU not bound"
check_record() {
    cp "/dev/shm/xpv-vm-$B" "$d/recB" && "$xpv" watch "$d/recB" --json --count 1 >"$d/recB.json" &&
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['cpu_node']); assert len(r['cpu_node']) == 3" "$d/recB.json"
}
wait_until 15 "$B's record with 3 vCPUs" check_record || fail "record not republished"

# 6. virsh destroy: the domain goes, and its record with it
V destroy "$B" >/dev/null || fail "virsh destroy"
wait_until 15 "$B to leave the daemon" sh -c "! \"$xpv\" domains --socket '$d/h.sock' | grep -q '^$B '" ||
    fail "$B still listed"
wait_until 15 "$B's record file to go" sh -c "! test -e /dev/shm/xpv-vm-$B" || fail "stale record stays"
grep -q "$B: record /dev/shm/xpv-vm-$B removed" "$d/log" || fail "removal line"

# 7. a domain defined after the daemon started
"$xpv" libvirt-xml "$C" --type qemu --vcpus 1 --max-vcpus 2 --nodes 1 --memory 64 >"$d/$C.xml" &&
    V define "$d/$C.xml" >/dev/null && V start "$C" >/dev/null || fail "define/start $C"
wait_until 30 "hostd to find $C" out_has "^$C +vm +alive" "$xpv" domains --socket "$d/h.sock" ||
    fail "$C not picked up"
kill -0 "$daemon" || fail "the daemon died"
echo "ok: discovery, move, conflict, setvcpus, destroy, late define"
