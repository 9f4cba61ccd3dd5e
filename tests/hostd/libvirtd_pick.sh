# libvirtd_pick.sh — sourced by the tests that run a libvirtd (tests/hostd/libvirt_hostd.sh,
# tests/lab/e2e_libvirt.sh): sets `other` to the pid of the system's libvirtd when one runs and
# its socket answers (the test then uses it: a second libvirtd cannot share /run/libvirt/qemu),
# else to "" once no other libvirtd runs — another test's own, with a private socket, is
# waited out (600 s deadline), since two cannot run at once. Exits 1 when it does not end.
libvirtd_running() { ps -C libvirtd -o stat=,pid= | awk '$1 !~ /^Z/ {print $2}' | head -1; }
other=
if [ -S /run/libvirt/libvirt-sock ] && virsh -q -c qemu:///system version >/dev/null 2>&1; then
    other=$(libvirtd_running)
else
    pick_end=$(($(date +%s) + 600))
    while [ -n "$(libvirtd_running)" ] && [ "$(date +%s)" -lt "$pick_end" ]; do
        sleep 1 # not a wait: the poll interval of this 600 s deadline loop
    done
    if [ -n "$(libvirtd_running)" ]; then
        echo "FAIL: another libvirtd (pid $(libvirtd_running)), not the system's, runs for over 600 s"
        exit 1
    fi
fi
