/*
 * xpv/error.h — how xpv libraries report failure.
 *
 * Every fallible call returns 0 (or a non-negative result) on success and a negative errno
 * value on failure. Calls whose failure needs explaining to a person (which file, which line,
 * what was expected) also take an optional `struct xpv_error *`, filled with the same code
 * and a one-line message. Libraries never print and never exit.
 */
#ifndef XPV_ERROR_H
#define XPV_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_ERROR_MSG_MAX 512

struct xpv_error {
    int code;                    /* negative errno, 0 when no error was recorded */
    char msg[XPV_ERROR_MSG_MAX]; /* human-readable, no trailing newline */
};

/* Record `code` (negative errno) and a printf-style message in `err` (may be NULL).
 * Returns `code`, so callers can write `return xpv_error_set(err, -EINVAL, "...")`. */
int xpv_error_set(struct xpv_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* "a, b, c" from a NULL-terminated list, for messages that list the valid choices; truncated
 * to fit buf. Returns buf. */
const char *xpv_names_join(const char *const *names, char *buf, size_t len);

/* Message for `err`, or strerror(-code) when no message was recorded. Never NULL. */
const char *xpv_error_str(const struct xpv_error *err, int code);

#ifdef __cplusplus
}
#endif
#endif
