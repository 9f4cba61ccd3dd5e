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

const char *xpv_names_join(const char *const *names, char *buf, size_t len)
{
    size_t used = 0;
    if (!len)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}
