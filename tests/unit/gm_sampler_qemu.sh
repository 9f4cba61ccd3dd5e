#!/bin/sh
# gm_sampler_qemu.sh XPV GMSAMPLER PAYLOAD LABQEMU — the guest-memory sampler in a real QEMU
# under TCG on this host: QEMU (XPV_LAB_QEMU, else LABQEMU — lab/fetch-qemu.sh's, with its
# firmware beside it — else the system's qemu-system-x86_64) runs the bare multiboot payload
# gm_touch.S on 2 vCPUs with memfd guest RAM and libxpv-gmsampler.so preloaded; vCPU 0 touches
# [16 MiB, 32 MiB) only, vCPU 1 stays halted. `xpv carrefour --vm` must see samples from
# "CPU 0/TCG" only, >= 90 % of them (recorded with guest-physical addresses) in that range.
# Then QEMU's own userfaultfd: a background snapshot (migration capability background-snapshot,
# which registers guest RAM for write-protect faults with QEMU's userfaultfd) must complete,
# with the sampler stepping back, and QEMU must run on.
set -u
xpv=$1 lib=$2 payload=$3 labqemu=$4
d=$(mktemp -d /tmp/xpv-gmq.XXXXXX)
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$d"' EXIT
. "$(dirname "$0")/../wait.sh"
fail() { echo "FAIL: $*"; exit 1; }
qemu=${XPV_LAB_QEMU:-$labqemu}
[ -x "$qemu" ] || qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || { echo "skip: no qemu-system-x86_64 (apt-get install qemu-system-x86, or scripts/setup.sh test)"; exit 77; }
fw=
share=$(dirname "$(dirname "$qemu")")/share/qemu
[ -d "$share" ] && fw="-L $share"
name=xpv-gmq-$$
# shellcheck disable=SC2086 # $fw is empty or two words
LD_PRELOAD=$lib "$qemu" $fw -machine pc -accel tcg -smp 2 -m 64M \
    -object memory-backend-memfd,id=ram0,size=64M,share=on -machine memory-backend=ram0 \
    -name "guest=$name,debug-threads=on" -display none -nodefaults -serial none -monitor none \
    -kernel "$payload" -qmp "unix:$d/qmp.sock,server=on,wait=off" >"$d/qemu.out" 2>&1 &
qpid=$!
# (the globs are expanded at each try, not once)
wait_until 60 "QEMU's vCPU 0 thread" out_has 'CPU 0/TCG' sh -c 'cat /proc/$1/task/*/comm' _ "$qpid" ||
    exit 1
wait_until 60 "the sampler's ring" out_has . sh -c 'ls /dev/shm/xpv-cfsampler.$1.*' _ "$qpid" || exit 1
"$xpv" carrefour --vm "$name" --rounds 2 --period 1s --dry-run --record "$d/rec" >"$d/out" 2>"$d/err" ||
    fail "xpv carrefour --vm: $(cat "$d/err") $(cat "$d/qemu.out")"
cat "$d/out"
grep -Eq '^  vCPU samples 0:[1-9][0-9]*; other threads [0-9]+; outside guest RAM 0$' "$d/out" ||
    fail "samples not from vCPU 0 alone: $(grep 'vCPU samples' "$d/out")"
python3 - "$d/rec" <<'PY' || fail "samples outside the payload's range"
import sys
a = [int(l.split()[2], 16) for l in open(sys.argv[1]) if l.startswith("s ")]
inside = sum(1 for x in a if 16 << 20 <= x < 32 << 20)
print(f"{inside} of {len(a)} samples in [16 MiB, 32 MiB)")
sys.exit(not (len(a) >= 50 and inside >= 0.9 * len(a)))
PY
# the snapshot, through QMP
python3 - "$d/qmp.sock" "$d/snap" <<'PY' || fail "background snapshot: $(cat "$d/qemu.out")"
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rw")
def reply():
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            return m
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a}) + "\n")
    f.flush()
    r = reply()
    if "error" in r:
        sys.exit(f"{c}: {r['error']}")
    return r["return"]
reply()  # greeting
cmd("qmp_capabilities")
cmd("migrate-set-capabilities", capabilities=[{"capability": "background-snapshot", "state": True}])
cmd("migrate", uri="exec:cat > " + sys.argv[2])
end = time.time() + 60
while time.time() < end:
    st = cmd("query-migrate").get("status")
    if st in ("completed", "failed", "cancelled"):
        break
    time.sleep(0.1)  # not a wait: the poll interval of this deadline loop
print("snapshot:", st)
sys.exit(st != "completed")
PY
grep -q "stepped back" "$d/qemu.out" || fail "the sampler did not say it stepped back: $(cat "$d/qemu.out")"
[ -s "$d/snap" ] || fail "empty snapshot"
kill -0 "$qpid" || fail "QEMU is gone after the snapshot: $(cat "$d/qemu.out")"
# a process that inherited LD_PRELOAD and is not QEMU (the exec: URI's shell and cat) says nothing
[ "$(grep -c 'xpv-gmsampler' "$d/qemu.out")" -eq 1 ] || fail "the sampler spoke in other processes: $(cat "$d/qemu.out")"
echo PASS
