/*
 * test_cf_ring.c — the sampler's shared-memory ring (src/carrefour/cf_ring.c): samples come
 * out in order and intact, a full ring drops and counts, concurrent producers lose nothing
 * while there is room, and the reader refuses headers and slots another process got wrong.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/cf_ring.h"

#define CAP 64u

static void *ring_new(uint32_t cap)
{
    void *m = calloc(1, xpv_cf_ring_size(cap));
    assert_non_null(m);
    assert_int_equal(xpv_cf_ring_init(m, xpv_cf_ring_size(cap), cap, 1234, 4096, 1), 0);
    return m;
}

static void test_fifo_and_overflow(void **state)
{
    (void)state;
    void *m = ring_new(CAP);
    struct xpv_cf_ring_reader rd;
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_ring_open(&rd, m, xpv_cf_ring_size(CAP), &err), 0);
    assert_int_equal(rd.pid, 1234);
    struct xpv_cf_ring_sample out[CAP * 2];
    for (unsigned round = 0; round < 3; round++) { /* wraps around the slots */
        for (unsigned i = 0; i < CAP + 5; i++)
            assert_int_equal(xpv_cf_ring_push(m, 0x1000u * i + round, i % 7, 100 + i, i & 1),
                             i < CAP ? 0 : -ENOSPC);
        size_t n = xpv_cf_ring_pop(&rd, out, CAP * 2);
        assert_int_equal(n, CAP);
        for (unsigned i = 0; i < n; i++) {
            assert_int_equal(out[i].addr, 0x1000u * i + round);
            assert_int_equal(out[i].cpu, i % 7);
            assert_int_equal(out[i].tid, 100 + i);
            assert_int_equal(out[i].write, i & 1);
        }
        assert_int_equal(xpv_cf_ring_pop(&rd, out, CAP), 0);
    }
    struct xpv_cf_ring_hdr st;
    xpv_cf_ring_stats(&rd, &st);
    assert_int_equal(st.dropped, 15);
    assert_int_equal(st.samples, 3 * (CAP + 5));
    free(m);
}

static void test_bad_slots(void **state)
{
    (void)state;
    void *m = ring_new(CAP);
    struct xpv_cf_ring_reader rd;
    assert_int_equal(xpv_cf_ring_open(&rd, m, xpv_cf_ring_size(CAP), NULL), 0);
    xpv_cf_ring_push(m, 1, XPV_CF_RING_MAX_CPU, 1, 0); /* CPU out of range */
    xpv_cf_ring_push(m, 2, 0, 1, 2);                   /* write flag not 0/1 */
    xpv_cf_ring_push(m, 3, 1, 1, 1);
    struct xpv_cf_ring_sample out[4];
    assert_int_equal(xpv_cf_ring_pop(&rd, out, 4), 1);
    assert_int_equal(out[0].addr, 3);
    assert_int_equal(rd.bad, 2);
    /* a producer that scribbles on the sequence words stalls the reader, nothing worse */
    struct xpv_cf_ring_slot *s = (void *)((char *)m + XPV_CF_RING_HDR);
    for (unsigned i = 0; i < CAP; i++)
        s[i].seq = UINT64_MAX - i;
    assert_int_equal(xpv_cf_ring_pop(&rd, out, 4), 0);
    free(m);
}

static void test_header_checks(void **state)
{
    (void)state;
    void *m = ring_new(CAP);
    size_t len = xpv_cf_ring_size(CAP);
    struct xpv_cf_ring_hdr *h = m;
    struct xpv_cf_ring_reader rd;
    struct xpv_error err = {0};
    assert_int_equal(xpv_cf_ring_open(&rd, m, len - 1, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "slots need"));
    assert_int_equal(xpv_cf_ring_open(&rd, m, 100, &err), -EINVAL);
    h->capacity = 48;
    assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "capacity 48"));
    h->capacity = CAP;
    h->version = 9;
    assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "version 9"));
    h->version = XPV_CF_RING_VERSION;
    h->page_size = 1000;
    assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), -EINVAL);
    h->page_size = 4096;
    h->pid = 0;
    assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), -EINVAL);
    h->pid = 1;
    h->magic ^= 1;
    assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "magic"));
    h->magic ^= 1;
    assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), 0);
    assert_int_equal(xpv_cf_ring_init(m, len, 48, 1, 4096, 0), -EINVAL);
    free(m);
}

#define PRODUCERS 4
#define PER       20000u

static void *producer(void *m)
{
    static unsigned next_id;
    unsigned id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < PER; i++)
        while (xpv_cf_ring_push(m, (uint64_t)id << 32 | i, id, id, 0) < 0)
            ; /* full: the consumer catches up */
    return NULL;
}

static void test_concurrent_producers(void **state)
{
    (void)state;
    void *m = ring_new(1024);
    struct xpv_cf_ring_reader rd;
    assert_int_equal(xpv_cf_ring_open(&rd, m, xpv_cf_ring_size(1024), NULL), 0);
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, producer, m), 0);
    unsigned next[PRODUCERS] = {0}, got = 0;
    struct xpv_cf_ring_sample out[256];
    while (got < PRODUCERS * PER) {
        size_t n = xpv_cf_ring_pop(&rd, out, 256);
        for (size_t k = 0; k < n; k++) {
            unsigned id = (unsigned)(out[k].addr >> 32), seq = (unsigned)out[k].addr;
            assert_true(id < PRODUCERS);
            assert_int_equal(out[k].cpu, id);
            assert_int_equal(seq, next[id]); /* each producer's samples in its order */
            next[id]++;
        }
        got += (unsigned)n;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(rd.bad, 0);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fifo_and_overflow),
            cmocka_unit_test(test_bad_slots),
            cmocka_unit_test(test_header_checks),
            cmocka_unit_test(test_concurrent_producers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
