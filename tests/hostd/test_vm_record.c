/*
 * test_vm_record.c — one VM record builder (xpv_record_desc_from_vm, xpv/record_build.h) for
 * the host daemon and the simulator. The same VM state given to the daemon's side
 * (hostd_vm_record: its node set, the QEMU description, the operator's vCPU placements) and to
 * the simulator's (xpv_sim_vm_record: where each vNode's memory is, where each vCPU runs)
 * gives byte-identical records (same generation and timestamp); and the record says what the
 * state is (node ids, each vCPU's node and vNode, one backing entry per vNode, the host's
 * distances), read back through libxpv. The host is the simulator's opteron-8n machine as a
 * topology (xpv_sim_machine_topo): SLIT 10/16/22.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hostd.h"
#include "xpv/channel.h"
#include "xpv/placement.h"
#include "xpv/publisher.h"
#include "xpv/record.h"
#include "xpv/record_build.h"
#include "xpv/sim.h"
#include "xpv/topo.h"
#include "xpv/vmdesc.h"

#define GIB (UINT64_C(1) << 30)

static struct xpv_topo *opteron(void)
{
    static struct xpv_sim_machine m;
    assert_int_equal(xpv_sim_machine_preset("opteron-8n", &m, NULL), 0);
    struct xpv_topo *t = NULL;
    assert_int_equal(xpv_sim_machine_topo(&m, &t, NULL), 0);
    assert_int_equal(t->nr_nodes, 8);
    assert_int_equal(xpv_topo_dist(t, 0, 1), 16);
    assert_int_equal(xpv_topo_dist(t, 0, 3), 22);
    return t;
}

/* A QEMU VM of nv vNodes and nc vCPUs (vCPU c in vNode c * nv / nc, as the simulator spreads
 * them), `mem` bytes per vNode. */
static struct xpv_vm_desc *qemu_vm(unsigned nv, unsigned nc, uint64_t mem)
{
    struct xpv_vm_desc *vd = calloc(1, sizeof(*vd));
    assert_non_null(vd);
    vd->nr_vnodes = nv;
    vd->nr_vcpus = nc;
    for (unsigned c = 0; c < nc; c++)
        vd->vcpu[c] = (struct xpv_vm_vcpu){
                .index = c, .tid = 1000 + (pid_t)c, .vnode = (int)(c * nv / nc)};
    for (unsigned v = 0; v < nv; v++)
        vd->vnode_mem[v] = mem;
    return vd;
}

static size_t encode(const struct xpv_record_desc *d, uint8_t *buf, size_t cap)
{
    struct xpv_error err = {0};
    long n = xpv_record_encode(d, 7, 1234, buf, cap, &err);
    if (n < 0)
        fail_msg("encode: %s", err.msg);
    return (size_t)n;
}

/* Both sides for the VM bound to `bound`, with vCPU `pinned` (or none: -1) on node position
 * pin_pos; returns the record's length, both records checked equal, the daemon's in out. */
static size_t both(const struct xpv_topo *t, const struct xpv_vm_desc *vd, uint64_t bound,
                   int pinned, int pin_pos, uint8_t *out, size_t cap)
{
    unsigned short pin[XPV_VM_MAX_VCPUS] = {0};
    if (pinned >= 0)
        pin[pinned] = (unsigned short)(pin_pos + 1);
    struct xpv_record_desc dd, sd;
    struct xpv_error err = {0};
    if (hostd_vm_record(t, bound, vd, pin, &dd, &err) < 0)
        fail_msg("daemon: %s", err.msg);
    /* the simulator's state of the same VM: each vNode's memory on the node the daemon's
     * rule places it (as the `hostd` policy moves it), each vCPU with its vNode unless placed
     * on its own */
    unsigned back[XPV_SIM_MAX_VNODES], vnode[64];
    int node[64];
    for (unsigned v = 0; v < vd->nr_vnodes; v++)
        back[v] = (unsigned)xpv_place_vnode(bound, (int)v);
    for (unsigned c = 0; c < vd->nr_vcpus; c++) {
        vnode[c] = (unsigned)vd->vcpu[c].vnode;
        node[c] = (int)c == pinned ? pin_pos : (int)back[vnode[c]];
    }
    struct xpv_sim_vm_state st = {.nr_vnodes = vd->nr_vnodes,
                                  .back = back,
                                  .vnode_bytes = vd->vnode_mem[0],
                                  .nr_vcpus = vd->nr_vcpus,
                                  .vcpu_node = node,
                                  .vcpu_vnode = vnode};
    if (xpv_sim_vm_record(t, &st, &sd, &err) < 0)
        fail_msg("simulator: %s", err.msg);
    uint8_t sim[4096];
    size_t n = encode(&dd, out, cap), m = encode(&sd, sim, sizeof(sim));
    assert_int_equal(n, m);
    assert_memory_equal(out, sim, n);
    xpv_record_desc_free(&dd);
    xpv_record_desc_free(&sd);
    return n;
}

static void view(const uint8_t *buf, size_t n, struct xpv_record_view *v)
{
    assert_int_equal(xpv_record_decode(buf, n, v, NULL), 0);
}

/* 2 vNodes, 4 vCPUs on nodes 2 and 5: vNode 0 on 2, vNode 1 on 5. */
static void test_two_vnodes(void **state)
{
    (void)state;
    struct xpv_topo *t = opteron();
    struct xpv_vm_desc *vd = qemu_vm(2, 4, GIB);
    uint8_t buf[4096];
    struct xpv_record_view v;
    size_t n = both(t, vd, UINT64_C(1) << 2 | UINT64_C(1) << 5, -1, 0, buf, sizeof(buf));
    view(buf, n, &v);
    assert_int_equal(v.nr_pnodes, 2);
    assert_int_equal(xpv_record_pnode_id(&v, 0), 2);
    assert_int_equal(xpv_record_pnode_id(&v, 1), 5);
    assert_int_equal(xpv_record_distance(&v, 0, 1), 16);
    assert_int_equal(v.nr_vnodes, 2);
    assert_int_equal(v.nr_cpus, 4);
    for (unsigned c = 0; c < 4; c++) {
        assert_int_equal(xpv_record_cpu_vnode(&v, c), c / 2);
        assert_int_equal(xpv_record_cpu_pnode(&v, c), c / 2);
    }
    assert_int_equal(v.nr_backing, 2);
    struct xpv_record_backing b = xpv_record_backing_at(&v, 1);
    assert_int_equal(b.vnode, 1);
    assert_int_equal(b.pnode, 1);
    assert_int_equal(b.bytes, GIB);
    assert_int_equal(v.generation, 7);
    free(vd);
    xpv_topo_free(t);
}

/* 3 vNodes on 2 nodes: vNode 2 wraps onto the first node (v mod k); a vCPU placed on its own
 * on node 6 brings that node into the record, and libxpv gives it the nearest memory. */
static void test_wrap_and_pinned_vcpu(void **state)
{
    (void)state;
    struct xpv_topo *t = opteron();
    struct xpv_vm_desc *vd = qemu_vm(3, 6, 2 * GIB);
    uint8_t buf[4096];
    struct xpv_record_view v;
    uint64_t bound = UINT64_C(1) << 1 | UINT64_C(1) << 4;
    size_t n = both(t, vd, bound, 5, 6, buf, sizeof(buf));
    view(buf, n, &v);
    assert_int_equal(v.nr_pnodes, 3); /* 1, 4 and the vCPU's 6 */
    assert_int_equal(xpv_record_pnode_id(&v, 2), 6);
    assert_int_equal(xpv_record_cpu_pnode(&v, 0), 0); /* vNode 0 on node 1 */
    assert_int_equal(xpv_record_cpu_pnode(&v, 2), 1); /* vNode 1 on node 4 */
    assert_int_equal(xpv_record_cpu_pnode(&v, 4), 0); /* vNode 2 wraps onto node 1 */
    assert_int_equal(xpv_record_cpu_pnode(&v, 5), 2); /* placed on node 6 */
    assert_int_equal(xpv_record_cpu_vnode(&v, 5), 2);
    assert_int_equal(v.nr_backing, 3);
    assert_int_equal(xpv_record_backing_at(&v, 2).pnode, 0);
    /* what the guest reads: node 6 has none of the VM's memory; it is 16 from node 4 (one HT
     * hop) and 22 from node 1, which holds its own vNode's: the nearer wins */
    static uint64_t region[65536 / 8];
    struct xpv_publisher *p = NULL;
    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_publisher_open_mem(region, sizeof(region), &p, NULL), 0);
    assert_int_equal(xpv_channel_open_mem(region, sizeof(region), &ch, NULL), 0);
    struct xpv_record_desc d;
    unsigned short pin[XPV_VM_MAX_VCPUS] = {0};
    pin[5] = 7;
    assert_int_equal(hostd_vm_record(t, bound, vd, pin, &d, NULL), 0);
    assert_int_equal(xpv_publisher_publish(p, &d, NULL, NULL), 0);
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    assert_int_equal(xpv_snapshot_effective_node(s, 5), 4);
    assert_int_equal(xpv_snapshot_effective_node(s, 0), 1);
    xpv_snapshot_put(s);
    xpv_record_desc_free(&d);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
    free(vd);
    xpv_topo_free(t);
}

/* The builder refuses what it cannot describe. */
static void test_builder_errors(void **state)
{
    (void)state;
    struct xpv_topo *t = opteron();
    int vnode[1] = {0}, node[1] = {9};
    struct xpv_vm_record_in in = {
            .host = t, .nr_vnodes = 1, .nr_vcpus = 1, .vcpu_vnode = vnode, .vcpu_node = node};
    struct xpv_record_desc d;
    struct xpv_error err = {0};
    assert_int_equal(xpv_record_desc_from_vm(&in, &d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "vCPU 0"));
    node[0] = 0;
    in.nodes = UINT64_C(1) << 8;
    assert_int_equal(xpv_record_desc_from_vm(&in, &d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "beyond"));
    in.nodes = 0;
    assert_int_equal(xpv_record_desc_from_vm(&in, &d, &err), 0);
    assert_int_equal(d.nr_pnodes, 1); /* only where the vCPU runs; no memory known */
    assert_int_equal(d.nr_backing, 0);
    xpv_record_desc_free(&d);
    xpv_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_two_vnodes),
            cmocka_unit_test(test_wrap_and_pinned_vcpu),
            cmocka_unit_test(test_builder_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
