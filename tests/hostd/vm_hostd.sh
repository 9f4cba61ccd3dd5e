#!/bin/sh
# vm_hostd.sh XPV FIXTURE — the daemon's VM path against a real QEMU/TCG (paused with -S: no
# guest kernel is needed for QMP, vCPU threads, RAM and the channel devices). A 2-vCPU VM
# with two vNUMA nodes, an ivshmem-plain device on a /dev/shm file and a virtio-serial port:
#  1. with this host's topology and the kernel's ops: the daemon attaches over QMP, binds the
#     vCPU threads (their affinity is node 0's CPUs) and publishes the VM's record into the
#     ivshmem file, read back by libxpv (`xpv watch`): 2 vCPUs on host node 0;
#  2. with the host topology from a 4-node FIXTURE (recording ops, the substitution the log
#     states): `xpv move vm --nodes 1,3` puts vNode 0 on node 1 and vNode 1 on node 3, and the
#     record in the ivshmem file says so, its generation continuing the first daemon's; one
#     vCPU placed on its own node (`--vcpu 1 --nodes 2`) is kept across a daemon restart (the
#     state file), then released;
#  3. QEMU is killed: the daemon reports the VM gone and keeps serving.
# Exit 77 without qemu-system-x86_64.
set -u
xpv=$1 fixture=$2
# shellcheck source=../wait.sh
. "$(dirname "$0")/../wait.sh"
qemu=$(command -v qemu-system-x86_64) || { echo "skip: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"; exit 77; }
d=$(mktemp -d /tmp/xpv-vm-hostd.XXXXXX)
export XPV_HOSTD_STATE_DIR="$d" # the operator's placements beside the records, not /var/lib/xpv
m0=/dev/shm/xpv-vm-hostd-$$-m0 iv=/dev/shm/xpv-vm-hostd-$$-iv
cleanup() {
    for p in ${daemon:-} ${vm:-}; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$d" "$m0" "$iv"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- daemon log:"; cat "$d/log" 2>/dev/null; exit 1; }
field() { # field SOCKET EXPR: a value from `xpv domains --json` (domain vm is x)
    "$xpv" domains --socket "$1" --json | python3 -c \
        "import json,sys; x=[x for x in json.load(sys.stdin)['domains'] if x['name']=='vm'][0]; print($2)"
}

"$qemu" -accel tcg -S -display none -nodefaults -no-user-config -name xpv-vm-hostd -m 128M \
    -smp 2 -object "memory-backend-file,id=m0,size=64M,mem-path=$m0,share=on" \
    -object memory-backend-ram,id=m1,size=64M \
    -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
    -object "memory-backend-file,id=ivm,size=1M,mem-path=$iv,share=on" \
    -device ivshmem-plain,memdev=ivm,id=iv0 -device virtio-serial-pci,id=vs0 \
    -chardev "socket,id=ch0,path=$d/ser.sock,server=on,wait=off" \
    -device virtserialport,chardev=ch0,name=org.xpv.topology,id=port0 \
    -qmp "unix:$d/qmp.sock,server=on,wait=off" 2>"$d/qemu.err" &
vm=$!
wait_until 15 "QEMU's QMP socket" test -S "$d/qmp.sock" || fail "QEMU did not start: $(cat "$d/qemu.err")"

# 0. one QMP command (xpv vm --execute), and QEMU's refusal reported
"$xpv" vm --qmp "$d/qmp.sock" --execute query-status >"$d/status" || fail "xpv vm --execute"
grep -q '"status"' "$d/status" || fail "query-status: $(cat "$d/status")"
if "$xpv" vm --qmp "$d/qmp.sock" --execute no-such-command 2>"$d/err"; then
    fail "an unknown QMP command succeeded"
fi
grep -q CommandNotFound "$d/err" || fail "QEMU's error not reported: $(cat "$d/err")"

# 1. this host, the kernel's ops
"$xpv" hostd --qmp "vm=$d/qmp.sock" --socket "$d/a.sock" --record-dir "$d" --period 0.2 \
    2>"$d/log" &
daemon=$!
wait_until 15 "the VM attached" out_has '^vm .* alive' "$xpv" domains --socket "$d/a.sock" ||
    fail "VM not attached"
grep -q "vm: attached to QEMU pid $vm: 2 vCPUs, 2 vNodes, 2 RAM backends, ivshmem $iv" "$d/log" ||
    fail "attach line"
wait_until 15 "a record in the ivshmem file" nonempty "$iv" || fail "no record in the ivshmem file"
"$xpv" watch "$iv" --json --count 1 >"$d/rec1" || fail "xpv watch on the ivshmem file"
python3 - "$d/rec1" <<'PY' || fail "record 1: $(cat "$d/rec1")"
import json, sys
r = json.load(open(sys.argv[1]))
node0 = r["nodes"][0]["id"]
assert [n["id"] for n in r["nodes"]] == [node0], r["nodes"]
assert r["cpu_node"] == [node0, node0], r["cpu_node"]  # vCPU 0 and 1
PY
g1=$(python3 -c "import json; print(json.load(open('$d/rec1'))['generation'])")
for t in /proc/$vm/task/*; do
    grep -q '^CPU [0-9]/TCG' "$t/comm" || continue
    python3 - "${t##*/}" <<'PY' || fail "vCPU thread ${t##*/} is not bound to node 0's CPUs"
import os, sys
want = set()
for part in open("/sys/devices/system/node/node0/cpulist").read().strip().split(","):
    a, _, b = part.partition("-")
    want |= set(range(int(a), int(b or a) + 1))
assert os.sched_getaffinity(int(sys.argv[1])) == want
PY
done
grep -q "kick not sent" "$d/log" && fail "a kick was not sent"
kill "$daemon"; wait "$daemon"; daemon=

# 2. a 4-node host (fixture topology, recording ops)
"$xpv" hostd --root "$fixture" --qmp "vm=$d/qmp.sock" --socket "$d/b.sock" --record-dir "$d" \
    --period 0.2 2>"$d/log" &
daemon=$!
wait_until 15 "the VM attached again" out_has '^vm .* alive' "$xpv" domains --socket "$d/b.sock" ||
    fail "VM not attached again"
grep -q "using the recording ops" "$d/log" || fail "no substitution notice"
"$xpv" move vm --nodes 1,3 --socket "$d/b.sock" >"$d/move" || fail "move: $(cat "$d/move")"
"$xpv" watch "$iv" --json --count 1 >"$d/rec2" || fail "xpv watch after the move"
python3 - "$d/rec2" "$g1" <<'PY' || fail "record 2: $(cat "$d/rec2")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["generation"] > int(sys.argv[2]), (r["generation"], sys.argv[2])
assert [n["id"] for n in r["nodes"]] == [1, 3], r["nodes"]
assert r["cpu_node"] == [1, 3], r["cpu_node"]  # vNode 0 -> node 1, vNode 1 -> node 3
PY
[ "$(field "$d/b.sock" "x['nodes']")" = "1,3" ] || fail "xpv domains: nodes"
# one vCPU on its own node (memory stays), then back with its vNode
"$xpv" move vm --vcpu 1 --nodes 2 --socket "$d/b.sock" >"$d/move" || fail "move --vcpu: $(cat "$d/move")"
"$xpv" watch "$iv" --json --count 1 >"$d/rec3" || fail "xpv watch after the vCPU move"
python3 - "$d/rec3" <<'PY' || fail "record 3: $(cat "$d/rec3")"
import json, sys
r = json.load(open(sys.argv[1]))
assert [n["id"] for n in r["nodes"]] == [1, 2, 3], r["nodes"]
assert r["cpu_node"] == [1, 2], r["cpu_node"]  # vCPU 1 on node 2, its vNode still on 3
PY
[ "$(field "$d/b.sock" "x['vm']['vcpus'][1]['node']")" = "2" ] || fail "xpv domains: vCPU 1's node"
# a daemon restart keeps both placements (the state file), and says so
grep -q '"vcpus":{"1":2}' "$d/xpv-hostd.state" || fail "state file: $(cat "$d/xpv-hostd.state")"
kill "$daemon"; wait "$daemon"; daemon=
"$xpv" hostd --root "$fixture" --qmp "vm=$d/qmp.sock" --socket "$d/b.sock" --record-dir "$d" \
    --period 0.2 2>"$d/log" &
daemon=$!
wait_until 15 "the VM attached after the restart" out_has '^vm .* alive' "$xpv" domains --socket "$d/b.sock" ||
    fail "VM not attached after the restart"
grep -q "vCPU 1 placed on node 2 (state file)" "$d/log" || fail "vCPU placement not restored: $(cat "$d/log")"
[ "$(field "$d/b.sock" "x['nodes']")" = "1,3" ] || fail "xpv domains after the restart: nodes"
[ "$(field "$d/b.sock" "x['vm']['vcpus'][1]['node']")" = "2" ] || fail "xpv domains after the restart: vCPU 1's node"
"$xpv" watch "$iv" --json --count 1 >"$d/rec3b" || fail "xpv watch after the restart"
grep -q '"cpu_node":\[1,2\]' "$d/rec3b" || fail "record after the restart: $(cat "$d/rec3b")"
"$xpv" move vm --vcpu 1 --nodes auto --socket "$d/b.sock" >/dev/null || fail "move --vcpu auto"
"$xpv" watch "$iv" --json --count 1 >"$d/rec4" || fail "xpv watch after the vCPU release"
grep -q '"cpu_node":\[1,3\]' "$d/rec4" || fail "vCPU 1 not back with its vNode: $(cat "$d/rec4")"
grep -q vcpus "$d/xpv-hostd.state" && fail "state file still places a vCPU: $(cat "$d/xpv-hostd.state")"

# 3. QEMU dies: the VM is reported gone, the daemon goes on
kill -9 "$vm"; wait "$vm" 2>/dev/null; vm=
wait_until 15 "the VM reported gone" out_has '^vm .* gone' "$xpv" domains --socket "$d/b.sock" ||
    fail "VM not reported gone"
grep -q "vm: VM lost" "$d/log" || fail "no log line for the lost VM"
kill -0 "$daemon" || fail "the daemon died with QEMU"
echo PASS
