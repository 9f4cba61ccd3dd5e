#!/bin/sh
# attack_hostd.sh XPV FIXTURE ATTACK — the real daemon (`xpv hostd`, host topology from the
# 4-node FIXTURE, so the recording ops: nothing on this machine changes) under one attack of
# issue 18 (docs/security.md, "The host <-> guest channel and the event loop"):
#   guest_flood        a guest floods its virtio-serial port with garbage frame headers
#                      (tests/hostd/fake_qemu.py: a fake QEMU over QMP whose serial socket
#                      floods): the rounds keep their period, `xpv domains` answers, the
#                      guest's bytes were read (and throttled) all along, and another VM's
#                      agent (fake_qemu.py ... ack) still gets its ACKs through;
#   control_slowloris  12 idle control clients and one sending a byte every 0.9 s, each
#                      reconnecting when dropped (slow_clients.py): same checks, and the
#                      daemon dropped them (each client a process of its own); then 24 idle
#                      ones from one process (more than the 16 slots, and than the 4 one
#                      process may hold): same checks; a request line over 4096 bytes gets
#                      an error reply;
#   qmp_stall          a VM whose QEMU stops answering after the attach (SIGSTOP of the fake)
#                      and one whose QMP socket accepts and never says a word: same checks;
#                      the stopped one is attached again once it answers (SIGCONT), and
#                      gets its record again at once: its agent acknowledges it;
#   socket_owner       a control socket served by uid 65534 (setpriv): `xpv domains` refuses
#                      it and sends nothing; without --socket, $XPV_HOSTD_SOCKET or
#                      $XDG_RUNTIME_DIR a non-root client names no default (no /tmp).
# Rounds are counted over 4 s at a period of 0.25 s: 16 expected, at least 75 % (12) required;
# every request must be served within 1 s, the daemon's control deadline, and every `xpv domains`
# answer (within its own 10 s limit) (measure_rounds.py; docs/test-statistics.md).
set -u
xpv=$1 fixture=$2 attack=$3
here=$(dirname "$0")
# shellcheck source=../wait.sh
. "$here/../wait.sh"
# shellcheck source=timed_wait.sh
. "$here/timed_wait.sh"
d=$(mktemp -d /tmp/xpv-attack.XXXXXX)
sock=$d/hostd.sock
cleanup() {
    [ -n "${fq:-}" ] && kill -CONT "$fq" 2>/dev/null
    for p in ${daemon:-} ${fq:-} ${good:-} ${mute:-} ${slow:-} ${fake:-}; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log:"; tail -n 40 "$d/log" 2>/dev/null; exit 1; }
vmfield() { # vmfield EXPR: a value of domain vm from `xpv domains --json` (x: the domain)
    "$xpv" domains --socket "$sock" --json | python3 -c \
        "import json,sys; x=[x for x in json.load(sys.stdin)['domains'] if x['name']=='vm'][0]; print($1)"
}
start_daemon() { # start_daemon ARGS...: the daemon on $sock, answering
    "$xpv" hostd --root "$fixture" --socket "$sock" --record-dir "$d" --period 0.25 "$@" \
        2>"$d/log" & # not a wait: the daemon under test, stopped by cleanup
    daemon=$!
    timed_wait 15 "the daemon to answer" "$xpv" domains --socket "$sock" || fail "the daemon did not answer"
}
measure() {
    python3 "$here/measure_rounds.py" "$xpv" "$sock" 0.25 4 0.75 1.0 >"$d/measure"
    r=$?
    cat "$d/measure"
    return $r
}

case $attack in
guest_flood)
    python3 "$here/fake_qemu.py" vm "$d/qmp.sock" "$d/ser.sock" flood >"$d/fq" 2>"$d/fq.err" &
    fq=$!
    # and a well-behaved VM beside it, whose agent acknowledges every record
    python3 "$here/fake_qemu.py" vm "$d/good.sock" "$d/good-ser.sock" ack >"$d/good" 2>"$d/good.err" &
    good=$!
    timed_wait 10 "the fake QEMU" file_has "$d/fq" ready || fail "fake QEMU: $(cat "$d/fq.err")"
    timed_wait 10 "the good fake QEMU" file_has "$d/good" ready || fail "fake QEMU: $(cat "$d/good.err")"
    start_daemon --qmp "vm=$d/qmp.sock" --qmp "good=$d/good.sock"
    timed_wait 10 "the flood to reach the daemon" out_has '^[1-9]' vmfield "x['vm']['guest_port']['bad_frames']" ||
        fail "the guest's garbage never reached the decoder"
    measure || fail "the rounds or xpv domains stalled under the guest's flood"
    # the flood read all along (>= 4 x 256 KiB) and held to its budget round after round: a
    # condition with its deadline, as the counts are the current attachment's (a fake QEMU a
    # loaded machine kept from answering QMP within 200 ms is dropped and attached again,
    # its counts from zero: 2 runs in 40 failed a one-shot check so)
    port_read() {
        vmfield "x['vm']['guest_port']" >"$d/port" || return 1
        cat "$d/port"
        python3 -c 'import ast, sys; p = ast.literal_eval(open(sys.argv[1]).read()); sys.exit(not (p["bytes"] >= 1 << 20 and p["throttled_rounds"] >= 4))' "$d/port"
    }
    timed_wait 10 "the flood read for 4 throttled rounds" port_read || fail "the guest's port: $(cat "$d/port")"
    cat "$d/port"
    python3 - "$d/port" <<'PY' || fail "the guest's port: $(cat "$d/port")"
import ast, sys
p = ast.literal_eval(open(sys.argv[1]).read())
assert p["bytes_skipped"] + 24 * 4 >= p["bytes"], p  # it was garbage
PY
    grep -q "the guest sent 256 KiB on its port within one round" "$d/log" || fail "no warning"
    # fairness: the other VM's ACKs still got through, of the generation last published
    "$xpv" move good --nodes 3 --socket "$sock" >/dev/null || fail "xpv move good"
    good_acked() { # True when good's agent acknowledged the generation last published
        "$xpv" domains --socket "$sock" --json | python3 -c "import json,sys; x=[x for x in json.load(sys.stdin)['domains'] if x['name']=='good'][0]; print(x['vm']['acked_generation'] == x['generation'] > 0, 'acks', x['vm']['acks'], 'generation', x['generation'], 'latency', x['vm']['ack_latency_us'].get('max'))"
    }
    timed_wait 10 "good's ACK of its last generation" out_has '^True' good_acked ||
        fail "the well-behaved VM's ACKs did not get through beside the flood"
    good_acked
    # once per attachment, not per round: a fake QEMU that a loaded machine kept from
    # answering QMP within 200 ms is dropped and attached again (VM lost), and the new
    # attachment warns once more (2 runs in 40 under load); nothing here depends on time
    warns=$(grep -c "vm: the guest sent 256 KiB" "$d/log")
    attaches=$(grep -c "vm: attached to QEMU" "$d/log")
    echo "flood warnings: $warns, attachments of vm: $attaches"
    if [ "$warns" -lt 1 ] || [ "$warns" -gt "$attaches" ]; then fail "the warning repeats"; fi
    ;;
control_slowloris)
    python3 "$here/fake_qemu.py" vm "$d/qmp.sock" "$d/ser.sock" >"$d/fq" 2>"$d/fq.err" &
    fq=$!
    timed_wait 10 "the fake QEMU" file_has "$d/fq" ready || fail "fake QEMU: $(cat "$d/fq.err")"
    start_daemon --qmp "vm=$d/qmp.sock"
    # 12 idle clients and a slowloris, each a process of its own
    python3 "$here/slow_clients.py" "$sock" 12 procs >"$d/slow" 2>"$d/slow.err" &
    slow=$!
    timed_wait 10 "the hostile clients" lines_at_least 13 "$d/slow" || fail "clients: $(cat "$d/slow.err")"
    measure || fail "the rounds or xpv domains stalled under slow control clients"
    grep -c dropped "$d/slow" | sed 's/^/hostile clients dropped by the daemon: /'
    # 13 hostile clients, each dropped after about 1 s: dozens over the 4 s window
    [ "$(grep -c dropped "$d/slow")" -ge 13 ] || fail "the daemon did not drop the slow clients: $(cat "$d/slow")"
    kill "$slow"; wait "$slow" 2>/dev/null; slow=
    # 24 idle clients of one process, reconnecting at once when refused or dropped: more
    # than the 16 slots, and more than one process may hold (4)
    python3 "$here/slow_clients.py" "$sock" 24 >"$d/slow" 2>"$d/slow.err" &
    slow=$!
    timed_wait 10 "the hostile clients" file_has "$d/slow" ready || fail "clients: $(cat "$d/slow.err")"
    measure || fail "the rounds or xpv domains stalled under one process's many clients"
    # a request line longer than the daemon accepts gets an error reply, then the door
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"x" * 5000)
print(s.makefile("rb").readline().decode().strip())
' "$sock" >"$d/long" 2>&1 || fail "long request: $(cat "$d/long")"
    grep -q '"error":"a request is one line of at most 4096 bytes"' "$d/long" || fail "long request: $(cat "$d/long")"
    ;;
qmp_stall)
    python3 "$here/fake_qemu.py" vm "$d/qmp.sock" "$d/ser.sock" ack >"$d/fq" 2>"$d/fq.err" &
    fq=$!
    python3 "$here/fake_qemu.py" silent "$d/mute.sock" >"$d/mute" 2>&1 &
    mute=$!
    timed_wait 10 "the fake QEMUs" file_has "$d/fq" ready || fail "fake QEMU: $(cat "$d/fq.err")"
    timed_wait 10 "the silent QMP socket" file_has "$d/mute" ready || fail "silent: $(cat "$d/mute")"
    start_daemon --qmp "vm=$d/qmp.sock" --qmp "mute=$d/mute.sock"
    timed_wait 10 "vm attached" out_has '^vm .* alive' "$xpv" domains --socket "$sock" || fail "vm not attached"
    vm_acked() { # True when vm's agent acknowledged the generation last published
        "$xpv" domains --socket "$sock" --json | python3 -c "import json,sys; x=[x for x in json.load(sys.stdin)['domains'] if x['name']=='vm'][0]; print(x.get('vm', {}).get('acked_generation') == x['generation'] > 0, 'generation', x['generation'], 'acked', x.get('vm', {}).get('acked_generation'))"
    }
    "$xpv" move vm --nodes 1 --socket "$sock" >/dev/null || fail "xpv move vm"
    timed_wait 10 "vm's ACK of its last generation" out_has '^True' vm_acked ||
        fail "vm's agent did not acknowledge its record: $(vm_acked)"
    kill -STOP "$fq" # QEMU stops answering (a stopped or hung process)
    measure || fail "the rounds or xpv domains stalled on QEMUs that do not answer"
    grep -q "vm: QEMU did not answer QMP within 200 ms" "$d/log" || fail "the stall was not logged"
    # a series of stalls is logged once when it begins and once when it ends ("answers again"):
    # stalled now, one more begun than ended. (Counting one line in all failed 3 runs in 40
    # under load: the fake, not yet stopped, had missed the 200 ms once, a series of its own.)
    stalls=$(grep -c "vm: QEMU did not answer QMP" "$d/log")
    agains=$(grep -c "vm: QEMU answers QMP again" "$d/log")
    echo "stall series of vm begun: $stalls, ended: $agains"
    [ "$stalls" -eq $((agains + 1)) ] || fail "the stall log repeats"
    kill -CONT "$fq"
    timed_wait 40 "vm attached again" out_has '^vm .* alive' "$xpv" domains --socket "$sock" ||
        fail "vm not attached again once it answered"
    grep -q "vm: QEMU answers QMP again" "$d/log" || fail "no notice that it answers again"
    # attached again, the placed VM gets its record again at once, and its agent acknowledges it
    # (before the fix: only at the next placement change, so nothing it sent was acknowledged)
    timed_wait 20 "vm's ACK after the attach again" out_has '^True' vm_acked ||
        fail "vm's record was not published again when it was attached again: $(vm_acked)"
    ;;
socket_owner)
    chmod 755 "$d"
    mkdir -m 777 "$d/nobody"
    setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    got = b""
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
        if b"\n" in got:  # answer like a daemon would, to a client that talks
            c.sendall(b"{\"ok\":true,\"domains\":[],\"stats\":{}}\n")
    print("eof after %d bytes" % len(got), flush=True)
    c.close()
' "$d/nobody/hostd.sock" >"$d/fake" 2>&1 &
    fake=$!
    timed_wait 10 "uid 65534's listener" file_has "$d/fake" ready || fail "listener: $(cat "$d/fake")"
    "$xpv" domains --socket "$d/nobody/hostd.sock" >"$d/out" 2>"$d/err"
    rc=$?
    cat "$d/err"
    [ $rc -eq 1 ] || fail "xpv domains talked to a socket served by uid 65534 (exit $rc): $(cat "$d/out")"
    grep -q "served by uid 65534" "$d/err" || fail "unclear: $(cat "$d/err")"
    timed_wait 10 "the connection's end" file_has "$d/fake" "^eof" || fail "no end seen"
    grep -q "^eof after 0 bytes" "$d/fake" || fail "the client sent something: $(cat "$d/fake")"
    # no default in a shared directory for a non-root client
    env -u XPV_HOSTD_SOCKET -u XDG_RUNTIME_DIR setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$xpv" domains >"$d/out" 2>"$d/err"
    rc=$?
    cat "$d/err"
    [ $rc -eq 1 ] || fail "a non-root client without a socket: exit $rc"
    grep -q "no control socket: not root" "$d/err" || fail "unclear: $(cat "$d/err")"
    ! grep -q /tmp "$d/err" || fail "a /tmp fallback: $(cat "$d/err")"
    # the daemon refuses a directory others can write
    "$xpv" hostd --root "$fixture" --socket "$d/nobody/h.sock" --record-dir "$d" 2>"$d/err" &
    wait $! # not a wait: it must fail at once (a hang is the test's timeout)
    rc=$?
    [ $rc -eq 1 ] || fail "the daemon listened in a world-writable directory (exit $rc)"
    grep -q "may not hold the control socket" "$d/err" || fail "unclear: $(cat "$d/err")"
    ;;
*)
    echo "usage: attack_hostd.sh XPV FIXTURE guest_flood|control_slowloris|qmp_stall|socket_owner"
    exit 2
    ;;
esac
echo PASS
