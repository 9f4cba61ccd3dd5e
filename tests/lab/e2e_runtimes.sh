#!/usr/bin/env bash
# e2e_runtimes.sh XPV KERNEL_DIR INITRD FIXTURE_4NODE LOG — unmodified runtimes following a
# vCPU move in a real guest (the host half; the guest half is tests/lab/e2e_runtimes.c,
# in-guest test e2e.runtimes, whose parts e2e.numa.cprog, e2e.jvm.live, e2e.jvm.parallel and
# e2e.jvm.g1 CTest reads from LOG as lab4.numa.cprog, lab4.jvm.*).
#
# Boots the 4-node lab guest with the XPV channel (run-lab.sh --channel) and the host's /usr
# shared read-only over virtio-9p (--share /usr:usr:/usr: the host's OpenJDK 17, not copied into the
# initramfs), attaches the host daemon over QMP (host topology from the 4-node fixture, as
# e2e_vm.sh does), places the VM on nodes 0-3, and when the guest says "XPV-RT MOVE" (its
# programs started and allocated once) moves vCPU 1 to node 3: in the guest CPU 1's effective
# node becomes 3 while the kernel still has it on vNode 1.
# Exit 0 when the guest ran the test to the end (the parts' verdicts are read from LOG by their
# own CTest tests), 1 when it did not, 77 skip (no QEMU, no lab kernel, no JDK on the host).
set -uo pipefail
xpv=$1 kernel=$2 initrd=$3 fixture=$4 log=$5
java=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
skip() {
    echo "XPV-LAB-SKIPPED $*" >"$log"
    echo "skip: $*" >&2
    exit 77
}
[[ -x $java ]] || skip "no OpenJDK 17 at $java (apt-get install openjdk-17-jdk-headless, or scripts/setup.sh test)"
[[ -f $(dirname "$initrd")/XpvJvmAlloc.class ]] ||
    skip "no XpvJvmAlloc.class beside $initrd: javac was not found when CMake ran (install openjdk-17-jdk-headless and configure again)"
e2e_name=runtimes e2e_test=e2e.runtimes
. "$(dirname "$0")/e2e_lab.sh"

e2e_boot --share /usr:usr:/usr
start_hostd
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
