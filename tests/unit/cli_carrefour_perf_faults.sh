#!/bin/sh
# cli_carrefour_perf_faults.sh XPV TARGET — `xpv carrefour --sampler perf-faults`: the perf
# path (launch stopped, events enabled at exec, rings, engine) on page faults, a software event
# this host has, on a live program. Exit 77 ("skip: ...") where perf_event_open is not allowed.
set -u
xpv=$1 target=$2
d=$(mktemp -d /tmp/xpv-cf-pf.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# the program's output is what it prints alone
"$target" 0.2 >"$d/ref" 2>/dev/null || fail "$target alone failed"
"$xpv" carrefour --sampler perf-faults --period 0.2 -- "$target" 1 >"$d/pf" 2>"$d/err"; rc=$?
if grep -q "perf_event_open(page-faults.*\(Permission\|Operation not permitted\)" "$d/err"; then
    echo "skip: perf_event_open refused here: $(cat "$d/err")"
    exit 77
fi
[ $rc -eq 0 ] || fail "--sampler perf-faults: $(cat "$d/err")"
grep -q '^round 0: .* [1-9][0-9]* samples .* sampling in the kernel' "$d/pf" || fail "no perf samples: $(cat "$d/pf")"
grep -q '^target [0-9]* exited with status 0' "$d/pf" || fail "no clean end (perf): $(cat "$d/pf")"
grep -v '^round \|^total\|^target' "$d/pf" >"$d/prog"
cmp -s "$d/ref" "$d/prog" || fail "program output changed (perf): $(cat "$d/prog")"
echo PASS
