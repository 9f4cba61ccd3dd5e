#!/usr/bin/env bash
# run-lab.sh — boot the lab guest once and collect its serial console.
#
#   run-lab.sh --nodes N --kernel DIR --initrd FILE --log FILE [--timeout S] [--channel DIR]
#              [--append KERNEL_ARGS] [--share DIR:TAG[:GUESTDIR]]... [TEST...]
#
# The guest: N NUMA nodes, one vCPU and 512 MiB each, ACPI SLIT distances 10 + 10·|i−j|
# (QEMU -numa dist), Debian's kernel, the initramfs of lab/mkinitrd.sh. It runs the named
# in-guest tests (default: all), prints their results (tests/lab/lab.h) and powers off.
# --channel DIR gives the guest the XPV channel as `xpv qemu-args` does (ivshmem-plain on
# DIR/ivshmem, virtio-serial port org.xpv.topology on DIR/kick.sock), QMP on DIR/qmp.sock (and
# DIR/qmp-test.sock), N free vCPU slots (socket N+i on node i) and 2 DIMM slots (1 GiB) for
# hot-add: the host half of tests/lab/e2e_vm.sh. --append adds to the kernel command line.
# --share DIR:TAG[:GUESTDIR] (repeatable) shares the host folder DIR read-only over virtio-9p
# (-virtfs local,path=DIR,mount_tag=TAG,security_model=none,readonly=on) and appends
# xpv.share=TAG[:GUESTDIR] to the kernel command line; lab/init mounts it read-only at GUESTDIR,
# /mnt/TAG by default (the nested lab shares / at /mnt/host; the runtimes test the host's /usr
# at /usr, for its JDK).
# QEMU: XPV_LAB_QEMU when set (the tests set it to lab/fetch-qemu.sh's QEMU 10: bookworm's
# 7.2 cannot unplug vCPUs under TCG, docs/lab.md), else the system's qemu-system-x86_64.
# TCG by default (XPV_LAB_TCG_OPTS adds -accel tcg options, e.g. thread=single); KVM only when
# asked (XPV_LAB_ACCEL=kvm, or =auto to probe for it).
#
# Exit: 0 when the guest ran to the end (per-test results are in the log, read by
# lab/lab-result.sh), 1 when it did not (crash, timeout: the log's tail is printed),
# 77 when the lab cannot run here (no QEMU, no kernel); the reason goes to stderr and the log.
set -euo pipefail

nodes=4 kernel= initrd= log= timeout_s=1800 channel= append= shares=()
while (($#)); do
    case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --channel) channel=$2; shift 2 ;;
    --append) append+=" $2"; shift 2 ;;
    --share)
        [[ $2 =~ ^([^:]+):([A-Za-z0-9_-]{1,31})(:(/[^:[:space:]]*))?$ && -d ${BASH_REMATCH[1]} ]] ||
            { echo "run-lab.sh: --share wants DIR:TAG[:GUESTDIR], an existing folder, a tag of 1-31 letters, digits, _ or -, and an absolute guest path; got '$2'" >&2; exit 2; }
        shares+=(-virtfs "local,path=${BASH_REMATCH[1]},mount_tag=${BASH_REMATCH[2]},security_model=none,readonly=on")
        append+=" xpv.share=${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
        shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "run-lab.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
    esac
done
[[ -n $kernel && -n $initrd && -n $log ]] || { echo "run-lab.sh: --kernel, --initrd and --log are required (see --help)" >&2; exit 2; }
[[ $nodes =~ ^[0-9]+$ ]] && ((nodes >= 1 && nodes <= 64)) || { echo "run-lab.sh: --nodes wants 1..64, got $nodes" >&2; exit 2; }
tests=$(IFS=,; echo "$*")

mkdir -p "$(dirname "$log")"
skip() {
    echo "XPV-LAB-SKIPPED $*" >"$log"
    echo "skip: the lab cannot run here: $*" >&2
    exit 77
}
# The QEMU: XPV_LAB_QEMU (the lab's tests set it: lab/fetch-qemu.sh's, with its own firmware
# beside it), else the system's.
firmware=()
if [[ -n ${XPV_LAB_QEMU:-} ]]; then
    qemu=$XPV_LAB_QEMU
    [[ -x $qemu ]] || skip "no QEMU at $qemu (bash lab/fetch-qemu.sh $(dirname "$(dirname "$(dirname "$qemu")")"), or scripts/setup.sh test)"
    share=$(cd "$(dirname "$qemu")/../share" 2>/dev/null && pwd || true)
    for f in qemu seabios; do
        [[ -d $share/$f ]] && firmware+=(-L "$share/$f")
    done
else
    qemu=$(command -v qemu-system-x86_64 || true)
    [[ -n $qemu ]] || skip "qemu-system-x86_64 not found (as root: apt-get install qemu-system-x86, or run scripts/setup.sh test)"
fi
qemu_version=$("$qemu" --version | sed -n 's/^QEMU emulator version \([0-9.]*\).*/\1/p')
if [[ -n $channel && ${qemu_version%%.*} -lt 8 ]]; then
    echo "lab: QEMU $qemu_version cannot unplug a vCPU under TCG without hanging the guest or" \
        "crashing (docs/lab.md, \"vCPU hotplug under TCG\"); lab/fetch-qemu.sh fetches one that can" >&2
fi
vmlinuz=$(compgen -G "$kernel/boot/vmlinuz-*" | head -1 || true)
[[ -n $vmlinuz ]] || skip "no guest kernel in $kernel (bash lab/fetch-kernel.sh $kernel)"
[[ -f $initrd ]] || skip "no initramfs $initrd (the lab.initrd test makes it)"

args=()
for ((i = 0; i < nodes; i++)); do
    args+=(-object "memory-backend-ram,id=m$i,size=512M" -numa "node,nodeid=$i,memdev=m$i"
           -numa "cpu,node-id=$i,socket-id=$i")
    # with the channel: a free vCPU slot per node, for hot-add
    [[ -z $channel ]] || args+=(-numa "cpu,node-id=$i,socket-id=$((nodes + i))")
done
# QEMU wants every node declared before any distance, and a distance for every pair.
for ((i = 0; i < nodes; i++)); do
    for ((j = i + 1; j < nodes; j++)); do
        args+=(-numa "dist,src=$i,dst=$j,val=$((10 + 10 * (j - i)))")
    done
done
smp="$nodes,sockets=$nodes,cores=1,threads=1" mem="$((nodes * 512))M"
if [[ -n $channel ]]; then
    mkdir -p "$channel"
    smp="$nodes,sockets=$((2 * nodes)),cores=1,threads=1,maxcpus=$((2 * nodes))"
    mem="$((nodes * 512))M,slots=2,maxmem=$((nodes * 512 + 1024))M" # room for DIMMs
    args+=(-object "memory-backend-file,id=xpv-rec,mem-path=$channel/ivshmem,size=1M,share=on"
           -device ivshmem-plain,memdev=xpv-rec,id=xpv-ivshmem -device virtio-serial-pci,id=xpv-vs
           -chardev "socket,id=xpv-kick,path=$channel/kick.sock,server=on,wait=off"
           -device virtserialport,chardev=xpv-kick,name=org.xpv.topology,id=xpv-port
           -qmp "unix:$channel/qmp.sock,server=on,wait=off"
           -qmp "unix:$channel/qmp-test.sock,server=on,wait=off") # a second monitor, for tests
fi
# TCG unless asked otherwise. /dev/kvm on this kind of machine is not to be trusted: it has
# aborted QEMU on the first vCPU ("failed to set MSR 0x10a"), and on 2026-12-03 it got through
# QEMU's set-up (the probe below said yes) and then hung both guests right after SeaBIOS's
# "Booting from ROM..." until the 600 s timeout: 14 lab4 and 14 lab8 tests failed in one CI
# run. A probe can only show that QEMU starts, not that a guest will run, and the tests'
# timeouts are sized for TCG anyway, so the lab's default is the accelerator it is tested on.
# XPV_LAB_ACCEL=kvm forces KVM; =auto uses it when a paused 1-vCPU VM gets through QEMU's
# initialisation (-daemonize: the parent exits 0 only once the child has set its vCPUs up).
kvm_works() {
    [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
    local pidf rc
    pidf=$(mktemp)
    timeout -k 1 60 "$qemu" -accel kvm -cpu host -machine q35 -S -display none -nodefaults \
        -no-user-config -daemonize -pidfile "$pidf" </dev/null >/dev/null 2>&1
    rc=$?
    ((rc == 0)) && [[ -s $pidf ]] && kill "$(cat "$pidf")" 2>/dev/null
    rm -f "$pidf"
    ((rc == 0))
}
case ${XPV_LAB_ACCEL:-tcg} in
kvm) accel=(-accel kvm -cpu host) ;;
tcg) accel=(-accel "tcg${XPV_LAB_TCG_OPTS:+,$XPV_LAB_TCG_OPTS}" -cpu qemu64) ;;
auto) if kvm_works; then accel=(-accel kvm -cpu host); else accel=(-accel tcg -cpu qemu64); fi ;;
*)
    echo "lab: XPV_LAB_ACCEL=$XPV_LAB_ACCEL: expected tcg (the default), kvm or auto" >&2
    exit 2
    ;;
esac

start=$(date +%s)
set +e
timeout --foreground -k 5 "$timeout_s" "$qemu" "${firmware[@]}" "${accel[@]}" -machine q35 \
    -smp "$smp" -m "$mem" "${args[@]}" "${shares[@]}" \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 xpvlab.nodes=$nodes xpvlab.tests=$tests$append" \
    -nographic -no-reboot -nodefaults -serial stdio </dev/null >"$log" 2>&1
rc=$?
set -e
tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
secs=$(($(date +%s) - start))
if ((rc == 124)); then
    echo "lab: the $nodes-node guest did not finish within ${timeout_s}s; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi
if ! grep -q '^XPV-LAB-DONE' "$log"; then
    echo "lab: the $nodes-node guest stopped before the end (qemu exit $rc); last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi
printf 'lab: %d-node guest (%s, QEMU %s) ran in %ds: %d passed, %d failed, %d skipped; log %s\n' \
    "$nodes" "${accel[1]}" "$qemu_version" "$secs" "$(grep -c '^XPV-LAB END .* PASS$' "$log")" \
    "$(grep -c '^XPV-LAB END .* FAIL$' "$log")" "$(grep -c '^XPV-LAB END .* SKIP$' "$log")" "$log"
