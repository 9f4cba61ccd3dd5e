/*
 * follow.c — libxpv's opt-in to the guest agent's re-binding (xpv_follow_register): a file
 * named after the process in the agent's follow directory (docs/guestd.md, "Following").
 *
 * The directory is world-writable and the caller may be root, so nothing here follows a
 * symlink an unprivileged user may have planted: the directory is opened once (O_NOFOLLOW),
 * its owner and mode checked on the fd (root's or the caller's; writable by others only when
 * sticky), and the entry is created relative to that fd with O_CREAT|O_EXCL|O_NOFOLLOW. An
 * existing entry is kept only when it is already the caller's regular file; anything else
 * (a planted symlink, someone else's file) is removed (unlinkat never follows) and created
 * again, or the call fails. Never a path looked up twice.
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

static int name_of(int pid, char *buf, size_t len, struct xpv_error *err)
{
    if (pid < 0)
        return xpv_error_set(err, -EINVAL, "pid %d", pid);
    snprintf(buf, len, "%d", pid ? pid : (int)getpid());
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
    if (mkdir(dir, 01777) < 0)
        return; /* an existing one is left as is (and checked by whoever uses it) */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        fchmod(fd, 01777); /* past the umask; on the directory made here, not a path again */
        close(fd);
    }
}

/* The follow directory, opened and checked: a directory (its last component not a symlink)
 * owned by root or the caller, writable by group or others only with the sticky bit. */
static int dir_open(const char *dir, struct xpv_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return xpv_error_set(err, -errno,
                             "cannot open the follow directory %s: %s (is the guest agent "
                             "running?)",
                             dir, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return xpv_error_set(err, e, "cannot stat %s: %s", dir, strerror(-e));
    }
    if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
        ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
        close(fd);
        return xpv_error_set(err, -EPERM,
                             "follow directory %s refused: owner uid %u, mode %04o (expected "
                             "root's, writable by others only when sticky)",
                             dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    }
    return fd;
}

int xpv_follow_register(const char *dir, int pid, struct xpv_error *err)
{
    char name[16];
    dir = follow_dir(dir);
    int rc = name_of(pid, name, sizeof(name), err);
    if (rc < 0)
        return rc;
    xpv_follow_dir_create(dir);
    int dfd = dir_open(dir, err);
    if (dfd < 0)
        return dfd;
    for (int attempt = 0;; attempt++) {
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(fd);
            break;
        }
        int e = errno;
        struct stat st;
        if (e == EEXIST && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid())
            break; /* already ours */
        if (e == EEXIST && attempt == 0 && unlinkat(dfd, name, 0) == 0)
            continue; /* a stale or planted entry (the link itself goes, never its target) */
        close(dfd);
        return xpv_error_set(err, -e,
                             "cannot create %s/%s: %s (is the guest agent's follow directory "
                             "writable? an entry that is not the caller's is never reused)",
                             dir, name, strerror(e));
    }
    close(dfd);
    return 0;
}

int xpv_follow_unregister(const char *dir, int pid, struct xpv_error *err)
{
    char name[16];
    dir = follow_dir(dir);
    int rc = name_of(pid, name, sizeof(name), err);
    if (rc < 0)
        return rc;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT
                       ? 0
                       : xpv_error_set(err, -errno, "cannot open %s: %s", dir, strerror(errno));
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
        int e = errno;
        close(dfd);
        return xpv_error_set(err, -e, "cannot remove %s/%s: %s", dir, name, strerror(e));
    }
    close(dfd);
    return 0;
}
