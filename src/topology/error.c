/* error.c — struct xpv_error helpers (see xpv/error.h). */
#include "xpv/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int xpv_error_set(struct xpv_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *xpv_error_str(const struct xpv_error *err, int code)
{
    if (err && err->code && err->msg[0])
        return err->msg;
    return strerror(code < 0 ? -code : code);
}
