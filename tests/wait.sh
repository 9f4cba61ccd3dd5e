# wait.sh — sourced by the shell tests (`. "$(dirname "$0")/../wait.sh"`): wait for a
# condition, never for a time (docs/development.md, "Waiting").
#
#   wait_until SECONDS WHAT CMD...   run CMD until it succeeds; after SECONDS, print
#                                    "timed out after SECONDS s waiting for WHAT; last saw:"
#                                    and CMD's last output, and return 1
#
# Conditions that print what they look at, for wait_until to show on a timeout:
#   lines_at_least N FILE            FILE has N lines or more
#   file_has FILE PATTERN            a line of FILE matches PATTERN (grep -E)
#   nonempty FILE                    FILE exists and is not empty
#   out_has PATTERN CMD...           a line of CMD's output matches PATTERN (grep -E)
# POSIX sh (the tests run under dash): no `local`, so the variables are prefixed _w.
# shellcheck shell=sh

wait_until() {
    _w_limit=$1 _w_what=$2
    shift 2
    _w_out=$(mktemp)
    _w_end=$(($(date +%s) + _w_limit))
    until "$@" >"$_w_out" 2>&1; do
        if [ "$(date +%s)" -ge "$_w_end" ]; then
            echo "timed out after $_w_limit s waiting for $_w_what; last saw:"
            if [ -s "$_w_out" ]; then tail -n 30 "$_w_out" | sed 's/^/    /'; else echo "    (nothing)"; fi
            rm -f "$_w_out"
            return 1
        fi
        sleep 0.05 # not a wait: the poll interval of wait_until's deadline loop
    done
    rm -f "$_w_out"
}

lines_at_least() {
    cat "$2" 2>&1 || return 1
    [ "$(wc -l <"$2")" -ge "$1" ]
}

file_has() {
    cat "$1" 2>&1 || return 1
    grep -Eq "$2" "$1"
}

nonempty() {
    ls -l "$1" 2>&1
    [ -s "$1" ]
}

out_has() {
    _w_pat=$1
    shift
    _w_cmd_out=$("$@" 2>&1)
    printf '%s\n' "$_w_cmd_out"
    printf '%s\n' "$_w_cmd_out" | grep -Eq "$_w_pat"
}
