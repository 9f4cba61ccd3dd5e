#!/bin/sh
# cli_sim.sh XPV EXAMPLES — `xpv sim` from the command line: a scenario file with --json-out and
# --out, the same scenario in YAML and JSON gives the same results, --json (the JSON on stdout)
# and the old --json FILE (still accepted, with a warning), and the errors a user meets
# (malformed scenario with file:line, unknown policy, bad usage), --characterize, and the main
# job's labelled cases (headline per case, summary, JSON rows with their case, bad `cases:`).
set -u
xpv=$1 ex=$2
d=$(mktemp -d /tmp/xpv-sim.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$xpv" sim "$ex/custom.yaml" --quiet --json-out "$d/y.json" --out "$d/out" >"$d/table" 2>"$d/err" ||
    fail "xpv sim custom.yaml: $(cat "$d/err")"
grep -q "speed-up" "$d/table" || fail "no table: $(cat "$d/table")"
[ -s "$d/out/results.csv" ] || fail "no results.csv"
if command -v gnuplot >/dev/null; then
    [ -s "$d/out/completion.png" ] || fail "gnuplot installed but no completion.png"
fi
"$xpv" sim "$ex/custom.json" --quiet --json-out "$d/j.json" >/dev/null 2>&1 || fail "custom.json"
python3 - "$d/y.json" "$d/j.json" <<'PY' || fail "YAML and JSON scenarios disagree"
import json, sys
y, j = (json.load(open(p)) for p in sys.argv[1:3])
assert y["runs"] == j["runs"], "different runs"
assert [r["policy"] for r in y["runs"]] == ["first-touch", "interleave"]
for r in y["runs"]:
    for a in r["apps"]:
        assert a["finished"] and a["completion_s"] > 0, a
PY
# same seed, same results; --seed changes nothing for policies without sampling noise
"$xpv" sim "$ex/custom.yaml" --quiet --json-out "$d/y2.json" >/dev/null 2>&1
cmp -s "$d/y.json" "$d/y2.json" || fail "two runs of the same scenario differ"

# --json: the same JSON on stdout, and no table; before or after the scenario
"$xpv" sim "$ex/custom.yaml" --quiet --json >"$d/stdout.json" 2>"$d/err" || fail "--json: $(cat "$d/err")"
cmp -s "$d/y.json" "$d/stdout.json" || fail "--json on stdout differs from --json-out's file"
[ ! -s "$d/err" ] || fail "--json said something: $(cat "$d/err")"
cp "$ex/custom.json" "$d/scenario.json"
"$xpv" sim --json "$d/scenario.json" --quiet >"$d/stdout2.json" 2>"$d/err" || fail "--json SCENARIO: $(cat "$d/err")"
cmp -s "$ex/custom.json" "$d/scenario.json" || fail "--json SCENARIO overwrote the scenario"
cmp -s "$d/j.json" "$d/stdout2.json" || fail "--json SCENARIO is not the switch then the scenario"
# the old --json FILE: the table on stdout, the JSON in FILE, one warning
"$xpv" sim --json "$d/old.json" "$ex/custom.yaml" --quiet >"$d/oldtable" 2>"$d/err" || fail "--json FILE: $(cat "$d/err")"
grep -q "speed-up" "$d/oldtable" || fail "--json FILE: no table"
cmp -s "$d/y.json" "$d/old.json" || fail "--json FILE wrote something else"
[ "$(cat "$d/err")" = "xpv sim: --json FILE is deprecated, use --json-out FILE (--json: JSON on stdout)" ] ||
    fail "--json FILE: no deprecation warning: $(cat "$d/err")"
"$xpv" sim "$ex/custom.yaml" --quiet --json="$d/old2.json" >/dev/null 2>"$d/err" || fail "--json=FILE"
cmp -s "$d/y.json" "$d/old2.json" && grep -q deprecated "$d/err" || fail "--json=FILE: $(cat "$d/err")"

# the main job: no scenario -> sim/default.yaml (compiled in), labelled cases: per case a
# headline line, then its table; a summary line at the end; one progress line per finished
# case on stderr when it is not a terminal; JSON rows carry the case (issue 17)
"$xpv" sim --json-out "$d/default.json" >"$d/dtable" 2>"$d/err" || fail "xpv sim (default): $(cat "$d/err")"
python3 - "$d/default.json" "$d/dtable" "$d/err" <<'PY' || fail "the main job's cases"
import json, sys
d = json.load(open(sys.argv[1]))
table = open(sys.argv[2]).read().splitlines()
progress = open(sys.argv[3]).read().splitlines()
assert d["scenario"].startswith("default"), d["scenario"]
cases = [c["case"] for c in d["cases"]]
assert len(cases) >= 4 and len(set(cases)) == len(cases), cases
for want in ("swap across sockets", "swap within a package", "moved with its memory",
             "moved without its memory"):
    assert want in cases, (want, cases)
rows = d["results"]
assert {r["case"] for r in rows} == set(cases), "rows without their case"
pols = {r["policy"] for r in rows}
assert {"vnuma", "vnuma-pinned", "xpv-os", "xpv"} <= pols, pols
for r in rows:  # the guest layers' counters, in every row
    for k in ("guest_moves", "guest_node_moves", "relayouts"):
        assert isinstance(r.get(k), int) and r[k] >= 0, (k, r)
for c in d["cases"]:
    # the headline: before the case's table, its figures from the rows' completion times
    t = {r["policy"]: r["completion_s"] for r in rows if r["case"] == c["case"] and r["vm"] == c["vm"]}
    xpvs = [p for p in t if p.startswith("xpv")]
    assert xpvs and sorted(c["recovered"]) == sorted(xpvs), (c["recovered"], xpvs)
    cost = t["vnuma"] / t["vnuma-pinned"]
    head = "%s, %s: " % (c["vm"], c["case"])
    at = [i for i, l in enumerate(table) if l.startswith(head)]
    assert len(at) == 1, (head, table)
    line = table[at[0]]
    assert line == c["headline"], (line, c["headline"])
    assert table[at[0] + 1].startswith("scenario "), "no table after the headline: " + line
    if cost >= 1.01:
        assert ("costs %.2fx" % cost) in line, (line, cost)
        for p in xpvs:  # every xpv* policy named, with its recovered share
            rec = (t["vnuma"] - t[p]) / (t["vnuma"] - t["vnuma-pinned"])
            assert abs(c["recovered"][p] - rec) < 1e-9, (p, c["recovered"], rec)
            pct = round(rec * 100)
            assert (" %s recovers %d %%" % (p, pct) in line or " %s %d %%" % (p, pct) in line
                    or " %s loses %d %%" % (p, -pct) in line), (line, p, pct)
    elif cost > 0.99:
        assert "costs nothing" in line and "nothing to recover" in line, line
summ = [l for l in table if l.startswith("summary over %d cases: " % len(cases))]
assert len(summ) == 1 and table[-1] == summ[0] == d["summary"], (summ, table[-1:])
done = [l for l in progress if l.startswith("xpv sim: case ")]
assert len(done) == len(cases) and all(" done: " in l for l in done), progress
PY

# the guest layers' counters in the JSON rows carry what happened: a JVM whose eden is re-laid
# out at its first collection after the move under xpv (each of its 4 threads once) and never
# under xpv-os; then with the guest scheduler on, its migrations among vCPUs (some of them
# across host nodes)
cat >"$d/guest.yaml" <<'EOF'
name: guest counters
machine: opteron-8n
policies: [xpv-os, xpv]
vms: [{name: v, host_nodes: [0, 3]}]
events: [{at_s: 0.2, vm: v, to: [3, 0]}]
workloads:
  - name: j
    vm: v
    runtime: jvm
    threads: 4
    regions: [{name: young, kind: private, size_mb: 16, churn_per_s: 4}]
    phases: [{work_m: 10, compute_ns: 6, mlp: 6, write_frac: 0.3, weights: {young: 1}}]
EOF
"$xpv" sim "$d/guest.yaml" --quiet --json >"$d/guest.json" 2>"$d/err" || fail "guest.yaml: $(cat "$d/err")"
printf 'guest_sched_per_s: 2\nguest_sched_cross: 0.5\n' >>"$d/guest.yaml"
"$xpv" sim "$d/guest.yaml" --quiet --json >"$d/sched.json" 2>"$d/err" || fail "guest.yaml, scheduler on: $(cat "$d/err")"
python3 - "$d/guest.json" "$d/sched.json" <<'PY' || fail "the guest layers' counters in the JSON rows"
import json, sys
rows, sched = ({r["policy"]: r for r in json.load(open(p))["results"]} for p in sys.argv[1:3])
assert rows["xpv-os"]["relayouts"] == 0 and rows["xpv"]["relayouts"] == 4, rows
for r in rows.values():
    assert r["guest_moves"] == r["guest_node_moves"] == 0, r
for r in sched.values():
    assert r["guest_moves"] > 0 and 0 < r["guest_node_moves"] <= r["guest_moves"], r
PY

# a file with cases: shared keys at the top, each case its own; `headline:` names the
# policies; the case's `vm:` is its headline's
cat >"$d/cases.yaml" <<'EOF'
name: two
machine: opteron-8n
policies: [vnuma, vnuma-pinned, xpv]
headline: [xpv]
workloads: [{preset: wr, threads: 4, vm: v, churn_per_s: 1, work_scale: 0.1}]
cases:
  - name: far swap
    vms: [{name: v, host_nodes: [0, 3]}]
    events: [{at_s: 0.2, vm: v, to: [3, 0]}]
  - name: moved, memory too
    vms: [{name: w, host_nodes: [2, 3]}, {name: v, host_nodes: [4, 5]}]
    workloads: [{preset: kmeans, threads: 2, vm: w, work_scale: 0.1},
                {preset: wr, threads: 4, vm: v, churn_per_s: 1, work_scale: 0.1}]
    events: [{at_s: 0.2, vm: v, to: [6, 7], move_memory: yes}]
    vm: v
EOF
"$xpv" sim "$d/cases.yaml" --quiet --json-out "$d/cases.json" >"$d/ctable" 2>"$d/err" || fail "cases.yaml: $(cat "$d/err")"
[ ! -s "$d/err" ] || fail "--quiet said something: $(cat "$d/err")"
"$xpv" sim "$d/cases.yaml" --quiet --json >"$d/cases2.json" 2>"$d/err" || fail "cases --json: $(cat "$d/err")"
cmp -s "$d/cases.json" "$d/cases2.json" || fail "--json and --json-out differ on a file with cases"
grep -q "^v, far swap: re-placement costs .*; xpv " "$d/ctable" || fail "no headline: $(cat "$d/ctable")"
grep -q "^v, moved, memory too: " "$d/ctable" || fail "no headline for case 2: $(cat "$d/ctable")"
[ "$(tail -1 "$d/ctable" | cut -c1-24)" = "summary over 2 cases: re" ] || fail "no summary: $(tail -1 "$d/ctable")"
python3 - "$d/cases.json" <<'PY' || fail "cases.yaml JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert [c["case"] for c in d["cases"]] == ["far swap", "moved, memory too"], d["cases"]
assert d["headline_policies"] == ["xpv"]
assert [c["vm"] for c in d["cases"]] == ["v", "v"]
by = {}
for r in d["results"]:
    by.setdefault(r["case"], []).append((r["app"], r["policy"]))
assert by["far swap"] == [("wr", p) for p in ("vnuma", "vnuma-pinned", "xpv")], by
assert sorted(by["moved, memory too"]) == sorted((a, p) for a in ("kmeans", "wr") for p in ("vnuma", "vnuma-pinned", "xpv")), by
PY
# a file without cases still works as before: no summary, no progress lines, no "case" in its
# rows; a VM file with vnuma and vnuma-pinned gets its headline line
sed -e '/^cases:/,$d' -e '/^headline:/d' "$d/cases.yaml" >"$d/nocase.yaml"
printf 'vms: [{name: v, host_nodes: [0, 3]}]\nevents: [{at_s: 0.2, vm: v, to: [3, 0]}]\n' >>"$d/nocase.yaml"
"$xpv" sim "$d/nocase.yaml" --json-out "$d/nocase.json" >"$d/ntable" 2>"$d/err" || fail "nocase.yaml: $(cat "$d/err")"
[ ! -s "$d/err" ] || fail "a file without cases printed progress lines: $(cat "$d/err")"
grep -q "^v: re-placement costs " "$d/ntable" && ! grep -q "^summary" "$d/ntable" || fail "nocase: $(cat "$d/ntable")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "runs" in d and "cases" not in d and all("case" not in r for r in d["results"]), d.keys()' "$d/nocase.json" ||
    fail "a file without cases: its JSON changed"
# --out on a file with cases: a folder per case, the local-access ratio around the moves
"$xpv" sim "$d/cases.yaml" --quiet --out "$d/cout" >/dev/null 2>"$d/err" || fail "cases --out: $(cat "$d/err")"
[ -s "$d/cout/case1/results.csv" ] && [ -s "$d/cout/case2/results.csv" ] || fail "cases --out: $(ls -R "$d/cout")"
head -1 "$d/cout/case1/local-v.csv" | grep -q '^time (s),vnuma,vnuma-pinned,xpv$' || fail "no local-access series: $(ls "$d/cout/case1")"
# bad `cases:` input: FILE:LINE, the case's path, what was wrong
bad_case() { # WANT, then the lines after `cases:`
    want=$1
    shift
    { printf 'machine: opteron-8n\npolicies: [vnuma, vnuma-pinned, xpv]\n'
      printf 'workloads: [{preset: wr, threads: 4, vm: v, churn_per_s: 1, work_scale: 0.1}]\n'
      printf 'vms: [{name: v, host_nodes: [0, 3]}]\ncases:\n'
      printf '%s\n' "$@"; } >"$d/badcase.yaml"
    "$xpv" sim "$d/badcase.yaml" --quiet >"$d/out.txt" 2>"$d/err"; rc=$?
    [ $rc -eq 1 ] && [ ! -s "$d/out.txt" ] && grep -q "^xpv sim: $d/badcase.yaml:$want" "$d/err" ||
        fail "bad cases ($want): exit $rc: $(cat "$d/err")"
}
bad_case '6: cases: expected a list of 1 to 16 case mappings, found an empty list' ' []'
bad_case '6: cases\[0\]: expected key .name., found none' '  - {events: [{at_s: 1, vm: v, to: [3, 0]}]}'
bad_case "7: cases\[1\]: unknown key 'frob'" '  - name: a' '  - {name: b, frob: 1}'
bad_case "7: cases\[1\].name: expected a label not used before, found 'a'" '  - name: a' '  - name: a'
bad_case "8: cases\[0\].workloads\[0\].threads: expected a positive integer, found 'many'" '  - name: a' \
    '    workloads: [{preset: wr, vm: v,' '                 threads: many}]'
bad_case "6: cases\[0\].vm: expected the name of a VM defined under vms, found 'nope'" '  - {name: a, vm: nope}'
bad_case "6: cases\[0\].sweep: expected a case with an event moving VM v" '  - {name: a, sweep: {churn_per_s: [1], residency_s: [1]}}'
sed 's/^headline: \[xpv\]/headline: [xpv, magic]/' "$d/cases.yaml" >"$d/hl.yaml"
"$xpv" sim "$d/hl.yaml" --quiet >/dev/null 2>"$d/err"
[ $? -eq 1 ] && grep -q "hl.yaml:4: headline\[1\]: expected a policy the scenario runs, found 'magic'" "$d/err" ||
    fail "headline naming a policy not run: $(cat "$d/err")"

printf 'name: bad\nmachine: opteron-8n\nworkloads:\n  - preset: nas-cg\n    threads: many\n' >"$d/bad.yaml"
"$xpv" sim "$d/bad.yaml" --quiet >/dev/null 2>"$d/err"
[ $? -eq 1 ] || fail "a malformed scenario did not exit 1"
grep -q "bad.yaml:5:" "$d/err" || fail "error lacks file:line: $(cat "$d/err")"
# a scenario asking for 1e18 epochs (issue 18): refused at once, saying why, not run forever
printf 'machine: opteron-8n\nworkloads: [{preset: nas-cg, threads: 1}]\nmax_seconds: 1e9\nepoch_ms: 1e-6\n' >"$d/long.yaml"
timeout 30 "$xpv" sim "$d/long.yaml" --quiet >/dev/null 2>"$d/err"; rc=$?
[ $rc -eq 1 ] || fail "a 1e18-epoch scenario: exit $rc (124: still running after 30 s), not 1"
grep -q "long.yaml:3: max_seconds: expected at most 10000000 epochs" "$d/err" || fail "unclear: $(cat "$d/err")"
# --characterize: every workload preset on a machine preset, run on the engine; JSON with one
# row per preset; the table; a MACHINE after --json is the machine, not the old --json FILE
"$xpv" sim --characterize xeon-2s --json-out "$d/char.json" >"$d/char" 2>"$d/err" ||
    fail "--characterize: $(cat "$d/err")"
grep -q "^machine xeon-2s: 24 cores; local 85 ns; 1 hop: node 1, 178 ns; no node 2 hops away" "$d/char" ||
    fail "--characterize: no header: $(head -2 "$d/char")"
grep -q "first-touch (s)" "$d/char" || fail "--characterize: no table"
"$xpv" sim --characterize --json xeon-2s >"$d/char2.json" 2>"$d/err" || fail "--json xeon-2s: $(cat "$d/err")"
[ ! -e xeon-2s ] || fail "--characterize --json MACHINE wrote a file named after the machine"
cmp -s "$d/char.json" "$d/char2.json" || fail "--characterize: --json and --json-out differ"
python3 - "$d/char.json" "$("$xpv" sim --list | sed -n 's/^workloads: //p')" <<'PY' || fail "--characterize JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["machine"] == "xeon-2s" and d["hop1_node"] == 1 and d["hop2_node"] is None, d
assert [w["workload"] for w in d["workloads"]] == sys.argv[2].split(), d["workloads"]
for w in d["workloads"]:
    assert w["finished"] and w["single_thread_finished"], w
    assert w["remote_2hop_slowdown"] is None and w["full_threads"] == 24, w
    # a thread with all its memory one hop away is slower, by at most the latency ratio 21/10
    assert 1 < w["remote_1hop_slowdown"] <= 2.1 * 1.001, w
    assert 0 < w["controller_bandwidth_fraction"] <= 1 + 1e-9, w
    assert w["controller_latency_ratio"] >= 1, w
    assert abs(w["interleave_speedup"] / (w["first_touch_s"] / w["interleave_s"]) - 1) < 1e-5, w
PY
"$xpv" sim --characterize cray-1 >/dev/null 2>"$d/err"
[ $? -eq 1 ] && grep -q "unknown machine preset 'cray-1'" "$d/err" || fail "--characterize cray-1: $(cat "$d/err")"
"$xpv" sim --characterize --policy interleave >/dev/null 2>&1
[ $? -eq 2 ] || fail "--characterize --policy is not a usage error"

# a native policy on VMs, a VM policy on native applications: usage errors (exit 2) naming the
# policies that apply, before anything runs; in a scenario file, the file's error (exit 1)
"$xpv" sim --policy autonuma --quiet >"$d/an.out" 2>"$d/err"; rc=$?
[ $rc -eq 2 ] || fail "autonuma on the default VMs: exit $rc, not 2"
[ ! -s "$d/an.out" ] || fail "autonuma on VMs printed results: $(cat "$d/an.out")"
grep -q "^xpv sim: policy 'autonuma' is a native policy and the scenario runs VMs; VM policies: .*xen-default.*kvm-numa-balancing.*(in its place: kvm-numa-balancing)$" "$d/err" ||
    fail "autonuma on VMs, unclear: $(cat "$d/err")"
"$xpv" sim --policy first-touch --policy xpv --quiet >/dev/null 2>"$d/err"; rc=$?
[ $rc -eq 2 ] && grep -q "policy 'first-touch' is a native policy" "$d/err" || fail "first-touch on VMs: exit $rc: $(cat "$d/err")"
"$xpv" sim "$ex/custom.yaml" --policy xpv --quiet >/dev/null 2>"$d/err"; rc=$?
[ $rc -eq 2 ] && grep -q "policy 'xpv' is a VM policy and the scenario runs no VM; native policies: first-touch, .*autonuma" "$d/err" ||
    fail "xpv on native applications: exit $rc: $(cat "$d/err")"
"$xpv" sim "$ex/custom.yaml" --policy kvm-numa-balancing --quiet >/dev/null 2>"$d/err"; rc=$?
[ $rc -eq 2 ] && grep -q "(in its place: autonuma)" "$d/err" || fail "kvm-numa-balancing natively: exit $rc: $(cat "$d/err")"
"$xpv" sim --policy kvm-numa-balancing --policy hostd --quiet >/dev/null 2>"$d/err" || fail "kvm-numa-balancing on VMs: $(cat "$d/err")"
"$xpv" sim "$ex/custom.yaml" --policy hostd --policy autonuma --quiet >/dev/null 2>"$d/err" || fail "hostd natively: $(cat "$d/err")"
printf 'machine: opteron-8n\nvms: [{name: v, host_nodes: [0, 1]}]\npolicies: [vnuma,\n  numad]\nworkloads: [{preset: nas-lu, threads: 4, vm: v}]\n' >"$d/mix.yaml"
"$xpv" sim "$d/mix.yaml" --quiet >/dev/null 2>"$d/err"; rc=$?
[ $rc -eq 1 ] && grep -q "mix.yaml:4: policies\[1\]: policy 'numad' is a native policy and the scenario runs VMs" "$d/err" ||
    fail "numad in a VM scenario file: exit $rc: $(cat "$d/err")"
# the hypervisor's re-backings, preallocation, consolidation and per-vCPU moves (issue 17)
"$xpv" sim "$ex/rebacking.yaml" --quiet --policy vnuma --policy hostd-vnuma >"$d/reb" 2>"$d/err" ||
    fail "rebacking.yaml: $(cat "$d/err")"
grep -q "^f  *hostd-vnuma" "$d/reb" || fail "rebacking.yaml: no hostd-vnuma row: $(cat "$d/reb")"
"$xpv" sim --policy magic --quiet >/dev/null 2>"$d/err"
[ $? -eq 1 ] && grep -q "unknown policy 'magic'" "$d/err" || fail "unknown policy: $(cat "$d/err")"
"$xpv" sim --frobnicate >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown option is not a usage error"
"$xpv" sim --help | grep -q "usage: xpv sim" || fail "--help"
echo PASS
