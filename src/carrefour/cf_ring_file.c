/*
 * cf_ring_file.c — finding and opening the software sampler's ring file for the (root) reader
 * (xpv/cf_ring.h, "The ring's file"). /dev/shm is world-writable, so the directory is opened
 * once and every entry is opened relative to it with O_NOFOLLOW and judged on its fd: a
 * regular file named xpv-cfsampler.<pid>.<16 hex digits>, owned by the target's owner (or
 * root), with no permission for group or others, and of a ring's size. Anything else is
 * skipped, never mapped, never written. The bytes of an accepted ring are still untrusted
 * (the target wrote them): xpv_cf_ring_open checks them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xpv/cf_ring.h"

/* name is XPV_CF_RING_PREFIX_FMT for pid followed by exactly 16 lowercase hex digits */
static bool ring_name_of(const char *name, pid_t pid)
{
    char pre[64];
    int n = snprintf(pre, sizeof(pre), XPV_CF_RING_PREFIX_FMT, (int)pid);
    if (strncmp(name, pre, (size_t)n) != 0 || strlen(name + n) != 16)
        return false;
    for (const char *c = name + n; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

int xpv_cf_ring_file_open(const char *dir, pid_t pid, uid_t uid, char *name, size_t len,
                          struct xpv_error *err)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return xpv_error_set(err, -e, "cannot open %s: %s", dir, strerror(e));
    }
    int fd = -ENOENT, refused = 0;
    char why[512] = ""; /* dir and name cut to 160 and 80 bytes in the messages */
    struct dirent *de;
    while (fd < 0 && (de = readdir(d))) {
        if (!ring_name_of(de->d_name, pid))
            continue;
        int f = openat(dfd, de->d_name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        struct stat st;
        if (f < 0 || fstat(f, &st) < 0) {
            snprintf(why, sizeof(why), "%.160s/%.80s: %s", dir, de->d_name, strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            snprintf(why, sizeof(why), "%.160s/%.80s is not a regular file", dir, de->d_name);
        } else if (st.st_uid != uid && st.st_uid != 0) {
            snprintf(why, sizeof(why), "%.160s/%.80s is owned by uid %u, the target by uid %u", dir,
                     de->d_name, (unsigned)st.st_uid, (unsigned)uid);
        } else if (st.st_mode & 077) {
            snprintf(why, sizeof(why), "%.160s/%.80s has mode %04o, the sampler makes it 0600", dir,
                     de->d_name, (unsigned)(st.st_mode & 07777));
        } else if (st.st_size != 0 &&
                   (st.st_size < XPV_CF_RING_HDR ||
                    (uint64_t)st.st_size > xpv_cf_ring_size(XPV_CF_RING_MAX_CAP))) {
            snprintf(why, sizeof(why), "%.160s/%.80s: %lld bytes is not a sampler ring", dir,
                     de->d_name, (long long)st.st_size);
        } else {
            snprintf(name, len, "%s/%s", dir, de->d_name);
            fd = f;
            continue;
        }
        refused++;
        if (f >= 0)
            close(f);
    }
    closedir(d);
    if (fd >= 0)
        return fd;
    if (refused)
        return xpv_error_set(err, -EPERM, "refused %d sampler ring(s) for pid %d: %s", refused,
                             (int)pid, why);
    return xpv_error_set(err, -ENOENT, "no sampler ring for pid %d in %s", (int)pid, dir);
}

void xpv_cf_ring_file_remove(const char *dir, pid_t pid, uid_t uid)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    struct dirent *de;
    struct stat st;
    while ((de = readdir(d)))
        if (ring_name_of(de->d_name, pid) &&
            fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == uid)
            unlinkat(dfd, de->d_name, 0);
    closedir(d);
}
