#!/bin/sh
# cli_carrefour.sh XPV SEED — `xpv carrefour` on recorded samples, and its refusals.
set -u
xpv=$1 seed=$2
d=$(mktemp -d /tmp/xpv-cf.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$xpv" carrefour --replay "$seed" >"$d/out" 2>"$d/err" || fail "replay: $(cat "$d/err")"
[ "$(grep -c '^round ' "$d/out")" -eq 2 ] || fail "expected 2 rounds: $(cat "$d/out")"
grep -q '^round 0: MAPTU 110.0/us, LAR 72.7%' "$d/out" || fail "round 0 metrics: $(head -1 "$d/out")"
"$xpv" carrefour --replay "$seed" --json --profile lp >"$d/json" || fail "--json"
python3 - "$d/json" <<'PY' || fail "JSON rounds"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2 and rows[0]["enabled"] and not rows[0]["replication"], rows[0]
assert abs(rows[0]["maptu"] - 110.0) < 1e-9
PY
"$xpv" carrefour --pid 1 2>"$d/err"; [ $? -eq 1 ] || fail "--pid should fail"
grep -q "not implemented yet" "$d/err" || fail "unclear --pid refusal: $(cat "$d/err")"
printf 'xpv-samples 1\nnodes 2\nbogus\n' >"$d/bad.txt"
"$xpv" carrefour --replay "$d/bad.txt" 2>"$d/err"; [ $? -eq 1 ] || fail "bad file should fail"
grep -q "bad.txt:3: unknown line kind bogus" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" carrefour --replay "$seed" --profile nope 2>/dev/null; [ $? -eq 2 ] || fail "bad profile"
echo PASS
