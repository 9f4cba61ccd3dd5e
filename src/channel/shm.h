/*
 * shm.h — internal: the shared words of a record mapping (sequence and generation) as atomics,
 * and the futex calls on the sequence word. Shared between publisher.c and channel.c.
 */
#ifndef XPV_CHANNEL_SHM_H
#define XPV_CHANNEL_SHM_H

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xpv/error.h"
#include "xpv/record.h"

/* Memory a caller maps for a record (an ivshmem region): aligned for the atomic words. */
static inline int shm_check_mem(const void *mem, size_t size, struct xpv_error *err)
{
    if (!mem || size < XPV_RECORD_HEADER_SIZE || ((uintptr_t)mem & 7))
        return xpv_error_set(err, -EINVAL,
                             "record memory must be 8-byte aligned and at least %u bytes",
                             XPV_RECORD_HEADER_SIZE);
    return 0;
}

static inline uint32_t *shm_seq(const void *map)
{
    return (uint32_t *)((uintptr_t)map + XPV_RECORD_OFF_SEQ);
}
static inline uint64_t *shm_gen(const void *map)
{
    return (uint64_t *)((uintptr_t)map + XPV_RECORD_OFF_GENERATION);
}

/* Shared (not FUTEX_PRIVATE) so waiters in other processes mapping the same file are woken. */
static inline int shm_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *rel)
{
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, rel, NULL, 0);
    return rc < 0 ? -errno : 0;
}
static inline void shm_futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

#endif
