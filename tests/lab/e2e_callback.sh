#!/usr/bin/env bash
# e2e_callback.sh XPV CBHOST KERNEL_DIR INITRD FIXTURE_4NODE LOG [CHANGES]
# lab4.callback: host publish -> guest libxpv callback, end to end, on the host's clock
# (docs/guestd.md, "Host publish to guest callback"). The guest half is tests/lab/e2e_callback.c
# (in-guest test e2e.callback), the measurement and the checks are CBHOST
# (tests/lab/callback_host.c).
#
# The set-up is lab4.e2e's (tests/lab/e2e_lab.sh, shared with tests/lab/e2e_vm.sh): the 4-node lab guest with the XPV channel,
# `xpv hostd` attached over QMP with the host topology of the 4-node fixture, the VM on nodes
# 0-3. Then CHANGES (200) single-vCPU moves, each waited for until the guest's callback has
# echoed it into the ivshmem region's upper half with the right generation and content; the
# host daemon's own publish -> ACK figures for the same changes are printed beside it.
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no lab kernel).
set -uo pipefail
xpv=$1 cbhost=$2 kernel=$3 initrd=$4 fixture=$5 log=$6 changes=${7:-200}
e2e_name=callback e2e_test=e2e.callback
. "$(dirname "$0")/e2e_lab.sh"

e2e_boot
start_hostd
"$xpv" move vm --nodes 0-3 --socket "$sock" >/dev/null || fail "xpv move vm --nodes 0-3"

wait_log 'XPV-CB READY' 900 || fail "the guest did not subscribe"
echo "callback: guest subscribed after ${SECONDS}s; $changes changes"
samples() { # the daemon's publish -> ACK sample count so far
    "$xpv" domains --socket "$sock" --json >"$d/dom.json" || fail "xpv domains"
    local n
    n=$(tr -d ' \n' <"$d/dom.json" | grep -o '"ack_latency_us":{[^}]*' | grep -o '"samples":[0-9]*' |
        grep -o '[0-9]*$')
    echo "${n:-0}"
}
s0=$(samples)
"$cbhost" "$xpv" "$sock" "$d/ivshmem" vm "$changes" || fail "the host publish -> guest callback run"

# the host daemon's publish -> ACK samples of the same changes (lab4.e2e's measurement): those
# recorded since the changes began (a change published before the last one's ACK came back
# has none of its own: the daemon times the ACK of the generation it last sent)
new=$(($(samples) - s0))
((new > 256)) && new=256
tr -d ' \n' <"$d/dom.json" | grep -o '"last":\[[0-9,]*\]' | grep -o '[0-9][0-9,]*' | tr ',' '\n' |
    tail -n "$new" | sort -n >"$d/lat"
n=$(wc -l <"$d/lat")
if ((new > 0 && n > 0)); then
    pct() { sed -n "$(((n - 1) * $1 / 100 + 1))p" "$d/lat"; }
    echo "callback: host publish -> agent ACK (host daemon, host clock) over the last $n:" \
        "p50 $(pct 50) us, p99 $(pct 99) us, max $(tail -n 1 "$d/lat") us"
fi

wait_log 'XPV-CB DONE' 300 || fail "the guest half did not finish"
wait "$qpid"
qpid=
grep '^lab:' "$d/run-lab.out"
grep 'agent republish -> libxpv callback\|host changes' "$log" | tr -d '\r'
sh "$lab/lab-result.sh" "$log" e2e.callback || fail "e2e.callback did not pass in the guest"
echo "callback: pass in ${SECONDS}s"
