#!/bin/sh
# cli_carrefour.sh XPV SEED TARGET PERF — `xpv carrefour` on recorded samples (replay format and
# perf script text), on a live program started with the sampler (this host has one node:
# nothing can move, the rounds must still run and end with the program), and its refusals.
set -u
xpv=$1 seed=$2 target=$3 perf=$4
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

# --profile hold: interleaving, turned on by round 0's imbalance (all traffic to node 0),
# stays on in round 1 (loads 13/10/10/10: imbalance 13.95 %, under the 35 % gate, over 5 %);
# the LP profile's plain gate turns it off there.
cat >"$d/hold.txt" <<'EOF2'
xpv-samples 1
nodes 4
cpus 0:0 1:1 2:2 3:3
round 1000000000
dram 0 0 20000000
dram 1 0 20000000
dram 2 0 20000000
dram 3 0 20000000
s 0 1000 r 0
s 1 1000 r 0
round 1000000000
dram 0 0 10000000
dram 1 1 10000000
dram 2 2 10000000
dram 3 3 10000000
dram 1 0 3000000
s 0 1000 r 0
s 1 1000 r 0
EOF2
"$xpv" carrefour --replay "$d/hold.txt" --profile hold --json >"$d/hold" 2>"$d/err" || fail "--profile hold: $(cat "$d/err")"
"$xpv" carrefour --replay "$d/hold.txt" --profile lp --json >"$d/hold.lp" 2>"$d/err" || fail "hold file, lp: $(cat "$d/err")"
python3 - "$d/hold" "$d/hold.lp" <<'PY' || fail "hold: $(cat "$d/hold" "$d/hold.lp")"
import json, sys
hold, lp = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
assert [r["interleaving"] for r in hold] == [True, True], hold
assert [r["interleaving"] for r in lp] == [True, False], lp
assert abs(hold[1]["imbalance"] - 100 * 1.5e6 / 10.75e6) < 1e-6, hold[1]
PY
"$xpv" carrefour --replay "$d/hold.txt" --profile bogus >/dev/null 2>"$d/err" && fail "--profile bogus accepted"
grep -q "unknown profile 'bogus' (asplos, lp, hv or hold)" "$d/err" || fail "bad profile message: $(cat "$d/err")"

# options of live runs on recorded samples: usage errors that say what they go with
for opt in --dry-run "--rounds 3" "--pages 8" "--window 5ms" "--sample-memory 0"; do
    # shellcheck disable=SC2086 # the option and its value split on purpose
    "$xpv" carrefour --replay "$seed" $opt >/dev/null 2>"$d/err"
    rc=$?
    [ $rc -eq 2 ] && grep -q "go with --pid or -- CMD" "$d/err" || fail "--replay $opt: exit $rc: $(cat "$d/err")"
done

# 2 MiB pages in a replay (tests/fuzz/seeds/cf_replay/huge-pages.txt): the LP profile decides
# three of them whole (one split, two moved whole), the ASPLOS one sees 55 pages of 4 KiB
huge=$(dirname "$seed")/huge-pages.txt
"$xpv" carrefour --replay "$huge" --profile lp >"$d/huge" 2>"$d/err" || fail "huge replay: $(cat "$d/err")"
grep -q '^round 0: .* | 44 pages sampled (3 of 2 MiB: 1 split, 2 moved whole): 2 migrate, 1 interleave, 0 replicate' "$d/huge" ||
    fail "2 MiB pages not reported: $(cat "$d/huge")"
"$xpv" carrefour --replay "$huge" --profile lp --json >"$d/huge.lp" || fail "huge --json"
"$xpv" carrefour --replay "$huge" --json >"$d/huge.asplos" || fail "huge --json asplos"
python3 - "$d/huge.lp" "$d/huge.asplos" <<'PY' || fail "2 MiB pages in JSON: $(cat "$d/huge.lp" "$d/huge.asplos")"
import json, sys
lp, asplos = (json.loads(open(f).readline()) for f in sys.argv[1:3])
assert (lp["pages"], lp["huge_pages"], lp["split"], lp["huge_moved_whole"]) == (44, 3, 1, 2), lp
assert (asplos["pages"], asplos["huge_pages"], asplos["split"], asplos["huge_moved_whole"]) == (55, 0, 0, 0), asplos
PY

# perf script import: 7 samples with an address in round 0 (one IBS op without), 2 in round 1;
# 1 s rounds; nodes by first touch: 4 of the 7 samples are local; each stands for 1000 accesses.
"$xpv" carrefour --perf-script "$perf" --cpu-nodes 0-1:0,2-3:1 --sample-every 1000 --json >"$d/perf" 2>"$d/err" ||
    fail "--perf-script: $(cat "$d/err")"
python3 - "$d/perf" <<'PY' || fail "perf script rounds: $(cat "$d/perf")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
assert abs(rows[0]["lar"] - 400 / 7) < 1e-9, rows[0]
assert abs(rows[0]["maptu"] - 7000 / 1e6) < 1e-12, rows[0]
assert rows[0]["pages"] == 3, rows[0]
PY
# with data_page_size (tests/fuzz/seeds/cf_perf_script/page-size.txt): 2M samples are 2 MiB pages
"$xpv" carrefour --perf-script "$(dirname "$perf")/page-size.txt" --cpu-nodes 0-3:0,4-7:1 --profile lp --json \
    >"$d/psize" 2>"$d/err" || fail "--perf-script with data_page_size: $(cat "$d/err")"
python3 - "$d/psize" <<'PY' || fail "perf data_page_size rounds: $(cat "$d/psize")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [(r["pages"], r["huge_pages"]) for r in rows] == [(3, 1), (1, 1)], rows
PY
printf '[000] 1.0: mem-loads: 1000 4K\n[000] 1.1: mem-loads: 2000 1024M\n' >"$d/gb.perf"
"$xpv" carrefour --perf-script "$d/gb.perf" --cpu-nodes 0:0 2>"$d/err"; [ $? -eq 1 ] || fail "1 GiB pages should be refused"
grep -q "gb.perf:2: data_page_size 1024M: expected 4K or 2M" "$d/err" || fail "unclear page size refusal: $(cat "$d/err")"
printf '[000] 1.0: mem-loads: 1000\nhello\n' >"$d/bad.perf"
"$xpv" carrefour --perf-script "$d/bad.perf" --cpu-nodes 0:0 2>"$d/err"; [ $? -eq 1 ] || fail "bad perf text should fail"
grep -q "bad.perf:2: expected" "$d/err" || fail "unclear perf refusal: $(cat "$d/err")"
"$xpv" carrefour --perf-script "$perf" --cpu-nodes 0-1 2>"$d/err"; [ $? -eq 1 ] || fail "bad --cpu-nodes"

# live: the program runs under the sampler, rounds print, the run ends with the program and
# the program's output is what it prints alone
"$target" 0.2 >"$d/ref" 2>/dev/null || fail "$target alone failed"
"$xpv" carrefour --period 0.2 -- "$target" 1 >"$d/live" 2>"$d/err" || fail "live run: $(cat "$d/err")"
n=$(grep -c '^round [0-9]*: MAPTU .* samples .* overhead: sampling' "$d/live")
[ "$n" -ge 3 ] || fail "expected >= 3 live rounds: $(cat "$d/live")"
grep -q '^round 1: .* [1-9][0-9]* samples' "$d/live" || fail "no samples in round 1: $(cat "$d/live")"
grep -q '^target [0-9]* exited with status 0' "$d/live" || fail "no clean end: $(cat "$d/live")"
grep -v '^round \|^total\|^target' "$d/live" >"$d/prog"
cmp -s "$d/ref" "$d/prog" || fail "program output changed: $(cat "$d/prog")"
"$xpv" carrefour --dry-run --rounds 2 --period 100ms --json -- "$target" 0.5 >"$d/dry" 2>"$d/err" || fail "dry run: $(cat "$d/err")"
[ "$(grep -c '"dry_run":true' "$d/dry")" -eq 2 ] || fail "--rounds 2 --json: $(cat "$d/dry")"
"$xpv" carrefour -- /nonexistent/program 2>"$d/err"; [ $? -eq 1 ] || fail "missing program should fail"
"$xpv" carrefour --sampler /nonexistent.so -- true 2>"$d/err"; [ $? -eq 1 ] || fail "missing library"
grep -q "sampler library /nonexistent.so" "$d/err" || fail "unclear: $(cat "$d/err")"

# --sampler perf: where this machine has no precise memory sampling PMU (this host, TCG guests)
# it is refused, naming what was looked for and what to use instead
pmu=/sys/bus/event_source/devices
if [ ! -e $pmu/ibs_op/type ] && ! ls $pmu/*/events/mem-loads >/dev/null 2>&1; then
    "$xpv" carrefour --sampler perf -- true 2>"$d/err"; [ $? -eq 1 ] || fail "--sampler perf without a PMU should fail"
    grep -q "no precise memory sampling PMU: looked for AMD IBS op ($pmu/ibs_op/type) and Intel PEBS" "$d/err" ||
        fail "unclear --sampler perf refusal: $(cat "$d/err")"
    grep -q -- "--sampler soft.*--perf-script" "$d/err" || fail "no alternative named: $(cat "$d/err")"
fi
# (the same perf path on page faults, which perf_event_open may refuse here: its own test,
# cli_carrefour_perf_faults.sh)
"$xpv" carrefour --sampler perf --pages 3 -- true 2>/dev/null; [ $? -eq 2 ] || fail "--pages with perf"
"$xpv" carrefour --sampler nope -- true 2>/dev/null; [ $? -eq 2 ] || fail "--sampler nope"

# --pid of a process without the sampler: says how to start it
sleep 300 & sp=$! # not a wait: a live process without the sampler (killed below)
"$xpv" carrefour --pid $sp 2>"$d/err"; rc=$?
kill $sp 2>/dev/null
[ $rc -eq 1 ] || fail "--pid without a ring should fail"
grep -q "no sampler ring for pid $sp.*LD_PRELOAD=.*libxpv-cfsampler.so" "$d/err" || fail "unclear --pid refusal: $(cat "$d/err")"

printf 'xpv-samples 1\nnodes 2\nbogus\n' >"$d/bad.txt"
"$xpv" carrefour --replay "$d/bad.txt" 2>"$d/err"; [ $? -eq 1 ] || fail "bad file should fail"
grep -q "bad.txt:3: unknown line kind bogus" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" carrefour --replay "$seed" --profile nope 2>/dev/null; [ $? -eq 2 ] || fail "bad profile"
"$xpv" carrefour --replay "$seed" --pid 1 2>/dev/null; [ $? -eq 2 ] || fail "two sources"
"$xpv" carrefour 2>/dev/null; [ $? -eq 2 ] || fail "no source"
echo PASS
