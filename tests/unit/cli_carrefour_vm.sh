#!/bin/sh
# cli_carrefour_vm.sh XPV GMSAMPLER FAKEQEMU — `xpv carrefour --vm NAME` on a stand-in for QEMU
# (gm-fake-qemu: memfd guest RAM, threads "CPU k/KVM" touching region k) started with the
# guest-memory sampler preloaded: rounds run with the hv profile, the samples are counted per
# vCPU, --record writes a replay that --replay reads back (guest-physical addresses inside the
# guest RAM); and the refusals: no such VM, anonymous RAM, no sampler, --record without --vm.
# This host has one node: nothing can move; the rounds must run.
set -u
xpv=$1 lib=$2 fake=$3
d=$(mktemp -d /tmp/xpv-cfvm.XXXXXX)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$d"' EXIT
. "$(dirname "$0")/../wait.sh"
fail() { echo "FAIL: $*"; exit 1; }
name=xpv-cfvm-$$

LD_PRELOAD=$lib XPV_FAKE_SECONDS=60 "$fake" run 3 24 memfd \
    -object memory-backend-memfd,id=ram0,size=24M,share=on -machine pc,memory-backend=ram0 \
    -name "guest=$name,debug-threads=on" >"$d/fake.out" 2>&1 &
pids="$pids $!"
"$xpv" carrefour --vm "$name" --rounds 2 --period 500ms --record "$d/rec" >"$d/out" 2>"$d/err" ||
    fail "--vm: $(cat "$d/err")"
[ "$(grep -c '^round ' "$d/out")" -eq 2 ] || fail "expected 2 rounds: $(cat "$d/out")"
# every vCPU seen, each with samples, none outside guest RAM
grep -Eq '^  vCPU samples 0:[1-9][0-9]* 1:[1-9][0-9]* 2:[1-9][0-9]*; other threads 0; outside guest RAM 0$' \
    "$d/out" || fail "per-vCPU samples: $(cat "$d/out")"
# the recording: the replay format, guest-physical addresses below 24 MiB, read back
grep -q '^xpv-samples 1$' "$d/rec" || fail "recording header: $(head -3 "$d/rec")"
python3 -c '
import sys
a = [int(l.split()[2], 16) for l in open(sys.argv[1]) if l.startswith("s ")]
sys.exit(not (a and max(a) < 24 << 20))' "$d/rec" ||
    fail "recorded addresses not guest-physical: $(grep -m3 '^s ' "$d/rec")"
"$xpv" carrefour --replay "$d/rec" --profile hv >"$d/replay" 2>"$d/err" || fail "replay: $(cat "$d/err")"
[ "$(grep -c '^round ' "$d/replay")" -eq 2 ] || fail "replayed rounds: $(cat "$d/replay")"
"$xpv" carrefour --vm "$name" --rounds 1 --period 200ms --json >"$d/json" 2>"$d/err" || fail "--json"
python3 - "$d/json" <<'PY' || fail "JSON: $(cat "$d/json")"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r["sampler"] == "guest-memory" and len(r["vcpu_samples"]) == 3 and min(r["vcpu_samples"]) > 0, r
PY

# refusals, each saying what to do
"$xpv" carrefour --vm "no-such-vm-$$" --rounds 1 >/dev/null 2>"$d/err" && fail "no such VM accepted"
grep -q "no process has -name no-such-vm-$$" "$d/err" || fail "unclear: $(cat "$d/err")"
"$xpv" carrefour --record "$d/x" --pid 1 >/dev/null 2>"$d/err"
[ $? -eq 2 ] && grep -q -- "--record goes with --vm" "$d/err" || fail "--record without --vm: $(cat "$d/err")"
LD_PRELOAD=$lib XPV_FAKE_SECONDS=60 "$fake" refuse 1 8 anon \
    -object memory-backend-ram,id=r,size=8M -machine memory-backend=r -name "$name-anon" \
    >"$d/anon.out" 2>&1 &
pids="$pids $!"
wait_until 20 "the anonymous VM's sampler to refuse" file_has "$d/anon.out" refused || exit 1
"$fake" run 1 8 memfd -object memory-backend-memfd,id=r,size=8M,share=on \
    -machine memory-backend=r -name "$name-bare" >"$d/bare.out" 2>&1 &
pids="$pids $!"
wait_until 20 "the unsampled VM's guest RAM" out_has memfd: cat /proc/$!/maps || exit 1
"$xpv" carrefour --vm "$name-bare" --rounds 1 >/dev/null 2>"$d/err" && fail "VM without sampler accepted"
grep -q "no sampler ring.*libxpv-gmsampler.so" "$d/err" || fail "unclear: $(cat "$d/err")"
echo PASS
