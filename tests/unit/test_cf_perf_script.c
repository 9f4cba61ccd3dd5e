/*
 * test_cf_perf_script.c — the `perf script` importer (src/carrefour/cf_perf_script.c) on hand-made text in the
 * documented shape: CPUs map to nodes, reads and writes come from data_src or the event name,
 * rounds follow the clock, pages take the page map's node or their first sampler's, and
 * malformed lines are refused with their line number; data_page_size 2M marks a sample huge
 * (one first-touch node per 2 MiB page), 4K and N/A do not, other sizes are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/cf_perf_script.h"

/* Intel PEBS (perf mem record) and AMD IBS (ibs_op//) lines, two rounds of 1 ms. */
static const char pebs[] =
        "# perf script -F cpu,time,event,addr,data_src\n"
        "[000]  100.000100: cpu/mem-loads,ldlat=30/P:      7f0000001010 |OP LOAD|LVL L3 miss\n"
        "[002]  100.000200: cpu/mem-stores/P:      7f0000001020 |OP STORE|LVL L1 hit\n"
        "[003]  100.000300: ibs_op//:      7f0000002000 |OP LOAD|LVL RAM hit\n"
        "[001]  100.000400: ibs_op//:                 0 |OP N/A\n"
        "[002]  100.001500: cpu/mem-stores/P:      7f0000002008\n"
        "[000]  100.001600: ibs_op//:      7f0000003000\n";

static void opts_2x2(struct xpv_cf_perf_opts *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(xpv_cf_perf_cpu_map("0-1:0,2-3:1", o, NULL), 0);
    o->round_ns = 1e6;
}

static void test_import(void **state)
{
    (void)state;
    struct xpv_cf_perf_opts o;
    opts_2x2(&o);
    assert_int_equal(o.nr_nodes, 2);
    struct xpv_cf_replay *r;
    struct xpv_error err = {0};
    int rc = xpv_cf_perf_parse(pebs, sizeof(pebs) - 1, "p", &o, &r, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(o.skipped_no_addr, 1);
    assert_int_equal(o.unknown_kind, 1); /* the last ibs_op line: no data_src, no hint */
    assert_int_equal(r->nr_rounds, 2);
    assert_int_equal(r->nr_samples, 5);
    assert_int_equal(r->rounds[0].count, 3);
    assert_int_equal(r->rounds[1].count, 2);
    const struct xpv_cf_sample *s = r->samples;
    assert_int_equal(s[0].cpu, 0);
    assert_int_equal(s[0].addr, 0x7f0000001010ull);
    assert_int_equal(s[0].write, 0);
    assert_int_equal(s[1].write, 1);
    /* first touch: page ...1 first sampled by CPU 0 (node 0), page ...2 by CPU 3 (node 1) */
    assert_int_equal(s[0].node, 0);
    assert_int_equal(s[1].node, 0);
    assert_int_equal(s[2].node, 1);
    assert_int_equal(s[3].node, 1);
    assert_int_equal(s[3].write, 1); /* "store" in the event name */
    assert_int_equal(s[4].node, 0);
    xpv_cf_replay_free(r);

    /* a page map overrides first touch */
    const char map[] = "# page node\n7f0000002000 0\n7f0000001abc 1\n";
    assert_int_equal(xpv_cf_perf_page_nodes_parse(map, sizeof(map) - 1, "m", &o, &err), 0);
    assert_int_equal(o.nr_page_nodes, 2);
    assert_int_equal(xpv_cf_perf_parse(pebs, sizeof(pebs) - 1, "p", &o, &r, &err), 0);
    assert_int_equal(r->samples[0].node, 1);
    assert_int_equal(r->samples[2].node, 0);
    xpv_cf_replay_free(r);
    free(o.page_nodes);
}

static void test_rounds_follow_the_clock(void **state)
{
    (void)state;
    struct xpv_cf_perf_opts o;
    opts_2x2(&o);
    const char t[] = "[000] 5.000000: mem-loads: 1000\n"
                     "[000] 5.003500: mem-loads: 2000\n"  /* 3 rounds later */
                     "[001] 5.003400: mem-loads: 3000\n"; /* out of order: same round */
    struct xpv_cf_replay *r;
    assert_int_equal(xpv_cf_perf_parse(t, sizeof(t) - 1, "c", &o, &r, NULL), 0);
    assert_int_equal(r->nr_rounds, 4);
    assert_int_equal(r->rounds[0].count, 1);
    assert_int_equal(r->rounds[1].count, 0);
    assert_int_equal(r->rounds[3].count, 2);
    xpv_cf_replay_free(r);
}

/* perf script -F cpu,time,event,addr,data_src,data_page_size (data_src as perf prints it: the
 * value, then its decoding, which may end in "N/A" itself), then lines without data_src. */
static const char sized[] =
        "[000]  100.000100: cpu/mem-loads,ldlat=30/P:      7f0000201010         68100142 |OP "
        "LOAD|LVL L3 miss|SNP None|TLB L1 or L2 hit|LCK No|BLK  N/A    2M\n"
        "[002]  100.000200: cpu/mem-stores/P:      7f0000312020         68100242 |OP "
        "STORE|LVL L1 hit|SNP None|TLB L1 or L2 hit|LCK No|BLK  N/A    2M\n"
        "[002]  100.000300: ibs_op//:      7f0000001000  4K\n"
        "[003]  100.000400: ibs_op//:      7f0000002000  N/A\n"
        "[001]  100.000500: cpu/mem-loads,ldlat=30/P:      7f0000003000         68100142 |OP "
        "LOAD|LVL L3 miss|SNP None|TLB L1 or L2 hit|LCK No|BLK  N/A\n";

static void test_page_size(void **state)
{
    (void)state;
    struct xpv_cf_perf_opts o;
    opts_2x2(&o);
    struct xpv_cf_replay *r;
    struct xpv_error err = {0};
    if (xpv_cf_perf_parse(sized, sizeof(sized) - 1, "p", &o, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r->nr_samples, 5);
    assert_non_null(r->huge);
    assert_int_equal(r->huge[0], 1);
    assert_int_equal(r->huge[1], 1);
    assert_int_equal(r->huge[2], 0); /* 4K */
    assert_int_equal(r->huge[3], 0); /* N/A: the kernel could not tell */
    assert_int_equal(r->huge[4], 0); /* no data_page_size, data_src ends in N/A */
    assert_int_equal(r->samples[1].write, 1);
    /* first touch by 2 MiB page: CPU 2 (node 1) samples another 4 KiB page of the 2 MiB page
     * CPU 0 (node 0) touched first, so it is on node 0; 4 KiB pages stay per 4 KiB page */
    assert_int_equal(r->samples[0].node, 0);
    assert_int_equal(r->samples[1].node, 0);
    assert_int_equal(r->samples[2].node, 1);
    /* one 2 MiB page shared by nodes 0 and 1 for the 2 MB rules */
    struct xpv_cf_counters c;
    struct xpv_cf_page pages[8];
    unsigned np;
    assert_int_equal(xpv_cf_replay_round_thp(r, 0, true, &c, pages, 8, &np), 0);
    assert_int_equal(np, 4);
    assert_int_equal(pages[3].key, 0x7f0000200);
    assert_true(pages[3].huge);
    assert_int_equal(pages[3].accesses[0], 1);
    assert_int_equal(pages[3].accesses[1], 1);
    xpv_cf_replay_free(r);

    /* the replay text says 2m for those two, nothing for the others */
    char *out;
    size_t n;
    assert_int_equal(xpv_cf_perf_convert(sized, sizeof(sized) - 1, "p", &o, &out, &n, NULL), 0);
    assert_non_null(strstr(out, "s 0 7f0000201010 r 0 2m\ns 2 7f0000312020 w 0 2m\n"));
    assert_non_null(strstr(out, "s 2 7f0000001000 r 1\n"));
    assert_non_null(strstr(out, "s 1 7f0000003000 r 0\n"));
    free(out);

    /* a page map names the node of a 2 MiB page by any of its 4 KiB pages */
    const char map[] = "7f0000200000 0\n7f00003ff000 1\n7f0000400000 0\n";
    assert_int_equal(xpv_cf_perf_page_nodes_parse(map, sizeof(map) - 1, "m", &o, &err), 0);
    assert_int_equal(xpv_cf_perf_parse(sized, sizeof(sized) - 1, "p", &o, &r, &err), 0);
    assert_int_equal(r->samples[0].node, 0); /* the first listed page of its 2 MiB page */
    assert_int_equal(r->samples[1].node, 0);
    xpv_cf_replay_free(r);
    const char map2[] = "7f00003ff000 1\n7f0000400000 0\n";
    assert_int_equal(xpv_cf_perf_page_nodes_parse(map2, sizeof(map2) - 1, "m", &o, &err), 0);
    assert_int_equal(xpv_cf_perf_parse(sized, sizeof(sized) - 1, "p", &o, &r, &err), 0);
    assert_int_equal(r->samples[0].node, 1);
    assert_int_equal(r->samples[1].node, 1);
    xpv_cf_replay_free(r);
    const char map3[] = "7f0000400000 1\n"; /* the next 2 MiB page: first touch applies */
    assert_int_equal(xpv_cf_perf_page_nodes_parse(map3, sizeof(map3) - 1, "m", &o, &err), 0);
    assert_int_equal(xpv_cf_perf_parse(sized, sizeof(sized) - 1, "p", &o, &r, &err), 0);
    assert_int_equal(r->samples[0].node, 0);
    xpv_cf_replay_free(r);
    free(o.page_nodes);
}

static void expect_refused(const char *text, const char *msg)
{
    struct xpv_cf_perf_opts o;
    opts_2x2(&o);
    struct xpv_cf_replay *r = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_perf_parse(text, strlen(text), "bad", &o, &r, &err), -EINVAL);
    assert_null(r);
    if (!strstr(err.msg, msg))
        fail_msg("expected '%s' in '%s'", msg, err.msg);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("[000] 1.0: mem-loads: 1000\nnot a sample\n", "bad:2: expected '[CPU]");
    expect_refused("[000] 1.0 mem-loads: 1000\n", "bad:1:");
    expect_refused("[000] 1.0: mem-loads: 10000000000000000\n", "bad:1:");
    expect_refused("[000] 1.0: mem-loads: 12xz\n", "bad:1:");
    expect_refused("[-01] 1.0: mem-loads: 1000\n", "bad:1:");
    expect_refused("[009] 1.0: mem-loads: 1000\n", "bad:1: CPU 9 has no node");
    expect_refused("[000] 1.0: mem-loads: 1000\n[000] 1000000.0: mem-loads: 1000\n",
                   "bad:2: the sample falls in round 999999001; a replay holds 8192 rounds");
    expect_refused("[000] 1.0: mem-loads: 1000\n[000] 9.1925: mem-loads: 1000\n",
                   "bad:2: the sample falls in round 8193");
    struct xpv_cf_perf_opts o2;
    opts_2x2(&o2);
    struct xpv_cf_replay *r = NULL;
    const char last[] = "[000] 1.0: mem-loads: 1000\n[000] 9.1915: mem-loads: 1000\n";
    assert_int_equal(xpv_cf_perf_parse(last, sizeof(last) - 1, "ok", &o2, &r, NULL), 0);
    assert_int_equal(r->nr_rounds, 8192); /* the last round a replay holds */
    xpv_cf_replay_free(r);
    /* page sizes Carrefour does not decide: 1 GiB (perf prints 1024M), 64 KiB */
    expect_refused("[000] 1.0: mem-loads: 1000 4K\n[000] 1.0: mem-loads: 1000  1024M\n",
                   "bad:2: data_page_size 1024M: expected 4K or 2M");
    expect_refused("[000] 1.0: mem-loads: 1000 |OP LOAD|LVL L1 hit 64K\n",
                   "bad:1: data_page_size 64K: expected 4K or 2M");
    expect_refused("# nothing\n", "no samples");
    expect_refused("[000] 1.0: ibs_op//: 0\n", "no samples");

    struct xpv_cf_perf_opts o;
    struct xpv_error err = {0};
    memset(&o, 0, sizeof(o));
    assert_int_equal(xpv_cf_perf_cpu_map("0-3", &o, &err), -EINVAL);
    assert_int_equal(xpv_cf_perf_cpu_map("3-1:0", &o, &err), -EINVAL);
    assert_int_equal(xpv_cf_perf_cpu_map("0:64", &o, &err), -EINVAL);
    assert_int_equal(xpv_cf_perf_cpu_map("0:1x", &o, &err), -EINVAL);
    assert_int_equal(xpv_cf_perf_cpu_map("", &o, &err), -EINVAL);
    assert_int_equal(xpv_cf_perf_cpu_map("0:0 5:3", &o, &err), 0);
    assert_int_equal(o.nr_nodes, 4);
    assert_int_equal(o.cpu_node[5], 3);
    assert_int_equal(o.cpu_node[1], -1);
    const char map[] = "7f00 9\n";
    assert_int_equal(xpv_cf_perf_page_nodes_parse(map, sizeof(map) - 1, "m", &o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "m:1: node 9"));
    const char map2[] = "7f00\n";
    assert_int_equal(xpv_cf_perf_page_nodes_parse(map2, sizeof(map2) - 1, "m", &o, &err), -EINVAL);
    free(o.page_nodes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_import),
            cmocka_unit_test(test_rounds_follow_the_clock),
            cmocka_unit_test(test_refusals),
            cmocka_unit_test(test_page_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
