/*
 * test_cf_live.c — the live runner's sample memory (xpv/cf_live.h, xpv_cf_live_set_memory),
 * deterministically: a ring file made here for a child that only waits, samples pushed by
 * hand round by round, a 2-node topology (CPU 0 on node 0, CPU 1 on node 1) and the recording
 * ops (every page on node 1 until moved). Carrefour migrates a private page once it has two
 * samples from one node:
 *  - memory 0 (the papers' rule: each round alone): one sample a round never migrates it;
 *  - memory 1: the sample of round 1 is given again in round 2, the page migrates there, and
 *    a migrated page's samples are not carried further;
 *  - a carried sample expires after `memory` rounds;
 *  - carried samples count for their page only: a round's counters (so its metrics) are its
 *    own samples'.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tu_cmocka.h"
#include "tu_topo.h"
#include "xpv/carrefour.h"
#include "xpv/cf_live.h"
#include "xpv/cf_ring.h"
#include "xpv/ops_record.h"

#define CAP 1024
#define A   0x10000000ull /* the pages sampled */
#define B   0x10001000ull

struct fx {
    pid_t child;
    int go[2];
    char path[128];
    void *ring;
    size_t len;
    struct xpv_topo *t;
    struct xpv_ops *ops;
    struct xpv_cf_live *l;
};

static void fx_start(struct fx *f, unsigned memory)
{
    assert_int_equal(pipe(f->go), 0);
    f->child = fork();
    assert_true(f->child >= 0);
    if (f->child == 0) {
        char c;
        close(f->go[1]);
        ssize_t n = read(f->go[0], &c, 1); /* until the test ends */
        _exit(n < 0);
    }
    close(f->go[0]);
    snprintf(f->path, sizeof(f->path),
             XPV_CF_RING_DIR "/" XPV_CF_RING_PREFIX_FMT "0123456789abcdef", (int)f->child);
    int fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EACCES) {
        close(f->go[1]);
        waitpid(f->child, NULL, 0);
        xpv_skip("cannot create a ring in " XPV_CF_RING_DIR ": %s", strerror(errno));
    }
    assert_true(fd >= 0);
    f->len = xpv_cf_ring_size(CAP);
    assert_int_equal(ftruncate(fd, (off_t)f->len), 0);
    f->ring = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(f->ring != MAP_FAILED);
    assert_int_equal(xpv_cf_ring_init(f->ring, f->len, CAP, f->child, 4096, 0), 0);
    f->t = tu_topo(2, NULL, 1, UINT64_C(1) << 30);
    f->ops = xpv_ops_record_new(f->t, NULL);
    assert_non_null(f->ops);
    xpv_ops_record_set_default_node(f->ops, 1);
    struct xpv_cf_params p;
    xpv_cf_params_asplos(&p);
    p.maptu_min = 0; /* as live runs set it: the samples are touches, not DRAM accesses */
    /* migration alone: with every sampled page on node 1 its controller's imbalance would
     * turn interleaving on, which moves single-node pages whatever their sample count */
    p.min_imbalance = 1e9;
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_live_attach(f->child, f->t, f->ops, &p, 1, &f->l, &err), 0);
    xpv_cf_live_set_memory(f->l, memory);
}

static void fx_free(struct fx *f)
{
    xpv_cf_live_free(f->l);
    munmap(f->ring, f->len);
    unlink(f->path);
    close(f->go[1]);
    waitpid(f->child, NULL, 0);
    xpv_ops_free(f->ops);
    xpv_topo_free(f->t);
}

/* One round: push the samples (page, cpu), run it. */
static void round_with(struct fx *f, struct xpv_cf_live_round *r, unsigned n, const uint64_t *addr,
                       const unsigned *cpu)
{
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(xpv_cf_ring_push(f->ring, addr[i], cpu[i], 1, 0), 0);
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_live_round(f->l, false, r, &err), 0);
}

static int node_of(struct fx *f, uint64_t page)
{
    return xpv_ops_record_page_node(f->ops, f->child, (void *)(uintptr_t)page);
}

static void test_no_memory(void **state)
{
    (void)state;
    struct fx f;
    fx_start(&f, 0);
    struct xpv_cf_live_round r;
    for (int i = 0; i < 3; i++) {
        round_with(&f, &r, 1, (uint64_t[]){A}, (unsigned[]){0});
        assert_int_equal(r.carried, 0);
        assert_int_equal(r.ex.migrated, 0);
    }
    assert_int_equal(node_of(&f, A), 1);
    /* two samples in one round: migrated (the rule itself) */
    round_with(&f, &r, 2, (uint64_t[]){A, A}, (unsigned[]){0, 0});
    assert_int_equal(r.ex.migrated, 1);
    assert_int_equal(node_of(&f, A), 0);
    fx_free(&f);
}

static void test_memory_one(void **state)
{
    (void)state;
    struct fx f;
    fx_start(&f, 1);
    struct xpv_cf_live_round r;
    assert_int_equal(xpv_cf_ring_push(f.ring, B, 0, 1, 1), 0); /* B written */
    round_with(&f, &r, 1, (uint64_t[]){A}, (unsigned[]){0});
    assert_int_equal(r.ex.migrated, 0);
    /* round 2: A once more from node 0, with round 1's sample of it: migrated; B's sample is
     * carried once (age 1), and counts for B only */
    round_with(&f, &r, 1, (uint64_t[]){A}, (unsigned[]){0});
    assert_int_equal(r.samples, 1);
    assert_int_equal(r.carried, 2);
    assert_int_equal(r.ex.migrated, 1);
    assert_int_equal(node_of(&f, A), 0);
    assert_int_equal(node_of(&f, B), 1);
    /* the counters: the round's one own sample, a remote read (B's carried write not in) */
    assert_true(r.m.lar < 1e-9);
    assert_true(r.read_ratio > 99.9);
    /* round 3: nothing carried (A was decided, B's sample had its one round), so B's new
     * sample is alone again */
    round_with(&f, &r, 1, (uint64_t[]){B}, (unsigned[]){0});
    assert_int_equal(r.carried, 0);
    assert_int_equal(r.ex.migrated, 0);
    assert_int_equal(node_of(&f, B), 1);
    fx_free(&f);
}

/* A carried sample from another node makes the page shared (two nodes seen): not migrated. */
static void test_memory_two_nodes(void **state)
{
    (void)state;
    struct fx f;
    fx_start(&f, 2);
    struct xpv_cf_live_round r;
    round_with(&f, &r, 1, (uint64_t[]){A}, (unsigned[]){1});
    round_with(&f, &r, 1, (uint64_t[]){A}, (unsigned[]){0});
    assert_int_equal(r.carried, 1);
    assert_int_equal(r.ex.migrated, 0);
    assert_int_equal(node_of(&f, A), 1);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_no_memory),
            cmocka_unit_test(test_memory_one),
            cmocka_unit_test(test_memory_two_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
