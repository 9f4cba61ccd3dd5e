#!/bin/sh
# no_sleeps.sh DIR — a test waits for a condition, not for a time (docs/development.md,
# "Waiting"): list every sleep in DIR's C, C++, shell and Python files (the fuzz seeds and
# this script aside) that carries no `not a wait:` comment saying why it is not a wait (a
# workload's pace, a long-lived child, the poll interval of a deadline loop): at the end of
# its line, or a comment line of its own just before. Exit 1 listing them, 0 when none.
#   no_sleeps.sh --planted  the check itself: it must list an unannotated sleep planted in a
#                           scratch tree (C, shell, Python), and nothing annotated or commented
# A sleep: `sleep` anywhere in a line that is code, not a comment (sleep, usleep, nanosleep,
# time.sleep, a helper named *sleep*), or a call of a helper named nap or nap_ms.
set -eu

# check DIR: print FILE:LINE: TEXT for each unannotated sleep; exit 1 if any
check() {
    find "$1" -path '*/fuzz/seeds' -prune -o -name no_sleeps.sh -prune -o -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.sh' -o -name '*.py' \) \
        -print | LC_ALL=C sort | {
        bad=0
        while IFS= read -r f; do
            awk -v f="$f" '
                {
                    code = $0
                    # a comment line: C/C++ (// /* *), shell and Python (#); one saying
                    # "not a wait:" covers the next line, a trailing one only its own
                    if (code ~ /^[ \t]*(\/\/|\/\*|\*|#)/) { prev_ok = code ~ /not a wait:/; next }
                    if (code ~ /not a wait:/) { prev_ok = 0; next }
                    if ((code ~ /sleep/ || code ~ /(^|[^A-Za-z0-9_])nap(_ms)?[ \t]*\(/) && !prev_ok) {
                        printf "%s:%d: %s\n", f, FNR, $0
                        found = 1
                    }
                    prev_ok = 0
                }
                END { exit found ? 1 : 0 }' "$f" || bad=1
        done
        exit $bad
    }
}

if [ "${1:-}" = "--planted" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/t/fuzz/seeds"
    cat >"$tmp/t/a.c" <<'EOF'
static void f(void)
{
    usleep(1000);
    /* not a wait: the pace of a workload */
    usleep(2000);
    nanosleep(&ts, NULL); /* not a wait: a poll interval */
    /* a comment that says sleep is no sleep */
    nap_ms(50);
}
EOF
    cat >"$tmp/t/b.sh" <<'EOF'
# sleep in a comment
sleep 0.5
sleep 300 & # not a wait: a long-lived child
sleep 1
EOF
    cat >"$tmp/t/c.py" <<'EOF'
import time
time.sleep(0.1)
EOF
    printf 'sleep 1\n' >"$tmp/t/fuzz/seeds/s.sh"
    out=$(check "$tmp/t") && { echo "FAIL: nothing listed in the planted tree"; exit 1; }
    want="$tmp/t/a.c:3:     usleep(1000);
$tmp/t/a.c:8:     nap_ms(50);
$tmp/t/b.sh:2: sleep 0.5
$tmp/t/b.sh:4: sleep 1
$tmp/t/c.py:2: time.sleep(0.1)"
    if [ "$out" != "$want" ]; then
        printf 'FAIL: the planted tree gave:\n%s\nexpected:\n%s\n' "$out" "$want"
        exit 1
    fi
    printf 'the planted unannotated sleeps are listed, nothing else:\n%s\nPASS\n' "$out"
    exit 0
fi

[ $# -eq 1 ] || { echo "usage: no_sleeps.sh DIR | --planted" >&2; exit 2; }
if out=$(check "$1"); then
    echo "no unannotated sleep in $1"
    exit 0
fi
printf '%s\n' "$out"
echo "FAIL: the sleeps above wait for a time: wait for the condition instead (a deadline that"
echo "prints what it last saw), or say on the line or the one before why it is not a wait,"
echo "with a comment containing 'not a wait:' (docs/development.md, \"Waiting\")"
exit 1
