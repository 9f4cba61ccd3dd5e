#!/bin/sh
# ops_hostd.sh XPV FIXTURE CASE — the host daemon as an operator runs it (issue 20; docs/hostd.md
# "Reload", "systemd", "Metrics"): the real daemon, host topology from the 4-node FIXTURE (so
# the recording ops: nothing on this machine changes), real processes as its domains.
#   reload          SIGHUP applies a changed --config: a process domain added and followed, one
#                   removed (its record file removed), a launched command removed (stopped), a
#                   kept one keeps its state (its record generation goes on), a changed "nodes"
#                   moves it; then a file that does not parse and one naming a node this host
#                   does not have are each rejected with a clear log line and the running
#                   configuration kept (same domains, still served); a domain given another
#                   pid is released and followed anew
#   notify          systemd's protocol on a NOTIFY_SOCKET of the test's (notify_listen.py):
#                   READY=1 with STATUS=, WATCHDOG=1 at half WATCHDOG_USEC while the loop turns,
#                   RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 at SIGTERM
#   metrics         the HTTP endpoint scraped (curl) and `xpv metrics`: both texts pass
#                   prom_check.py (the exposition format and Prometheus's naming conventions)
#                   and hold the per-domain and per-round families, with values that follow
#                   the daemon (a VM's ACK latency counted after a move, the reload counters);
#                   a wrong path gets 404, another method 405
#   metrics_attack  slow, idle, oversized and non-reading clients of the endpoint
#                   (metrics_attack.py): the rounds keep their period and `xpv domains`
#                   answers (measure_rounds.py: 16 rounds expected over 4 s, 12 required),
#                   oversized heads are refused, and once the attack stops a scrape works
set -u
xpv=$1 fixture=$2 case=$3
here=$(dirname "$0")
# shellcheck source=../wait.sh
. "$here/../wait.sh"
# shellcheck source=timed_wait.sh
. "$here/timed_wait.sh"
d=$(mktemp -d /tmp/xpv-ops.XXXXXX)
sock=$d/hostd.sock
cleanup() {
    for p in ${daemon:-} ${a:-} ${b:-} ${lis:-} ${fq:-} ${att:-}; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log:"; tail -n 40 "$d/log" 2>/dev/null; exit 1; }
field() { # field DOMAIN EXPR: a value of DOMAIN from `xpv domains --json` (x: the domain)
    "$xpv" domains --socket "$sock" --json | python3 -c \
        "import json,sys; x=[x for x in json.load(sys.stdin)['domains'] if x['name']=='$1'][0]; print($2)"
}
names() { # the domains the daemon follows, sorted, on one line
    "$xpv" domains --socket "$sock" --json | python3 -c \
        "import json,sys; print(' '.join(sorted(x['name'] for x in json.load(sys.stdin)['domains'])))"
}
names_are() { n=$(names) && echo "$n" && [ "$n" = "$1" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
conf() { # conf DOMAINS-JSON [EXTRA]: write the config file
    cat >"$d/conf.new" <<JSON
{ "period_s": 0.25, "record_dir": "$d", "state_dir": "$d", "socket": "$sock" ${2:+, $2},
  "domains": [ $1 ] }
JSON
    mv "$d/conf.new" "$d/conf.json"
}
start_daemon() { # start_daemon ARGS...: the daemon on $d/conf.json, answering
    "$xpv" hostd --root "$fixture" --config "$d/conf.json" "$@" 2>"$d/log" & # not a wait: the daemon under test, stopped by cleanup
    daemon=$!
    timed_wait 15 "the daemon to answer" "$xpv" domains --socket "$sock" || fail "the daemon did not answer"
}

sleep 300 & # not a wait: a long-lived process for the daemon to place
a=$!
sleep 300 & # not a wait: another one
b=$!

case $case in
reload)
    cmd='{"name": "job", "command": ["sleep", "300"]}' # not a wait: a long-lived launched command
    conf "{\"name\": \"a\", \"pids\": [$a]}, {\"name\": \"keep\", \"pids\": [$b]}, $cmd"
    start_daemon
    timed_wait 10 "a's record" nonempty "$d/xpv-domain-a" || fail "no record for a"
    timed_wait 10 "keep published" out_has '^[1-9]' field keep "x['generation']" || fail "keep not published"
    job=$(field job "x['pids'][0]") || fail "no pid for job"
    kill -0 "$job" || fail "job's command is not running"
    "$xpv" move keep --nodes 2 --socket "$sock" >/dev/null || fail "xpv move keep"
    g=$(field keep "x['generation']")
    # a removed, job removed, new added, keep kept (its manual placement and generation too)
    sleep 300 & # not a wait: the added domain's process
    c=$!
    conf "{\"name\": \"keep\", \"pids\": [$b]}, {\"name\": \"new\", \"pids\": [$c]}"
    kill -HUP "$daemon"
    timed_wait 10 "the new configuration" names_are "keep new" || { kill $c; fail "not applied"; }
    timed_wait 10 "new's record" nonempty "$d/xpv-domain-new" || { kill $c; fail "new not followed"; }
    kill $c
    [ -e "$d/xpv-domain-a" ] && fail "a's record is still there after its removal"
    timed_wait 10 "job's command to stop" gone "$job" || fail "the removed command still runs"
    [ "$(field keep "x['generation']")" -ge "$g" ] || fail "keep's generation went back"
    [ "$(field keep "x['nodes']")" = 2 ] || fail "keep lost its manual placement: $(field keep "x['nodes']")"
    grep -q "configuration reloaded: 2 domains (1 added, 2 removed, 0 changed, 1 kept)" "$d/log" ||
        fail "no reload summary in the log"
    # a fixed placement changed by the configuration moves the domain; a period change applies
    conf "{\"name\": \"keep\", \"pids\": [$b], \"nodes\": \"3\"}" '"max_moves": 3'
    kill -HUP "$daemon"
    timed_wait 10 "keep on node 3" out_has '^3$' field keep "x['nodes']" || fail "changed nodes not applied"
    # a file that does not parse: rejected, nothing lost
    printf '{"period_s": 0.25, "domains": [' >"$d/conf.json"
    kill -HUP "$daemon"
    timed_wait 10 "the rejection" file_has "$d/log" \
        "reload: the new configuration is rejected, the running one is kept: $d/conf.json:1:[0-9]+: " ||
        fail "no clear rejection"
    names_are "keep" >/dev/null || fail "the domains changed after a rejected file: $(names)"
    [ "$(field keep "x['nodes']")" = 3 ] || fail "keep moved after a rejected file"
    # one that parses but names a node this host does not have: rejected too
    conf "{\"name\": \"other\", \"pids\": [$a], \"nodes\": \"7\"}"
    kill -HUP "$daemon"
    timed_wait 10 "the second rejection" file_has "$d/log" \
        "rejected, the running one is kept: domain 'other': node 7 does not exist here" ||
        fail "no clear rejection of node 7"
    names_are "keep" >/dev/null || fail "the domains changed after a rejected file: $(names)"
    kill -0 "$daemon" || fail "the daemon died"
    # a domain whose settings change (another pid) is released and followed anew
    conf "{\"name\": \"keep\", \"pids\": [$a]}"
    kill -HUP "$daemon"
    timed_wait 10 "keep to follow pid $a" out_has "^\[$a\]$" field keep "x['pids']" || fail "changed domain not followed anew"
    grep -q "keep: its settings changed: released" "$d/log" || fail "the changed domain was not released first"
    grep -q "configuration reloaded: 1 domains (0 added, 0 removed, 1 changed, 0 kept)" "$d/log" || fail "no summary of the change"
    # and the daemon goes on: rounds advance
    r0=$("$xpv" domains --socket "$sock" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['stats']['rounds'])")
    timed_wait 10 "rounds to advance" sh -c "\"$xpv\" domains --socket \"$sock\" --json | python3 -c \"import json,sys; sys.exit(json.load(sys.stdin)['stats']['rounds'] <= $r0)\"" ||
        fail "no rounds after the rejections"
    ;;
notify)
    python3 "$here/notify_listen.py" "$d/notify" "$d/msgs" >"$d/lis" 2>&1 &
    lis=$!
    timed_wait 10 "the listener" file_has "$d/lis" ready || fail "listener: $(cat "$d/lis")"
    conf "{\"name\": \"a\", \"pids\": [$a]}"
    NOTIFY_SOCKET=$d/notify WATCHDOG_USEC=200000 start_daemon
    timed_wait 10 "READY=1" file_has "$d/msgs" '^READY=1;STATUS=1 domains' || fail "no READY=1 with STATUS"
    timed_wait 10 "3 watchdog pings" sh -c "[ \$(grep -c '^WATCHDOG=1\$' \"$d/msgs\") -ge 3 ]" ||
        fail "fewer than 3 WATCHDOG=1: $(cat "$d/msgs")"
    n=$(wc -l <"$d/msgs")
    kill -HUP "$daemon"
    timed_wait 10 "RELOADING=1 then READY=1" sh -c \
        "tail -n +$((n + 1)) \"$d/msgs\" | grep -v '^WATCHDOG' | head -2 | tr '\n' ' ' | grep -Eq '^RELOADING=1;MONOTONIC_USEC=[0-9]+ READY=1;STATUS='" ||
        fail "no RELOADING=1 / READY=1 around the reload: $(tail -n +$((n + 1)) "$d/msgs")"
    kill "$daemon"
    timed_wait 10 "STOPPING=1" file_has "$d/msgs" '^STOPPING=1$' || fail "no STOPPING=1"
    cat "$d/msgs" | sort | uniq -c
    ;;
metrics)
    port=$(free_port)
    python3 "$here/fake_qemu.py" vm "$d/qmp.sock" "$d/ser.sock" ack >"$d/fq" 2>"$d/fq.err" &
    fq=$!
    timed_wait 10 "the fake QEMU" file_has "$d/fq" ready || fail "fake QEMU: $(cat "$d/fq.err")"
    conf "{\"name\": \"a\", \"pids\": [$a]}, {\"name\": \"vm\", \"qmp\": \"$d/qmp.sock\"}"
    start_daemon --metrics "127.0.0.1:$port"
    url=http://127.0.0.1:$port/metrics
    "$xpv" move vm --nodes 3 --socket "$sock" >/dev/null || fail "xpv move vm"
    timed_wait 10 "the VM's ACK counted" out_has '^xpv_domain_ack_latency_seconds_count\{domain="vm",kind="vm"\} [1-9]' \
        curl -sS --max-time 2 "$url" || fail "no ACK latency sample after a move"
    printf '{"period_s": 0.25, "domains": [' >"$d/conf.json" # a rejected reload, counted
    kill -HUP "$daemon"
    timed_wait 10 "the rejected reload counted" out_has '^xpv_hostd_reloads_total\{result="rejected"\} 1$' \
        curl -sS --max-time 2 "$url" || fail "the rejected reload not counted"
    curl -sS --max-time 2 -D "$d/headers" "$url" >"$d/scrape" || fail "scrape"
    cat "$d/headers"
    grep -qi '^content-type: text/plain; version=0.0.4' "$d/headers" || fail "content type"
    families="xpv_hostd_rounds_total xpv_hostd_round_duration_seconds xpv_hostd_round_decisions
        xpv_hostd_decisions_total xpv_domain_nodes xpv_domain_local_access_ratio
        xpv_domain_pages_moved_total xpv_domain_ack_latency_seconds xpv_domain_memory_bytes"
    # shellcheck disable=SC2086
    python3 "$here/prom_check.py" "$d/scrape" $families || fail "the scrape breaks the format: $(cat "$d/scrape")"
    grep -q '^xpv_domain_nodes{domain="vm",kind="vm"} 1$' "$d/scrape" || fail "vm's nodes"
    grep -q '^xpv_domain_node_bound{domain="vm",kind="vm",node="3"} 1$' "$d/scrape" || fail "vm's node 3"
    grep -Eq '^xpv_hostd_round_duration_seconds_count [1-9]' "$d/scrape" || fail "no round timed"
    "$xpv" metrics --socket "$sock" >"$d/cli" || fail "xpv metrics"
    # shellcheck disable=SC2086
    python3 "$here/prom_check.py" "$d/cli" $families || fail "xpv metrics breaks the format"
    [ "$(grep -c '^# TYPE' "$d/cli")" = "$(grep -c '^# TYPE' "$d/scrape")" ] || fail "xpv metrics and the endpoint differ"
    code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@"; }
    [ "$(code "http://127.0.0.1:$port/")" = 404 ] || fail "/ not 404"
    [ "$(code -X POST "$url")" = 405 ] || fail "POST not 405"
    [ "$(code -I "$url")" = 200 ] || fail "HEAD not 200"
    ;;
metrics_attack)
    port=$(free_port)
    conf "{\"name\": \"a\", \"pids\": [$a]}"
    start_daemon --metrics "127.0.0.1:$port"
    python3 "$here/metrics_attack.py" 127.0.0.1 "$port" >"$d/att" 2>&1 &
    att=$!
    timed_wait 10 "the attack" file_has "$d/att" attacking || fail "attack: $(cat "$d/att")"
    python3 "$here/measure_rounds.py" "$xpv" "$sock" 0.25 4 0.75 1.0 >"$d/measure"
    r=$?
    cat "$d/measure"
    [ $r = 0 ] || fail "the rounds or xpv domains stalled under the attack on the endpoint"
    timed_wait 10 "an oversized head refused" file_has "$d/att" 'oversize_431 [1-9]' ||
        fail "oversized heads not refused: $(tail -n 3 "$d/att")"
    timed_wait 10 "slow clients dropped" file_has "$d/att" 'drops [1-9]' || fail "nobody dropped: $(tail -n 3 "$d/att")"
    tail -n 1 "$d/att"
    kill -0 "$att" || fail "metrics_attack.py: $(tail -n 3 "$d/att")"
    "$xpv" metrics --socket "$sock" | grep -Eq '^xpv_hostd_metrics_dropped_total [1-9]' || fail "drops not counted"
    kill "$att"
    wait "$att" 2>/dev/null
    att=
    timed_wait 10 "a scrape after the attack" curl -sS --max-time 2 "http://127.0.0.1:$port/metrics" ||
        fail "no scrape after the attack"
    ;;
*)
    echo "usage: ops_hostd.sh XPV FIXTURE reload|notify|metrics|metrics_attack"
    exit 2
    ;;
esac
[ "$case" = notify ] || kill "$daemon" # (notify sent its SIGTERM already: a second one could
# arrive after the daemon restored its signal mask, and kill it)
wait "$daemon"
st=$?
daemon=
[ $st = 0 ] || fail "the daemon exited $st"
echo "ok: $case"
