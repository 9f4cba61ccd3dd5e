/*
 * tu_cmocka.c — skips with a reason, skips seen by CTest, and case filters for every cmocka
 * test binary (tu_cmocka.h says what a test sees). Linked with -Wl,--wrap=_skip and
 * -Wl,--wrap=_cmocka_run_group_tests (xpv_cmocka_target() in tests/CMakeLists.txt): cmocka's
 * skip() and cmocka_run_group_tests() are macros for those two functions, so every call in
 * the test's own objects comes here first and then goes to cmocka (__real_...).
 *
 * Invariant: a process whose cases all passed or skipped, at least one skipped, exits 77;
 * each skipped case printed a line "skip: <reason>" before cmocka's "[  SKIPPED ]".
 */
#define _GNU_SOURCE
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tu_cmocka.h"

void __real__skip(const char *const file, const int line);
void __wrap__skip(const char *const file, const int line);
int __real__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown);
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown);

static bool reason_given; /* xpv_skip_reason() ran since the last skip */
static unsigned skipped;  /* cases skipped in this process */

void xpv_skip_reason(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_message("skip: %s\n", msg);
    fflush(stdout);
    reason_given = true;
}

void __wrap__skip(const char *const file, const int line)
{
    if (!reason_given) {
        print_error("%s:%d: skip() without a reason: call xpv_skip(\"why\", ...) "
                    "(tests/tu_cmocka.h)\n",
                    file, line);
        _fail(file, line);
    }
    reason_given = false;
    skipped++;
    __real__skip(file, line);
}

/* Does name match one of the comma-separated patterns of list? Counts the matches of each
 * pattern in hits[] (up to 32 patterns). */
static bool listed(const char *list, const char *name, unsigned hits[32])
{
    bool any = false;
    const char *p = list;
    for (unsigned k = 0; *p && k < 32; k++) {
        size_t len = strcspn(p, ",");
        char pat[256];
        snprintf(pat, sizeof(pat), "%.*s", (int)len, p);
        if (fnmatch(pat, name, 0) == 0) {
            hits[k]++;
            any = true;
        }
        p += len + (p[len] == ',');
    }
    return any;
}

/* The first pattern of list that matched nothing, or NULL. */
static const char *unmatched(const char *list, const unsigned hits[32], char *buf, size_t len)
{
    const char *p = list;
    for (unsigned k = 0; *p && k < 32; k++) {
        size_t n = strcspn(p, ",");
        if (!hits[k]) {
            snprintf(buf, len, "%.*s", (int)n, p);
            return buf;
        }
        p += n + (p[n] == ',');
    }
    return NULL;
}

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown)
{
    const char *only = getenv("XPV_CMOCKA_ONLY"), *except = getenv("XPV_CMOCKA_EXCEPT");
    struct CMUnitTest *run = calloc(num_tests ? num_tests : 1, sizeof(*run));
    if (!run) {
        print_error("out of memory\n");
        return 1;
    }
    unsigned only_hits[32] = {0}, except_hits[32] = {0};
    size_t n = 0;
    for (size_t i = 0; i < num_tests; i++) {
        bool in = !only || !*only || listed(only, tests[i].name, only_hits);
        if (except && *except && listed(except, tests[i].name, except_hits))
            in = false;
        if (in)
            run[n++] = tests[i];
    }
    char bad[256];
    const char *which = NULL, *miss = NULL;
    if (only && *only && (miss = unmatched(only, only_hits, bad, sizeof(bad))))
        which = "XPV_CMOCKA_ONLY";
    else if (except && *except && (miss = unmatched(except, except_hits, bad, sizeof(bad))))
        which = "XPV_CMOCKA_EXCEPT";
    if (which) {
        print_error("%s: '%s' names no case of %s\n", which, miss, group_name);
        free(run);
        return 1;
    }
    int failed = __real__cmocka_run_group_tests(group_name, run, n, group_setup, group_teardown);
    free(run);
    if (failed == 0 && skipped > 0) {
        print_message("%u case(s) skipped, none failed: exit 77 (skipped)\n", skipped);
        return 77;
    }
    return failed;
}
