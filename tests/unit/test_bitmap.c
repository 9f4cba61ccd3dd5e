/* test_bitmap.c — struct xpv_bitmap: set algebra and the cpulist / hex-mask parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/bitmap.h"

static void test_set_clear_bounds(void **state)
{
    (void)state;
    struct xpv_bitmap b;
    xpv_bitmap_zero(&b);
    assert_true(xpv_bitmap_empty(&b));
    xpv_bitmap_set(&b, 0);
    xpv_bitmap_set(&b, 63);
    xpv_bitmap_set(&b, 64);
    xpv_bitmap_set(&b, XPV_MAX_CPUS - 1);
    xpv_bitmap_set(&b, XPV_MAX_CPUS); /* ignored */
    assert_int_equal(xpv_bitmap_weight(&b), 4);
    assert_true(xpv_bitmap_isset(&b, 63));
    assert_false(xpv_bitmap_isset(&b, 62));
    assert_false(xpv_bitmap_isset(&b, XPV_MAX_CPUS));
    xpv_bitmap_clr(&b, 63);
    assert_false(xpv_bitmap_isset(&b, 63));
    assert_int_equal(xpv_bitmap_last(&b), XPV_MAX_CPUS - 1);
}

static void test_iterate(void **state)
{
    (void)state;
    struct xpv_bitmap b;
    assert_int_equal(xpv_bitmap_parse_list(&b, "1,64-65,200,4095"), 0);
    int want[] = {1, 64, 65, 200, 4095}, i = 0;
    for (int c = xpv_bitmap_next(&b, 0); c >= 0; c = xpv_bitmap_next(&b, (unsigned)c + 1))
        assert_int_equal(c, want[i++]);
    assert_int_equal(i, 5);
    assert_int_equal(xpv_bitmap_next(&b, 4096), -1);
    xpv_bitmap_zero(&b);
    assert_int_equal(xpv_bitmap_next(&b, 0), -1);
    assert_int_equal(xpv_bitmap_last(&b), -1);
}

static void test_parse_list(void **state)
{
    (void)state;
    struct xpv_bitmap b;
    char buf[128];
    assert_int_equal(xpv_bitmap_parse_list(&b, "0-3,8,10-11\n"), 0);
    assert_int_equal(xpv_bitmap_weight(&b), 7);
    xpv_bitmap_format_list(&b, buf, sizeof(buf));
    assert_string_equal(buf, "0-3,8,10-11");
    assert_int_equal(xpv_bitmap_parse_list(&b, ""), 0); /* empty cpulist: empty set */
    assert_true(xpv_bitmap_empty(&b));
    assert_int_equal(xpv_bitmap_parse_list(&b, "  \n"), 0);
    assert_true(xpv_bitmap_empty(&b));
}

static void test_parse_list_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {"a", "1-", "-1", "3-1", "1,,2", "1,", "1 2", "0x1", "1;2", "1-2-3"};
    struct xpv_bitmap b;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xpv_bitmap_zero(&b);
        xpv_bitmap_set(&b, 7);
        assert_int_equal(xpv_bitmap_parse_list(&b, bad[i]), -EINVAL);
        /* untouched on error */
        assert_int_equal(xpv_bitmap_weight(&b), 1);
        assert_true(xpv_bitmap_isset(&b, 7));
    }
    assert_int_equal(xpv_bitmap_parse_list(&b, "4096"), -ERANGE);
    assert_int_equal(xpv_bitmap_parse_list(&b, "0-99999999999"), -ERANGE);
    assert_int_equal(xpv_bitmap_weight(&b), 1);
}

static void test_parse_mask(void **state)
{
    (void)state;
    struct xpv_bitmap b;
    char buf[128];
    assert_int_equal(xpv_bitmap_parse_mask(&b, "0000000f\n"), 0);
    xpv_bitmap_format_list(&b, buf, sizeof(buf));
    assert_string_equal(buf, "0-3");
    /* kernel style: 32-bit groups, most significant first */
    assert_int_equal(xpv_bitmap_parse_mask(&b, "00000001,00000000,80000000"), 0);
    xpv_bitmap_format_list(&b, buf, sizeof(buf));
    assert_string_equal(buf, "31,64");
    assert_int_equal(xpv_bitmap_parse_mask(&b, "Ff"), 0);
    assert_int_equal(xpv_bitmap_weight(&b), 8);
    assert_int_equal(xpv_bitmap_parse_mask(&b, ""), -EINVAL);
    assert_int_equal(xpv_bitmap_parse_mask(&b, "0xf"), -EINVAL);
    assert_int_equal(xpv_bitmap_parse_mask(&b, "fg"), -EINVAL);
    /* a set bit past 4095 is out of range; leading zero digits are fine */
    char big[1200];
    memset(big, '0', 1100);
    big[0] = '1';
    big[1100] = '\0';
    assert_int_equal(xpv_bitmap_parse_mask(&b, big), -ERANGE);
    big[0] = '0';
    big[1099] = '1';
    assert_int_equal(xpv_bitmap_parse_mask(&b, big), 0);
    assert_true(xpv_bitmap_isset(&b, 0));
}

static void test_format_truncation(void **state)
{
    (void)state;
    struct xpv_bitmap b;
    char buf[6];
    assert_int_equal(xpv_bitmap_parse_list(&b, "0-3,8,10-11"), 0);
    size_t need = xpv_bitmap_format_list(&b, buf, sizeof(buf));
    assert_int_equal(need, strlen("0-3,8,10-11"));
    assert_true(strlen(buf) < sizeof(buf));
    xpv_bitmap_zero(&b);
    assert_int_equal(xpv_bitmap_format_list(&b, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
}

static void test_algebra(void **state)
{
    (void)state;
    struct xpv_bitmap a, b, r;
    xpv_bitmap_parse_list(&a, "0-7,100");
    xpv_bitmap_parse_list(&b, "4-11");
    xpv_bitmap_and(&r, &a, &b);
    assert_int_equal(xpv_bitmap_weight(&r), 4);
    xpv_bitmap_or(&r, &a, &b);
    assert_int_equal(xpv_bitmap_weight(&r), 13);
    xpv_bitmap_andnot(&r, &a, &b);
    assert_int_equal(xpv_bitmap_weight(&r), 5);
    assert_true(xpv_bitmap_intersects(&a, &b));
    assert_false(xpv_bitmap_subset(&a, &b));
    xpv_bitmap_and(&r, &a, &b);
    assert_true(xpv_bitmap_subset(&r, &a));
    assert_true(xpv_bitmap_subset(&r, &b));
    assert_false(xpv_bitmap_equal(&a, &b));
    r = a;
    assert_true(xpv_bitmap_equal(&a, &r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_set_clear_bounds), cmocka_unit_test(test_iterate),
            cmocka_unit_test(test_parse_list),       cmocka_unit_test(test_parse_list_rejects),
            cmocka_unit_test(test_parse_mask),       cmocka_unit_test(test_format_truncation),
            cmocka_unit_test(test_algebra),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
