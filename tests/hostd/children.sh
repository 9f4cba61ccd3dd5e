#!/bin/sh
# children.sh XPV — test hostd.children: the command domains `xpv hostd -- CMD` launches are the
# daemon's children (issue 18, finding 8): they start with no signal blocked and SIGPIPE at
# its default; when the daemon stops (SIGTERM) their process group gets SIGTERM, then
# SIGKILL after 5 s if it ignores that; when the daemon dies without stopping them (SIGKILL)
# the kernel sends them SIGTERM (PR_SET_PDEATHSIG), so a restarted daemon never runs a
# second copy beside an orphan; a command that exits leaves its domain without a process
# (its pid is not touched again).
set -u
xpv=$1
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
# shellcheck source=timed_wait.sh
. "$(dirname "$0")/timed_wait.sh"
d=$(mktemp -d /tmp/xpv-children.XXXXXX)
export XPV_HOSTD_STATE_DIR="$d"
cleanup() {
    for p in ${daemon:-} ${child:-}; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log:"; cat "$d/log" 2>/dev/null; exit 1; }
gone() { ! kill -0 "$1" 2>/dev/null && echo "pid $1 gone" || { echo "pid $1 still there:"; ps -o pid,pgid,stat,cmd -p "$1"; return 1; }; }
# start CMD...: a daemon launching CMD; sets daemon and child (the command's pid)
start() {
    : >"$d/log"
    "$xpv" hostd --socket "$d/hostd.sock" --record-dir "$d" --period 0.2 -- "$@" 2>"$d/log" & # not a wait: the daemon under test
    daemon=$!
    timed_wait 10 "the launch in the daemon's log" file_has "$d/log" "launched .* as pid" ||
        fail "no launch"
    child=$(sed -n 's/.*launched .* as pid \([0-9]*\) .*/\1/p' "$d/log" | head -n 1)
    [ -n "$child" ] || fail "no pid in the launch line"
}

# 1. a clean signal state; SIGTERM to the daemon stops the command
# not a wait: the launched command, a long-lived process
start sleep 300
# the command has exec'd (not a wait: sleep is the command's name here)
timed_wait 10 "the command to exec sleep" out_has '^Name:[[:space:]]*sleep' cat "/proc/$child/status" ||
    fail "the command did not start"
blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "/proc/$child/status")
ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' "/proc/$child/status")
[ "$(printf '%d' "0x$blk")" -eq 0 ] || fail "signals blocked in the command: SigBlk $blk"
[ $(($(printf '%d' "0x$ign") >> 12 & 1)) -eq 0 ] || fail "SIGPIPE ignored in the command: SigIgn $ign"
kill -TERM "$daemon"
timed_wait 10 "the daemon to exit" gone "$daemon" || fail "the daemon did not stop"
wait "$daemon" 2>/dev/null
timed_wait 10 "the command to be stopped with the daemon" gone "$child" || fail "the command outlived the daemon"
grep -q "stopping pid $child" "$d/log" || fail "no 'stopping' line"

# 2. a command that ignores SIGTERM is killed after the grace period
start sh -c 'trap "" TERM; while :; do sleep 0.1; done' # not a wait: a command that will not stop
kill -TERM "$daemon"
timed_wait 20 "the daemon to exit" gone "$daemon" || fail "the daemon did not stop"
wait "$daemon" 2>/dev/null
gone "$child" || fail "the SIGTERM-proof command outlived the daemon"
grep -q "still running 5s after SIGTERM: SIGKILL" "$d/log" || fail "no SIGKILL line"

# 3. the daemon killed outright: the kernel stops the command (no orphan for a restart to
#    run beside)
start sleep 300 # not a wait: the launched command, a long-lived process
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
timed_wait 10 "the orphaned command to get SIGTERM" gone "$child" || fail "the command survived the daemon's SIGKILL"

# 4. a command that exits: the domain is gone, and stays gone
start sh -c 'exit 3'
timed_wait 10 "the exit in the daemon's log" file_has "$d/log" "pid $child exited \(status 3\)" ||
    fail "the exit not logged"
timed_wait 10 "the domain shown gone" out_has '^cmd  *command  *gone' "$xpv" domains --socket "$d/hostd.sock" ||
    fail "the domain not shown gone"
kill -TERM "$daemon"
timed_wait 10 "the daemon to exit" gone "$daemon" || fail "the daemon did not stop"
! grep -q "stopping pid" "$d/log" || fail "the daemon signalled a pid it had reaped"
echo PASS
