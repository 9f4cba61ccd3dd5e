#!/bin/sh
# cli_hostd.sh XPV FIXTURE — `xpv hostd` for real on this (one-node) host: a process domain
# and a launched command; `xpv domains` lists them, `xpv move` pins one (node 0: the only
# node here). With the host topology from a 4-node FIXTURE tree, a move to node 2 advances
# the record's generation and a libxpv reader (`xpv watch`) sees it. Bad requests get clear
# errors; a vanished process is reported gone; a restarted daemon continues the generation
# and keeps the manual placement; --dry-run changes nothing.
# (Multi-node moves with real syscalls: tests/hostd/test_daemon.c and the lab.)
set -u
xpv=$1 fixture=$2
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
d=$(mktemp -d /tmp/xpv-hostd.XXXXXX)
export XPV_HOSTD_STATE_DIR="$d" # the operator's placements beside the records, not /var/lib/xpv
sock=$d/hostd.sock
cleanup() {
    for p in ${daemon:-} ${fdaemon:-} ${worker:-}; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log:"; cat "$d/log" "$d/fxlog" 2>/dev/null; exit 1; }
gen() { # gen SOCKET DOMAIN: its record generation, from `xpv domains --json`
    "$xpv" domains --socket "$1" --json | python3 -c \
        "import json,sys; print([x for x in json.load(sys.stdin)['domains'] if x['name']=='$2'][0]['generation'])"
}

sleep 300 & # not a wait: a long-lived process for the daemon to place (killed at the end)
worker=$!
"$xpv" hostd --pids "w=$worker" --name job --socket "$sock" --record-dir "$d" --period 0.2 \
    -- sh -c 'echo "record=$XPV_RECORD"; exec sleep 300' >"$d/out" 2>"$d/log" & # not a wait: a long-lived command
daemon=$!
wait_until 10 "the daemon to answer" "$xpv" domains --socket "$sock" || fail "the daemon did not answer"
wait_until 10 "w's record" nonempty "$d/xpv-domain-w" || fail "no record for w"
"$xpv" domains --socket "$sock" >"$d/list" || fail "xpv domains"
cat "$d/list"
grep -q '^w  *pids  *alive' "$d/list" || fail "w not listed alive"
grep -q '^job  *command  *alive' "$d/list" || fail "the launched command not listed"
grep -q "record=$d/xpv-domain-job" "$d/out" || fail "the command did not get XPV_RECORD: $(cat "$d/out")"

# pin w on node 0 (where it is: nothing to republish)
g0=$(gen "$sock" w)
"$xpv" move w --nodes 0 --socket "$sock" >"$d/move" || fail "xpv move: $(cat "$d/move")"
grep -q "^w: nodes 0, record generation $g0$" "$d/move" || fail "move reply: $(cat "$d/move")"
python3 - "$worker" <<'PY' || fail "affinity of $worker is not node 0's CPUs"
import os, sys
want = set()
for part in open("/sys/devices/system/node/node0/cpulist").read().strip().split(","):
    a, _, b = part.partition("-")
    want |= set(range(int(a), int(b or a) + 1))
assert os.sched_getaffinity(int(sys.argv[1])) == want
PY
"$xpv" domains --socket "$sock" | grep -q '^w .* 0 (manual)' || fail "w not shown as manual"

# A move to another node needs a multi-node host: a second daemon takes the host topology
# from a 4-node fixture tree (so it acts through the recording ops, and says so), with the
# real process and real records.
mkdir -p "$d/fx"
fsock=$d/fixture.sock
"$xpv" hostd --root "$fixture" --pids "f=$worker" --socket "$fsock" --record-dir "$d/fx" --state-dir "$d/fx" \
    --period 0.2 2>"$d/fxlog" &
fdaemon=$!
wait_until 10 "the fixture daemon to answer" "$xpv" domains --socket "$fsock" ||
    fail "the fixture daemon did not answer"
grep -q "host topology from $fixture: using the recording ops" "$d/fxlog" || fail "no substitution notice"
wait_until 10 "f's record" nonempty "$d/fx/xpv-domain-f" || fail "no record for f"
gf=$(gen "$fsock" f)
"$xpv" watch "$d/fx/xpv-domain-f" --count 2 --timeout 20 --json >"$d/watch" 2>&1 &
watcher=$!
# once it has printed the record there (generation gf), any new generation is its second: it
# waits for a generation other than the one it printed (src/cli/cmd_watch.c)
wait_until 20 "xpv watch's first record" lines_at_least 1 "$d/watch" || fail "xpv watch printed nothing"
head -1 "$d/watch" | grep -q "^{\"generation\":$gf," || fail "xpv watch's first record: $(head -1 "$d/watch")"
"$xpv" move f --nodes 2 --socket "$fsock" >"$d/move" || fail "xpv move: $(cat "$d/move")"
grep -q "^f: nodes 2, record generation $((gf + 1))$" "$d/move" || fail "move reply: $(cat "$d/move")"
wait "$watcher" || fail "xpv watch did not see the new generation: $(cat "$d/watch")"
tail -1 "$d/watch" | python3 -c "
import json, sys
r = json.loads(sys.stdin.read())
assert r['generation'] == $gf + 1, r['generation']
assert [n['id'] for n in r['nodes']] == [2], r['nodes']
" || fail "the record after the move: $(tail -1 "$d/watch")"
kill "$fdaemon"; wait "$fdaemon"; fdaemon=

# errors
"$xpv" move w --nodes 7 --socket "$sock" 2>"$d/err"; [ $? -eq 1 ] || fail "node 7 accepted"
grep -q "node 7 does not exist" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" move nope --nodes 0 --socket "$sock" 2>"$d/err"; [ $? -eq 1 ] || fail "unknown domain accepted"
grep -q "no domain named 'nope'" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" move w --socket "$sock" 2>/dev/null; [ $? -eq 2 ] || fail "move without --nodes"
"$xpv" domains --socket "$d/none.sock" 2>"$d/err"; [ $? -eq 1 ] || fail "no daemon: wrong status"
grep -q "no daemon answers on $d/none.sock" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" hostd --socket "$sock" --pids "x=$worker" 2>"$d/err"; [ $? -eq 1 ] || fail "second daemon"
grep -q "another daemon answers" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" hostd --pids bad 2>"$d/err"; [ $? -eq 2 ] || fail "--pids bad"
grep -q "wants NAME=VALUE" "$d/err" || fail "unclear: $(cat "$d/err")"

# the worker exits: the daemon goes on and reports it gone
kill "$worker"; wait "$worker" 2>/dev/null; worker=
wait_until 10 "w reported gone" out_has '^w .* gone' "$xpv" domains --socket "$sock" || fail "w not gone"

# restart: the generation continues, the manual placement is kept
g1=$(gen "$sock" w)
kill "$daemon"; wait "$daemon"; daemon=
grep -q "rounds, .* moves (0 manual)" "$d/log" || fail "no summary line"
sleep 300 & # not a wait: a long-lived process for the daemon to place (killed at the end)
worker=$!
"$xpv" hostd --pids "w=$worker" --socket "$sock" --record-dir "$d" --period 0.2 2>>"$d/log" &
daemon=$!
wait_until 10 "w alive after the restart" out_has '^w .*alive' "$xpv" domains --socket "$sock" ||
    fail "restart"
[ "$(gen "$sock" w)" -gt "$g1" ] || fail "generation went back: $(gen "$sock" w) after $g1"
"$xpv" domains --socket "$sock" | grep -q '^w .* 0 (manual)' || fail "manual placement lost"

# (a launched command's signal state and its end with the daemon: tests/hostd/children.sh)

# dry run: one round, decisions printed, nothing published
"$xpv" hostd --dry-run --once --pids "dry=$worker" --record-dir "$d" 2>"$d/dry" || fail "dry run"
grep -q "would move" "$d/dry" || fail "dry run printed no decision: $(cat "$d/dry")"
[ ! -e "$d/xpv-domain-dry" ] || fail "dry run published"
echo PASS
