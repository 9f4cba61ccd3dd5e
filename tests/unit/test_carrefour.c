/*
 * test_carrefour.c — Carrefour's metrics, gates and per-page rules (src/policy/carrefour.c)
 * pinned on hand-built counters and sample sets, rule by rule, against the public runtime
 * and module (../shared/background/papers.md §1.3-1.6), and Carrefour-LP's 2 MB rules (§1.8:
 * INTERLEAVE_SHARED_THP, MIGRATE_MISPLACED_THP, hot-page splitting).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/carrefour.h"

static struct xpv_cf_params P;
static double dram[16];

/* 4 nodes; `local` accesses per node to itself, `remote` from every node to node 0. */
static void counters(struct xpv_cf_counters *c, double local, double remote, double round_ns)
{
    memset(dram, 0, sizeof(dram));
    for (unsigned i = 0; i < 4; i++) {
        dram[i * 4 + i] = local;
        if (i)
            dram[i * 4 + 0] += remote;
    }
    *c = (struct xpv_cf_counters){4, dram, round_ns, 99, 10, 0, false};
}

static int setup(void **state)
{
    (void)state;
    xpv_cf_params_asplos(&P);
    return 0;
}

static void test_metrics(void **state)
{
    (void)state;
    struct xpv_cf_counters c;
    struct xpv_cf_metrics m;
    counters(&c, 1000, 1000, 1e6); /* 1 ms */
    assert_int_equal(xpv_cf_metrics(&P, &c, &m), 0);
    /* 4000 local + 3000 remote = 7000 accesses in 1000 us */
    assert_true(fabs(m.maptu - 7.0) < 1e-9);
    assert_true(fabs(m.lar - 100.0 * 4000 / 7000) < 1e-9);
    /* loads received: 4000, 1000, 1000, 1000: mean 1750, sample sd 1500 */
    assert_true(fabs(m.imbalance - 100 * 1500.0 / 1750) < 1e-9);
    assert_true(fabs(m.load[0] - 100.0 * 4000 / 7000) < 1e-9);
    c.nr_nodes = 65;
    assert_int_equal(xpv_cf_metrics(&P, &c, &m), -EINVAL);
}

static void test_gates(void **state)
{
    (void)state;
    struct xpv_cf_counters c;
    struct xpv_cf_metrics m;
    /* MAPTU 7 < 50: disabled whatever the traffic */
    counters(&c, 1000, 1000, 1e6);
    xpv_cf_metrics(&P, &c, &m);
    assert_false(m.enabled || m.migration || m.interleaving || m.replication);
    /* same traffic in 100 us: MAPTU 70, LAR 57 %, imbalance 86 %: everything on */
    counters(&c, 1000, 1000, 1e5);
    xpv_cf_metrics(&P, &c, &m);
    assert_true(m.enabled && m.migration && m.interleaving && m.replication);
    /* replication needs reads >= 95 % and memory use <= 25 % */
    c.read_ratio = 94.9;
    xpv_cf_metrics(&P, &c, &m);
    assert_false(m.replication);
    c.read_ratio = 99;
    c.mem_usage = 25.1;
    xpv_cf_metrics(&P, &c, &m);
    assert_false(m.replication);
    /* all local: LAR 100 %: no migration, no interleaving (imbalance 0 too) */
    counters(&c, 2000, 0, 1e5);
    xpv_cf_metrics(&P, &c, &m);
    assert_true(m.enabled);
    assert_false(m.migration || m.interleaving);
    /* LAR 80.4 % (>= 80): no migration; imbalance 39 % (> 35): interleaving */
    counters(&c, 1200, 390, 1e5);
    xpv_cf_metrics(&P, &c, &m);
    assert_true(m.lar > 80 && m.lar < 100);
    assert_false(m.migration);
    assert_true(m.imbalance > 35 && m.interleaving);
    /* the LP / Xen profile: MAPTU_MIN 15, no replication */
    struct xpv_cf_params lp;
    xpv_cf_params_lp(&lp);
    counters(&c, 1000, 1000, 3e5); /* MAPTU 23 */
    xpv_cf_metrics(&lp, &c, &m);
    assert_true(m.enabled && !m.replication);
    xpv_cf_metrics(&P, &c, &m);
    assert_false(m.enabled);
}

/* xpv's hold profile: once on, interleaving stays on while the imbalance is above 5 % */
static void test_hold_gate(void **state)
{
    (void)state;
    struct xpv_cf_params hold, lp;
    xpv_cf_params_hold(&hold);
    xpv_cf_params_lp(&lp);
    assert_true(hold.hold_imbalance == 5 && lp.hold_imbalance == 0);
    struct xpv_cf_counters c;
    struct xpv_cf_metrics m;
    /* loads 1300, 1000, 1000, 1000: imbalance 13.95 %, LAR 93 %, MAPTU 43 */
    counters(&c, 1000, 100, 1e5);
    xpv_cf_metrics(&hold, &c, &m);
    assert_true(fabs(m.imbalance - 100 * 150.0 / 1075) < 1e-9);
    assert_true(m.enabled && !m.interleaving); /* a first round: the 35 % gate */
    c.interleaving_before = true;
    xpv_cf_metrics(&hold, &c, &m);
    assert_true(m.interleaving); /* held */
    xpv_cf_metrics(&lp, &c, &m);
    assert_false(m.interleaving); /* the papers' plain gate */
    /* loads 1150, 1000, 1000, 1000: 7.2 %, still held; 1090, 1000, 1000, 1000: 4.4 %, at or
     * below 5 %: released */
    counters(&c, 1000, 50, 1e5);
    c.interleaving_before = true;
    xpv_cf_metrics(&hold, &c, &m);
    assert_true(m.imbalance > 5 && m.imbalance < 10 && m.interleaving);
    counters(&c, 1000, 30, 1e5);
    c.interleaving_before = true;
    xpv_cf_metrics(&hold, &c, &m);
    assert_true(fabs(m.imbalance - 100 * 45.0 / 1022.5) < 1e-9);
    assert_false(m.interleaving);
    /* the same 13.95 % counted from 43 events (a sampled estimate): an even load would show
     * 100 sqrt(4 / 43) = 30.5 % from counting alone, so the hold lets go (within twice that) */
    counters(&c, 10, 1, 1e3);
    c.interleaving_before = true;
    xpv_cf_metrics(&hold, &c, &m);
    assert_true(fabs(m.imbalance - 100 * 150.0 / 1075) < 1e-9);
    assert_true(fabs(m.imbalance_noise - 100 * sqrt(4.0 / 43)) < 1e-9);
    assert_true(m.enabled && !m.interleaving);
    /* held only while the engine is enabled (MAPTU 4.3 < 15) */
    counters(&c, 1000, 100, 1e6);
    c.interleaving_before = true;
    xpv_cf_metrics(&hold, &c, &m);
    assert_false(m.enabled || m.interleaving);
    /* everything else is Carrefour-LP's */
    assert_true(hold.maptu_min == lp.maptu_min && hold.min_imbalance == lp.min_imbalance &&
                hold.max_locality_migr == lp.max_locality_migr && !hold.replication && hold.thp &&
                hold.hot_page_pct == lp.hot_page_pct && hold.page_budget == lp.page_budget);
}

static struct xpv_cf_page page(uint64_t key, unsigned node, unsigned a0, unsigned a1, unsigned a2,
                               unsigned a3, unsigned writes)
{
    struct xpv_cf_page p = {.key = key, .node = node, .writes = writes};
    p.accesses[0] = a0;
    p.accesses[1] = a1;
    p.accesses[2] = a2;
    p.accesses[3] = a3;
    return p;
}

static struct xpv_cf_metrics gates(bool mig, bool il, bool rep)
{
    struct xpv_cf_metrics m = {
            .enabled = true, .migration = mig, .interleaving = il, .replication = rep};
    for (unsigned n = 0; n < 4; n++)
        m.load[n] = 25;
    return m;
}

static void test_migrate_rule(void **state)
{
    (void)state;
    struct xpv_cf_page pg[] = {
            page(1, 0, 0, 2, 0, 0, 0), /* one node (1), 2 samples, lives on 0: migrate */
            page(2, 0, 0, 1, 0, 0, 0), /* one sample only: not enough */
            page(3, 1, 0, 5, 0, 0, 0), /* already on its node */
            page(4, 0, 1, 1, 0, 0, 0), /* two nodes: not a migration */
    };
    struct xpv_cf_metrics m = gates(true, false, false);
    struct xpv_cf_decision d[8];
    struct xpv_cf_round r;
    uint64_t rng = 1;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 4, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 1);
    assert_int_equal(d[0].key, 1);
    assert_int_equal(d[0].from, 0);
    assert_int_equal(d[0].to, 1);
    assert_int_equal(d[0].fate, XPV_CF_MIGRATE);
    assert_true(r.cheap_sampling_next); /* 1 order < 10 */

    /* with interleaving on, even a single-sample single-node page migrates */
    m = gates(false, true, false);
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 2, &rng, d, 8, &r), 0);
    assert_int_equal(r.migrate, 2);
}

static void test_replicate_priority(void **state)
{
    (void)state;
    struct xpv_cf_page pg[] = {
            page(1, 0, 3, 2, 0, 0, 0), /* shared, read-only: replicate */
            page(2, 0, 3, 2, 0, 0, 1), /* shared, written: not replicated */
    };
    struct xpv_cf_metrics m = gates(true, false, true);
    struct xpv_cf_decision d[8];
    struct xpv_cf_round r;
    uint64_t rng = 1;
    xpv_cf_decide(&P, &m, pg, 2, &rng, d, 8, &r);
    assert_int_equal(r.nr_decisions, 1);
    assert_int_equal(d[0].fate, XPV_CF_REPLICATE);
    assert_int_equal(d[0].key, 1);
}

/* A platform that cannot replicate: the page gets its fate without replication (interleave
 * while interleaving is on; nothing while only replication and migration are), marked and
 * counted; written or single-node pages are untouched by the fallback. */
static void test_replicate_fallback(void **state)
{
    (void)state;
    P.replicate_fallback = true;
    struct xpv_cf_page pg[] = {
            page(1, 0, 3, 2, 0, 0, 0), /* shared, read-only: would be replicated */
            page(2, 0, 3, 2, 0, 0, 1), /* shared, written */
            page(3, 0, 0, 4, 0, 0, 0), /* one node: migrate */
    };
    struct xpv_cf_metrics m = gates(true, false, true);
    struct xpv_cf_decision d[8];
    struct xpv_cf_round r;
    uint64_t rng = 1;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 3, &rng, d, 8, &r), 0);
    assert_int_equal(r.replicate, 0);
    assert_int_equal(r.replicate_fallback, 1);
    assert_int_equal(r.nr_decisions, 1); /* only page 3: no interleaving, no replication */
    assert_int_equal(d[0].key, 3);
    assert_int_equal(d[0].fate, XPV_CF_MIGRATE);
    assert_false(d[0].from_replicate);
    /* loads 100/0/0/0 and interleaving on: page 1 interleaves (it lives on the loaded node),
     * marked as the replication it stands for; page 2 interleaves unmarked */
    m = gates(true, true, true);
    m.load[0] = 100;
    m.load[1] = m.load[2] = m.load[3] = 0;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 2, &rng, d, 8, &r), 0);
    assert_int_equal(r.replicate_fallback, 1);
    assert_int_equal(r.interleave, 2);
    assert_int_equal(d[0].key, 1);
    assert_int_equal(d[0].fate, XPV_CF_INTERLEAVE);
    assert_true(d[0].from_replicate);
    assert_true(d[0].to >= 1 && d[0].to <= 3);
    assert_false(d[1].from_replicate);
}

/* The worked example: loads 70/10/10/10 %; a shared page on node 0 moves with probability
 * 0.7, to nodes 1-3 with weight 90 each and stays with weight 30: 0.7 x 270/300 = 63 %. */
enum { WORKED_PAGES = 20000 };

/* The worked example's round (interleaving only, loads 70/10/10/10 %) with the params P on
 * WORKED_PAGES shared pages on node 0: 63 % of them interleaved, a third to each light node,
 * nothing else decided. */
static struct xpv_cf_round worked_example(const struct xpv_cf_page *pg)
{
    static struct xpv_cf_decision d[WORKED_PAGES];
    struct xpv_cf_metrics m = gates(false, true, false);
    m.load[0] = 70;
    m.load[1] = m.load[2] = m.load[3] = 10;
    struct xpv_cf_round r;
    uint64_t rng = 42;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, WORKED_PAGES, &rng, d, WORKED_PAGES, &r), 0);
    assert_int_equal(r.split, 0);
    assert_true(fabs((double)r.interleave / WORKED_PAGES - 0.63) < 0.02);
    unsigned to[4] = {0};
    for (unsigned i = 0; i < r.nr_decisions; i++) {
        assert_int_equal(d[i].fate, XPV_CF_INTERLEAVE);
        to[d[i].to]++;
    }
    assert_int_equal(to[0], 0);
    for (unsigned n = 1; n < 4; n++)
        assert_true(fabs((double)to[n] / r.nr_decisions - 1.0 / 3) < 0.03);
    return r;
}

static void test_interleave_weights(void **state)
{
    (void)state;
    static struct xpv_cf_page pg[WORKED_PAGES];
    for (unsigned i = 0; i < WORKED_PAGES; i++)
        pg[i] = page(i, 0, 1, 1, 0, 0, 1);
    struct xpv_cf_round r = worked_example(pg);
    assert_false(r.cheap_sampling_next);
}

static void test_budget_and_disabled(void **state)
{
    (void)state;
    struct xpv_cf_page pg[5];
    for (unsigned i = 0; i < 5; i++)
        pg[i] = page(i, 0, 0, 0, 3, 0, 0);
    struct xpv_cf_metrics m = gates(true, false, false);
    struct xpv_cf_decision d[8];
    struct xpv_cf_round r;
    uint64_t rng = 1;
    P.page_budget = 3;
    xpv_cf_decide(&P, &m, pg, 5, &rng, d, 8, &r);
    assert_int_equal(r.nr_decisions, 3);
    assert_int_equal(r.skipped_budget, 2);
    xpv_cf_decide(&P, &m, pg, 5, &rng, d, 2, &r); /* the caller's array is a budget too */
    assert_int_equal(r.nr_decisions, 2);
    m.enabled = false;
    xpv_cf_decide(&P, &m, pg, 5, &rng, d, 8, &r);
    assert_int_equal(r.nr_decisions, 0);
    assert_true(r.cheap_sampling_next);
}

static struct xpv_cf_page huge(uint64_t key, unsigned node, unsigned a0, unsigned a1, unsigned a2,
                               unsigned a3)
{
    struct xpv_cf_page p = page(key, node, a0, a1, a2, a3, 0);
    p.huge = true;
    return p;
}

/* The 2 MB rules (LP profile), each against the same page decided by the 4 KB rules. */
static void test_huge_rules(void **state)
{
    (void)state;
    xpv_cf_params_lp(&P);
    assert_true(P.thp);
    assert_int_equal(P.hot_page_pct, 6);
    struct xpv_cf_decision d[8];
    struct xpv_cf_round r;
    uint64_t rng = 1;
    /* misplaced: one sample from node 1, page on 0. Migration only: the huge page migrates
     * whole (MIGRATE_MISPLACED_THP has no minimum sample count), the 4 KB one does not. */
    struct xpv_cf_page pg[] = {huge(1, 0, 0, 1, 0, 0), page(2, 0, 0, 1, 0, 0, 0)};
    struct xpv_cf_metrics m = gates(true, false, false);
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 2, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 1);
    assert_int_equal(d[0].key, 1);
    assert_int_equal(d[0].fate, XPV_CF_MIGRATE);
    assert_int_equal(d[0].to, 1);
    assert_int_equal(r.huge_pages, 1);
    assert_int_equal(r.huge_moved_whole, 1);
    /* without thp (the ASPLOS module) the mark is ignored: 4 KB rules, nothing moves */
    struct xpv_cf_params asplos;
    xpv_cf_params_asplos(&asplos);
    assert_false(asplos.thp);
    assert_int_equal(xpv_cf_decide(&asplos, &m, pg, 2, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 0);
    assert_int_equal(r.huge_pages, 0);
    /* only the replication gate on: a misplaced huge page stays */
    m = gates(false, false, true);
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 1, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 0);

    /* shared, read-only, everything on, all the load on node 0: the 4 KB page is replicated,
     * the huge page never is (the module's `!this->huge`): interleaved whole instead */
    struct xpv_cf_page sh[] = {huge(3, 0, 2, 2, 0, 0), page(4, 0, 2, 2, 0, 0, 0)};
    m = gates(true, true, true);
    m.load[0] = 100;
    m.load[1] = m.load[2] = m.load[3] = 0;
    m.samples = 1000; /* 4 of 1000 samples: not hot */
    assert_int_equal(xpv_cf_decide(&P, &m, sh, 2, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 2);
    assert_int_equal(d[0].key, 3);
    assert_int_equal(d[0].fate, XPV_CF_INTERLEAVE);
    assert_true(d[0].to >= 1 && d[0].to <= 3);
    assert_int_equal(d[1].fate, XPV_CF_REPLICATE);
    assert_int_equal(r.huge_moved_whole, 1); /* the interleaved huge page, not the replicated */
    /* shared and interleaving off (migration on): a huge page is left alone */
    m = gates(true, false, false);
    m.samples = 1000;
    assert_int_equal(xpv_cf_decide(&P, &m, sh, 1, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 0);
}

/* Shared huge pages interleave whole by the same draw as 4 KB pages: the worked example's
 * 63 % (loads 70/10/10/10), a third to each light node. */
static void test_huge_interleave_weights(void **state)
{
    (void)state;
    static struct xpv_cf_page pg[WORKED_PAGES];
    for (unsigned i = 0; i < WORKED_PAGES; i++)
        pg[i] = huge(i, 0, 1, 1, 0, 0);
    xpv_cf_params_lp(&P);
    P.hot_page_pct = 0; /* 20000 pages of 2 samples: none is hot anyway */
    struct xpv_cf_round r = worked_example(pg);
    assert_int_equal(r.huge_moved_whole, r.interleave);
}

/* Hot pages: a shared huge page with more than 6 % of the round's samples (the integer
 * percentage, as the module computes it) is split, whatever the interleaving gate. */
static void test_hot_split(void **state)
{
    (void)state;
    xpv_cf_params_lp(&P);
    struct xpv_cf_page pg[] = {
            huge(1, 0, 40, 30, 0, 0),      /* 70 of 1000: 7 % > 6: split */
            huge(2, 0, 40, 29, 0, 0),      /* 69 of 1000: 6.9 %, integer 6: not hot */
            huge(3, 1, 0, 80, 0, 0),       /* 8 %, one node, at home: nothing */
            page(4, 0, 200, 200, 0, 0, 0), /* 40 %, a 4 KB page: never split */
    };
    struct xpv_cf_metrics m = gates(true, false, false); /* interleaving off */
    m.samples = 1000;
    struct xpv_cf_decision d[8];
    struct xpv_cf_round r;
    uint64_t rng = 1;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 4, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 1);
    assert_int_equal(r.split, 1);
    assert_int_equal(d[0].key, 1);
    assert_int_equal(d[0].fate, XPV_CF_SPLIT);
    assert_int_equal(d[0].from, 0);
    /* no round total: the pages' own samples (70 + 69 + 80 + 400 = 619) are the base, so
     * pages 1, 2 (11 %) are hot; page 3 is single-node and page 4 small */
    m.samples = 0;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 4, &rng, d, 8, &r), 0);
    assert_int_equal(r.split, 2);
    /* hot-page tracking off (0): nothing is split; interleaving off: nothing moves */
    P.hot_page_pct = 0;
    m.samples = 1000;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 4, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 0);
    /* the engine disabled (no mechanism on): no split either */
    P.hot_page_pct = 6;
    m = gates(false, false, false);
    m.samples = 1000;
    assert_int_equal(xpv_cf_decide(&P, &m, pg, 4, &rng, d, 8, &r), 0);
    assert_int_equal(r.nr_decisions, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_metrics, setup),
            cmocka_unit_test_setup(test_gates, setup),
            cmocka_unit_test_setup(test_hold_gate, setup),
            cmocka_unit_test_setup(test_migrate_rule, setup),
            cmocka_unit_test_setup(test_replicate_priority, setup),
            cmocka_unit_test_setup(test_replicate_fallback, setup),
            cmocka_unit_test_setup(test_interleave_weights, setup),
            cmocka_unit_test_setup(test_budget_and_disabled, setup),
            cmocka_unit_test_setup(test_huge_rules, setup),
            cmocka_unit_test_setup(test_huge_interleave_weights, setup),
            cmocka_unit_test_setup(test_hot_split, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
