#!/bin/sh
# watch_publish.sh XPV FIXTURES — `xpv publish` in one process, `xpv watch` in another: the
# watcher prints the record there when it starts and then each new generation, in order.
# Also the errors a user meets: no record yet, a second publisher, bad usage.
set -u
xpv=$1 fx=$2
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
d=$(mktemp -d /tmp/xpv-watch.XXXXXX)
trap 'kill $wpid 2>/dev/null; rm -rf "$d"' EXIT
rec=$d/record
fail() { echo "FAIL: $*"; echo "--- watch output:"; cat "$d/out" 2>/dev/null; exit 1; }

"$xpv" watch "$rec" 2>"$d/err" && fail "watch on a missing record succeeded"
grep -q "no topology record at $rec" "$d/err" || fail "unclear error: $(cat "$d/err")"
"$xpv" watch --count 0 "$rec" 2>/dev/null; [ $? -eq 2 ] || fail "bad --count is not a usage error"

"$xpv" publish --path "$rec" --root "$fx/4node" --once >/dev/null || fail "first publish"
: >"$d/out" # exists before the watcher starts, so the wait below can read it
"$xpv" watch "$rec" --json --count 3 --timeout 30 >>"$d/out" 2>"$d/werr" &
wpid=$!
# wait for the watcher's first line (the record already there), then change it twice
wait_until 30 "xpv watch's first record" lines_at_least 1 "$d/out" ||
    fail "watch printed nothing ($(cat "$d/werr"))"
"$xpv" publish --path "$rec" --root "$fx/offline" --once >/dev/null || fail "second publish"
"$xpv" publish --path "$rec" --root "$fx/sparse" --once >/dev/null || fail "third publish"
wait $wpid || fail "watch exited $? ($(cat "$d/werr"))"

python3 - "$d/out" <<'PY' || fail "watch output is not what was published"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["generation"] for l in lines] == [1, 2, 3], [l["generation"] for l in lines]
assert [n["id"] for n in lines[0]["nodes"]] == [0, 1, 2, 3]
assert lines[0]["distances"][0] == [10, 20, 30, 40]
assert lines[1]["cpu_node"] == [0, 0, 0, None, 1, 1, None, 1], lines[1]["cpu_node"]
assert [n["id"] for n in lines[2]["nodes"]] == [0, 2, 5, 9]
print("watch saw generations 1, 2, 3 with the published content")
PY

# one publisher at a time
: >"$d/pub"
"$xpv" publish --path "$rec" --root "$fx/4node" --period 10 >>"$d/pub" &
ppid=$!
# wait until it holds the record (it prints once it has published)
wait_until 30 "the first publisher to publish" file_has "$d/pub" published ||
    fail "the first publisher did not start"
"$xpv" publish --path "$rec" --once 2>"$d/err2" && fail "a second publisher was allowed"
grep -q "another publisher" "$d/err2" || fail "unclear error: $(cat "$d/err2")"
kill $ppid; wait $ppid 2>/dev/null
echo PASS
