#!/bin/sh
# tu_cmocka_selftest.sh BINARY — tests/tu_cmocka.c does what tu_cmocka.h says, on the cases of
# tu_cmocka_selftest.c: a skip with a reason exits 77 and prints "skip: <reason>"; a bare
# skip() fails; a failure beside a skip fails (not 77); XPV_CMOCKA_ONLY/_EXCEPT pick cases
# and refuse a name that is no case; nothing skipped exits 0.
set -eu
bin=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bad=0
# expect STATUS DESCRIPTION [VAR=VALUE...]: run the binary with the variables; its exit status
# must be STATUS
expect() {
    want=$1 what=$2
    shift 2
    rc=0
    env "$@" "$bin" >"$out" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: $what: exit $rc, expected $want; its output:"
        sed 's/^/    /' "$out"
        bad=1
    else
        echo "ok: $what (exit $rc)"
    fi
}
# has PATTERN DESCRIPTION: the last run printed a line matching PATTERN (grep -E)
has() {
    grep -Eq "$1" "$out" || { echo "FAIL: $2: no line matching '$1' in:"; sed 's/^/    /' "$out"; bad=1; }
}

expect 0 "no skip" XPV_SELFTEST=
expect 77 "a skip with its reason" XPV_SELFTEST=reason
has '^skip: the frobnicator is not installed$' "the reason printed"
has '^\[ +OK +\] test_second' "the other case ran"
expect 1 "a bare skip() fails" XPV_SELFTEST=bare
has 'skip\(\) without a reason' "the bare skip named"
expect 1 "a failure beside a skip fails" XPV_SELFTEST=fail_and_skip
expect 77 "XPV_CMOCKA_ONLY runs the case named" XPV_SELFTEST=fail_and_skip XPV_CMOCKA_ONLY=test_first
expect 0 "XPV_CMOCKA_EXCEPT leaves the case out" XPV_SELFTEST=reason XPV_CMOCKA_EXCEPT=test_first
has 'Running 1 test' "one case left"
expect 1 "XPV_CMOCKA_ONLY naming no case" XPV_CMOCKA_ONLY=test_frist
has "'test_frist' names no case" "the typo named"
expect 1 "XPV_CMOCKA_EXCEPT naming no case" XPV_CMOCKA_EXCEPT=test_first,nope
[ $bad -eq 0 ] && echo PASS
exit $bad
