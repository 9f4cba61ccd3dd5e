/*
 * test_publisher.c — the publisher against a hostile writer of its mapping (issue: a guest can
 * write the ivshmem region the host publishes into). The generation and seq word the publisher
 * writes must come from its own state: a guest that stores 2^64 - 1 in the generation word
 * (which would make the next generation 0, "nothing published") or an odd / arbitrary seq
 * between two publishes changes nothing the host publishes next. The generation found when the
 * publisher opens the mapping is still continued (restarts keep generations growing), and one
 * that would wrap skips 0.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tu_record.h"
#include "xpv/channel.h"
#include "xpv/publisher.h"

static void put64(uint8_t *map, unsigned off, uint64_t v)
{
    v = htole64(v);
    memcpy(map + off, &v, sizeof(v));
}

static void put32(uint8_t *map, unsigned off, uint32_t v)
{
    v = htole32(v);
    memcpy(map + off, &v, sizeof(v));
}

/* Publish version k; return the generation the record in the mapping now carries. */
static uint64_t publish_and_read(struct xpv_publisher *p, uint8_t *map, uint64_t k,
                                 uint64_t *said)
{
    struct tu_desc t;
    tu_desc_make(&t, k);
    assert_int_equal(xpv_publisher_publish(p, &t.d, said, NULL), 0);
    struct xpv_record_view v;
    assert_int_equal(xpv_record_decode(map, XPV_RECORD_MAP_SIZE, &v, NULL), 0);
    assert_int_equal(tu_view_matches(&v, k), 0);
    return v.generation;
}

static void test_generation_never_read_back(void **state)
{
    (void)state;
    uint8_t *map = aligned_alloc(64, XPV_RECORD_MAP_SIZE);
    assert_non_null(map);
    memset(map, 0, XPV_RECORD_MAP_SIZE);
    struct xpv_publisher *p;
    assert_int_equal(xpv_publisher_open_mem(map, XPV_RECORD_MAP_SIZE, &p, NULL), 0);
    uint64_t said;
    assert_int_equal(publish_and_read(p, map, 1, &said), 1);
    assert_int_equal(said, 1);

    /* The guest writes the largest generation and an odd seq, then garbage seq. */
    put64(map, XPV_RECORD_OFF_GENERATION, UINT64_MAX);
    put32(map, XPV_RECORD_OFF_SEQ, 12345);
    assert_int_equal(xpv_publisher_generation(p), 1);
    assert_int_equal(publish_and_read(p, map, 2, &said), 2);
    assert_int_equal(said, 2);
    put64(map, XPV_RECORD_OFF_GENERATION, 1000000);
    put32(map, XPV_RECORD_OFF_SEQ, 0xfffffff1u);
    assert_int_equal(publish_and_read(p, map, 3, &said), 3);
    /* The seq word the host leaves is even and its own (2 per publish), not the guest's. */
    uint32_t seq;
    memcpy(&seq, map + XPV_RECORD_OFF_SEQ, sizeof(seq));
    assert_int_equal(le32toh(seq), 6);
    xpv_publisher_close(p);
    free(map);
}

static void test_generation_continues_and_skips_zero(void **state)
{
    (void)state;
    uint8_t *map = aligned_alloc(64, XPV_RECORD_MAP_SIZE);
    assert_non_null(map);
    memset(map, 0, XPV_RECORD_MAP_SIZE);
    struct xpv_publisher *p;
    assert_int_equal(xpv_publisher_open_mem(map, XPV_RECORD_MAP_SIZE, &p, NULL), 0);
    assert_int_equal(publish_and_read(p, map, 1, NULL), 1);
    assert_int_equal(publish_and_read(p, map, 2, NULL), 2);
    xpv_publisher_close(p);

    /* A restarted publisher continues from the record it finds. */
    assert_int_equal(xpv_publisher_open_mem(map, XPV_RECORD_MAP_SIZE, &p, NULL), 0);
    assert_int_equal(xpv_publisher_generation(p), 2);
    assert_int_equal(publish_and_read(p, map, 3, NULL), 3);
    xpv_publisher_close(p);

    /* One that finds 2^64 - 1 (written there before it opened) never publishes 0. */
    put64(map, XPV_RECORD_OFF_GENERATION, UINT64_MAX);
    put32(map, XPV_RECORD_OFF_SEQ, 7); /* a writer that died mid-update */
    assert_int_equal(xpv_publisher_open_mem(map, XPV_RECORD_MAP_SIZE, &p, NULL), 0);
    assert_int_equal(publish_and_read(p, map, 4, NULL), 1);
    uint32_t seq;
    memcpy(&seq, map + XPV_RECORD_OFF_SEQ, sizeof(seq));
    assert_int_equal(le32toh(seq), 10); /* 7 rounded up to 8, then one cycle */
    xpv_publisher_close(p);
    free(map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_generation_never_read_back),
            cmocka_unit_test(test_generation_continues_and_skips_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
