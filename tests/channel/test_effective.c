/*
 * test_effective.c — the XPV effective-node rule (xpv/effective.h, src/channel/effective.c),
 * case by case: a table of small records (local memory, several vNodes on one node, a
 * distance matrix that lies about the local node, memory-less and CPU-less nodes, ties broken
 * by the own vNode, then the lowest node, then the lowest vNode, zero-byte entries, a vNode
 * split over nodes, a CPU or vNode of XPV_RECORD_NONE, no memory at all). Each case is checked
 * through the rule on the decoded record and through libxpv's xpv_snapshot_effective_node on
 * a published copy (node ids are sparse, so an index/id mix-up shows). Changing any step of
 * the rule's order fails at least one row.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/channel/effective_all.h"
#include "xpv/channel.h"
#include "xpv/effective.h"
#include "xpv/publisher.h"
#include "xpv/record.h"

#define N    XPV_RECORD_NONE
#define MAXP 4
#define MAXM 4

struct mem {
    uint16_t vnode, pnode;
    uint64_t bytes;
};

/* A record with one CPU, the CPU under test. */
struct rec {
    unsigned nr_pnodes;
    uint16_t dist[MAXP * MAXP]; /* row-major */
    unsigned nr_mem;
    struct mem mem[MAXM];
    uint16_t cpu_pnode, cpu_vnode;
};

struct want {
    int rc; /* 1: a memory entry decided, 0: no memory anywhere, -ENOENT */
    uint16_t pnode, vnode;
};

struct row {
    const char *what;
    struct rec r;
    struct want w;
};

/* distances among 3 nodes, row-major: 0-1 20, 0-2 30, 1-2 20 (node 1 in the middle) */
#define LINE3 10, 20, 30, 20, 10, 20, 30, 20, 10
/* node 2 equally far (16) from nodes 0 and 1 */
#define TIE3 10, 20, 16, 20, 10, 16, 16, 16, 10
#define TWO  10, 20, 20, 10
#define G    (UINT64_C(1) << 30)

/* {what, {nodes, distances, entries, {{vNode, node index, bytes}...}, the CPU's node index,
 *  its vNode}, {rc, effective node index, effective vNode}} */
static const struct row rows[] = {
        {"memory on the CPU's node", {3, {LINE3}, 2, {{0, 0, G}, {1, 2, G}}, 0, 0}, {1, 0, 0}},
        {"several vNodes on the CPU's node: its own",
         {3, {LINE3}, 2, {{0, 1, G}, {1, 1, G}}, 1, 1},
         {1, 1, 1}},
        {"several vNodes on the CPU's node, its own not: the lowest vNode",
         {3, {LINE3}, 2, {{2, 1, G}, {1, 1, G}}, 1, 0},
         {1, 1, 1}},
        {"local first, whatever the matrix says",
         {2, {20, 10, 10, 20}, 2, {{0, 0, G}, {1, 1, G}}, 0, 1},
         {1, 0, 0}},
        {"memory-less node: the nearest with memory",
         {3, {LINE3}, 2, {{0, 0, G}, {1, 1, G}}, 2, 0},
         {1, 1, 1}},
        {"the distance row of the CPU's node (not the column)",
         {3, {10, 20, 30, 20, 10, 20, 12, 40, 10}, 2, {{0, 0, G}, {1, 1, G}}, 2, N},
         {1, 0, 0}},
        {"equally near: the CPU's own vNode before the lower node",
         {3, {TIE3}, 2, {{0, 0, G}, {1, 1, G}}, 2, 1},
         {1, 1, 1}},
        {"equally near, own vNode has none: the lower node",
         {3, {TIE3}, 2, {{1, 1, G}, {0, 0, G}}, 2, 2},
         {1, 0, 0}},
        {"equally near: the lower node, not the lower vNode",
         {3, {TIE3}, 2, {{0, 1, G}, {1, 0, G}}, 2, 2},
         {1, 0, 1}},
        {"equally near, no vNode of its own: the lower node",
         {3, {TIE3}, 2, {{1, 1, G}, {0, 0, G}}, 2, N},
         {1, 0, 0}},
        {"equally near on one node, none its own: the lower vNode",
         {3, {TIE3}, 2, {{3, 1, G}, {2, 1, G}}, 2, 0},
         {1, 1, 2}},
        {"own vNode farther: nearer wins",
         {3, {LINE3}, 2, {{0, 1, G}, {1, 0, G}}, 2, 1},
         {1, 1, 0}},
        {"CPU-less memory node nearest",
         {3, {10, 20, 12, 20, 10, 20, 12, 20, 10}, 2, {{0, 1, G}, {1, 2, G}}, 0, 0},
         {1, 2, 1}},
        {"an entry of 0 bytes is no memory",
         {2, {TWO}, 2, {{0, 0, 0}, {1, 1, G}}, 0, 0},
         {1, 1, 1}},
        {"a vNode split over nodes has memory on each",
         {2, {TWO}, 3, {{0, 0, G}, {0, 1, 4096}, {1, 0, G}}, 1, 1},
         {1, 1, 0}},
        {"no memory anywhere: the CPU's node and vNode",
         {3, {LINE3}, 1, {{0, 0, 0}}, 1, 1},
         {0, 1, 1}},
        {"no memory anywhere, no vNode", {2, {TWO}, 0, {{0}}, 1, N}, {0, 1, N}},
        {"a CPU not placed", {2, {TWO}, 1, {{0, 0, G}}, N, 0}, {-ENOENT, 0, 0}},
};

static const uint32_t ids[MAXP] = {3, 5, 8, 13}; /* sparse: an index is never its id */

/* The row as a record with one CPU (the CPU under test), encoded into buf. */
static void record_of(const struct rec *r, struct xpv_record_desc *d, uint16_t *cpu_p,
                      uint16_t *cpu_v, struct xpv_record_backing *bk)
{
    *cpu_p = r->cpu_pnode;
    *cpu_v = r->cpu_vnode;
    unsigned nv = 4; /* vNodes 0..3 */
    for (unsigned k = 0; k < r->nr_mem; k++)
        bk[k] = (struct xpv_record_backing){r->mem[k].vnode, r->mem[k].pnode, r->mem[k].bytes};
    *d = (struct xpv_record_desc){.nr_pnodes = r->nr_pnodes,
                                  .nr_vnodes = nv,
                                  .nr_cpus = 1,
                                  .nr_backing = r->nr_mem,
                                  .pnode_ids = ids,
                                  .cpu_pnode = cpu_p,
                                  .cpu_vnode = cpu_v,
                                  .backing = bk,
                                  .distance = r->dist};
}

static void test_table(void **state)
{
    (void)state;
    static uint64_t region[65536 / 8]; /* a record memory, as over ivshmem */
    struct xpv_publisher *p = NULL;
    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_publisher_open_mem(region, sizeof(region), &p, NULL), 0);
    assert_int_equal(xpv_channel_open_mem(region, sizeof(region), &ch, NULL), 0);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        const struct want *w = &r->w;
        struct xpv_record_desc d;
        uint16_t cpu_p, cpu_v;
        struct xpv_record_backing bk[MAXM];
        record_of(&r->r, &d, &cpu_p, &cpu_v, bk);
        uint8_t buf[1024];
        struct xpv_record_view v;
        struct xpv_error err = {0};
        if (xpv_record_encode(&d, 1, 0, buf, sizeof(buf), &err) < 0 ||
            xpv_record_decode(buf, sizeof(buf), &v, &err) < 0)
            fail_msg("row %zu (%s): %s", i, r->what, err.msg);
        struct xpv_effective e = {0};
        int rc = xpv_effective_record(&v, 0, &e);
        if (rc != w->rc || (rc >= 0 && (e.pnode != w->pnode || e.vnode != w->vnode)))
            fail_msg("row %zu (%s): rc %d node %u vNode %u, expected rc %d node %u vNode %u", i,
                     r->what, rc, e.pnode, e.vnode, w->rc, w->pnode, w->vnode);
        /* libxpv's reader: the same answer, as a node id */
        assert_int_equal(xpv_publisher_publish(p, &d, NULL, NULL), 0);
        struct xpv_snapshot *s = NULL;
        assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
        int id = xpv_snapshot_effective_node(s, 0);
        int want = w->rc < 0 ? w->rc : (int)ids[w->pnode];
        if (id != want)
            fail_msg("row %zu (%s): libxpv says %d, expected %d", i, r->what, id, want);
        xpv_snapshot_put(s);
    }
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

/* A source of the caller's own (xpv-malloc's machine, the guest agent's filtered entries). */
struct own_src {
    const uint32_t *dist;
    unsigned n;
    const struct xpv_record_backing *mem;
};

static uint32_t own_distance(const void *ctx, unsigned i, unsigned j)
{
    const struct own_src *o = ctx;
    return o->dist[i * o->n + j];
}

static struct xpv_record_backing own_mem(const void *ctx, unsigned k)
{
    return ((const struct own_src *)ctx)->mem[k];
}

static void test_pick_and_bounds(void **state)
{
    (void)state;
    /* u32 distances beyond a record's u16 range; a vNode id above any record's */
    static const uint32_t dist[9] = {10, 70000, 100000, 70000, 10, 70000, 100000, 70000, 10};
    static const struct xpv_record_backing mem[] = {{900, 0, 1}, {901, 2, 1}, {902, 7, 1}};
    struct own_src o = {dist, 3, mem};
    struct xpv_effective_src src = {3, 3, &o, own_distance, own_mem};
    struct xpv_effective e;
    assert_int_equal(xpv_effective_pick(&src, 1, N, &e), 1);
    assert_int_equal(e.pnode, 0); /* equally far (70000): the lower node */
    assert_int_equal(e.vnode, 900);
    assert_int_equal(xpv_effective_pick(&src, 1, 901, &e), 1);
    assert_int_equal(e.pnode, 2); /* its own vNode */
    assert_int_equal(xpv_effective_pick(&src, 2, N, &e), 1);
    assert_int_equal(e.pnode, 2);
    /* above, the entry naming node index 7 (beyond nr_pnodes) was skipped, never looked up as
     * a distance (ASan would see dist[10]); a CPU on such a node has no effective node */
    assert_int_equal(xpv_effective_pick(&src, 3, N, &e), -ENOENT);
    assert_int_equal(xpv_effective_pick(&src, N, N, &e), -ENOENT);
    src.nr_mem = 0;
    assert_int_equal(xpv_effective_pick(&src, 2, 5, &e), 0);
    assert_int_equal(e.pnode, 2);
    assert_int_equal(e.vnode, 5);
}

static unsigned rnd(uint64_t *s, unsigned n)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)(*s >> 33) % n;
}

/* Every CPU at once (xpv__effective_cpus, what a snapshot computes) = the rule CPU by CPU, on
 * 3000 random records full of ties: few distinct distances, several vNodes per node, zero-byte
 * entries, NONE CPUs and vNodes. */
static void test_all_cpus_random(void **state)
{
    (void)state;
    static struct xpv__effective_scratch sc;
    uint64_t seed = 0x9e3779b97f4a7c15u;
#define RND(n) rnd(&seed, n)
    for (int round = 0; round < 3000; round++) {
        uint32_t rids[8];
        uint16_t cp[40], cv[40], dist[64], eff[40];
        struct xpv_record_backing bk[20];
        unsigned np = 1 + RND(8), nv = RND(7), nc = RND(41), nb = nv ? RND(21) : 0;
        for (unsigned i = 0; i < np; i++) {
            rids[i] = 2 * i + RND(2);
            for (unsigned j = 0; j < np; j++)
                dist[i * np + j] = (uint16_t)(i == j ? 10 : 10 * (1 + RND(3)));
        }
        for (unsigned c = 0; c < nc; c++) {
            cp[c] = RND(8) == 0 ? XPV_RECORD_NONE : (uint16_t)RND(np);
            cv[c] = !nv || RND(6) == 0 ? XPV_RECORD_NONE : (uint16_t)RND(nv);
        }
        for (unsigned b = 0; b < nb; b++)
            bk[b] = (struct xpv_record_backing){
                    .vnode = (uint16_t)RND(nv), .pnode = (uint16_t)RND(np), .bytes = 0};
        for (unsigned b = 0; b < nb; b++)
            bk[b].bytes = RND(4);
        struct xpv_record_desc d = {np, nv, nc, nb, rids, cp, cv, bk, dist};
        uint8_t buf[4096];
        long n = xpv_record_encode(&d, 1, 0, buf, sizeof(buf), NULL);
        assert_true(n > 0);
        struct xpv_record_view v;
        assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, NULL), 0);
        uint64_t ops = xpv__effective_cpus(&v, &sc, eff);
        assert_true(ops <= nb + np * np + nc * np + nv + np + nc);
        for (unsigned c = 0; c < nc; c++) {
            struct xpv_effective e;
            int rc = xpv_effective_record(&v, c, &e);
            if (rc < 0)
                assert_int_equal(eff[c], XPV_RECORD_NONE);
            else if (eff[c] != e.pnode)
                fail_msg("round %d CPU %u: all-CPUs %u, rule %u", round, c, eff[c], e.pnode);
        }
    }
#undef RND
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table),
            cmocka_unit_test(test_pick_and_bounds),
            cmocka_unit_test(test_all_cpus_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
