/*
 * follow.c — libxpv's opt-in to the guest agent's re-binding (xpv_follow_register): a file
 * named after the process in the agent's follow directory (docs/guestd.md, "Following").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xpv/channel.h"

static const char *follow_dir(const char *dir)
{
    const char *e = getenv("XPV_FOLLOW_DIR");
    return dir ? dir : e && e[0] ? e : XPV_FOLLOW_DEFAULT_DIR;
}

static int path_of(const char *dir, int pid, char *buf, size_t len, struct xpv_error *err)
{
    if (pid < 0)
        return xpv_error_set(err, -EINVAL, "pid %d", pid);
    if ((size_t)snprintf(buf, len, "%s/%d", dir, pid ? pid : (int)getpid()) >= len)
        return xpv_error_set(err, -ENAMETOOLONG, "follow directory path too long: %s", dir);
    return 0;
}

void xpv_follow_dir_create(const char *dir)
{
    char parent[512];
    snprintf(parent, sizeof(parent), "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir(parent, 0755); /* /run/xpv */
    }
    if (mkdir(dir, 01777) == 0)
        chmod(dir, 01777); /* past the umask */
}

int xpv_follow_register(const char *dir, int pid, struct xpv_error *err)
{
    char p[512];
    dir = follow_dir(dir);
    int rc = path_of(dir, pid, p, sizeof(p), err);
    if (rc < 0)
        return rc;
    xpv_follow_dir_create(dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return xpv_error_set(err, -errno,
                             "cannot create %s: %s (is the guest agent's follow "
                             "directory writable?)",
                             p, strerror(errno));
    close(fd);
    return 0;
}

int xpv_follow_unregister(const char *dir, int pid, struct xpv_error *err)
{
    char p[512];
    int rc = path_of(follow_dir(dir), pid, p, sizeof(p), err);
    if (rc < 0)
        return rc;
    if (unlink(p) < 0 && errno != ENOENT)
        return xpv_error_set(err, -errno, "cannot remove %s: %s", p, strerror(errno));
    return 0;
}
