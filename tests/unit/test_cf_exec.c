/*
 * test_cf_exec.c — Carrefour's decisions as page moves (src/carrefour/cf_exec.c), against the
 * recording ops table: migrate and interleave land on the engine's node, replicate falls back
 * to an accessing node other than home and is counted as replicate->interleave, one call
 * carries a whole batch, a dry run calls nothing, failures are reported.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tu_topo.h"
#include "xpv/cf_exec.h"
#include "xpv/ops_record.h"

#define PID 4242

static void *addr_of(uint64_t key)
{
    return (void *)(uintptr_t)(key << 12);
}

static void test_fates(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(4, NULL, 2, 1ull << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    assert_non_null(ops);
    struct xpv_cf_page pages[3] = {
            {.key = 0x100, .node = 0}, {.key = 0x200, .node = 0}, {.key = 0x300, .node = 1}};
    pages[2].accesses[1] = 3;
    pages[2].accesses[3] = 1;
    struct xpv_cf_decision d[3] = {{0x100, 0, 2, XPV_CF_MIGRATE, false},
                                   {0x200, 0, 3, XPV_CF_INTERLEAVE, false},
                                   {0x300, 1, 0, XPV_CF_REPLICATE, false}};
    struct xpv_cf_exec_stats st;
    unsigned rr = 0;
    assert_int_equal(xpv_cf_exec(ops, PID, d, 3, pages, 3, 12, true, &rr, &st), 0);
    assert_int_equal(xpv_ops_record_count(ops), 0); /* dry run */
    assert_int_equal(st.migrated + st.interleaved + st.repl_interleaved, 3);
    rr = 0;
    assert_int_equal(xpv_cf_exec(ops, PID, d, 3, pages, 3, 12, false, &rr, &st), 0);
    assert_int_equal(xpv_ops_record_count_kind(ops, XPV_OP_MOVE_PAGES), 1);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.migrated, 1);
    assert_int_equal(st.interleaved, 1);
    assert_int_equal(st.repl_interleaved, 1);
    assert_int_equal(st.failed, 0);
    assert_int_equal(xpv_ops_record_page_node(ops, PID, addr_of(0x100)), 2);
    assert_int_equal(xpv_ops_record_page_node(ops, PID, addr_of(0x200)), 3);
    /* the replicated page's accessing nodes are 1 (home) and 3: it goes to 3 */
    assert_int_equal(xpv_ops_record_page_node(ops, PID, addr_of(0x300)), 3);
    const struct xpv_op_call *c = xpv_ops_record_call(ops, 0);
    assert_int_equal(c->pid, PID);
    assert_int_equal(c->count, 3);
    assert_int_equal(c->flags, XPV_MPOL_MF_MOVE);
    /* a decision the engine made for a page it would have replicated (replicate_fallback):
     * it moves where the engine said and counts as replicate->interleave */
    struct xpv_cf_decision fb = {0x200, 3, 1, XPV_CF_INTERLEAVE, true};
    assert_int_equal(xpv_cf_exec(ops, PID, &fb, 1, pages, 3, 12, false, &rr, &st), 0);
    assert_int_equal(st.repl_interleaved, 1);
    assert_int_equal(st.interleaved, 0);
    assert_int_equal(xpv_ops_record_page_node(ops, PID, addr_of(0x200)), 1);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

static void test_round_robin_and_batches(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(4, NULL, 1, 1ull << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    enum { N = XPV_CF_EXEC_BATCH + 88 };
    struct xpv_cf_page *pages = calloc(N, sizeof(*pages));
    struct xpv_cf_decision *d = calloc(N, sizeof(*d));
    for (unsigned i = 0; i < N; i++) {
        pages[i].key = 0x1000 + i;
        pages[i].node = 0;
        for (unsigned n = 0; n < 4; n++)
            pages[i].accesses[n] = 1;
        d[i] = (struct xpv_cf_decision){pages[i].key, 0, 0, XPV_CF_REPLICATE, false};
    }
    struct xpv_cf_exec_stats st;
    unsigned rr = 0, on[4] = {0};
    assert_int_equal(xpv_cf_exec(ops, PID, d, N, pages, N, 12, false, &rr, &st), 0);
    assert_int_equal(st.calls, 2);
    assert_int_equal(st.repl_interleaved, N);
    for (unsigned i = 0; i < N; i++) {
        int node = xpv_ops_record_page_node(ops, PID, addr_of(pages[i].key));
        assert_true(node >= 1 && node <= 3); /* never home */
        on[node]++;
    }
    /* taken in turn: the three other nodes share the pages evenly */
    for (unsigned n = 1; n < 4; n++)
        assert_true(on[n] >= N / 3 - 1 && on[n] <= N / 3 + 1);
    free(pages);
    free(d);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

static void test_failures(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(2, NULL, 1, 1ull << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    struct xpv_cf_page pg = {.key = 0x10, .node = 0};
    struct xpv_cf_decision d = {0x10, 0, 1, XPV_CF_MIGRATE, false};
    struct xpv_cf_exec_stats st;
    unsigned rr = 0;
    xpv_ops_record_kill(ops, PID);
    assert_int_equal(xpv_cf_exec(ops, PID, &d, 1, &pg, 1, 12, false, &rr, &st), -ESRCH);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.last_error, -ESRCH);
    /* a node the machine does not have: the ops table refuses it */
    struct xpv_cf_decision d5 = {0x10, 0, 5, XPV_CF_MIGRATE, false};
    assert_int_equal(xpv_cf_exec(ops, PID + 1, &d5, 1, &pg, 1, 12, false, &rr, &st), -ENODEV);
    /* nothing to do: no call */
    struct xpv_cf_decision same = {0x10, 1, 1, XPV_CF_MIGRATE, false};
    xpv_ops_record_clear(ops);
    assert_int_equal(xpv_cf_exec(ops, PID + 1, &same, 1, &pg, 1, 12, false, &rr, &st), 0);
    assert_int_equal(xpv_ops_record_count(ops), 0);
    assert_int_equal(xpv_cf_exec(ops, PID + 1, &d, 1, &pg, 1, 3, false, &rr, &st), -EINVAL);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fates),
            cmocka_unit_test(test_round_robin_and_batches),
            cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
