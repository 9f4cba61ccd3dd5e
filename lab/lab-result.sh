#!/bin/sh
# lab-result.sh LOG TEST — one in-guest test's result from a lab run's console log, as a CTest
# result: prints what the test printed, exits 0 (PASS), 1 (FAIL, or missing from a run that
# finished) or 77 (SKIP, or the whole lab was skipped: the reason is printed).
log=$1 test=$2
if [ ! -f "$log" ]; then
    echo "no lab log $log: its boot test did not run (ctest runs it first as a fixture)"
    exit 1
fi
if grep -q '^XPV-LAB-SKIPPED' "$log"; then
    sed -n 's/^XPV-LAB-SKIPPED /skip: the lab did not run: /p' "$log"
    exit 77
fi
awk -v t="$test" '$1 == "XPV-LAB" && $2 == "BEGIN" && $3 == t {on = 1} on {print} $1 == "XPV-LAB" && $2 == "END" && $3 == t {exit}' "$log"
result=$(awk -v t="$test" '$1 == "XPV-LAB" && $2 == "END" && $3 == t {print $4; exit}' "$log")
case $result in
PASS) exit 0 ;;
SKIP)
    # its reason: a line "skip: ..." it printed (lab.h, LAB_SKIP_BECAUSE)
    awk -v t="$test" '$1 == "XPV-LAB" && $2 == "BEGIN" && $3 == t {on = 1} on && /^ *skip: / {f = 1} $1 == "XPV-LAB" && $2 == "END" && $3 == t {exit} END {exit !f}' "$log" ||
        echo "skip: $test said SKIP without a reason"
    exit 77
    ;;
FAIL) exit 1 ;;
*)
    echo "test $test has no result in $log (the guest died in it, or it is not in the guest binary)"
    tail -n 20 "$log"
    exit 1
    ;;
esac
