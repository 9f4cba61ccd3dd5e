/*
 * file.c — xpv_read_file() (xpv/file.h): the one whole-file reader. It reads with read(2)
 * until EOF, doubling its buffer, so files whose size is unknown in advance (procfs, sysfs,
 * pipes) read like any other; the max bound keeps a hostile or mistaken path (a device, a
 * huge file) from exhausting memory.
 */
#include "xpv/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int xpv_read_file(const char *path, size_t max, char **text, size_t *len, struct xpv_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return xpv_error_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = xpv_error_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
        else if (got == 0)
            break;
        else if ((n += (size_t)got) > max)
            rc = xpv_error_set(err, -EFBIG, "%s: larger than %zu bytes", path, max);
    }
    close(fd);
    if (rc == -ENOMEM)
        xpv_error_set(err, rc, "out of memory reading %s", path);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}
