# libvirtd_pick.sh — sourced by the tests that run a libvirtd (tests/hostd/libvirt_hostd.sh,
# tests/lab/e2e_libvirt.sh): sets `other` to the pid of the system's libvirtd when one runs and
# its socket answers (the test then uses it: a second libvirtd cannot share /run/libvirt/qemu),
# else to "" once no other libvirtd runs — another test's own, with a private socket, is
# waited out (600 s deadline), since two cannot run at once. Exits 1 when it does not end.
# Also defines libvirtd_start and two_node_fixture (below), which use the caller's d, uri,
# mkfixture, fail, wait_until and V.
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

# libvirtd_start: unless the system's libvirtd is used ($other), a virtlogd and a libvirtd of
# the test's own, sockets and logs in $d; then waits for libvirtd to answer.
libvirtd_start() {
    cat >"$d/libvirtd.conf" <<EOF
unix_sock_dir = "$d"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$d/libvirtd.log"
EOF
    echo "log_outputs = \"3:file:$d/virtlogd.log\"" >"$d/virtlogd.conf"
    if [ -z "$other" ]; then
        /usr/sbin/virtlogd -d -f "$d/virtlogd.conf" -p "$d/virtlogd.pid" || fail "virtlogd did not start"
        /usr/sbin/libvirtd -d -f "$d/libvirtd.conf" -p "$d/libvirtd.pid" || fail "libvirtd did not start"
    fi
    wait_until 30 "libvirtd to answer" V version || fail "libvirtd does not answer ($uri)"
}

# two_node_fixture DIR: a fake host of two nodes, one CPU and 1 GiB each, for hostd --root.
two_node_fixture() {
    python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import mkfixture as m; m.generate(sys.argv[2], m.machine(m.even([0, 1], 1, 1024)))" \
        "$(dirname "$mkfixture")" "$1" || fail "fixture"
}
