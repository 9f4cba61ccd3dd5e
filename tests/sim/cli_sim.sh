#!/bin/sh
# cli_sim.sh XPV EXAMPLES — `xpv sim` from the command line: a scenario file with --json-out and
# --out, the same scenario in YAML and JSON gives the same results, --json (the JSON on stdout)
# and the old --json FILE (still accepted, with a warning), and the errors a user meets
# (malformed scenario with file:line, unknown policy, bad usage), and --characterize.
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

# the main job: no scenario -> sim/default.yaml (compiled in), the issue's JSON schema
"$xpv" sim --quiet --json-out "$d/default.json" >"$d/dtable" 2>"$d/err" || fail "xpv sim (default): $(cat "$d/err")"
python3 - "$d/default.json" <<'PY' || fail "default JSON lacks the results rows"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["scenario"].startswith("default"), d["scenario"]
rows = d["results"]
pols = {r["policy"] for r in rows}
assert pols == {"xen-default", "vnuma", "vnuma-pinned", "xpv", "xpv-migrate", "vnuma-hotplug",
                "hv-first-touch", "carrefour-hv", "carrefour-xpv", "kvm-numa-balancing"}, pols
assert len(rows) == 5 * 10, len(rows)
for r in rows:
    for k in ("app", "vm", "policy", "completion_s", "speedup", "local_ratio", "imbalance", "migrated_mb"):
        assert k in r, (k, r)
    assert r["vm"].startswith("vm-") and r["completion_s"] > 0
PY

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
