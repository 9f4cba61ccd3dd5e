#!/bin/sh
# hv-cases.sh [XPV] — the small cases of docs/sim.md, "Where XPV helps, where it does not, and
# where it loses": one VM of 12 vCPUs (2 vNodes) on opteron-8n running a memory-bound loop
# over 64 MiB of private data per vCPU, turned over at 0.5/s and 2/s, each case one
# hypervisor event at 0.5 s (or a VM setting), under vnuma-pinned, vnuma and xpv. Prints one
# markdown row per case: completion (s), locality, static vNUMA's cost against pinned
# placement, and static vNUMA's time over XPV's (above 1: XPV faster).
#   sh sim/examples/hv-cases.sh build-rel/bin/xpv
set -eu
xpv=${1:-xpv}
d=$(mktemp -d /tmp/xpv-hv-cases.XXXXXX)
trap 'rm -rf "$d"' EXIT
case_() { # NAME HOSTS VM-EXTRA CHURN EVENT
    cat >"$d/$1.yaml" <<EOF
machine: opteron-8n
max_seconds: 100
policies: [vnuma-pinned, vnuma, xpv]
vms: [{name: vm, host_nodes: [$2]$3}]
workloads:
  - {name: lu, threads: 12, vm: vm, churn_per_s: $4,
     regions: [{name: block, kind: private, size_mb: 64, lifetime: turnover}],
     phases: [{work_m: 120, compute_ns: 6, mlp: 6, write_frac: 0.3}]}
EOF
    [ -z "$5" ] || printf 'events: [{at_s: 0.5, vm: vm, %s}]\n' "$5" >>"$d/$1.yaml"
    "$xpv" sim "$d/$1.yaml" --quiet --json-out "$d/$1.json" >/dev/null
    python3 - "$d/$1.json" "$1" "$4" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = {x["policy"]: x["apps"][0] for x in d["runs"]}
p, v, x = r["vnuma-pinned"], r["vnuma"], r["xpv"]
print("| %s | %s | %.3f | %.3f (%.0f %%) | %.3f (%.0f %%) | %.2fx | %.3fx |" % (
    sys.argv[2], sys.argv[3], p["completion_s"], v["completion_s"], 100 * v["local_ratio"],
    x["completion_s"], 100 * x["local_ratio"], v["completion_s"] / p["completion_s"],
    v["completion_s"] / x["completion_s"]))
PY
}
echo "| case | churn | pinned | vnuma (local) | xpv (local) | cost | xpv vs vnuma |"
echo "|---|---|---|---|---|---|---|"
for ch in 0.5 2; do
    case_ swap "0, 1" "" $ch "to: [1, 0]"
    case_ swap-2-hops "0, 3" "" $ch "to: [3, 0]"
    case_ half-vnode "0, 1" "" $ch "to: [1, 0], move_memory: 0.5"
    case_ no-memory "0, 1" "" $ch "to: [2, 6]"
    case_ consolidate-own "0, 1" "" $ch "consolidate: [0]"
    case_ consolidate-other "0, 1" "" $ch "consolidate: [2]"
    case_ vcpu-moves-2 "0, 1" ", vcpu_moves_per_s: 2" $ch ""
    case_ vcpu-moves-20 "0, 1" ", vcpu_moves_per_s: 20" $ch ""
    case_ reback-half "0, 1" "" $ch "reback: {vnode: 0, to: 2, fraction: 0.5}"
    case_ funnel "0, 1" "" $ch "funnel: 0"
done
