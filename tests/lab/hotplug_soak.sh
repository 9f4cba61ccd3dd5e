#!/usr/bin/env bash
# hotplug_soak.sh XPV KERNEL_DIR INITRD LOG_DIR [BOOTS] — how often does the 4-node lab guest
# hang in vCPU hotplug under TCG (docs/lab.md, "vCPU hotplug under TCG")? Boots the guest
# BOOTS times (default 5); in each boot the guest churns memory on every CPU
# (tests/lab/e2e_hotplug.c, the guest half) while this script hot-adds a vCPU in each of the
# four free sockets (one per node), waiting until the guest has it online, then unplugs the
# four one by one, waiting until the guest has ejected each; the guest then churns on for
# HP_HOLD seconds (default 30) and must finish. Every wait has a deadline (120 s a step).
#
# A vCPU is never plugged into a socket that was unplugged in the same boot: QEMU 7.2 under
# TCG dies of "double free or corruption" on the first device_add after any vCPU unplug
# (multi-threaded TCG), and aborts in the unplug itself under thread=single
# ("qemu_thread_join: Resource deadlock avoided").
#
# On a hang it prints what was seen: QEMU's view of the vCPUs (HMP "info cpus"), the guest's
# lockup reports, and, when gdb is installed, every QEMU thread's stack.
#
# Environment: XPV_LAB_TCG_OPTS (extra -accel tcg options, to run-lab.sh), HP_APPEND (extra
# guest kernel arguments), HP_HOLD, HP_DELS (unplugs per boot, 0-4, default 4), HP_RETRY
# (default 0: hung boots booted again, at most this many in the run, each reported as
# "HUNG ... RETRY"). Prints a line per boot and a summary; exit 0 when every boot (or its
# retry) completed, 1 when one did not, 77 when the lab cannot run here.
set -uo pipefail
xpv=$1 kernel=$2 initrd=$3 logdir=$4 boots=${5:-5} hold=${HP_HOLD:-30} dels=${HP_DELS:-4}
here=$(cd "$(dirname "$0")" && pwd)
lab=$here/../../lab
mkdir -p "$logdir"
d= qpid= log= step=
cleanup() {
    [[ -n $qpid ]] && kill -- "-$qpid" 2>/dev/null
    wait 2>/dev/null
    [[ -n $d ]] && rm -rf "$d"
    d= qpid=
}
trap cleanup EXIT
qmp() { "$xpv" vm --qmp "$d/qmp-test.sock" --timeout 10s --execute "$@"; }
hmp() { qmp human-monitor-command --args "{\"command-line\":\"$1\"}" 2>&1 | sed 's/\\r\\n/\n/g; s/\\n/\n/g'; }
# diagnose WHAT: print what was seen when step WHAT did not complete
diagnose() {
    echo "hotplug: boot $b: $* (step $step)"
    echo "--- QEMU: info cpus ---"
    hmp "info cpus"
    echo "--- guest: lockups and the last lines ($log) ---"
    tr -d '\r' <"$log" | grep -m 8 -A 3 'soft lockup\|hung_task\|rcu.*stall\|double free'
    tr -d '\r' <"$log" | tail -n 12
    local qemu
    qemu=$(pgrep -f "^[^ ]*qemu-system-x86_64 .*$d" | head -1)
    if [[ -n $qemu ]] && command -v gdb >/dev/null; then
        echo "--- QEMU $qemu: threads' stacks ---"
        timeout 60 gdb -p "$qemu" -batch -ex 'thread apply all bt 12' 2>/dev/null |
            grep -E '^Thread|^#[0-9]'
    fi
}
# wait_log PATTERN SECONDS: the guest printed a line matching PATTERN (grep -E)
wait_log() {
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        tr -d '\r' 2>/dev/null <"$log" | grep -Eq "$1" && return 0
        kill -0 "$qpid" 2>/dev/null || return 1
        sleep 0.1 # not a wait: the poll interval of wait_log's deadline loop
    done
    return 1
}
# one_boot: 0 when the boot completed, 1 when a step did not (diagnosed), 77 lab unavailable
one_boot() {
    d=$(mktemp -d /dev/shm/xpv-hp.XXXXXX)
    log=$logdir/boot$b.log
    rm -f "$log"
    setsid bash "$lab/run-lab.sh" --nodes 4 --kernel "$kernel" --initrd "$initrd" --log "$log" \
        --timeout 1200 --channel "$d" --append "hp.adds=4 hp.dels=$dels hp.hold=$hold ${HP_APPEND:-}" \
        e2e.hotplug >"$d/run-lab.out" 2>&1 &
    qpid=$!
    step=boot
    if ! wait_log '^XPV-HP READY' 900; then
        grep -q 'XPV-LAB-SKIPPED' "$log" 2>/dev/null && { cat "$d/run-lab.out"; return 77; }
        diagnose "the guest did not come up"
        return 1
    fi
    local k t0
    for ((k = 1; k <= 4; k++)); do
        step="add $k" t0=$SECONDS
        qmp device_add --args "{\"driver\":\"qemu64-x86_64-cpu\",\"id\":\"hp$k\",\"socket-id\":$((3 + k)),\"core-id\":0,\"thread-id\":0,\"node-id\":$((k - 1))}" >/dev/null ||
            { diagnose "device_add refused"; return 1; }
        wait_log "^XPV-HP online CPU [0-9]+ #$k\$" 120 || { diagnose "not online within 120 s"; return 1; }
        add_s+=($((SECONDS - t0)))
    done
    for ((k = 1; k <= dels; k++)); do
        step="unplug $k" t0=$SECONDS
        qmp device_del --args "{\"id\":\"hp$k\"}" >/dev/null || { diagnose "device_del refused"; return 1; }
        wait_log "^XPV-HP gone CPU [0-9]+ #$k\$" 120 || { diagnose "not ejected within 120 s"; return 1; }
        del_s+=($((SECONDS - t0)))
    done
    step=hold
    wait_log '^XPV-HP held' $((hold + 120)) || { diagnose "the guest did not finish its ${hold} s hold"; return 1; }
    wait "$qpid"
    qpid=
    sh "$lab/lab-result.sh" "$log" e2e.hotplug >/dev/null || { diagnose "e2e.hotplug failed in the guest"; return 1; }
    return 0
}

failed=0 retried=0 retries=${HP_RETRY:-0} add_s=() del_s=()
echo "hotplug: $boots boots, 4 hot-adds and $dels unplugs each, ${hold} s hold (XPV_LAB_TCG_OPTS='${XPV_LAB_TCG_OPTS:-}' HP_APPEND='${HP_APPEND:-}', HP_RETRY=$retries)"
for ((b = 1; b <= boots; b++)); do
    start=$SECONDS
    one_boot
    rc=$?
    cleanup
    ((rc == 77)) && exit 77
    if ((rc != 0 && retried < retries)); then
        # a hung boot is booted once more and reported; a second hang fails (docs/lab.md)
        retried=$((retried + 1))
        echo "hotplug: boot $b: HUNG at $step in $((SECONDS - start))s; RETRY $retried of $retries (HP_RETRY): a second hang fails"
        start=$SECONDS
        one_boot
        rc=$?
        cleanup
        ((rc == 77)) && exit 77
    fi
    ((rc == 0)) || failed=$((failed + 1))
    echo "hotplug: boot $b: $( ((rc == 0)) && echo completed || echo "FAILED at $step") in $((SECONDS - start))s"
done
echo "hotplug: $((boots - failed)) of $boots boots completed, $retried retried; add+online seconds: ${add_s[*]}; unplug seconds: ${del_s[*]}"
((failed == 0))
