/*
 * tu_cmocka.h — what every cmocka test binary of the project gets (tests/tu_cmocka.c, linked
 * in by xpv_cmocka_target() of tests/CMakeLists.txt):
 *
 *   xpv_skip("why %s", ...)   skip the running case, saying why: prints "skip: why ..." (the
 *                             convention of docs/development.md, "Skips") and calls cmocka's
 *                             skip(). A bare skip() is a failure of the case (the linker
 *                             sends skip() through tu_cmocka.c, which checks for a reason).
 *
 *   exit status               cmocka_run_group_tests() returns 77 (CTest: Skipped, with
 *                             SKIP_RETURN_CODE 77) when a case was skipped and none failed; a
 *                             failure wins over a skip. (Why not CTest's
 *                             SKIP_REGULAR_EXPRESSION on cmocka's "[  SKIPPED ]" line: it
 *                             takes precedence over the exit status, so a binary with one
 *                             skipped and one failed case would show as Skipped.)
 *
 *   XPV_CMOCKA_ONLY=a,b       run only the cases named (comma-separated, fnmatch patterns on
 *   XPV_CMOCKA_EXCEPT=a,b     the case name, e.g. test_live_page_faults); a pattern that names
 *                             no case is an error. xpv_cmocka_test(... APART case) uses them
 *                             to run a case that may skip as a CTest test of its own.
 */
#ifndef XPV_TU_CMOCKA_H
#define XPV_TU_CMOCKA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

__attribute__((format(printf, 1, 2))) void xpv_skip_reason(const char *fmt, ...);

#define xpv_skip(...)                                                                              \
    do {                                                                                           \
        xpv_skip_reason(__VA_ARGS__);                                                              \
        skip();                                                                                    \
    } while (0)

#endif
