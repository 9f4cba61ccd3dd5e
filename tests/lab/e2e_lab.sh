# e2e_lab.sh — sourced by the lab's end-to-end host halves (e2e_vm.sh: lab4.e2e;
# e2e_callback.sh: lab4.callback; e2e_runtimes.sh: lab4.runtimes): the working directory and its clean-up, failure reports,
# waits on the guest's console, the 4-node lab guest booted with the XPV channel, and the host
# daemon attached to it over QMP.
#
# The caller sets, before sourcing: xpv, kernel, initrd, fixture, log (as in its arguments),
# e2e_name (the messages' prefix and the directory's name) and e2e_test (the in-guest test).
# This sets: lab, d (the working directory, in /dev/shm, removed on exit), sock (the daemon's
# control socket), qpid (run-lab.sh's process group), hpid (the daemon).
lab=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../lab" && pwd)
d=$(mktemp -d "/dev/shm/xpv-$e2e_name.XXXXXX")
export XPV_HOSTD_STATE_DIR="$d" # the operator's placements beside the records, not /var/lib/xpv
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
    echo "$e2e_name: FAIL: $*" >&2
    echo "--- host daemon log (errors and last lines) ---" >&2
    grep -m3 -A12 'ERROR\|runtime error' "$d/hostd.log" >&2
    tail -n 15 "$d/hostd.log" >&2
    echo "--- guest log (tail) ---" >&2
    tail -n 40 "$log" | tr -d '\r' >&2
    exit 1
}
# wait_log PATTERN SECONDS: the guest printed PATTERN on its console (QEMU still running)
# A guest kernel whose soft lockup lasts two minutes does not come back within the test (seen
# twice under TCG with QEMU 7.2 on a loaded host, a hot-added vCPU not running: every other
# vCPU stuck in stop_machine while it went offline; after a hot-add, khugepaged stuck): say so
# then instead of waiting out the step's timeout. A shorter lockup report (TCG on a busy host)
# is only waited through.
wait_log() {
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        # grep reads it all (not -q): under pipefail, a grep -q that stops at the match
        # kills tr with SIGPIPE once the log is past a pipe's 64 KiB, and the match then
        # counts as a miss (lab4.callback failed so with the guest done)
        tr -d '\r' <"$log" 2>/dev/null | grep "$1" >/dev/null && return 0
        grep -q "^XPV-LAB-DONE\|XPV-LAB END $e2e_test" "$log" 2>/dev/null && return 1
        local stuck
        stuck=$(grep -o 'soft lockup - CPU#[0-9]* stuck for [0-9]*s' "$log" 2>/dev/null |
            grep -o '[0-9]*s$' | tr -d s | sort -n | tail -n 1)
        if ((${stuck:-0} >= 120)); then
            echo "$e2e_name: the guest kernel is hung (soft lockup for ${stuck}s) waiting for '$1':" >&2
            grep -m 4 'BUG: soft lockup' "$log" >&2
            return 1
        fi
        kill -0 "$qpid" 2>/dev/null || return 1
        sleep 0.2 # not a wait: the poll interval of wait_log's deadline loop (fail shows the log)
    done
    return 1
}
# e2e_boot [RUN-LAB OPTIONS...]: the 4-node guest running e2e_test, with the XPV channel
# (lab/run-lab.sh --channel: ivshmem, virtio-serial port, QMP, free vCPU slots) and the options
# given (e.g. --share), up to its QMP socket. In its own process
# group (setsid does not fork here: a background job of a script is not a group leader), so
# that a failure stops QEMU too: killing run-lab.sh alone would leave QEMU running until the
# lab's timeout, a hung guest spinning on the host's cores meanwhile.
e2e_boot() {
    rm -f "$log"
    setsid bash "$lab/run-lab.sh" --nodes 4 --kernel "$kernel" --initrd "$initrd" --log "$log" \
        --timeout 1500 --channel "$d" "$@" "$e2e_test" >"$d/run-lab.out" 2>&1 &
    qpid=$!
    for _ in $(seq 300); do
        [[ -S $d/qmp.sock ]] && return 0
        if ! kill -0 "$qpid" 2>/dev/null; then
            wait "$qpid"
            local rc=$?
            cat "$d/run-lab.out" >&2
            ((rc == 77)) && exit 77
            fail "the lab did not start (run-lab.sh exit $rc)"
        fi
        sleep 0.1 # not a wait: the poll interval of this 30 s loop
    done
    fail "no QMP socket after 30 s"
}
# start_hostd: the daemon (host topology from the fixture), attached to the VM. QMP answers
# are awaited 10 s, not the default 200 ms: a TCG QEMU on this loaded 2-core host went over
# 200 ms (lab4.callback, load 25: the daemon counted the VM lost and the next `xpv move`
# failed); the tests check what the daemon does with answers, not how fast QEMU gives them.
start_hostd() {
    "$xpv" hostd --root "$fixture" --qmp "vm=$d/qmp.sock" --socket "$sock" --record-dir "$d" \
        --no-migrate --qmp-timeout 10s -v >>"$d/hostd.log" 2>&1 &
    hpid=$!
    for _ in $(seq 100); do
        "$xpv" domains --socket "$sock" --json >"$d/dom.json" 2>/dev/null &&
            grep -q '"vcpus"' "$d/dom.json" && return 0
        sleep 0.1 # not a wait: the poll interval of this 10 s loop
    done
    fail "the daemon did not attach to the VM"
}
