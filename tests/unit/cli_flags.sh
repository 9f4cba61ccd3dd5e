#!/bin/sh
# cli_flags.sh XPV FIXTURE REPLAY PERF — the options common to all subcommands (docs/cli.md,
# "Options common to all subcommands"): durations with a unit or without one, in every
# subcommand that takes one; the new spellings (--period, --poll, --window); the old ones
# (--interval, --round-ms, --poll-ms, --period-us, a bare `xpv vm --timeout`) still accepted
# with a one-line warning; bad durations refused with exit 2 and a message naming the option
# and the accepted form; --json a switch printing JSON on stdout. (`xpv sim --json` and its old
# `--json FILE`: tests/sim/cli_sim.sh.)
set -u
xpv=$1 fx=$2 replay=$3 perf=$4
d=$(mktemp -d /tmp/xpv-flags.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# runs WHAT STATUS CMD...: exits STATUS, and says nothing about deprecation or bad values
runs() {
    what=$1 want=$2
    shift 2
    "$@" >"$d/out" 2>"$d/err"
    rc=$?
    [ $rc -eq "$want" ] || fail "$what: exit $rc, not $want ($(cat "$d/err"))"
    ! grep -q "deprecated\|wants" "$d/err" || fail "$what: $(cat "$d/err")"
}
# warns WHAT STATUS MESSAGE CMD...: exits STATUS, MESSAGE the first line on stderr, once
warns() {
    what=$1 want=$2 msg=$3
    shift 3
    "$@" >"$d/out" 2>"$d/err"
    rc=$?
    [ $rc -eq "$want" ] || fail "$what: exit $rc, not $want ($(cat "$d/err"))"
    [ "$(head -1 "$d/err")" = "$msg" ] || fail "$what: no warning '$msg': $(cat "$d/err")"
    [ "$(grep -c deprecated "$d/err")" -eq 1 ] || fail "$what: warned more than once: $(cat "$d/err")"
}
# refused WHAT MESSAGE CMD...: exit 2 (usage) with MESSAGE (a fixed string) on stderr
refused() {
    what=$1 msg=$2
    shift 2
    "$@" >"$d/out" 2>"$d/err"
    rc=$?
    [ $rc -eq 2 ] || fail "$what: exit $rc, not 2 ($(cat "$d/err"))"
    grep -qF -- "$msg" "$d/err" || fail "$what: unclear refusal: $(cat "$d/err")"
}
json_lines() { # json_lines FILE: every line of FILE is a JSON object (at least one)
    python3 -c "
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines and all(isinstance(json.loads(l), dict) for l in lines), lines[:2]" "$1"
}

# xpv publish --period (old: --interval, -i)
rec=$d/record
runs "publish --period 10ms" 0 "$xpv" publish --path "$rec" --root "$fx" --once --period 10ms
runs "publish --period 0.5 (seconds)" 0 "$xpv" publish --path "$rec" --root "$fx" --once --period 0.5
warns "publish --interval" 0 "xpv publish: --interval is deprecated, use --period" \
    "$xpv" publish --path "$rec" --root "$fx" --once --interval 0.5
grep -q "^published generation 3 " "$d/out" || fail "publish --interval did not publish: $(cat "$d/out")"
warns "publish -i" 0 "xpv publish: -i is deprecated, use --period" \
    "$xpv" publish --path "$rec" --root "$fx" --once -i 2
refused "publish --period 5x" \
    "xpv publish: --period wants a duration from 10ms to 86400s (a number with an optional unit us, ms or s; a bare number is seconds), got '5x'" \
    "$xpv" publish --path "$rec" --once --period 5x
refused "publish --period 1ms" "--period wants a duration from 10ms to 86400s" \
    "$xpv" publish --path "$rec" --once --period 1ms
refused "publish --interval abc" "got 'abc'" "$xpv" publish --path "$rec" --once --interval abc

# xpv watch --timeout: the record there now, then nothing new within 100 ms: exit 1
runs "watch --timeout 2s" 0 "$xpv" watch "$rec" --count 1 --timeout 2s
runs "watch --timeout 100ms" 1 "$xpv" watch "$rec" --count 2 --timeout 100ms
grep -q "no new generation within 0.1 s" "$d/err" || fail "watch --timeout 100ms: $(cat "$d/err")"
for bad in 0x10 -1 1.5h 1e3x "" 0; do
    refused "watch --timeout '$bad'" "xpv watch: --timeout wants a duration from 1ms to 1000000s" \
        "$xpv" watch "$rec" --timeout "$bad"
done

# xpv hostd --period
runs "hostd --period 200ms" 0 "$xpv" hostd --dry-run --once --period 200ms --record-dir "$d" \
    --socket "$d/h.sock"
refused "hostd --period 1h" "xpv hostd: --period wants a duration from 10ms to 3600s" \
    "$xpv" hostd --once --period 1h

# xpv vm --timeout: a bare number is still milliseconds, with a warning; nothing listens
warns "vm --timeout 5000" 1 \
    "xpv vm: --timeout 5000: a number without a unit means milliseconds here, for now (deprecated: write 5000ms, or give seconds as in 5s)" \
    "$xpv" vm --qmp "$d/none.qmp" --timeout 5000
grep -q "cannot connect to QMP socket" "$d/err" || fail "vm: $(cat "$d/err")"
runs "vm --timeout 5s" 1 "$xpv" vm --qmp "$d/none.qmp" --timeout 5s
runs "vm --timeout 250ms" 1 "$xpv" vm --qmp "$d/none.qmp" --timeout 250ms
refused "vm --timeout 0" "xpv vm: --timeout wants a duration from 1ms to" \
    "$xpv" vm --qmp "$d/none.qmp" --timeout 0

# xpv guestd --poll (old: --poll-ms N); no guest here: exit 1 after the options were taken
runs "guestd --poll 50ms" 1 "$xpv" guestd --root "$d/none" --once --poll 50ms
warns "guestd --poll-ms" 1 "xpv guestd: --poll-ms N is deprecated, use --poll Nms" \
    "$xpv" guestd --root "$d/none" --once --poll-ms 50
refused "guestd --poll 2m" "xpv guestd: --poll wants a duration from 1ms to 60s" \
    "$xpv" guestd --poll 2m
refused "guestd --poll-ms 0" "xpv guestd: --poll-ms wants a duration from 1ms to 60s" \
    "$xpv" guestd --poll-ms 0

# xpv carrefour --period (old: --round-ms N for --perf-script, --interval for a live process)
# and --window (old: --period-us N): the same rounds by either spelling
runs "carrefour --perf-script --period 500ms" 0 \
    "$xpv" carrefour --perf-script "$perf" --cpu-nodes 0-1:0,2-3:1 --period 500ms --json
cp "$d/out" "$d/p500"
warns "carrefour --round-ms" 0 "xpv carrefour: --round-ms N is deprecated, use --period Nms" \
    "$xpv" carrefour --perf-script "$perf" --cpu-nodes 0-1:0,2-3:1 --round-ms 500 --json
cp "$d/out" "$d/r500"
runs "carrefour --perf-script --period 0.5" 0 \
    "$xpv" carrefour --perf-script "$perf" --cpu-nodes 0-1:0,2-3:1 --period 0.5 --json
python3 - "$d/p500" "$d/r500" "$d/out" <<'PY' || fail "--period 500ms, --round-ms 500, --period 0.5 differ"
import json, sys
runs = [[json.loads(l) for l in open(f)] for f in sys.argv[1:]]
for r in runs:
    for row in r:
        row.pop("engine_pct_of_round")
assert runs[0] == runs[1] == runs[2], runs
assert len(runs[0]) > 2, "500 ms rounds of the recording: more than its two 1 s rounds"
PY
warns "carrefour --interval" 0 "xpv carrefour: --interval is deprecated, use --period" \
    "$xpv" carrefour --interval 0.1 --rounds 1 -- true
warns "carrefour --period-us" 0 "xpv carrefour: --period-us N is deprecated, use --window Nus" \
    "$xpv" carrefour --period-us 5000 --period 100ms --rounds 1 -- true
runs "carrefour --window 5ms" 0 "$xpv" carrefour --window 5ms --period 100ms --rounds 1 -- true
refused "carrefour live --period 5ms" \
    "xpv carrefour: --period wants a duration from 10ms to 3600s for a live process, got '5ms'" \
    "$xpv" carrefour --period 5ms -- true
refused "carrefour --window 50us" "xpv carrefour: --window wants a duration from 100us to 10s" \
    "$xpv" carrefour --window 50us -- true
refused "carrefour --round-ms x" "xpv carrefour: --round-ms wants a duration" \
    "$xpv" carrefour --perf-script "$perf" --round-ms x

# --json: a switch, JSON on stdout, in every subcommand that has it
runs "topo --json" 0 "$xpv" topo --root "$fx" --json
json_lines "$d/out" || fail "topo --json: $(cat "$d/out")"
runs "watch --json" 0 "$xpv" watch "$rec" --json --count 1
json_lines "$d/out" || fail "watch --json: $(cat "$d/out")"
runs "carrefour --json" 0 "$xpv" carrefour --replay "$replay" --json
json_lines "$d/out" || fail "carrefour --json: $(cat "$d/out")"
echo PASS
