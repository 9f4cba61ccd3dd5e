/*
 * test_record.c — the record codec: round trips, every rejection the spec requires, forward
 * compatibility (longer header, newer minor), CRC-32C check values, a desc from a topology.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tu_record.h"
#include "xpv/crc32c.h"
#include "xpv/record.h"
#include "xpv/record_build.h"
#include "xpv/topo.h"

uint32_t xpv_crc32c_portable(const void *buf, size_t len);

static uint8_t buf[XPV_RECORD_MAP_SIZE];

static long encode(uint64_t k)
{
    struct tu_desc t;
    tu_desc_make(&t, k);
    long n = xpv_record_encode(&t.d, k, 1000 + k, buf, sizeof(buf), NULL);
    assert_true(n > 0);
    assert_int_equal((size_t)n, xpv_record_size(&t.d));
    return n;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

/* Re-seal the body CRC after a test edits the body on purpose. */
static void reseal(long n)
{
    put32(buf + 40, xpv_crc32c(buf + 64, (size_t)n - 64));
}

static void expect(long n, int code, const char *needle)
{
    struct xpv_record_view v;
    struct xpv_error err = {0};
    assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, &err), code);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(xpv_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(xpv_crc32c("", 0), 0);
    uint8_t zeros[32] = {0};
    assert_int_equal(xpv_crc32c(zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    /* hardware and portable paths agree at every length and alignment */
    uint8_t data[300];
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (unsigned off = 0; off < 8; off++)
        for (unsigned len = 0; len + off <= sizeof(data); len += 13)
            assert_int_equal(xpv_crc32c(data + off, len), xpv_crc32c_portable(data + off, len));
    assert_int_equal(xpv_crc32c_update(xpv_crc32c(data, 100), data + 100, 200),
                     xpv_crc32c(data, 300));
}

static void test_round_trip(void **state)
{
    (void)state;
    for (uint64_t k = 0; k < 200; k++) {
        long n = encode(k);
        struct xpv_record_view v;
        assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, NULL), 0);
        assert_int_equal(v.generation, k);
        assert_int_equal(v.timestamp_ns, 1000 + k);
        assert_int_equal(v.abi_major, XPV_RECORD_ABI_MAJOR);
        assert_int_equal(v.total_len, n);
        assert_int_equal(tu_view_matches(&v, k), 0);
        assert_int_not_equal(tu_view_matches(&v, k + 1), 0); /* the checker can see a difference */
    }
}

static void test_rejects_bad_desc(void **state)
{
    (void)state;
    struct tu_desc t;
    struct xpv_error err = {0};
    tu_desc_make(&t, 3);
    t.ids[1] = t.ids[0];
    assert_int_equal(xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), &err), -EINVAL);
    assert_non_null(strstr(err.msg, "increasing"));
    tu_desc_make(&t, 3);
    t.cpu_p[0] = (uint16_t)t.d.nr_pnodes;
    assert_int_equal(xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), NULL), -EINVAL);
    tu_desc_make(&t, 3);
    t.d.nr_pnodes = 0;
    assert_int_equal(xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), NULL), -EINVAL);
    tu_desc_make(&t, 3);
    t.d.nr_cpus = XPV_RECORD_MAX_CPUS + 1;
    assert_int_equal(xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), NULL), -EINVAL);
    tu_desc_make(&t, 3);
    assert_int_equal(xpv_record_encode(&t.d, 1, 0, buf, 100, NULL), -ENOSPC);
}

static void test_rejects_bad_bytes(void **state)
{
    (void)state;
    long n = encode(5);
    expect(63, -EBADMSG, "shorter");
    expect(n - 1, -EBADMSG, "claims");

    buf[0] ^= 1;
    expect(n, -EBADMSG, "magic");
    n = encode(5);
    buf[8] = 2; /* ABI major 2 */
    expect(n, -EPROTO, "ABI 2");
    n = encode(5);
    buf[20] = 1; /* odd sequence: mid-write */
    expect(n, -EAGAIN, "being written");
    n = encode(5);
    buf[n - 1] ^= 0x40; /* a body byte */
    expect(n, -EILSEQ, "CRC");
    n = encode(5);
    buf[24] ^= 1; /* header generation differs from the body's copy */
    expect(n, -EBADMSG, "mixed records");
    n = encode(5);
    put32(buf + 12, 60); /* header shorter than 64 */
    expect(n, -EBADMSG, "header length");
    n = encode(5);
    put32(buf + 16, XPV_RECORD_MAP_SIZE + 8);
    expect(XPV_RECORD_MAP_SIZE, -EBADMSG, "claims");

    /* with a valid CRC (a hostile writer can compute one): counts, offsets, indices */
    n = encode(5);
    put32(buf + 64 + 0, 300); /* nr_pnodes */
    reseal(n);
    expect(n, -EBADMSG, "counts");
    n = encode(5);
    put32(buf + 64 + 36, (uint32_t)n); /* distance array past the body */
    reseal(n);
    expect(n, -EBADMSG, "distance");
    n = encode(5);
    put32(buf + 64 + 20, 8); /* pnode_ids inside the fixed part */
    reseal(n);
    expect(n, -EBADMSG, "pnode_ids");
    n = encode(5);
    {
        struct xpv_record_view v;
        assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, NULL), 0);
        uint8_t *cp = (uint8_t *)v.cpu_pnode;
        cp[0] = 0x40; /* CPU 0 on pnode index 64 */
        cp[1] = 0;
    }
    reseal(n);
    expect(n, -EBADMSG, "CPU 0");
    n = encode(5);
    {
        struct xpv_record_view v;
        assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, NULL), 0);
        ((uint8_t *)v.backing)[2] = 200; /* backing pnode index */
    }
    reseal(n);
    expect(n, -EBADMSG, "backing");
}

/* A later minor may lengthen the header and add fields; a 1.0 reader still reads the rest. */
static void test_forward_compatible(void **state)
{
    (void)state;
    long n = encode(9);
    static uint8_t big[XPV_RECORD_MAP_SIZE];
    memcpy(big, buf, 64);
    memset(big + 64, 0xAB, 16); /* 16 bytes of future header fields */
    memcpy(big + 80, buf + 64, (size_t)n - 64);
    put32(big + 12, 80);
    put32(big + 16, (uint32_t)n + 16);
    big[10] = 7; /* minor 7 */
    memcpy(buf, big, (size_t)n + 16);
    struct xpv_record_view v;
    assert_int_equal(xpv_record_decode(buf, (size_t)n + 16, &v, NULL), 0);
    assert_int_equal(v.abi_minor, 7);
    assert_int_equal(tu_view_matches(&v, 9), 0);
}

/* Every count at its bound: the size the spec states, and it fits the mapping. */
static void test_largest_record(void **state)
{
    (void)state;
    struct xpv_record_desc d = {.nr_pnodes = XPV_RECORD_MAX_PNODES,
                                .nr_vnodes = XPV_RECORD_MAX_VNODES,
                                .nr_cpus = XPV_RECORD_MAX_CPUS,
                                .nr_backing = XPV_RECORD_MAX_BACKING};
    assert_int_equal(xpv_record_size(&d), 214144);
    assert_true(xpv_record_size(&d) <= XPV_RECORD_MAP_SIZE);
}

static void test_desc_from_topo(void **state)
{
    (void)state;
    struct xpv_topo *t = xpv_topo_alloc(3);
    static const int ids[] = {0, 4, 7};
    for (unsigned i = 0; i < 3; i++) {
        t->nodes[i].id = ids[i];
        t->nodes[i].mem_total = i == 1 ? 0 : (uint64_t)(i + 1) << 30;
        xpv_bitmap_set(&t->nodes[i].cpus, 2 * i);
        xpv_bitmap_set(&t->nodes[i].cpus, 2 * i + 1);
        xpv_bitmap_set(&t->cpus_online, 2 * i);
        xpv_bitmap_set(&t->cpus_online, 2 * i + 1);
        for (unsigned j = 0; j < 3; j++)
            xpv_topo_set_dist(t, i, j, i == j ? 10 : 21);
    }
    struct xpv_record_desc d;
    assert_int_equal(xpv_record_desc_from_topo(t, &d, NULL), 0);
    assert_int_equal(d.nr_pnodes, 3);
    assert_int_equal(d.nr_cpus, 6);
    assert_int_equal(d.nr_backing, 2); /* the memory-less node backs nothing */
    long n = xpv_record_encode(&d, 1, 0, buf, sizeof(buf), NULL);
    struct xpv_record_view v;
    assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, NULL), 0);
    assert_int_equal(xpv_record_pnode_id(&v, 2), 7);
    assert_int_equal(xpv_record_cpu_pnode(&v, 3), 1);
    assert_int_equal(xpv_record_distance(&v, 0, 2), 21);
    xpv_record_desc_free(&d);
    xpv_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_crc32c),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_rejects_bad_desc),
            cmocka_unit_test(test_rejects_bad_bytes),
            cmocka_unit_test(test_forward_compatible),
            cmocka_unit_test(test_largest_record),
            cmocka_unit_test(test_desc_from_topo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
