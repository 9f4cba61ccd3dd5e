/*
 * test_guestd.c — the guest agent (docs/guestd.md) on a fixture guest: the generated 4-node
 * tree (8 CPUs, two per node) copied into a temporary root, with a fake ivshmem PCI device
 * (its resource2 a plain file the test publishes host records into), a socketpair as the
 * virtio-serial port, a fake /proc for followed processes and the recording ops.
 *
 * Covers: the effective-vNode rule (own vNode's node, another vNode's node, nearest by
 * distance, ties, offline and hot-added CPUs); the loop: re-sync from the region at start,
 * kicks, missed kicks found by polling, ACK frames, garbage in the region and on the port,
 * the agent's restart; uevent parsing; following processes; the follow directory attacked
 * by an unprivileged user (symlinked entries, a planted symlink under xpv_follow_register,
 * as uid 65534 through setpriv; case follow_attack, root only). argv[1]: the 4-node fixture.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tu_cmocka.h"

#include "guestd.h"
#include "xpv/channel.h"
#include "xpv/effective.h"
#include "xpv/frame.h"
#include "xpv/ops_record.h"
#include "xpv/publisher.h"
#include "xpv/topo.h"

static const char *fixture;
static char root[256];

__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh copy of the fixture, with the XPV devices. */
static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/xpv-guestd-XXXXXX");
    assert_non_null(mkdtemp(root));
    sh("cp -r %s/sys %s/proc %s/", fixture, fixture, root);
    sh("mkdir -p %s/sys/bus/pci/devices/0000:00:01.0 %s/sys/bus/pci/devices/0000:00:04.0 "
       "%s/sys/class/virtio-ports/vport1p1 %s/dev %s/follow",
       root, root, root, root, root);
    put("sys/bus/pci/devices/0000:00:01.0/vendor", "0x8086\n"); /* another device first */
    put("sys/bus/pci/devices/0000:00:01.0/device", "0x29c0\n");
    put("sys/bus/pci/devices/0000:00:04.0/vendor", "0x1af4\n");
    put("sys/bus/pci/devices/0000:00:04.0/device", "0x1110\n");
    put("sys/bus/pci/devices/0000:00:04.0/enable", "0\n");
    sh("truncate -s 1M %s/sys/bus/pci/devices/0000:00:04.0/resource2", root);
    put("sys/class/virtio-ports/vport1p1/name", GUESTD_PORT_NAME "\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sh("rm -rf %s", root);
    return 0;
}

/* The host's view of the VM: physical nodes 1,3,5,7 (sparse on purpose), vNode v backed by
 * the v-th of them, vCPU c (of 8) on the node of its vNode c/2 unless moved. Distances:
 * index i to j is 10 + 10|i-j|, except 0<->3 at 15 (nearer than 0<->1). */
struct host {
    struct xpv_record_desc d;
    uint32_t ids[5];
    uint16_t cpu_p[12], cpu_v[12], dist[25];
    struct xpv_record_backing bk[4];
};

static void host_make(struct host *h, unsigned nr_pnodes, unsigned nr_cpus)
{
    memset(h, 0, sizeof(*h));
    for (unsigned i = 0; i < nr_pnodes; i++) {
        h->ids[i] = 2 * i + 1;
        for (unsigned j = 0; j < nr_pnodes; j++)
            h->dist[i * nr_pnodes + j] = (uint16_t)(10 + 10 * (i > j ? i - j : j - i));
    }
    h->dist[0 * nr_pnodes + 3] = h->dist[3 * nr_pnodes + 0] = 15;
    for (unsigned v = 0; v < 4; v++)
        h->bk[v] = (struct xpv_record_backing){
                .vnode = (uint16_t)v, .pnode = (uint16_t)v, .bytes = UINT64_C(1) << 30};
    for (unsigned c = 0; c < nr_cpus; c++) {
        h->cpu_v[c] = (uint16_t)(c / 2);
        h->cpu_p[c] = (uint16_t)(c / 2);
    }
    h->d = (struct xpv_record_desc){.nr_pnodes = nr_pnodes,
                                    .nr_vnodes = 4,
                                    .nr_cpus = nr_cpus,
                                    .nr_backing = 4,
                                    .pnode_ids = h->ids,
                                    .cpu_pnode = h->cpu_p,
                                    .cpu_vnode = h->cpu_v,
                                    .backing = h->bk,
                                    .distance = h->dist};
}

static void view_of(const struct host *h, void *buf, size_t cap, struct xpv_record_view *v)
{
    assert_true(xpv_record_encode(&h->d, 7, 0, buf, cap, NULL) > 0);
    assert_int_equal(xpv_record_decode(buf, cap, v, NULL), 0);
}

static void test_local_read(void **state)
{
    (void)state;
    struct guestd_local l;
    struct xpv_error err = {0};
    assert_int_equal(guestd_local_read(root, &l, &err), 0);
    assert_int_equal(l.nr_nodes, 4);
    assert_int_equal(l.nr_cpus, 8);
    for (unsigned c = 0; c < 8; c++) {
        assert_int_equal(l.cpu_node[c], (int)c / 2);
        assert_true(xpv_bitmap_isset(&l.online, c));
    }
    assert_int_equal(l.node_mem[1], UINT64_C(1048576) * 1024);
    assert_int_equal(l.node_dist[1][3], 30);
    /* an offline CPU is still in its node (the cpuN link), not online */
    put("sys/devices/system/cpu/cpu5/online", "0\n");
    put("sys/devices/system/node/node2/cpulist", "4\n");
    sh("ln -s ../../cpu/cpu5 %s/sys/devices/system/node/node2/cpu5", root);
    assert_int_equal(guestd_local_read(root, &l, &err), 0);
    assert_int_equal(l.cpu_node[5], 2);
    assert_false(xpv_bitmap_isset(&l.online, 5));
    /* no sysfs at all: a clear error */
    assert_int_equal(guestd_local_read("/nonexistent", &l, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "sysfs"));
}

/* The agent and libxpv apply the same rule: each online vCPU the host places has the
 * effective vNode whose (single) backing node is libxpv's effective node on the host's
 * record. */
static void agrees_with_libxpv(const struct xpv_record_view *v, const struct guestd_local *l,
                               const struct guestd_topo *t)
{
    for (unsigned c = 0; c < v->nr_cpus && c < l->nr_cpus; c++) {
        struct xpv_effective e;
        if (!xpv_bitmap_isset(&l->online, c) || xpv_effective_record(v, c, &e) <= 0)
            continue;
        assert_int_not_equal(t->cpu_eff[c], XPV_RECORD_NONE);
        if (t->vnode_pnode_id[t->cpu_eff[c]] != (int)xpv_record_pnode_id(v, e.pnode))
            fail_msg("vCPU %u: the agent's vNode %u is on node %d, libxpv says node %u", c,
                     t->cpu_eff[c], t->vnode_pnode_id[t->cpu_eff[c]],
                     xpv_record_pnode_id(v, e.pnode));
    }
}

static void test_effective(void **state)
{
    (void)state;
    struct guestd_local l;
    assert_int_equal(guestd_local_read(root, &l, NULL), 0);
    struct host h;
    unsigned char buf[4096];
    struct xpv_record_view v;
    static struct guestd_topo t;

    /* placed with their vNodes: effective = own */
    host_make(&h, 4, 8);
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    for (unsigned c = 0; c < 8; c++) {
        assert_int_equal(t.cpu_eff[c], c / 2);
        assert_int_equal(t.cpu_static[c], c / 2);
        assert_int_equal(t.cpu_pnode_id[c], (int)(c / 2) * 2 + 1);
    }
    assert_int_equal(t.vnode_pnode_id[3], 7);
    /* guest distances are the physical ones behind the vNodes */
    assert_int_equal(t.dist[0 * 4 + 3], 15);
    assert_int_equal(t.dist[1 * 4 + 2], 20);

    /* vCPU 1 (vNode 0) now on the node backing vNode 3 */
    h.cpu_p[1] = 3;
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.cpu_eff[1], 3);
    assert_int_equal(t.cpu_static[1], 0);
    assert_int_equal(t.cpu_eff[0], 0);

    /* a node backing no vNode (index 4): nearest vNode memory; 4 is 20 from index 3 */
    host_make(&h, 5, 8);
    h.cpu_p[2] = 4;
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.cpu_eff[2], 3);

    /* two vNodes equally near: the vCPU's own wins, else the lowest. Node index 1 and 3
     * are both backed; make index 4 equidistant (30) to vNodes 2 and 3... own vNode is 1
     * for CPU 2: not among them, so the lowest (2) */
    h.dist[4 * 5 + 2] = h.dist[4 * 5 + 3] = 30;
    h.dist[4 * 5 + 0] = h.dist[4 * 5 + 1] = 40;
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.cpu_eff[2], 2);
    /* CPU 6 (vNode 3) there too: its own vNode 3 wins the tie */
    h.cpu_p[6] = 4;
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.cpu_eff[6], 3);

    /* equally near memory of two vNodes, neither the vCPU's own: the lower node wins, not the
     * lower vNode (vNode 3 backed on index 2, vNode 2 on index 3; before the one rule the agent
     * took vNode 2, on another node than libxpv's answer) */
    h.bk[2].pnode = 3;
    h.bk[3].pnode = 2;
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.cpu_eff[2], 3);
    h.bk[2].pnode = 2;
    h.bk[3].pnode = 3;
    view_of(&h, buf, sizeof(buf), &v);

    /* an offline CPU: nothing runs there */
    xpv_bitmap_clr(&l.online, 5);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.cpu_eff[5], XPV_RECORD_NONE);

    /* a CPU the host does not describe (hot-added, not re-described yet): the guest's node */
    host_make(&h, 4, 6);
    view_of(&h, buf, sizeof(buf), &v);
    xpv_bitmap_set(&l.online, 5);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    assert_int_equal(t.desc.nr_cpus, 8);
    assert_int_equal(t.cpu_eff[7], 3);

    /* no host record: the guest's own view */
    assert_int_equal(guestd_effective(NULL, &l, &t, NULL), 0);
    for (unsigned c = 0; c < 8; c++)
        assert_int_equal(t.cpu_eff[c], c / 2);
    assert_int_equal(t.dist[1 * 4 + 3], 30); /* the guest's SLIT */

    /* the republished record is valid, and libxpv's rule on it gives the effective vNode */
    host_make(&h, 4, 8);
    h.cpu_p[1] = 3;
    view_of(&h, buf, sizeof(buf), &v);
    assert_int_equal(guestd_effective(&v, &l, &t, NULL), 0);
    agrees_with_libxpv(&v, &l, &t);
    char path[300];
    snprintf(path, sizeof(path), "%s/rec", root);
    struct xpv_publisher *p;
    assert_int_equal(xpv_publisher_open(path, &p, NULL), 0);
    assert_int_equal(xpv_publisher_publish(p, &t.desc, NULL, NULL), 0);
    struct xpv_channel *ch;
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_open(path, &ch, NULL), 0);
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    assert_int_equal(xpv_snapshot_effective_node(s, 1), 3);
    assert_int_equal(xpv_snapshot_effective_node(s, 0), 0);
    assert_int_equal(xpv_snapshot_effective_node(s, 7), 3);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

static void test_uevent(void **state)
{
    (void)state;
    unsigned id = 99;
    static const char cpu[] = "add@/devices/system/cpu/cpu4\0ACTION=add\0DEVPATH=/devices/"
                              "system/cpu/cpu4\0SUBSYSTEM=cpu\0SEQNUM=1234";
    assert_int_equal(guestd_uevent_parse(cpu, sizeof(cpu), &id), GUESTD_UEVENT_CPU_ADD);
    assert_int_equal(id, 4);
    static const char mem[] = "add@/devices/system/memory/memory40\0ACTION=add";
    assert_int_equal(guestd_uevent_parse(mem, sizeof(mem), &id), GUESTD_UEVENT_MEM_ADD);
    assert_int_equal(id, 40);
    static const char *const no[] = {
            "change@/devices/system/cpu/cpu4",      "bind@/devices/system/memory/memory3",
            "add@/devices/system/cpu/cpu",          "add@/devices/system/cpu/cpu4x",
            "add@/devices/system/cpu/cpufreq",      "add@/devices/system/cpu/cpu99999999",
            "add@/devices/pci0000:00/0000:00:04.0", "libudev\0\xfe\xed"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_int_equal(guestd_uevent_parse(no[i], strlen(no[i]), &id), GUESTD_UEVENT_NONE);
    static const char lying[] = "add@/devices/system/cpu/cpu4\0ACTION=remove";
    assert_int_equal(guestd_uevent_parse(lying, sizeof(lying), &id), GUESTD_UEVENT_NONE);
    /* online, offline, remove of a CPU or memory block: the topology changed (republish) */
    static const char rm[] = "remove@/devices/system/cpu/cpu4\0ACTION=remove";
    assert_int_equal(guestd_uevent_parse(rm, sizeof(rm), &id), GUESTD_UEVENT_CHANGE);
    assert_int_equal(id, 4);
    static const char off[] = "offline@/devices/system/memory/memory33\0ACTION=offline";
    assert_int_equal(guestd_uevent_parse(off, sizeof(off), &id), GUESTD_UEVENT_CHANGE);
    assert_int_equal(id, 33);
    static const char lying2[] = "remove@/devices/system/cpu/cpu4\0ACTION=add";
    assert_int_equal(guestd_uevent_parse(lying2, sizeof(lying2), &id), GUESTD_UEVENT_NONE);
    assert_int_equal(guestd_uevent_parse("", 0, &id), GUESTD_UEVENT_NONE);

    /* onlining writes the right file; online already is fine */
    sh("mkdir -p %s/sys/devices/system/memory/memory40", root);
    put("sys/devices/system/memory/memory40/state", "offline\n");
    put("sys/devices/system/cpu/cpu4/online", "0\n");
    assert_int_equal(guestd_online(root, GUESTD_UEVENT_MEM_ADD, 40, NULL), 0);
    assert_int_equal(guestd_online(root, GUESTD_UEVENT_CPU_ADD, 4, NULL), 0);
    char p[512], b[64] = "";
    snprintf(p, sizeof(p), "%s/sys/devices/system/memory/memory40/state", root);
    FILE *f = fopen(p, "r");
    assert_non_null(fgets(b, sizeof(b), f));
    fclose(f);
    assert_string_equal(b, "online_movable"); /* the file is not truncated: no newline left */
    struct xpv_error err = {0};
    assert_int_equal(guestd_online(root, GUESTD_UEVENT_CPU_ADD, 77, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "cpu77"));
}

static void test_find_devices(void **state)
{
    (void)state;
    char p[512], e[512];
    struct xpv_error err = {0};
    assert_int_equal(guestd_find_ivshmem(root, p, sizeof(p), &err), 0);
    assert_non_null(strstr(p, "0000:00:04.0/resource2"));
    snprintf(e, sizeof(e), "%s/sys/bus/pci/devices/0000:00:04.0/enable", root);
    FILE *f = fopen(e, "r");
    char b[8] = "";
    assert_non_null(fgets(b, sizeof(b), f));
    fclose(f);
    assert_int_equal(b[0], '1');
    assert_int_equal(guestd_find_port(root, GUESTD_PORT_NAME, p, sizeof(p), &err), 0);
    snprintf(e, sizeof(e), "%s/dev/vport1p1", root);
    assert_string_equal(p, e);
    assert_int_equal(guestd_find_port(root, "org.other", p, sizeof(p), &err), -ENOENT);
    assert_non_null(strstr(err.msg, "org.other"));
    sh("rm -rf %s/sys/bus/pci/devices/0000:00:04.0", root);
    assert_int_equal(guestd_find_ivshmem(root, p, sizeof(p), &err), -ENOENT);
    assert_non_null(strstr(err.msg, "1af4:1110"));
}

/* ---- the agent's loop ---- */

struct rig {
    struct xpv_topo *topo;
    struct xpv_ops *ops;
    struct xpv_publisher *hostpub; /* the host daemon's side of the region */
    int sv[2];                     /* [0] the agent's port, [1] the host's socket */
    char region[512], local[512];
    struct guestd_opts o;
};

static void rig_up(struct rig *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(xpv_topo_discover(root, &r->topo, NULL), 0);
    r->ops = xpv_ops_record_new(r->topo, NULL);
    assert_non_null(r->ops);
    snprintf(r->region, sizeof(r->region), "%s/sys/bus/pci/devices/0000:00:04.0/resource2", root);
    snprintf(r->local, sizeof(r->local), "%s/local-record", root);
    assert_int_equal(xpv_publisher_open(r->region, &r->hostpub, NULL), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, r->sv), 0);
    char follow[300];
    snprintf(follow, sizeof(follow), "%s/follow", root);
    r->o = (struct guestd_opts){.root = root,
                                .port_fd = r->sv[0],
                                .port_fd_set = true,
                                .record = r->local,
                                .follow_dir = strdup(follow),
                                .poll_ms = 5,
                                .ops = r->ops};
}

static void rig_down(struct rig *r)
{
    close(r->sv[0]);
    close(r->sv[1]);
    xpv_publisher_close(r->hostpub);
    xpv_ops_free(r->ops);
    xpv_topo_free(r->topo);
    free((void *)r->o.follow_dir);
}

static int ack_cb(void *arg, unsigned type, const void *p, size_t n)
{
    uint64_t *last = arg;
    if (type == XPV_FRAME_ACK && n == 8)
        memcpy(last, p, 8); /* little-endian on this host */
    return 0;
}

/* The last generation the agent acknowledged on the port, 0 if none since last asked. */
static uint64_t host_read_ack(struct rig *r)
{
    unsigned char b[4096];
    uint64_t last = 0;
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    ssize_t n;
    while ((n = read(r->sv[1], b, sizeof(b))) > 0)
        xpv_frame_feed(d, b, (size_t)n, ack_cb, &last);
    xpv_frame_decoder_free(d);
    return last;
}

static void host_kick(struct rig *r, const struct host *h, uint64_t gen)
{
    unsigned char rec[4096], fr[4096 + 16];
    long n = xpv_record_encode(&h->d, gen, 0, rec, sizeof(rec), NULL);
    assert_true(n > 0);
    long f = xpv_frame_encode(XPV_FRAME_RECORD, rec, (size_t)n, fr, sizeof(fr));
    assert_int_equal(write(r->sv[1], fr, (size_t)f), f);
}

/* The effective node of cpu in the agent's local record, as a libxpv reader sees it. */
static int local_eff(struct rig *r, unsigned cpu, uint64_t *gen)
{
    struct xpv_channel *ch;
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_open(r->local, &ch, NULL), 0);
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    int e = xpv_snapshot_effective_node(s, cpu);
    if (gen)
        *gen = xpv_snapshot_generation(s);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    return e;
}

static void test_agent_loop(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    struct host h;
    host_make(&h, 4, 8);
    uint64_t g;
    assert_int_equal(xpv_publisher_publish(r.hostpub, &h.d, &g, NULL), 0);

    /* start: re-sync from the region (no kick was seen) and acknowledge */
    struct guestd *gd;
    struct xpv_error err = {0};
    assert_int_equal(guestd_open(&r.o, &gd, &err), 0);
    struct guestd_stats st;
    guestd_stats(gd, &st);
    assert_int_equal(st.host_gen, g);
    assert_int_equal(st.polled, 1);
    assert_int_equal(host_read_ack(&r), g);
    assert_int_equal(local_eff(&r, 1, NULL), 0);

    /* a kick: vCPU 1 on vNode 3's node, published as hostd does (region, then the frame);
     * taken from the frame, read before the region is polled */
    h.cpu_p[1] = 3;
    assert_int_equal(xpv_publisher_publish(r.hostpub, &h.d, &g, NULL), 0);
    host_kick(&r, &h, g);
    g--;
    assert_int_equal(guestd_step(gd, 50), 0);
    guestd_stats(gd, &st);
    assert_int_equal(st.kicks, 1);
    assert_int_equal(st.host_gen, g + 1);
    uint64_t lg1, lg2;
    assert_int_equal(local_eff(&r, 1, &lg1), 3);
    assert_int_equal(host_read_ack(&r), g + 1);

    /* a missed kick: the region moves on, the agent finds it by polling */
    h.cpu_p[1] = 2;
    assert_int_equal(xpv_publisher_publish(r.hostpub, &h.d, &g, NULL), 0);
    assert_int_equal(guestd_step(gd, 20), 0);
    guestd_stats(gd, &st);
    assert_int_equal(st.polled, 2);
    assert_int_equal(local_eff(&r, 1, &lg2), 2);
    assert_true(lg2 > lg1);
    assert_int_equal(host_read_ack(&r), g);

    /* an old kick arriving late changes nothing */
    h.cpu_p[1] = 0;
    host_kick(&r, &h, g - 1);
    assert_int_equal(guestd_step(gd, 20), 0);
    assert_int_equal(local_eff(&r, 1, NULL), 2);

    /* garbage on the port: truncated frame, bad CRC, a RECORD frame holding garbage */
    unsigned char junk[300];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 37 + 11);
    assert_int_equal(write(r.sv[1], junk, sizeof(junk)), (ssize_t)sizeof(junk));
    unsigned char fr[64];
    long fl = xpv_frame_encode(XPV_FRAME_RECORD, junk, 40, fr, sizeof(fr));
    assert_int_equal(write(r.sv[1], fr, (size_t)fl), fl);
    fr[20] ^= 0xff; /* same frame, CRC now wrong */
    assert_int_equal(write(r.sv[1], fr, (size_t)fl), fl);
    assert_int_equal(write(r.sv[1], fr, 10), 10); /* half a header */
    assert_int_equal(guestd_step(gd, 20), 0);
    guestd_stats(gd, &st);
    assert_int_equal(st.bad_records, 1);
    assert_true(st.bad_frames >= 1);
    assert_int_equal(local_eff(&r, 1, NULL), 2); /* the last good record stays */
    /* and a good kick after the garbage still gets through (the decoder resynchronised) */
    h.cpu_p[1] = 1;
    host_kick(&r, &h, g + 5);
    assert_int_equal(guestd_step(gd, 20), 0);
    assert_int_equal(local_eff(&r, 1, NULL), 1);

    /* garbage in the region (a hostile writer keeps the magic and bumps the generation) */
    int fd = open(r.region, O_RDWR);
    assert_true(fd >= 0);
    uint64_t bogus = g + 100;
    assert_int_equal(pwrite(fd, &bogus, 8, XPV_RECORD_OFF_GENERATION), 8);
    assert_int_equal(pwrite(fd, junk, 64, 200), 64);
    close(fd);
    assert_int_equal(guestd_step(gd, 20), 0);
    assert_int_equal(guestd_step(gd, 20), 0);
    guestd_stats(gd, &st);
    assert_int_equal(st.bad_records, 2); /* logged and counted once */
    assert_int_equal(local_eff(&r, 1, NULL), 1);

    /* the agent restarts: it re-syncs from the region, which the host rewrote meanwhile */
    guestd_close(gd);
    h.cpu_p[1] = 3;
    assert_int_equal(xpv_publisher_publish(r.hostpub, &h.d, &g, NULL), 0);
    assert_int_equal(guestd_open(&r.o, &gd, &err), 0);
    uint64_t lg3;
    assert_int_equal(local_eff(&r, 1, &lg3), 3);
    assert_true(lg3 > lg2); /* the local generation only grows across restarts */
    guestd_close(gd);
    rig_down(&r);
}

static void test_follow(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    struct host h;
    host_make(&h, 4, 8);
    assert_int_equal(xpv_publisher_publish(r.hostpub, &h.d, NULL, NULL), 0);
    /* process 4242 (threads 4242, 4243) opted in; 4300 did not */
    sh("mkdir -p %s/proc/4242/task/4242 %s/proc/4242/task/4243 %s/proc/4300/task/4300", root, root,
       root);
    put("follow/4242", "");
    put("follow/999999", ""); /* a process that is gone: its file is removed */
    struct xpv_bitmap n1 = {0}, n0 = {0}, got;
    xpv_bitmap_set(&n1, 2);
    xpv_bitmap_set(&n1, 3); /* node 1's CPUs */
    xpv_bitmap_set(&n0, 0);
    xpv_bitmap_set(&n0, 1);
    r.ops->set_affinity(r.ops->ctx, 4242, &n1); /* bound to vNode 1 */
    r.ops->set_affinity(r.ops->ctx, 4300, &n1);
    /* thread 4243 keeps all CPUs: not bound to a vNode, left alone */
    struct guestd *gd;
    assert_int_equal(guestd_open(&r.o, &gd, NULL), 0);
    /* vCPU 0 now runs on vNode 1's node, vCPUs 2 and 3 elsewhere (index 0's node) */
    h.cpu_p[0] = 1;
    h.cpu_p[2] = h.cpu_p[3] = 0;
    host_kick(&r, &h, 50);
    assert_int_equal(guestd_step(gd, 50), 0);
    struct guestd_stats st;
    guestd_stats(gd, &st);
    assert_int_equal(st.rebinds, 1);
    xpv_ops_record_affinity(r.ops, 4242, &got);
    struct xpv_bitmap want = {0};
    xpv_bitmap_set(&want, 0);
    assert_true(xpv_bitmap_equal(&got, &want)); /* vNode 1 is effectively CPU 0 now */
    xpv_ops_record_affinity(r.ops, 4300, &got);
    assert_true(xpv_bitmap_equal(&got, &n1)); /* not opted in */
    xpv_ops_record_affinity(r.ops, 4243, &got);
    assert_int_equal(xpv_bitmap_weight(&got), 8);
    char gone[512];
    snprintf(gone, sizeof(gone), "%s/follow/999999", root);
    assert_int_equal(access(gone, F_OK), -1);
    /* back: the thread follows vNode 1 again, to its own CPUs */
    host_make(&h, 4, 8);
    host_kick(&r, &h, 51);
    assert_int_equal(guestd_step(gd, 50), 0);
    xpv_ops_record_affinity(r.ops, 4242, &got);
    assert_true(xpv_bitmap_equal(&got, &n1));
    (void)n0;
    guestd_close(gd);
    rig_down(&r);
}

/* As uid:gid through setpriv (root only): the attack is made by an unprivileged user. */
__attribute__((format(printf, 2, 3))) static void as_uid(unsigned uid, const char *fmt, ...)
{
    char cmd[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    sh("setpriv --reuid=%u --regid=%u --clear-groups sh -c '%s'", uid, uid, cmd);
}

/* Issue 18, finding 10. The follow directory is sticky and world-writable; uid 65534 plants
 * entries naming processes of uid 1000 (a fake /proc/5000 and /proc/5001 owned by 1000):
 * a symlink to a root-owned file (stat() followed it and saw root's "choice"), a symlink to
 * the victim's /proc directory, and a plain file of its own (the old rule already refused
 * that one). None may make the root agent re-bind them; a file uid 1000 made for its own
 * process 5002 still does (the positive control). Then root's xpv_follow_register against a
 * planted symlink: the link's target is neither created nor written. Seen to fail before the
 * fix (with fs.protected_symlinks=0, as here; with 1 the kernel refuses to follow links in a
 * sticky directory whatever xpv does). */
static void test_follow_attack(void **state)
{
    (void)state;
    if (geteuid() != 0)
        xpv_skip("the attack is made as uid 65534 through setpriv, which needs root");
    if (system("command -v setpriv >/dev/null") != 0)
        xpv_skip("no setpriv (util-linux)");
    struct rig r;
    rig_up(&r);
    sh("chmod 755 %s && chmod 1777 %s/follow", root, root); /* like /tmp, under a 0700 mkdtemp */
    struct host h;
    host_make(&h, 4, 8);
    assert_int_equal(xpv_publisher_publish(r.hostpub, &h.d, NULL, NULL), 0);
    sh("mkdir -p %s/proc/5000/task/5000 %s/proc/5001/task/5001 %s/proc/5003/task/5003 "
       "%s/proc/5002/task/5002 && chown -R 1000:1000 %s/proc/5000 %s/proc/5001 %s/proc/5002 "
       "%s/proc/5003",
       root, root, root, root, root, root, root, root);
    struct xpv_bitmap n1 = {0}, got;
    xpv_bitmap_set(&n1, 2);
    xpv_bitmap_set(&n1, 3); /* node 1's CPUs */
    for (pid_t p = 5000; p <= 5003; p++)
        r.ops->set_affinity(r.ops->ctx, p, &n1);
    as_uid(65534, "ln -s /etc/passwd %s/follow/5000", root);        /* root's file */
    as_uid(65534, "ln -s %s/proc/5001 %s/follow/5001", root, root); /* the victim's dir */
    as_uid(65534, ": > %s/follow/5003", root);                      /* its own file */
    as_uid(1000, ": > %s/follow/5002", root);                       /* the victim's own opt-in */
    struct guestd *gd;
    assert_int_equal(guestd_open(&r.o, &gd, NULL), 0);
    h.cpu_p[0] = 1;
    h.cpu_p[2] = h.cpu_p[3] = 0;
    host_kick(&r, &h, 50);
    assert_int_equal(guestd_step(gd, 50), 0);
    struct xpv_bitmap want = {0};
    xpv_bitmap_set(&want, 0);
    xpv_ops_record_affinity(r.ops, 5002, &got);
    assert_true(xpv_bitmap_equal(&got, &want)); /* the control: followed */
    for (pid_t p = 5000; p <= 5003; p += p == 5001 ? 2 : 1) {
        xpv_ops_record_affinity(r.ops, p, &got);
        if (!xpv_bitmap_equal(&got, &n1))
            fail_msg("process %d (uid 1000) was re-bound through uid 65534's entry", (int)p);
    }
    struct guestd_stats st;
    guestd_stats(gd, &st);
    assert_int_equal(st.rebinds, 1);
    /* a follow directory anyone may rename entries in (world-writable, not sticky) is
     * refused as a whole: the control is not re-bound any more either */
    sh("chmod 777 %s/follow", root);
    r.ops->set_affinity(r.ops->ctx, 5002, &n1);
    h.cpu_p[0] = 0;
    h.cpu_p[2] = h.cpu_p[3] = 1;
    host_kick(&r, &h, 51);
    h.cpu_p[0] = 1;
    h.cpu_p[2] = h.cpu_p[3] = 0;
    host_kick(&r, &h, 52);
    assert_int_equal(guestd_step(gd, 50), 0);
    xpv_ops_record_affinity(r.ops, 5002, &got);
    assert_true(xpv_bitmap_equal(&got, &n1));
    guestd_stats(gd, &st);
    assert_int_equal(st.rebinds, 1);
    guestd_close(gd);
    struct xpv_error err = {0};
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/follow", root);
    assert_int_equal(xpv_follow_register(dir, 4443, &err), -EPERM); /* refused there too */
    sh("chmod 1777 %s/follow", root);

    /* xpv_follow_register as root against a planted symlink: nothing at its target */
    char target[512], entry[512];
    snprintf(target, sizeof(target), "%s/pwned", root);
    as_uid(65534, "ln -s %s %s/follow/4444", target, root);
    assert_int_equal(xpv_follow_register(dir, 4444, &err), 0);
    if (access(target, F_OK) == 0)
        fail_msg("root's xpv_follow_register created %s through uid 65534's symlink", target);
    struct stat st4;
    snprintf(entry, sizeof(entry), "%.480s/4444", dir);
    assert_int_equal(lstat(entry, &st4), 0);
    assert_true(S_ISREG(st4.st_mode)); /* the link was replaced by root's own entry */
    assert_int_equal(st4.st_uid, 0);
    /* ... and an existing target is not written either (mode, size, owner unchanged) */
    sh(": > %s && chown 65534 %s && chmod 600 %s", target, target, target);
    as_uid(65534, "ln -s %s %s/follow/4445", target, root);
    assert_int_equal(xpv_follow_register(dir, 4445, &err), 0);
    struct stat tst;
    assert_int_equal(stat(target, &tst), 0);
    assert_int_equal(tst.st_uid, 65534);
    assert_int_equal(tst.st_mode & 07777, 0600);
    /* a follow directory the attacker owns is refused outright */
    sh("mkdir %s/evil && chown 65534 %s/evil", root, root);
    snprintf(dir, sizeof(dir), "%s/evil", root);
    assert_int_equal(xpv_follow_register(dir, 4446, &err), -EPERM);
    rig_down(&r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test-guestd FIXTURE_4NODE\n");
        return 2;
    }
    fixture = argv[1];
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_local_read, setup, teardown),
            cmocka_unit_test_setup_teardown(test_effective, setup, teardown),
            cmocka_unit_test_setup_teardown(test_uevent, setup, teardown),
            cmocka_unit_test_setup_teardown(test_find_devices, setup, teardown),
            cmocka_unit_test_setup_teardown(test_agent_loop, setup, teardown),
            cmocka_unit_test_setup_teardown(test_follow, setup, teardown),
            cmocka_unit_test_setup_teardown(test_follow_attack, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
