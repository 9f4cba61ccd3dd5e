/*
 * test_cf_replay.c — the recorded-samples format (src/carrefour/cf_replay.c): a valid file
 * becomes rounds, pages and counters as documented; every malformed line is refused with its
 * line number; the engine decides on a replayed round as on hand-built pages; samples marked
 * 2m are grouped by 2 MiB page for the LP profile (decided whole, hot ones split) and by 4 KiB
 * page for the ASPLOS one; a hostile 66 KB file (64 nodes, 8192 empty rounds: 557 MB before
 * the bound) is refused within a stated memory bound (getrusage's peak RSS).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "xpv/cf_replay.h"

static const char good[] = "# recorded on a 2-node box\n"
                           "xpv-samples 1\n"
                           "nodes 2\r\n" /* CRLF is fine */
                           "cpus 0-1:0 2:1 3:1\n"
                           "sample_every 100\n"
                           "round 1000000\n"
                           "s 0 7f0000001000 r 1\n"
                           "s 2 7f0000001008 w 1\n"
                           "s 3 7f0000002000 r 0\n"
                           "\n"
                           "round 2000000\n"
                           "dram 0 0 5000\n"
                           "dram 1 0 1000\n"
                           "s 1 10 r 0\n";

static void test_parse(void **state)
{
    (void)state;
    struct xpv_cf_replay *r;
    struct xpv_error err = {0};
    int rc = xpv_cf_replay_parse(good, sizeof(good) - 1, "g", &r, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(r->nr_nodes, 2);
    assert_int_equal(r->nr_rounds, 2);
    assert_int_equal(r->nr_samples, 4);
    assert_int_equal(r->cpu_node[2], 1);
    assert_int_equal(r->cpu_node[4], -1);

    struct xpv_cf_counters c;
    struct xpv_cf_page pages[8];
    unsigned np;
    assert_int_equal(xpv_cf_replay_round(r, 0, &c, pages, 8, &np), 0);
    assert_int_equal(np, 2); /* two samples share page 0x7f0000001 */
    assert_int_equal(pages[0].key, 0x7f0000001);
    assert_int_equal(pages[0].node, 1);
    assert_int_equal(pages[0].accesses[0], 1);
    assert_int_equal(pages[0].accesses[1], 1);
    assert_int_equal(pages[0].writes, 1);
    /* no dram lines: estimated as samples x sample_every, [cpu node][page node] */
    assert_true(c.dram[0 * 2 + 1] == 100 && c.dram[1 * 2 + 1] == 100 && c.dram[1 * 2 + 0] == 100);
    assert_true(fabs(c.read_ratio - 200.0 / 3) < 1e-9);
    assert_true(c.round_ns == 1e6);

    assert_int_equal(xpv_cf_replay_round(r, 1, &c, pages, 8, &np), 0);
    assert_true(c.dram[0] == 5000 && c.dram[2] == 1000 && c.dram[1] == 0); /* given: kept */
    struct xpv_cf_metrics m;
    struct xpv_cf_params p;
    xpv_cf_params_asplos(&p);
    assert_int_equal(xpv_cf_metrics(&p, &c, &m), 0);
    assert_true(fabs(m.maptu - 6000.0 / 2000) < 1e-9);
    assert_int_equal(xpv_cf_replay_round(r, 2, &c, pages, 8, &np), -ERANGE);
    xpv_cf_replay_free(r);
}

/* Found by fuzz.cf_replay: a round without samples, in a file without any. */
static void test_round_without_samples(void **state)
{
    (void)state;
    const char text[] = "xpv-samples 1\nnodes 2\nround 1000\ndram 0 1 5\n";
    struct xpv_cf_replay *r;
    assert_int_equal(xpv_cf_replay_parse(text, sizeof(text) - 1, "t", &r, NULL), 0);
    struct xpv_cf_counters c;
    struct xpv_cf_page pages[4];
    unsigned np = 9;
    assert_int_equal(xpv_cf_replay_round(r, 0, &c, pages, 4, &np), 0);
    assert_int_equal(np, 0);
    assert_true(c.dram[1] == 5);
    xpv_cf_replay_free(r);
}

static void expect_error(const char *text, const char *needle)
{
    struct xpv_cf_replay *r = (void *)1;
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_replay_parse(text, strlen(text), "f", &r, &err), -EINVAL);
    assert_null(r);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "empty");
    expect_error("xpv-samples 2\n", "f:1: this reader understands xpv-samples version 1");
    expect_error("samples 1\n", "f:1: expected the header");
    expect_error("xpv-samples 1\ncpus 0:0\n", "f:2: expected 'nodes N' before");
    expect_error("xpv-samples 1\nnodes 65\n", "f:2: expected 'nodes N' once");
    expect_error("xpv-samples 1\nnodes 2\nnodes 2\n", "f:3:");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0-3:2\n", "f:3: CPU range or node out of bounds");
    expect_error("xpv-samples 1\nnodes 2\ncpus x\n", "f:3: expected CPU ranges");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\ns 0 10 r 0\n", "f:4: expected 'round NS'");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 0\n", "f:4: expected 'round NS'");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ns 1 10 r 0\n",
                 "f:5: a sample from a CPU the 'cpus' line did not place");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ns 0 10 x 0\n",
                 "f:5: expected 's CPU");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ns 0 10 r 2\n", "f:5:");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ns 0 zz r 0\n", "f:5:");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ns 0 10 r 0 extra\n", "f:5:");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ndram 0 2 5\n", "f:5: expected 'dram");
    expect_error("xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\ndram 0 1 -5\n", "f:5:");
    expect_error("xpv-samples 1\nnodes 2\nfrobnicate\n", "f:3: unknown line kind frobnicate");
    expect_error("xpv-samples 1\nnodes 2\nsample_every 0\n", "f:3:");
    /* rounds beyond the bound (each holds a 32 KiB counter matrix): refused, not allocated */
    static char many[32 + 9 * (XPV_CF_REPLAY_MAX_ROUNDS + 1)];
    size_t n = (size_t)snprintf(many, sizeof(many), "xpv-samples 1\nnodes 2\n");
    for (unsigned i = 0; i <= XPV_CF_REPLAY_MAX_ROUNDS; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "round 10\n");
    struct xpv_cf_replay *many_r;
    assert_int_equal(xpv_cf_replay_parse(many, n, "f", &many_r, NULL), -EINVAL);
    assert_int_equal(xpv_cf_replay_parse(many, n - 9, "f", &many_r, NULL), 0); /* at the bound */
    assert_int_equal(many_r->nr_rounds, XPV_CF_REPLAY_MAX_ROUNDS);
    xpv_cf_replay_free(many_r);
    expect_error(many, "f:8195: more rounds than a replay holds");
    const char nul[] = "xpv-samples 1\nnodes 2\nro\0und 10\n";
    struct xpv_cf_replay *r;
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_replay_parse(nul, sizeof(nul) - 1, "f", &r, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "f:3: a NUL byte"));
}

/* A round of the worked example: a page on node 0 shared by nodes 0 and 1, load 70/10/10/10. */
static void test_engine_on_replay(void **state)
{
    (void)state;
    char text[4096];
    int n = snprintf(text, sizeof(text),
                     "xpv-samples 1\nnodes 4\ncpus 0:0 1:1 2:2 3:3\nround 1000\n"
                     "dram 0 0 70000\ndram 1 0 20000\ndram 1 1 10000\ndram 2 2 10000\n"
                     "dram 3 3 10000\n");
    for (unsigned i = 0; i < 50; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "s 0 %x000 r 0\ns 1 %x000 w 0\n", i + 1,
                      i + 1);
    struct xpv_cf_replay *r;
    assert_int_equal(xpv_cf_replay_parse(text, (size_t)n, "t", &r, NULL), 0);
    struct xpv_cf_counters c;
    struct xpv_cf_page pages[64];
    unsigned np;
    assert_int_equal(xpv_cf_replay_round(r, 0, &c, pages, 64, &np), 0);
    assert_int_equal(np, 50);
    struct xpv_cf_params p;
    struct xpv_cf_metrics m;
    struct xpv_cf_round rd;
    struct xpv_cf_decision d[64];
    uint64_t rng = 7;
    xpv_cf_params_asplos(&p);
    assert_int_equal(xpv_cf_metrics(&p, &c, &m), 0);
    /* LAR 83 % (>= 80: no migration), node 0 serves 75 % of the load: interleaving */
    assert_true(m.enabled && m.interleaving && !m.migration);
    assert_int_equal(xpv_cf_decide(&p, &m, pages, np, &rng, d, 64, &rd), 0);
    assert_int_equal(rd.replicate, 0); /* written pages are never replicated */
    assert_true(rd.interleave > 10 && rd.interleave < 50);
    for (unsigned i = 0; i < rd.nr_decisions; i++)
        assert_int_not_equal(d[i].to, 0);
    xpv_cf_replay_free(r);
}

/* The text of a round: node 0 serves all the load (LAR 60 %: migration and interleaving on),
 * 40 local 4 KiB pages, a shared 2 MiB page with 2 of the 54 samples, a hot one with 10 (18 %)
 * and a range sampled both as 4k and 2m, used from node 1 only. */
static size_t huge_text(char *text, size_t cap)
{
    int n = snprintf(text, cap,
                     "xpv-samples 1\nnodes 2\ncpus 0:0 1:1\nround 1000000000\n"
                     "dram 0 0 60000000\ndram 1 0 40000000\n");
    for (unsigned i = 0; i < 40; i++)
        n += snprintf(text + n, cap - (size_t)n, "s 0 %x r 0%s\n", 0x10000040 + i * 0x1000,
                      i % 2 ? " 4k" : "");
    n += snprintf(text + n, cap - (size_t)n, "s 0 40000100 r 0 2m\ns 1 40123450 w 0 2m\n");
    for (unsigned i = 0; i < 10; i++)
        n += snprintf(text + n, cap - (size_t)n, "s %u %x r 0 2m\n", i % 2,
                      0x40200008 + i * 0x3000);
    /* the 4k sample (lower address, says node 1) comes first; the 2m one says node 0 */
    n += snprintf(text + n, cap - (size_t)n, "s 1 40400000 r 1 4k\ns 1 40401000 r 0 2m\n");
    return (size_t)n;
}

static const struct xpv_cf_page *page_of(const struct xpv_cf_page *pages, unsigned np, uint64_t key)
{
    for (unsigned i = 0; i < np; i++)
        if (pages[i].key == key)
            return &pages[i];
    return NULL;
}

static const struct xpv_cf_decision *decision_of(const struct xpv_cf_decision *d, unsigned n,
                                                 uint64_t key)
{
    for (unsigned i = 0; i < n; i++)
        if (d[i].key == key)
            return &d[i];
    return NULL;
}

static void test_huge_grouping(void **state)
{
    (void)state;
    static char text[8192];
    size_t len = huge_text(text, sizeof(text));
    struct xpv_cf_replay *r;
    struct xpv_error err = {0};
    if (xpv_cf_replay_parse(text, len, "h", &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r->nr_samples, 54);
    assert_non_null(r->huge);
    assert_int_equal(r->huge[0], 0);
    assert_int_equal(r->huge[1], 0); /* "4k" */
    assert_int_equal(r->huge[40], 1);
    assert_int_equal(r->huge[52], 0);
    assert_int_equal(r->huge[53], 1);

    struct xpv_cf_counters c;
    static struct xpv_cf_page pages[64];
    unsigned np;
    /* 2 MB rules: 40 small pages and three 2 MiB ones, keyed by their first 4 KiB page */
    assert_int_equal(xpv_cf_replay_round_thp(r, 0, true, &c, pages, 64, &np), 0);
    assert_int_equal(np, 43);
    for (unsigned i = 1; i < np; i++)
        assert_true(pages[i - 1].key < pages[i].key);
    const struct xpv_cf_page *shared = page_of(pages, np, 0x40000);
    const struct xpv_cf_page *hot = page_of(pages, np, 0x40200);
    const struct xpv_cf_page *mixed = page_of(pages, np, 0x40400);
    assert_non_null(shared);
    assert_non_null(hot);
    assert_non_null(mixed);
    assert_true(shared->huge && hot->huge && mixed->huge);
    assert_int_equal(shared->accesses[0], 1);
    assert_int_equal(shared->accesses[1], 1);
    assert_int_equal(shared->writes, 1);
    assert_int_equal(hot->accesses[0] + hot->accesses[1], 10);
    /* both samples of the mixed range, on the node of its 2m sample */
    assert_int_equal(mixed->accesses[1], 2);
    assert_int_equal(mixed->node, 0);
    assert_int_equal(page_of(pages, np, 0x10000)->huge, false);
    assert_true(c.samples == 54);

    /* 4 KB grouping (the ASPLOS profile): the mark is ignored, every sample by 4 KiB page */
    assert_int_equal(xpv_cf_replay_round_thp(r, 0, false, &c, pages, 64, &np), 0);
    assert_int_equal(np, 54);
    for (unsigned i = 0; i < np; i++)
        assert_false(pages[i].huge);
    assert_int_equal(page_of(pages, np, 0x40400)->node, 1);
    unsigned np2;
    static struct xpv_cf_page pages2[64];
    assert_int_equal(xpv_cf_replay_round(r, 0, &c, pages2, 64, &np2), 0);
    assert_int_equal(np2, np);
    assert_memory_equal(pages, pages2, np * sizeof(*pages));

    /* a full table misses whole pages, 2 MiB ones too */
    assert_int_equal(xpv_cf_replay_round_thp(r, 0, true, &c, pages, 41, &np), 0);
    assert_int_equal(np, 41);
    assert_non_null(page_of(pages, np, 0x40000));
    assert_null(page_of(pages, np, 0x40200));
    xpv_cf_replay_free(r);
}

/* One round decided by each profile: LP moves the shared 2 MiB page whole, splits the hot one
 * and migrates the misplaced one whole; ASPLOS decides 4 KiB pages and never splits. */
static void test_profiles_on_huge_replay(void **state)
{
    (void)state;
    static char text[8192];
    size_t len = huge_text(text, sizeof(text));
    struct xpv_cf_replay *r;
    assert_int_equal(xpv_cf_replay_parse(text, len, "h", &r, NULL), 0);
    struct xpv_cf_params p;
    struct xpv_cf_counters c;
    struct xpv_cf_metrics m;
    struct xpv_cf_round rd;
    static struct xpv_cf_page pages[64];
    static struct xpv_cf_decision d[64];
    unsigned np;
    uint64_t rng = 1;

    xpv_cf_params_lp(&p);
    assert_int_equal(xpv_cf_replay_round_thp(r, 0, p.thp, &c, pages, 64, &np), 0);
    assert_int_equal(xpv_cf_metrics(&p, &c, &m), 0);
    assert_true(m.enabled && m.migration && m.interleaving);
    assert_true(m.load[0] == 100); /* the interleave draw moves every shared page it sees */
    assert_int_equal(xpv_cf_decide(&p, &m, pages, np, &rng, d, 64, &rd), 0);
    assert_int_equal(rd.nr_decisions, 3);
    assert_int_equal(rd.split, 1);
    const struct xpv_cf_decision *hot = decision_of(d, rd.nr_decisions, 0x40200);
    const struct xpv_cf_decision *shared = decision_of(d, rd.nr_decisions, 0x40000);
    const struct xpv_cf_decision *mixed = decision_of(d, rd.nr_decisions, 0x40400);
    assert_non_null(hot);
    assert_non_null(shared);
    assert_non_null(mixed);
    assert_int_equal(hot->fate, XPV_CF_SPLIT);
    assert_int_equal(shared->fate, XPV_CF_INTERLEAVE);
    assert_int_equal(shared->to, 1);
    assert_int_equal(mixed->fate, XPV_CF_MIGRATE);
    assert_int_equal(mixed->from, 0);
    assert_int_equal(mixed->to, 1);

    xpv_cf_params_asplos(&p);
    rng = 1;
    assert_int_equal(xpv_cf_replay_round_thp(r, 0, p.thp, &c, pages, 64, &np), 0);
    assert_int_equal(np, 54);
    assert_int_equal(xpv_cf_metrics(&p, &c, &m), 0);
    assert_int_equal(xpv_cf_decide(&p, &m, pages, np, &rng, d, 64, &rd), 0);
    assert_int_equal(rd.split, 0);
    for (unsigned i = 0; i < rd.nr_decisions; i++) {
        assert_int_not_equal(d[i].fate, XPV_CF_SPLIT);
        assert_int_not_equal(d[i].key, 0x40000); /* its two 4 KiB pages: one node each, home */
    }
    /* 4 KiB pages seen from node 1 only, away from it, migrate (interleaving on: whatever
     * their sample count): 5 of the hot range's, the shared range's written one and the mixed
     * range's one on node 0 */
    assert_int_equal(rd.migrate, 5 + 1 + 1);
    xpv_cf_replay_free(r);
}

static void test_huge_errors(void **state)
{
    (void)state;
    const char *head = "xpv-samples 1\nnodes 2\ncpus 0:0\nround 10\n";
    char t[256];
    snprintf(t, sizeof(t), "%ss 0 10 r 0 1g\n", head);
    expect_error(t, "f:5: expected the page size 4k or 2m after the node, found 1g");
    snprintf(t, sizeof(t), "%ss 0 10 r 0 2M\n", head);
    expect_error(t, "f:5: expected the page size 4k or 2m after the node, found 2M");
    snprintf(t, sizeof(t), "%ss 0 10 r 0 2m\ns 0 10 r 0 4kb\n", head);
    expect_error(t, "f:6: expected the page size 4k or 2m after the node, found 4kb");
    snprintf(t, sizeof(t), "%ss 0 10 r 0 2m 2m\n", head);
    expect_error(t, "f:5: expected 's CPU ADDR_HEX r|w NODE [4k|2m]'");
    snprintf(t, sizeof(t), "%ss 0 10 r 2m\n", head);
    expect_error(t, "f:5: expected 's CPU ADDR_HEX r|w NODE [4k|2m]'");
}

static long peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Issue 18, finding 11: every "round" line carried a 32 KiB counter matrix whatever the node
 * count, so 66 KB of "round 1" lines under "nodes 64" grew to 557 MB (seen before the fix:
 * this case failed its memory bound). Now the matrices are nodes x nodes and 16 MiB in all:
 * the file is refused at round 512, the peak RSS grows by less than 64 MiB (16 MiB of
 * matrices, the reallocations' copies and ASan's quarantine and shadow), and the largest
 * legal replay at 16 nodes (8192 rounds) still parses. The peak is the process's: this case
 * runs alone (CTest unit.cf_replay.hostile_rounds), and says so if the peak was already high. */
static void test_hostile_rounds(void **state)
{
    (void)state;
    const char head[] = "xpv-samples 1\nnodes 64\ncpus 0:0\n";
    size_t n = sizeof(head) - 1 + 8192 * 8;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memcpy(text, head, sizeof(head) - 1);
    for (size_t i = 0; i < 8192; i++)
        memcpy(text + sizeof(head) - 1 + 8 * i, "round 1\n", 8);
    text[n] = 0;
    struct xpv_cf_replay *r = NULL;
    struct xpv_error err = {0};
    long before = peak_kib();
    if (before > 256 * 1024)
        fail_msg("peak RSS is already %ld KiB: run this case alone (XPV_CMOCKA_ONLY)", before);
    int rc = xpv_cf_replay_parse(text, n, "hostile", &r, &err);
    long grown = peak_kib() - before;
    printf("hostile replay: %zu bytes, rc %d (%s), peak RSS grew by %ld KiB\n", n, rc, err.msg,
           grown);
    if (grown >= 64 * 1024)
        fail_msg("a %zu-byte replay grew the peak RSS by %ld KiB (bound: 64 MiB)", n, grown);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err.msg, "hostile:516: more rounds than a replay holds, split the "
                                    "recording: 512 rounds of 64 nodes (16 MiB of counters)"));
    assert_null(r);
    /* 16 nodes: every one of the 8192 rounds fits (8192 x 2 KiB = the 16 MiB) */
    memcpy(text + 20, "16", 2);
    assert_int_equal(xpv_cf_replay_parse(text, n, "legal", &r, &err), 0);
    assert_int_equal(r->nr_rounds, 8192);
    assert_int_equal(r->rounds[8191].dram[15 * 16 + 15], 0);
    xpv_cf_replay_free(r);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_round_without_samples),
            cmocka_unit_test(test_engine_on_replay),
            cmocka_unit_test(test_huge_grouping),
            cmocka_unit_test(test_profiles_on_huge_replay),
            cmocka_unit_test(test_huge_errors),
            cmocka_unit_test(test_hostile_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
