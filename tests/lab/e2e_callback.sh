#!/usr/bin/env bash
# e2e_callback.sh XPV CBHOST KERNEL_DIR INITRD FIXTURE_4NODE LOG [CHANGES]
# lab4.callback: host publish -> guest libxpv callback, end to end, on the host's clock
# (docs/guestd.md, "Host publish to guest callback"). The guest half is tests/lab/e2e_callback.c
# (in-guest test e2e.callback), the measurement and the checks are CBHOST
# (tests/lab/callback_host.c).
#
# The set-up is lab4.e2e's (tests/lab/e2e_vm.sh): the 4-node lab guest with the XPV channel,
# `xpv hostd` attached over QMP with the host topology of the 4-node fixture, the VM on nodes
# 0-3. Then CHANGES (200) single-vCPU moves, each waited for until the guest's callback has
# echoed it into the ivshmem region's upper half with the right generation and content; the
# host daemon's own publish -> ACK figures for the same changes are printed beside it.
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no lab kernel).
set -uo pipefail
xpv=$1 cbhost=$2 kernel=$3 initrd=$4 fixture=$5 log=$6 changes=${7:-200}
here=$(cd "$(dirname "$0")" && pwd)
lab=$here/../../lab
d=$(mktemp -d /dev/shm/xpv-cb.XXXXXX)
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
    echo "callback: FAIL: $*" >&2
    echo "--- host daemon log (tail) ---" >&2
    tail -n 15 "$d/hostd.log" >&2
    echo "--- guest log (tail) ---" >&2
    tail -n 40 "$log" | tr -d '\r' >&2
    exit 1
}
# wait_log PATTERN SECONDS: the guest printed PATTERN on its console (QEMU still running)
wait_log() {
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        tr -d '\r' <"$log" 2>/dev/null | grep -q "$1" && return 0
        grep -q '^XPV-LAB-DONE\|XPV-LAB END e2e.callback' "$log" 2>/dev/null && return 1
        kill -0 "$qpid" 2>/dev/null || return 1
        sleep 0.2 # not a wait: the poll interval of wait_log's deadline loop (fail shows the log)
    done
    return 1
}

rm -f "$log"
setsid bash "$lab/run-lab.sh" --nodes 4 --kernel "$kernel" --initrd "$initrd" --log "$log" \
    --timeout 1500 --channel "$d" e2e.callback >"$d/run-lab.out" 2>&1 &
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
    sleep 0.1 # not a wait: the poll interval of this 10 s loop (checked below)
done
grep -q '"vcpus"' "$d/dom.json" 2>/dev/null || fail "the daemon did not attach to the VM"
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
