#!/bin/sh
# cli_carrefour_ring_attack.sh XPV LIB TARGET — issue 18, finding 11: the software sampler's
# ring attacked by an unprivileged user (uid 65534 through setpriv; the victim runs as uid
# 1000; no real users are created). Root only, else skipped.
#  1. uid 65534 plants files under the victim's pid in /dev/shm before the victim's sampler
#     starts: the old predictable name as a 0666 file of its own, new-style names as a
#     symlink and as a file of its own. The sampler must use none of them (the planted file
#     keeps its bytes, the link's target is never created) and make a ring of its own, 0600,
#     which root's `xpv carrefour --pid` then attaches to.
#  2. uid 65534 forges a well-formed ring for a process of uid 1000 that has no sampler: root's
#     `xpv carrefour --pid` must refuse it (owned by another uid), not map it and run rounds.
# Before the fix the sampler truncated and wrote the planted file (1) and the CLI ran rounds
# on the forged ring (2).
set -u
xpv=$1 lib=$2 target=$3
. "$(dirname "$0")/../wait.sh"
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "skip: the attacks run as uid 65534 and 1000 through setpriv, which needs root"; exit 77; }
command -v setpriv >/dev/null || { echo "skip: no setpriv (util-linux)"; exit 77; }
# (a background job is started with setpriv itself, so that $! is the victim's pid)
as() { u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
d=$(mktemp -d /tmp/xpv-cfatk.XXXXXX)
chmod 755 "$d"
# uids 1000 and 65534 run copies in $d: the build tree may sit under a directory only root can
# enter (a CI clone in a 0700 mktemp directory did, and the victim could not load the sampler)
cp "$lib" "$d/libxpv-cfsampler.so" && cp "$target" "$d/cf-target" && chmod a+rx "$d"/* ||
    { echo "FAIL: staging the sampler and the target"; exit 1; }
lib=$d/libxpv-cfsampler.so target=$d/cf-target
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$d"; rm -f /dev/shm/xpv-cfsampler.$vp* /dev/shm/xpv-cfsampler.$sp* /dev/shm/xpv-atk-* 2>/dev/null' EXIT
vp=none sp=none

# 1. planted files
mkfifo "$d/go" && chmod 666 "$d/go"
# the victim's shell waits on the FIFO, then execs the target under the same pid
setpriv --reuid=1000 --regid=1000 --clear-groups sh -c 'read x <"$1"; exec env LD_PRELOAD="$2" XPV_CFSAMPLER_PERIOD_US=5000 "$3" 3 >/dev/null 2>&1' \
    sh "$d/go" "$lib" "$target" &
vp=$!
pids="$pids $vp"
as 65534 sh -c 'printf planted >/dev/shm/xpv-cfsampler.$1 && chmod 666 /dev/shm/xpv-cfsampler.$1 &&
    ln -s /dev/shm/xpv-atk-$1 /dev/shm/xpv-cfsampler.$1.0000000000000000 &&
    printf planted >/dev/shm/xpv-cfsampler.$1.1111111111111111' sh $vp || fail "planting as 65534"
echo go >"$d/go"
ring_of_1000() { find /dev/shm -maxdepth 1 -name "xpv-cfsampler.$vp.*" -user 1000 -type f -size +0 | grep .; }
# started: a ring of its own appeared, or (the attack worked) the planted file was rewritten
started() { ring_of_1000 || [ "$(cat /dev/shm/xpv-cfsampler.$vp)" != planted ]; }
wait_until 20 "the victim's sampler to start" started || fail "the victim's sampler never started"
[ "$(cat /dev/shm/xpv-cfsampler.$vp)" = planted ] || fail "the sampler wrote uid 65534's planted file /dev/shm/xpv-cfsampler.$vp"
[ "$(cat /dev/shm/xpv-cfsampler.$vp.1111111111111111)" = planted ] || fail "the sampler wrote a planted new-style file"
[ ! -e /dev/shm/xpv-atk-$vp ] || fail "the sampler created the planted link's target"
ring=$(ring_of_1000 | head -1) || fail "the sampler made no ring of its own"
[ "$(stat -c %a "$ring")" = 600 ] || fail "ring $ring has mode $(stat -c %a "$ring"), expected 600"
"$xpv" carrefour --pid $vp --rounds 1 --period 0.2 --dry-run >"$d/out" 2>"$d/err" ||
    fail "xpv carrefour --pid on the victim's own ring: $(cat "$d/err")"
grep -q '^round 0:' "$d/out" || fail "no round on the victim's ring: $(cat "$d/out")"

# 2. a forged ring for another user's process
setpriv --reuid=1000 --regid=1000 --clear-groups sleep 300 & # not a wait: a live process of uid 1000 without the sampler (killed on exit)
sp=$!
pids="$pids $sp"
# setpriv has switched to uid 1000 (and exec'd the long-lived process) once /proc says so
wait_until 10 "the victim process under uid 1000" out_has '^1000$' stat -c %u /proc/$sp || fail "no uid 1000 process"
# the ring's bytes (a well-formed header naming $sp, 16 free slots), written by uid 65534
python3 - "$sp" "$d/forged" <<'PY' || fail "forging the ring's bytes"
import struct, sys
pid, cap = int(sys.argv[1]), 16
hdr = struct.pack("<QIIIIiIII", 0x3147524643565058, 1, 256, 32, cap, pid, 4096, 1, 1)
slots = b"".join(struct.pack("<QQIIII", i, 0, 0, 0, 0, 0) for i in range(cap))
open(sys.argv[2], "wb").write(hdr + b"\0" * (256 - len(hdr)) + slots)
PY
chmod 644 "$d/forged"
as 65534 sh -c 'umask 077; cat "$2" >/dev/shm/xpv-cfsampler.$1 && cat "$2" >/dev/shm/xpv-cfsampler.$1.abcdefabcdefabcd' \
    sh $sp "$d/forged" || fail "planting the forged ring as 65534"
"$xpv" carrefour --pid $sp --rounds 1 --period 0.1 --dry-run >"$d/out2" 2>"$d/err2"; rc=$?
[ $rc -eq 1 ] || fail "xpv carrefour --pid mapped uid 65534's forged ring (exit $rc): $(cat "$d/out2" "$d/err2")"
grep -q "owned by uid 65534, the target by uid 1000" "$d/err2" || fail "unclear refusal: $(cat "$d/err2")"
echo PASS
