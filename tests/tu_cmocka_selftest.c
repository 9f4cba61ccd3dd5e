/*
 * tu_cmocka_selftest.c — a cmocka binary whose cases do what XPV_SELFTEST says, for
 * tu_cmocka_selftest.sh (unit.cmocka_skips): a skip with a reason, a bare skip(), a failure
 * beside a skip, nothing at all. Not a test of xpv: of tests/tu_cmocka.c.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tu_cmocka.h"

static const char *mode(void)
{
    const char *m = getenv("XPV_SELFTEST");
    return m ? m : "";
}

static void test_first(void **state)
{
    (void)state;
    if (!strcmp(mode(), "reason") || !strcmp(mode(), "fail_and_skip"))
        xpv_skip("the frobnicator is not installed");
    if (!strcmp(mode(), "bare"))
        skip();
}

static void test_second(void **state)
{
    (void)state;
    if (!strcmp(mode(), "fail_and_skip"))
        fail_msg("a planted failure");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_first),
            cmocka_unit_test(test_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
