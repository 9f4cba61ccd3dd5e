# timed_wait.sh — sourced by the hostd shell tests after ../wait.sh:
#
#   timed_wait SECONDS WHAT CMD...   wait_until SECONDS WHAT CMD..., and when the condition
#                                    holds print "  WHAT after S s (deadline SECONDS s)"
#
# so every wait's duration is in the test's output, where tests/hostd/timing_stats.py (and
# scripts/lab_stats.py's reader of waits) finds it: the distribution of each wait over many
# runs says how far its deadline is from a false failure (docs/test-statistics.md).
# shellcheck shell=sh

_tw_now() { date +%s.%N; }

timed_wait() {
    _tw_t0=$(_tw_now)
    _tw_limit=$1 _tw_what=$2
    wait_until "$@" || return 1
    echo "  $_tw_what after $(echo "$_tw_t0 $(_tw_now)" | awk '{printf "%.3f", $2 - $1}') s (deadline $_tw_limit s)"
}
