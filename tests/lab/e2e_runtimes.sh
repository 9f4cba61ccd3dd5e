#!/usr/bin/env bash
# e2e_runtimes.sh XPV KERNEL_DIR INITRD FIXTURE_4NODE LOG — unmodified runtimes following a
# vCPU move in a real guest (the host half; the guest half is tests/lab/e2e_runtimes.c,
# in-guest test e2e.runtimes, whose parts e2e.numa.cprog, e2e.jvm.live, e2e.jvm.parallel and
# e2e.jvm.g1 CTest reads from LOG as lab4.numa.cprog, lab4.jvm.*).
#
# Boots the 4-node lab guest with the XPV channel (run-lab.sh --channel) and the host's /usr
# shared read-only over virtio-9p (--share /usr: the host's OpenJDK 17, not copied into the
# initramfs), attaches the host daemon over QMP (host topology from the 4-node fixture, as
# e2e_vm.sh does), places the VM on nodes 0-3, and when the guest says "XPV-RT MOVE" (its
# programs started and allocated once) moves vCPU 1 to node 3: in the guest CPU 1's effective
# node becomes 3 while the kernel still has it on vNode 1.
# Exit 0 when the guest ran the test to the end (the parts' verdicts are read from LOG by their
# own CTest tests), 1 when it did not, 77 skip (no QEMU, no lab kernel, no JDK on the host).
set -uo pipefail
xpv=$1 kernel=$2 initrd=$3 fixture=$4 log=$5
here=$(cd "$(dirname "$0")" && pwd)
lab=$here/../../lab
java=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
skip() {
    echo "XPV-LAB-SKIPPED $*" >"$log"
    echo "skip: $*" >&2
    exit 77
}
[[ -x $java ]] || skip "no OpenJDK 17 at $java (apt-get install openjdk-17-jdk-headless, or scripts/setup.sh test)"
[[ -f $(dirname "$initrd")/XpvJvmAlloc.class ]] ||
    skip "no XpvJvmAlloc.class beside $initrd: javac was not found when CMake ran (install openjdk-17-jdk-headless and configure again)"
d=$(mktemp -d /dev/shm/xpv-rt.XXXXXX)
export XPV_HOSTD_STATE_DIR="$d"
sock=$d/hostd.sock
qpid= hpid=
cleanup() {
    [[ -n $hpid ]] && kill "$hpid" 2>/dev/null
    [[ -n $qpid ]] && kill -- "-$qpid" 2>/dev/null # run-lab.sh and its QEMU
    wait 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
fail() {
    echo "runtimes: FAIL: $*" >&2
    echo "--- host daemon log (last lines) ---" >&2
    tail -n 15 "$d/hostd.log" >&2
    echo "--- guest log (tail) ---" >&2
    tail -n 60 "$log" | tr -d '\r' >&2
    exit 1
}
# wait_log PATTERN SECONDS: the guest printed PATTERN on its console
wait_log() {
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        tr -d '\r' <"$log" 2>/dev/null | grep -q "$1" && return 0
        grep -q '^XPV-LAB-DONE\|XPV-LAB END e2e.runtimes' "$log" 2>/dev/null && return 1
        kill -0 "$qpid" 2>/dev/null || return 1
        sleep 0.2 # not a wait: the poll interval of wait_log's deadline loop
    done
    return 1
}

rm -f "$log"
setsid bash "$lab/run-lab.sh" --nodes 4 --kernel "$kernel" --initrd "$initrd" --log "$log" \
    --timeout 1500 --channel "$d" --share /usr e2e.runtimes >"$d/run-lab.out" 2>&1 &
qpid=$!
for _ in $(seq 300); do
    [[ -S $d/qmp.sock ]] && break
    if ! kill -0 "$qpid" 2>/dev/null; then
        wait "$qpid"
        rc=$?
        cat "$d/run-lab.out" >&2
        ((rc == 77)) && exit 77
        fail "the lab did not start (run-lab.sh exit $rc)"
    fi
    sleep 0.1 # not a wait: the poll interval of this 30 s loop
done
[[ -S $d/qmp.sock ]] || fail "no QMP socket after 30 s"

"$xpv" hostd --root "$fixture" --qmp "vm=$d/qmp.sock" --socket "$sock" --record-dir "$d" \
    --no-migrate -v >>"$d/hostd.log" 2>&1 &
hpid=$!
for _ in $(seq 100); do
    "$xpv" domains --socket "$sock" --json >"$d/dom.json" 2>/dev/null &&
        grep -q '"vcpus"' "$d/dom.json" && break
    sleep 0.1 # not a wait: the poll interval of this 10 s loop
done
grep -q '"vcpus"' "$d/dom.json" 2>/dev/null || fail "the daemon did not attach to the VM"
"$xpv" move vm --nodes 0-3 --socket "$sock" || fail "xpv move vm --nodes 0-3"

wait_log 'XPV-RT MOVE' 900 || fail "the guest's programs did not get to the move"
echo "runtimes: the guest's programs are running (${SECONDS}s); moving vCPU 1 to node 3"
"$xpv" move vm --vcpu 1 --nodes 3 --socket "$sock" || fail "xpv move vm --vcpu 1 --nodes 3"

wait "$qpid"
qpid=
grep '^lab:' "$d/run-lab.out"
tr -d '\r' <"$log" | grep -E 'uptime=|JVM ready after|new heap pages|xpv-numa-work.*(before|after)|^XPV-LAB END'
# The guest ran to the end: each part's verdict is its own CTest test (lab4.numa.cprog,
# lab4.jvm.*, read from LOG by lab-result.sh); this one fails only when the run did not happen.
grep -q '^XPV-LAB END e2e.runtimes ' "$log" || fail "e2e.runtimes has no result in the guest's log"
echo "runtimes: the guest ran to the end in ${SECONDS}s"
