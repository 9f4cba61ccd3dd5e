/*
 * xpv/file.h — read a whole file into memory: configuration, recorded samples, /proc and
 * sysfs files (whose size stat() reports as 0, so the read loops to EOF instead of trusting
 * it). One implementation for every reader of the project.
 */
#ifndef XPV_FILE_H
#define XPV_FILE_H

#include <stddef.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read path into a malloc'd, NUL-terminated buffer (*text, *len bytes before the NUL; the
 * caller frees it). Errors: -errno of open/read ("cannot read PATH: why" in err; -ENOENT
 * and -ESRCH pass through unchanged for /proc readers), -EFBIG when the file is larger than
 * max bytes ("PATH: larger than MAX bytes"), -ENOMEM.
 */
int xpv_read_file(const char *path, size_t max, char **text, size_t *len, struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
