/*
 * safe_open.c — the directory rule and the file open discipline (xpv/safe_open.h). Every
 * check is made on the open fd (fstat), never on a path that could change between the check
 * and the use; names are opened relative to a directory fd with O_NOFOLLOW.
 */
#define _GNU_SOURCE
#include "xpv/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int xpv_dir_check(const struct stat *st, const char *path, unsigned flags, struct xpv_error *err)
{
    if (!S_ISDIR(st->st_mode))
        return xpv_error_set(err, -ENOTDIR, "%s is not a directory", path);
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return xpv_error_set(err, -EPERM, "%s belongs to uid %u, not to root or uid %u", path,
                             (unsigned)st->st_uid, (unsigned)geteuid());
    bool shared = st->st_mode & (S_IWGRP | S_IWOTH);
    if (shared && (flags & XPV_DIR_PRIVATE))
        return xpv_error_set(err, -EPERM,
                             "%s is group/world-writable (mode %04o): a private "
                             "directory is wanted",
                             path, (unsigned)(st->st_mode & 07777));
    if (shared && !(st->st_mode & S_ISVTX))
        return xpv_error_set(err, -EPERM,
                             "%s is group/world-writable without the sticky bit "
                             "(mode %04o)",
                             path, (unsigned)(st->st_mode & 07777));
    return 0;
}

int xpv_dir_open(const char *path, unsigned flags, mode_t mode, struct xpv_error *err)
{
    char real[PATH_MAX];
    if (!path || !*path)
        return xpv_error_set(err, -EINVAL, "empty directory path");
    if (!realpath(path, real)) {
        int e = errno;
        if (e != ENOENT || !(flags & XPV_DIR_CREATE))
            return xpv_error_set(err, -e, "%s: %s", path, strerror(e));
        /* the last component may be missing: resolve its parent */
        char copy[PATH_MAX];
        snprintf(copy, sizeof(copy), "%s", path);
        char *slash = strrchr(copy, '/');
        const char *base = slash ? slash + 1 : copy;
        if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
            return xpv_error_set(err, -EINVAL, "%s: not a directory name", path);
        const char *parent = slash ? (slash == copy ? "/" : copy) : ".";
        if (slash)
            *slash = 0;
        char rp[PATH_MAX];
        if (!realpath(parent, rp))
            return xpv_error_set(err, -errno, "%s: %s", parent, strerror(errno));
        if (snprintf(real, sizeof(real), "%s/%s", strcmp(rp, "/") ? rp : "", base) >=
            (int)sizeof(real))
            return xpv_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    }
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return xpv_error_set(err, -errno, "/: %s", strerror(errno));
    char walked[PATH_MAX] = "";
    char *save = NULL;
    bool last;
    for (char *c = strtok_r(real, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        size_t wl = strlen(walked);
        last = save == NULL || *save == 0;
        /* the directory just walked into (the last one is checked below, with flags) */
        struct stat st;
        int rc = fstat(fd, &st) < 0
                         ? xpv_error_set(err, -errno, "%s: %s", wl ? walked : "/", strerror(errno))
                         : xpv_dir_check(&st, wl ? walked : "/", 0, err);
        walked[wl] = 0;
        snprintf(walked + wl, sizeof(walked) - wl, "/%s", c);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && last && (flags & XPV_DIR_CREATE)) {
            bool made = mkdirat(fd, c, mode) == 0;
            if (!made && errno != EEXIST) {
                int e = errno;
                close(fd);
                return xpv_error_set(err, -e, "cannot create %s: %s", walked, strerror(e));
            }
            nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd >= 0 && made)
                fchmod(nfd, mode); /* the mode asked for, whatever the umask */
        }
        int e = errno;
        close(fd);
        if (nfd < 0) {
            if (e == ELOOP || e == ENOTDIR)
                return xpv_error_set(err, -ELOOP, "%s is not a directory (a symbolic link?)",
                                     walked);
            return xpv_error_set(err, -e, "%s: %s", walked, strerror(e));
        }
        fd = nfd;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    int rc = xpv_dir_check(&st, walked[0] ? walked : "/", flags, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* An existing file we are about to adopt: one that someone else can rewrite, truncate or
 * that is a hard link to another file is refused. */
static int check_file(int fd, const char *shown, unsigned flags, off_t size, struct xpv_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return xpv_error_set(err, -errno, "cannot stat %s: %s", shown, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return xpv_error_set(err, -EPERM, "%s is not a regular file", shown);
    if (st.st_nlink != 1)
        return xpv_error_set(err, -EPERM, "%s has %lu links (a hard link to another file?)", shown,
                             (unsigned long)st.st_nlink);
    if (flags & XPV_SAFE_FOREIGN) {
        if (size > 0 && st.st_size < size)
            return xpv_error_set(err, -EPERM,
                                 "%s is %lld bytes: %lld expected (not grown: it "
                                 "is not ours)",
                                 shown, (long long)st.st_size, (long long)size);
        return 0;
    }
    if (st.st_uid != geteuid())
        return xpv_error_set(err, -EPERM, "%s belongs to uid %u, not to uid %u: refused", shown,
                             (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return xpv_error_set(err, -EPERM, "%s is group/world-writable (mode %04o): refused", shown,
                             (unsigned)(st.st_mode & 07777));
    return 0;
}

int xpv_safe_openat(int dirfd, const char *name, int access, unsigned flags, mode_t mode,
                    off_t size, const char *shown, bool *created, struct xpv_error *err)
{
    if (created)
        *created = false;
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return xpv_error_set(err, -EINVAL, "%s: not a file name", shown);
    const int base = access | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    bool made = false;
    for (int tries = 0; fd < 0 && tries < 4; tries++) {
        if (flags & (XPV_SAFE_CREATE | XPV_SAFE_EXCL)) {
            fd = openat(dirfd, name, base | O_CREAT | O_EXCL, mode);
            if (fd >= 0) {
                made = true;
                break;
            }
            if (errno != EEXIST || (flags & XPV_SAFE_EXCL))
                break;
        }
        fd = openat(dirfd, name, base);
        if (fd < 0 && (errno != ENOENT || !(flags & XPV_SAFE_CREATE)))
            break; /* ENOENT with CREATE: removed between the two opens, try again */
    }
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return xpv_error_set(err, -ELOOP, "%s is a symbolic link: refused", shown);
        if (e == EEXIST)
            return xpv_error_set(err, -EEXIST, "%s already exists", shown);
        return xpv_error_set(err, -e, "cannot open %s: %s", shown, strerror(e));
    }
    int rc = made ? 0 : check_file(fd, shown, flags, size, err);
    if (rc == 0 && size > 0 && !(flags & XPV_SAFE_FOREIGN)) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            rc = xpv_error_set(err, -errno, "cannot stat %s: %s", shown, strerror(errno));
        else if (st.st_size < size || st.st_blocks * 512 < size) {
            int e = posix_fallocate(fd, 0, size);
            if (e)
                rc = xpv_error_set(err, -e, "cannot reserve %lld bytes for %s: %s", (long long)size,
                                   shown, strerror(e));
        }
    }
    if (rc == 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    if (rc < 0) {
        if (made)
            unlinkat(dirfd, name, 0);
        close(fd);
        return rc;
    }
    if (created)
        *created = made;
    return fd;
}

int xpv_safe_open(const char *path, int access, unsigned flags, mode_t mode, off_t size,
                  bool *created, struct xpv_error *err)
{
    char dir[PATH_MAX];
    if (!path || snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return xpv_error_set(err, -ENAMETOOLONG, "path too long");
    char *slash = strrchr(dir, '/');
    const char *name = slash ? path + (slash - dir) + 1 : path;
    if (slash)
        slash == dir ? (void)(dir[1] = 0) : (void)(*slash = 0);
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return xpv_error_set(err, -errno, "cannot open the directory of %s: %s", path,
                             strerror(errno));
    int fd = xpv_safe_openat(dfd, name, access, flags, mode, size, path, created, err);
    close(dfd);
    return fd;
}
