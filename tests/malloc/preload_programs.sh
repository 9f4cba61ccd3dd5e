#!/bin/sh
# preload_programs.sh LIB NAME — a real multithreaded Debian program under LD_PRELOAD=LIB gives
# the same bytes as without it, and the library was really active in it (XPV_MALLOC_STATS
# output names a node arena). NAME: xz (-T2), sort (--parallel=2), pigz (-p 2) or python3
# (with threads); ctest runs each as malloc.preload_programs.NAME. Exit 77 ("skip: ...") when
# the program is not installed.
set -u
lib=$1 only=$2
case $only in
xz | sort | pigz | python3) ;;
*) echo "preload_programs.sh: unknown program '$only' (xz, sort, pigz, python3)" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 ran=0

# Input: 2 MB of text with structure (compresses, sorts) made by this script, not random.
i=0
while [ $i -lt 2 ]; do
    seq 1 100000 | awk -v s=$i '{ print ($1 * 7919 + s * 104729) % 1000003, "line", $1, s }'
    i=$((i + 1))
done >"$tmp/in.txt"

# run NAME CMD...: CMD's stdout with and without the library must be identical (when NAME is
# the program asked for).
run() {
    name=$1
    shift
    [ "$name" = "$only" ] || return 0
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "skip: $1 not installed (scripts/setup.sh test installs it)"
        exit 77
    fi
    ran=$((ran + 1))
    "$@" <"$tmp/in.txt" >"$tmp/$name.plain" 2>"$tmp/$name.plain.err"
    rc1=$?
    XPV_MALLOC_STATS=1 LD_PRELOAD=$lib "$@" <"$tmp/in.txt" >"$tmp/$name.xpv" 2>"$tmp/$name.xpv.err"
    rc2=$?
    if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
        echo "FAIL $name: exit $rc1 without, $rc2 with the library"
        cat "$tmp/$name.xpv.err"
        fail=1
    elif ! cmp -s "$tmp/$name.plain" "$tmp/$name.xpv"; then
        echo "FAIL $name: output differs under the library"
        fail=1
    elif ! grep -q 'xpv-malloc:   node [0-9]* (arena' "$tmp/$name.xpv.err"; then
        echo "FAIL $name: the library did not bind any thread (stats:)"
        cat "$tmp/$name.xpv.err"
        fail=1
    else
        echo "ok   $name: $(wc -c <"$tmp/$name.xpv") identical bytes;" \
             "$(grep -c 'thread bindings' "$tmp/$name.xpv.err") process(es) reported," \
             "$(sed -n 's/.*, \([0-9]*\) thread bindings.*/\1/p' "$tmp/$name.xpv.err" | head -1) thread binding(s) in the first"
    fi
}

run xz xz -T2 -6 -c
run sort sort --parallel=2 -S 4M
run pigz pigz -p 2 -c
cat >"$tmp/threads.py" <<'PY'
import hashlib, sys, threading
data = sys.stdin.buffer.read()
out = [None] * 4
def work(k):
    chunks = [data[i:i + 4096] for i in range(k, len(data), 4 * 4096)]
    d = {}
    for c in chunks:
        for w in c.split():
            d[w] = d.get(w, 0) + 1
    out[k] = hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
PY
run python3 /usr/bin/python3 "$tmp/threads.py"

[ $ran -eq 1 ] || { echo "FAIL: $only did not run"; exit 1; }
exit $fail
