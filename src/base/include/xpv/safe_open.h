/*
 * xpv/safe_open.h — the one open discipline for files a privileged xpv process creates, maps
 * or trusts (docs/security.md, "The host daemon's files").
 *
 * Directories: xpv_dir_open() walks a path from / one component at a time with O_NOFOLLOW
 * (after realpath(), so a root-owned /var/run -> /run still works) and applies the
 * directory rule, xpv_dir_check(), to every component: a directory owned by root or by the
 * caller's euid that is not group/world-writable, or is but has the sticky bit (/tmp,
 * /dev/shm: others cannot rename or remove what we create there); with XPV_DIR_PRIVATE the
 * last one must not be group/world-writable at all.
 *
 * Files: xpv_safe_openat() opens a name relative to such a directory fd with
 * O_NOFOLLOW|O_CLOEXEC|O_NOCTTY|O_NONBLOCK. Creating is O_CREAT|O_EXCL; an existing file is
 * adopted only when it is a regular file with one link, owned by the euid and not
 * group/world-writable (XPV_SAFE_FOREIGN relaxes the owner and mode checks for a file another
 * user made on purpose, an ivshmem region: it must then exist and already be large enough,
 * and is never created nor grown). A size is reserved with posix_fallocate(), so a full
 * tmpfs is an error at open and not a SIGBUS at the first store into a mapping.
 */
#ifndef XPV_SAFE_OPEN_H
#define XPV_SAFE_OPEN_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_DIR_PRIVATE 1u /* the last component: not group/world-writable, even sticky */
#define XPV_DIR_CREATE  2u /* mkdir the last component when missing (mode, not umasked) */

/*
 * The directory rule on one directory's stat: 0, or -EPERM with "PATH: why" in err (not a
 * directory: -ENOTDIR).
 */
int xpv_dir_check(const struct stat *st, const char *path, unsigned flags, struct xpv_error *err);

/*
 * Open path (a directory) for use as the dirfd of xpv_safe_openat(), every component checked
 * by the rule. Returns the fd (O_RDONLY|O_DIRECTORY|O_CLOEXEC) or -errno: -ENOENT when it
 * does not exist (and XPV_DIR_CREATE is not given), -EPERM refused by the rule, -ELOOP a
 * component was replaced by a symlink while walking.
 */
int xpv_dir_open(const char *path, unsigned flags, mode_t mode, struct xpv_error *err);

#define XPV_SAFE_CREATE  1u /* create it (O_EXCL) when missing */
#define XPV_SAFE_EXCL    2u /* only create: an existing file is -EEXIST */
#define XPV_SAFE_FOREIGN 4u /* adopt an existing file of another owner (see above) */

/*
 * Open name (no '/') in dirfd. access: O_RDONLY or O_RDWR. mode: for a created file (the
 * umask applies). size > 0: the file is made at least size bytes with posix_fallocate (or,
 * XPV_SAFE_FOREIGN, must already be). shown: the path for messages. *created (optional): the
 * file was created by this call. Returns the fd or -errno with a message: -ELOOP a symbolic
 * link, -EPERM a file of another owner, group/world-writable, of several links or not
 * regular; -ENOSPC no room for size bytes.
 */
int xpv_safe_openat(int dirfd, const char *name, int access, unsigned flags, mode_t mode,
                    off_t size, const char *shown, bool *created, struct xpv_error *err);

/*
 * The same for a path: its directory is opened as it is (following symbolic links, no rule:
 * for a user's own files, `xpv publish`, the guest agent), the last component under the
 * file discipline.
 */
int xpv_safe_open(const char *path, int access, unsigned flags, mode_t mode, off_t size,
                  bool *created, struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
