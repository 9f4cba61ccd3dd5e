#!/bin/sh
# attack_files.sh XPV CASE FIXTURE — the host daemon's files attacked by an unprivileged user (issue
# 18; docs/security.md, "The host daemon's files"). Each CASE performs the attack for real,
# as uid 65534 (setpriv), against the root daemon, and checks that it fails:
#   symlink      a symlink planted in the record directory, pointing at a root-only 0600 file:
#                the daemon refuses it and the target is unchanged (same bytes, same size)
#   state        a state file planted in the shared record directory (where it used to be
#                read from) has no effect; a state file of another owner in the state
#                directory is refused with a logged reason; no manual placement shows
#   precreated   a record file pre-created by uid 65534 is refused; its owner truncates it and
#                a publish follows (xpv move to node 2 of the 4-node FIXTURE topology, through
#                the recording ops): the daemon is alive (no SIGBUS)
#   flock        uid 65534 opens the daemon's record (0644) read-only and holds flock(LOCK_EX)
#                on it; the daemon restarts: it still publishes
#   full         the record directory on a full tmpfs (mounted here, unmounted after): a clean
#                "No space left" error, the daemon alive (no SIGBUS)
#   corrupt      truncated, empty, non-object and garbage state files: each logged with its
#                reason, the daemon starts
#   ivshmem      a VM's ivshmem path (QMP's mem-path) names a root-only file QEMU does not map
#                (as a lying QMP peer would; QEMU's own file moved aside): the daemon does not
#                write it (a real paused QEMU/TCG; skips without one)
#   sigpipe      the daemon's stderr is a pipe whose reader has gone: it keeps running (started
#                with SIGPIPE at its default: CTest may hand its children SIGPIPE ignored)
# The record directory is a sticky world-writable directory like /dev/shm (which the
# directory rule accepts). The kernel's fs.protected_symlinks and fs.protected_regular would
# stop some of these attacks there by themselves, so they are set to 0 for the test and
# restored after: the daemon's own discipline is what is tested (CTest serialises the cases
# with RESOURCE_LOCK xpv_sysctl).
set -u
xpv=$1 case=$2 fixture=${3:-}
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
if [ "$(id -u)" != 0 ]; then echo "skip: needs root (the daemon runs as root; the attacker is uid 65534)"; exit 77; fi
command -v setpriv >/dev/null || { echo "skip: needs setpriv (util-linux)"; exit 77; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

d=$(mktemp -d /tmp/xpv-attack.XXXXXX)
chmod 0711 "$d" # uid 65534 may reach the shared directory inside, not list this one
shm=$d/shm
mkdir -m 1777 "$shm"
mkdir -m 0700 "$d/state"
export XPV_HOSTD_STATE_DIR="$d/state"
sock=$d/hostd.sock
ps0=$(cat /proc/sys/fs/protected_symlinks) pr0=$(cat /proc/sys/fs/protected_regular)
cleanup() {
    [ -n "${locker:-}" ] && pkill -P "$locker" 2>/dev/null # flock's child
    for p in ${daemon:-} ${worker:-} ${vm:-} ${locker:-}; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    mountpoint -q "$d/full" 2>/dev/null && umount "$d/full"
    echo "$ps0" >/proc/sys/fs/protected_symlinks 2>/dev/null
    echo "$pr0" >/proc/sys/fs/protected_regular 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; echo "--- daemon log:"; cat "$d/log" 2>/dev/null; exit 1; }
echo 0 >/proc/sys/fs/protected_symlinks 2>/dev/null && echo 0 >/proc/sys/fs/protected_regular 2>/dev/null ||
    echo "note: cannot lower fs.protected_symlinks/regular here: the kernel may stop some attacks too"

sleep 300 & # not a wait: a long-lived process for the daemon to place (killed at the end)
worker=$!

died() { wait "$daemon"; fail "the daemon died (status $?)"; }
domain="--pids w=$worker"
start() { # start RECORD_DIR [OPTIONS...]: the daemon with $domain (w), stderr in $d/log
    _dir=$1
    shift
    # shellcheck disable=SC2086 # $domain is two words
    "$xpv" hostd $domain --socket "$sock" --record-dir "$_dir" --period 0.2 "$@" 2>"$d/log" &
    daemon=$!
    wait_until 10 "the daemon to answer" "$xpv" domains --socket "$sock" || died
}
rounds_at_least() { # rounds_at_least N: the daemon has done N rounds
    "$xpv" domains --socket "$sock" --json | python3 -c "import json,sys; r=json.load(sys.stdin)['stats']['rounds']; print('rounds', r); sys.exit(r < $1)"
}
alive() { kill -0 "$daemon" 2>/dev/null || died; }

case $case in
symlink)
    printf 'root only\n' >"$d/secret"
    chmod 0600 "$d/secret"
    cp -p "$d/secret" "$d/secret.orig"
    nobody ln -s "$d/secret" "$shm/xpv-domain-w" || fail "uid 65534 cannot plant the symlink"
    start "$shm"
    wait_until 10 "three rounds" rounds_at_least 3 || died
    alive
    cmp -s "$d/secret" "$d/secret.orig" || fail "the root-only file was written: $(stat -c '%s bytes' "$d/secret")"
    grep -q 'xpv-domain-w is a symbolic link: refused' "$d/log" || fail "the refusal is not logged"
    [ -L "$shm/xpv-domain-w" ] || fail "the symlink is gone"
    ;;
state)
    nobody sh -c "printf '{\"w\":\"0\"}' >'$shm/xpv-hostd.state'" || fail "uid 65534 cannot plant a file"
    printf '{"w":"0"}' >"$d/state/xpv-hostd.state"
    chown 65534:65534 "$d/state/xpv-hostd.state"
    start "$shm"
    wait_until 10 "two rounds" rounds_at_least 2 || died
    alive
    "$xpv" domains --socket "$sock" >"$d/list" || fail "xpv domains"
    cat "$d/list"
    grep -q '^w .*(manual)' "$d/list" && fail "a planted state file placed w: $(cat "$d/list")"
    grep -q "placements not restored: .*xpv-hostd.state belongs to uid 65534" "$d/log" ||
        fail "the state file of uid 65534 is not refused with its reason"
    ;;
precreated)
    nobody sh -c "truncate -s 512K '$shm/xpv-domain-w' && chmod 0644 '$shm/xpv-domain-w'" ||
        fail "uid 65534 cannot pre-create the record"
    start "$shm" --root "$fixture"
    wait_until 10 "two rounds" rounds_at_least 2 || died
    nobody truncate -s 0 "$shm/xpv-domain-w" || fail "its owner cannot truncate it"
    "$xpv" move w --nodes 2 --socket "$sock" >"$d/move" 2>&1 # a publish, into the record if it was adopted
    cat "$d/move"
    wait_until 10 "two more rounds" rounds_at_least 4 || died
    alive
    grep -q "xpv-domain-w belongs to uid 65534, not to uid 0: refused" "$d/log" ||
        fail "the pre-created record is not refused with its reason"
    [ "$(stat -c %U "$shm/xpv-domain-w")" = nobody ] || fail "the file changed hands"
    ;;
flock)
    command -v flock >/dev/null || { echo "skip: needs flock(1) (util-linux)"; exit 77; }
    start "$shm"
    wait_until 10 "w's record" nonempty "$shm/xpv-domain-w" || fail "no record for w"
    kill "$daemon"
    wait "$daemon"
    # setpriv execs flock(1) (so $locker is flock's pid), which runs its command once it holds the lock
    setpriv --reuid=65534 --regid=65534 --clear-groups flock -x -n "$shm/xpv-domain-w" sleep 300 & # not a wait: the lock holder, killed at the end
    locker=$!
    # flock(1) runs sleep once it holds the lock
    wait_until 10 "the lock taken" pgrep -P "$locker" || fail "uid 65534 could not lock the record"
    start "$shm"
    wait_until 10 "two rounds" rounds_at_least 2 || died
    alive
    grep -q "another publisher is writing" "$d/log" && fail "a reader's flock kept the daemon from publishing"
    "$xpv" domains --socket "$sock" --json | python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['stats']['publishes'] >= 1 and r['stats']['errors'] == 0, r['stats']
" || fail "no record published"
    ;;
full)
    mkdir "$d/full"
    mount -t tmpfs -o size=64k,mode=0755 xpv-attack "$d/full" || { echo "skip: cannot mount a tmpfs here"; exit 77; }
    dd if=/dev/zero of="$d/full/fill" bs=4k 2>/dev/null # fills it: dd stops at ENOSPC
    start "$d/full"
    wait_until 10 "three rounds" rounds_at_least 3 || died
    alive
    grep -q "cannot reserve .*xpv-domain-w: No space left on device" "$d/log" ||
        fail "no clean error for the full filesystem"
    ;;
corrupt)
    for kind in truncated empty array garbage; do
        case $kind in
        truncated) printf '{"w": "0", "x' ;;
        empty) : ;;
        array) printf '["w"]' ;;
        garbage) printf '\001\002\377 not json' ;;
        esac >"$d/state/xpv-hostd.state"
        "$xpv" hostd --once --pids "w=$worker" --record-dir "$shm" 2>"$d/log" || fail "$kind: the daemon failed"
        case $kind in
        truncated | garbage) want='xpv-hostd.state:[0-9]+:[0-9]+: .* \(corrupt or truncated\)' ;;
        empty) want='xpv-hostd.state: the file is empty' ;;
        array) want='xpv-hostd.state: not a JSON object' ;;
        esac
        grep -Eq "operator's placements not restored: .*$want" "$d/log" ||
            fail "$kind state file: no reason logged (want /$want/)"
        echo "$kind: $(grep 'not restored' "$d/log")"
    done
    ;;
ivshmem)
    qemu=$(command -v qemu-system-x86_64) || { echo "skip: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"; exit 77; }
    iv=$shm/iv
    "$qemu" -accel tcg -S -display none -nodefaults -no-user-config -m 64M -smp 1 \
        -object "memory-backend-file,id=ivm,size=1M,mem-path=$iv,share=on" \
        -device ivshmem-plain,memdev=ivm,id=iv0 \
        -qmp "unix:$d/qmp.sock,server=on,wait=off" 2>"$d/qemu.err" & # not a wait: the VM, killed at the end
    vm=$!
    # the socket and the backend's file: QEMU makes them in an order of its own (a loaded run
    # found the socket with the file not made yet, and mv failed)
    wait_until 15 "QEMU's QMP socket and ivshmem file" test -S "$d/qmp.sock" -a -f "$iv" ||
        fail "QEMU did not start: $(cat "$d/qemu.err")"
    mv "$iv" "$iv.qemu" # QEMU keeps its mapping; the path QMP reports is now another file
    head -c 1048576 /dev/urandom >"$iv"
    chmod 0600 "$iv"
    cp -p "$iv" "$d/secret.orig"
    domain="--qmp w=$d/qmp.sock"
    start "$shm"
    wait_until 10 "three rounds" rounds_at_least 3 || died
    alive
    kill "$vm"
    cmp -s "$iv" "$d/secret.orig" || fail "the root-only file QEMU does not map was written"
    grep -q "iv is not mapped by QEMU (pid [0-9]*): not adopted" "$d/log" || fail "the refusal is not logged"
    ;;
sigpipe)
    mkfifo "$d/err"
    head -n 1 <"$d/err" >"$d/first" & # not a wait: the reader that goes away after one line
    reader=$!
    env --default-signal=PIPE "$xpv" hostd --pids "w=$worker" --socket "$sock" --record-dir "$shm" \
        --period 0.2 2>"$d/err" &
    daemon=$!
    wait "$reader"
    echo "first line: $(cat "$d/first")"
    wait_until 10 "the daemon to answer" "$xpv" domains --socket "$sock" || died
    # the reader is gone: these log lines ("placed by the operator" when it moves, "released to
    # automatic placement" always) go into the closed pipe
    "$xpv" move w --nodes 0 --socket "$sock" >"$d/move" 2>&1
    "$xpv" move w --nodes auto --socket "$sock" >>"$d/move" 2>&1
    wait_until 10 "two more rounds" rounds_at_least 4 || died
    alive
    ;;
*)
    echo "unknown case $case"
    exit 2
    ;;
esac
echo "ok: $case"
