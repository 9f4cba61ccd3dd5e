/*
 * xpv/publisher.h — the writing end of the channel: puts topology records into a shared
 * mapping (a file under /dev/shm for processes on one kernel, an ivshmem region for a VM)
 * under the record's seqlock, and wakes readers waiting on it (a futex on the sequence word).
 *
 * One publisher per mapping: the file variant takes a write lock on the whole file (an
 * open-file-description lock, F_OFD_SETLK, which readers cannot take: they cannot open it for
 * writing) and refuses a second one with -EBUSY. The generation continues from the record found in
 * the mapping when the publisher opens it, so it grows across publisher restarts; after that the
 * publisher keeps the generation and sequence word itself and never reads them back (a guest can
 * write an ivshmem region). Generations skip 0 if they ever wrap. The file is left in place on
 * close so readers keep the last record.
 */
#ifndef XPV_PUBLISHER_H
#define XPV_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "xpv/error.h"
#include "xpv/record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xpv_publisher;

/*
 * Open (creating it, mode 0644) the record file at path; NULL means xpv_channel_default_path()
 * ($XPV_RECORD, else /dev/shm/xpv-topology). The file is sized to XPV_RECORD_MAP_SIZE with
 * posix_fallocate. Opened with O_NOFOLLOW; created with O_EXCL, or, when it exists, it must be
 * a regular file of one link owned by the caller's euid and not group/world-writable.
 * Errors: -EBUSY another publisher holds it; -ELOOP a symbolic link; -EPERM a file someone
 * else could rewrite or truncate; -ENOSPC no room; -errno from open/mmap.
 */
int xpv_publisher_open(const char *path, struct xpv_publisher **out, struct xpv_error *err);

/*
 * Publish into the file open on fd, which the caller opened and checked (and which becomes
 * the publisher's: closed on failure too). It must be a regular file at least
 * XPV_RECORD_MAP_SIZE bytes long (it is not grown). name: for messages.
 */
int xpv_publisher_open_fd(int fd, const char *name, struct xpv_publisher **out,
                          struct xpv_error *err);

/* Publish into memory the caller mapped (an ivshmem region): size >= 64 bytes. */
int xpv_publisher_open_mem(void *mem, size_t size, struct xpv_publisher **out,
                           struct xpv_error *err);

/*
 * Write desc as the next record: generation = previous + 1, timestamp = CLOCK_REALTIME.
 * Readers see either the previous record or this one, never a mix. *generation (optional)
 * gets the new generation. -EINVAL for a desc the spec forbids, -ENOSPC when the mapping is
 * too small; the previous record then stays published, untouched.
 */
int xpv_publisher_publish(struct xpv_publisher *p, const struct xpv_record_desc *desc,
                          uint64_t *generation, struct xpv_error *err);

/* The generation this publisher last published; before its first publish, the one it found in
 * the mapping when it opened it (0: none). Never read back from the mapping after open. */
uint64_t xpv_publisher_generation(const struct xpv_publisher *p);

/* Unmap and close (the file stays). NULL is fine. */
void xpv_publisher_close(struct xpv_publisher *p);

#ifdef __cplusplus
}
#endif
#endif
