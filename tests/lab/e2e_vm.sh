#!/usr/bin/env bash
# e2e_vm.sh XPV KERNEL_DIR INITRD FIXTURE_4NODE LOG — XPV end to end on a real guest kernel
# (the host half; the guest half is tests/lab/e2e_guestd.c, in-guest test e2e.guestd).
#
# Boots the 4-node lab guest with the XPV channel (lab/run-lab.sh --channel: ivshmem,
# virtio-serial port, QMP, free vCPU slots) and attaches the host daemon to it over QMP. This
# machine has one NUMA node, so the daemon takes the host topology from the 4-node fixture
# (--root: its affinity calls are recorded, not made): what is real is the VM, QMP, the
# record in the ivshmem file, the kicks and ACKs on virtio-serial, the guest kernel, the agent
# and the test program; what is modelled is which physical node a vCPU thread runs on.
#
#   1. the whole VM on nodes 0-3 (vNode v on node v), then vCPU 1 alone on node 3: in the
#      guest, CPU 1's effective node is 3 and its xpv-malloc allocations land on vNode 3;
#   2. 160 changes (vCPU 1 between nodes 2 and 3, ending on 3), each waited for until the agent
#      ACKs it (160, so that the guest's subscriber sees 100 even when it coalesces some):
#      host publish -> agent ACK latency (host clock, here) and agent republish -> libxpv
#      callback (guest clock, in the guest's log), p50/p99;
#   3. the host daemon restarts (the agent carries on) and keeps vCPU 1's placement (its state
#      file), released then; a vCPU hot-added on vNode 2
#      (xpv vcpu-add): the agent onlines it, it shows in the guest's record on node 2 and in
#      the host's record;
#   4. a 256 MiB DIMM hot-added on vNode 1 (QMP, a second monitor): the agent onlines its
#      memory blocks and vNode 1 grows in the guest's record;
#   5. the daemon unplugs vCPU 4 (xpv vcpu-del): the guest ejects it, it leaves the guest's
#      record and then the host's.
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no lab kernel).
set -uo pipefail
xpv=$1 kernel=$2 initrd=$3 fixture=$4 log=$5
e2e_name=e2e e2e_test=e2e.guestd
. "$(dirname "$0")/e2e_lab.sh"
field() { # field NAME JSON_FILE: the first integer value of "NAME"
    grep -o "\"$1\": [0-9-]*" "$2" | head -1 | grep -o '[0-9-]*$'
}

e2e_boot
start_hostd
"$xpv" move vm --nodes 0-3 --socket "$sock" || fail "xpv move vm --nodes 0-3"

wait_log 'XPV-E2E READY' 900 || fail "the guest agent did not come up"
echo "e2e: guest agent up after ${SECONDS}s"
"$xpv" move vm --vcpu 1 --nodes 3 --socket "$sock" || fail "xpv move vm --vcpu 1 --nodes 3"
wait_log 'XPV-E2E A$' 300 || fail "step A (vCPU 1 effective node 3, allocations on vNode 3)"
grep 'CPU 1 (vNode 0)' "$log" | tr -d '\r'

wait_log 'XPV-E2E B-READY' 120 || fail "the guest did not subscribe"
missed=0
changes=160
for i in $(seq $changes); do
    "$xpv" move vm --vcpu 1 --nodes $((3 - i % 2)) --socket "$sock" >"$d/move.out" ||
        fail "xpv move, change $i"
    gen=$(grep -o 'generation [0-9]*' "$d/move.out" | grep -o '[0-9]*$')
    acked=0
    for _ in $(seq 200); do # 10 s
        "$xpv" domains --socket "$sock" --json >"$d/dom.json" || fail "xpv domains"
        acked=$(field acked_generation "$d/dom.json")
        ((acked >= gen)) && break
        sleep 0.05 # not a wait: the poll interval of this 10 s loop (misses are counted)
    done
    ((acked >= gen)) || missed=$((missed + 1))
    ((missed <= 5)) || fail "the guest agent acknowledged none of the last changes (kicks lost?)"
done
"$xpv" domains --socket "$sock" --json >"$d/dom.json"
# the changes' samples: the last $changes acknowledged (earlier ones include the guest's boot)
tr -d ' \n' <"$d/dom.json" | grep -o '"last":\[[0-9,]*\]' | grep -o '[0-9][0-9,]*' | tr ',' '\n' |
    tail -n $changes | sort -n >"$d/lat"
samples=$(wc -l <"$d/lat")
pct() { sed -n "$(((samples - 1) * $1 / 100 + 1))p" "$d/lat"; }
echo "e2e: host publish -> guest agent ACK over $samples changes: p50 $(pct 50) us," \
    "p99 $(pct 99) us, max $(tail -n 1 "$d/lat") us (host clock; TCG guest: functional" \
    "timings); $missed of $changes changes not acknowledged within 10 s"
((${samples:-0} >= 100)) || fail "fewer than 100 acknowledged changes"
wait_log 'XPV-E2E B$' 600 || fail "step B (the guest's callbacks)"
grep 'agent republish -> libxpv callback' "$log" | tr -d '\r'

# the host daemon restarts: it finds its placements of the VM in its state file (nodes 0-3,
# and vCPU 1 on node 3, where the changes ended), attaches again and carries on; vCPU 1 is
# then put back with its vNode
kill -TERM "$hpid"
wait "$hpid" || fail "the host daemon did not stop cleanly on SIGTERM"
start_hostd
grep -q 'vCPU 1 placed on node 3 (state file)' "$d/hostd.log" ||
    fail "the restarted daemon did not keep vCPU 1 on node 3: $(tail -n 20 "$d/hostd.log")"
"$xpv" move vm --vcpu 1 --nodes auto --socket "$sock" >/dev/null || fail "xpv move vm --vcpu 1 --nodes auto"
"$xpv" vcpu-add vm --vnode 2 --socket "$sock" || fail "xpv vcpu-add vm --vnode 2"
"$xpv" watch "$d/ivshmem" --json --count 1 >"$d/rec.json" || fail "xpv watch on the ivshmem file"
cpu_node=$(grep -o '"cpu_node":\[[^]]*\]' "$d/rec.json" | grep -o '\[.*\]')
echo "e2e: the host's record after the hot-add: vCPU -> node $cpu_node"
[[ $cpu_node == "[0,1,2,3,2]" ]] || fail "the host's record has not vCPU 4 on node 2 (and vCPU 1 back on node 1)"
wait_log 'XPV-E2E C$' 600 || fail "step C (hot-added vCPU onlined, in the guest's record)"
grep 'hot-added CPU 4' "$log" | tr -d '\r'

# memory hot-add (not driven by the daemon): a 256 MiB DIMM on guest node 1, through the lab's
# second QMP monitor; the agent onlines it and republishes
"$xpv" vm --qmp "$d/qmp-test.sock" --execute object-add \
    --args '{"qom-type":"memory-backend-ram","id":"hm1","size":268435456}' >/dev/null ||
    fail "object-add of the DIMM's memory"
"$xpv" vm --qmp "$d/qmp-test.sock" --execute device_add \
    --args '{"driver":"pc-dimm","id":"dimm1","memdev":"hm1","node":1}' >/dev/null ||
    fail "device_add of the DIMM"
wait_log 'XPV-E2E D$' 600 || fail "step D (hot-added DIMM onlined, vNode 1 grew in the guest's record)"
grep 'hot-added DIMM' "$log" | tr -d '\r'

# vCPU unplug through the daemon: the guest ejects it, the agent republishes, the daemon's
# rounds see it gone and republish the VM's record
"$xpv" vcpu-del vm --vcpu 4 --socket "$sock" || fail "xpv vcpu-del vm --vcpu 4"
wait_log 'XPV-E2E E$' 600 || fail "step E (unplugged vCPU gone from the guest's record)"
grep 'unplugged CPU 4' "$log" | tr -d '\r'
for _ in $(seq 300); do
    "$xpv" watch "$d/ivshmem" --json --count 1 >"$d/rec.json" || fail "xpv watch on the ivshmem file"
    grep -q '"cpu_node":\[0,1,2,3\]' "$d/rec.json" && break
    sleep 0.2 # not a wait: the poll interval of this 60 s loop (the check after shows the record)
done
grep -q '"cpu_node":\[0,1,2,3\]' "$d/rec.json" || fail "the host's record still lists vCPU 4: $(cat "$d/rec.json")"
echo "e2e: the host's record after the unplug: vCPU -> node [0,1,2,3]"
"$xpv" move vm --vcpu 1 --nodes 2 --socket "$sock" >/dev/null || fail "the final move (done)"

wait "$qpid"
qpid=
grep '^lab:' "$d/run-lab.out"
grep 'xpv guestd: host generation' "$log" | tr -d '\r'
sh "$lab/lab-result.sh" "$log" e2e.guestd || fail "e2e.guestd did not pass in the guest"
echo "e2e: pass in ${SECONDS}s"
