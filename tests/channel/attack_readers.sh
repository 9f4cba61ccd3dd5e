#!/bin/sh
# attack_readers.sh CASE XPV RECORD_TOOL FIXTURES MALLOC_LIB — issue 18's attacks on the
# record's readers, performed (docs/security.md, "Readers: libxpv, xpv-malloc, `xpv watch`"):
#   owner_watch      a record published by uid 65534: `xpv watch` as root refuses it, naming
#                    the owner and the fix; as uid 65534 it reads it (its own record)
#   truncate_watch   the owner truncates the record under a running `xpv watch`: to one page
#                    with a new generation announced (the copy would run past the end), then
#                    to 0 bytes; watch reports, survives, and prints what is published next;
#                    a cut to 0 that stays is waited out to watch's --timeout
#   truncate_malloc  the cut to one page under a program running with xpv-malloc
#                    (LD_PRELOAD): it allocates on and exits 0
# record-tool (tests/channel/record_tool.c) writes the largest valid record and does the cut.
# Each case failed (SIGBUS, or the foreign record read) before the fix.
set -u
case=$1 xpv=$2 tool=$3 fx=$4 lib=$5
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
d=$(mktemp -d /tmp/xpv-attack.XXXXXX)
wpid= ppid=
trap '[ -n "$wpid" ] && kill $wpid 2>/dev/null; [ -n "$ppid" ] && kill $ppid 2>/dev/null; rm -rf "$d"' EXIT
rec=$d/record
fail() { echo "FAIL: $*"; for f in "$d"/out "$d"/err; do [ -f "$f" ] && { echo "--- $f (end):"; tail -c 400 "$f"; echo; }; done; exit 1; }

case $case in
owner_watch)
    [ "$(id -u)" = 0 ] || { echo "skip: needs root to publish as uid 65534 (run the tests as root)"; exit 77; }
    command -v setpriv >/dev/null || { echo "skip: setpriv not installed (util-linux)"; exit 77; }
    chmod 0755 "$d" && mkdir "$d/u" && chown 65534:65534 "$d/u"
    # uid 65534 runs copies in $d: the build tree may sit under a directory only root can
    # enter (a CI clone in a 0700 mktemp directory did)
    cp "$xpv" "$d/xpv" && cp -r "$fx/2node" "$d/2node" && chmod -R a+rX "$d/xpv" "$d/2node" ||
        fail "staging the binary and the fixture for uid 65534"
    xpv=$d/xpv
    rec=$d/u/record
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    as_nobody "$xpv" publish --path "$rec" --root "$d/2node" --once >/dev/null 2>"$d/err" ||
        fail "publish as uid 65534"
    [ "$(stat -c %u "$rec")" = 65534 ] || fail "the record is not uid 65534's"
    "$xpv" watch --count 1 --timeout 5 "$rec" >"$d/out" 2>"$d/err" &&
        fail "root's xpv watch read uid 65534's record"
    grep -q "owned by uid 65534" "$d/err" || fail "unclear refusal"
    grep -q "XPV_RECORD" "$d/err" || fail "the refusal does not say how to fix it"
    as_nobody "$xpv" watch --json --count 1 --timeout 5 "$rec" >"$d/out" 2>"$d/err" ||
        fail "uid 65534's xpv watch did not read its own record"
    grep -q '"generation": 1' "$d/out" || grep -q '"generation":1' "$d/out" || fail "no record read"
    echo "PASS: uid 65534's record refused by root, read by uid 65534"
    ;;
truncate_watch)
    "$tool" worst "$rec" >/dev/null || fail "record-tool worst"
    : >"$d/out"
    "$xpv" watch --json --count 2 --timeout 30 "$rec" >>"$d/out" 2>"$d/err" &
    wpid=$!
    wait_until 30 "xpv watch's first record" lines_at_least 1 "$d/out" || fail "watch printed nothing"
    "$tool" shrink "$rec" 4096 || fail "record-tool shrink"
    wait_until 30 "watch to report the cut" file_has "$d/err" "truncated" || fail "no report of the cut"
    kill -0 $wpid 2>/dev/null || fail "watch died after the cut to one page"
    "$tool" shrink "$rec" 0 || fail "record-tool shrink 0"
    # watch polls every 200 ms slice: before the fix its next look at the mapping was a SIGBUS;
    # a new record written over the cut must be what it prints next
    "$tool" worst "$rec" >/dev/null || fail "record-tool worst (restore)"
    wait $wpid
    rc=$?
    wpid=
    [ $rc -eq 0 ] || fail "watch exited $rc (138/135: SIGBUS)"
    [ "$(wc -l <"$d/out")" -eq 2 ] || fail "watch did not print the restored record"
    # a cut to 0 bytes that stays: watch waits it out to its timeout (before the fix: SIGBUS
    # at its next look, within 200 ms)
    : >"$d/out"
    "$xpv" watch --json --count 2 --timeout 2 "$rec" >>"$d/out" 2>"$d/err" &
    wpid=$!
    wait_until 30 "xpv watch's first record" lines_at_least 1 "$d/out" || fail "watch printed nothing"
    "$tool" shrink "$rec" 0 || fail "record-tool shrink 0"
    kill -0 $wpid 2>/dev/null || fail "watch had already exited at the cut (inconclusive)"
    wait $wpid
    rc=$?
    wpid=
    [ $rc -eq 1 ] || fail "watch on a record cut to 0 exited $rc (expected 1, its timeout; 135/138: SIGBUS)"
    grep -q "no new generation within 2 s" "$d/err" || fail "watch did not time out cleanly"
    echo "PASS: xpv watch survived the cuts, read the restored record, and waited out a cut to 0"
    ;;
truncate_malloc)
    command -v python3 >/dev/null || { echo "skip: python3 not installed"; exit 77; }
    "$tool" worst "$rec" >/dev/null || fail "record-tool worst"
    XPV_RECORD=$rec XPV_MALLOC_STATS=1 LD_PRELOAD=$lib python3 - "$d" >"$d/out" 2>"$d/err" <<'PY' &
import os, sys, time
d = sys.argv[1]
keep = [bytearray(1000) for _ in range(1000)]
open(os.path.join(d, "ready"), "w").write("1\n")
while not os.path.exists(os.path.join(d, "go")):
    keep = [bytearray(1000) for _ in range(1000)]  # allocations: each looks at the generation
    time.sleep(0.01)  # not a wait: the pace of the allocating loop, which ends on "go"
keep = [bytearray(1000) for _ in range(10000)]
print("done")
PY
    ppid=$!
    wait_until 30 "the program to start" nonempty "$d/ready" || fail "the program did not start"
    # a new generation announced over a cut to one page: the program's next allocation re-reads
    # the record (before the fix: a copy of the announced length from the mapping, SIGBUS).
    # Not cut to 0 bytes: that one SIGBUSes the per-allocation generation load itself, the
    # residual docs/security.md states (only root or the program's own user can cut it).
    "$tool" shrink "$rec" 4096 || fail "record-tool shrink"
    touch "$d/go"
    wait $ppid
    rc=$?
    ppid=
    [ $rc -eq 0 ] || fail "the program under xpv-malloc exited $rc (135/138: SIGBUS)"
    grep -q done "$d/out" || fail "the program did not finish"
    echo "PASS: a program under xpv-malloc survived the cuts"
    ;;
*) echo "attack_readers.sh: unknown case $case" >&2; exit 2 ;;
esac
