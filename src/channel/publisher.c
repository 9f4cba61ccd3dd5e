/*
 * publisher.c — the writing end of the channel (xpv/publisher.h).
 *
 * Seqlock write protocol on the mapping (docs/record-abi.md, "Concurrency"):
 *   seq := s + 1 (odd)            relaxed store, then a release fence
 *   copy header bytes [0, 20) and [32, total_len) from the encoded record
 *   generation := g + 1           relaxed atomic store (the readers' fast-path word)
 *   seq := s + 2 (even)           release store
 *   FUTEX_WAKE on seq
 * The record is encoded and validated in a private staging buffer first, so a bad desc never
 * disturbs the published record.
 *
 * The mapping is read once, when the publisher opens it: the generation found there (so that
 * generations keep growing across publisher restarts) and the seq word (a previous publisher
 * that died mid-write left it odd: this one, alone by its write lock, rounds it up). From then on
 * the publisher keeps both in its own struct and only writes them: the mapping may be an
 * ivshmem region the guest can write, and a value read back from it (a generation of
 * 2^64 - 1 would make the next one 0, which the ABI reserves for "nothing published") must
 * never steer what the host publishes. A generation that would wrap skips 0.
 *
 * The file is opened under the discipline of xpv/safe_open.h (no symbolic link, created with
 * O_EXCL or the caller's own and not writable by others, one link, its size reserved with
 * posix_fallocate); xpv_publisher_open_fd() maps a file the caller opened so (the host
 * daemon's record directory, a VM's ivshmem file).
 */
#define _GNU_SOURCE
#include "xpv/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "xpv/channel.h"
#include "xpv/safe_open.h"

struct xpv_publisher {
    uint8_t *map;
    size_t size;
    int fd; /* -1 for caller-owned memory */
    uint8_t *staging;
    uint64_t generation; /* the last published (at open: the one found in the mapping) */
    uint32_t seq;        /* even: the seq word this publisher last wrote (or found, rounded) */
};

static uint64_t stored_generation(const uint8_t *map, size_t size)
{
    uint64_t magic;
    if (size < XPV_RECORD_HEADER_SIZE)
        return 0;
    memcpy(&magic, map, sizeof(magic));
    if (le64toh(magic) != XPV_RECORD_MAGIC)
        return 0;
    /* The generation must keep growing even if the old record is otherwise damaged. */
    return le64toh(__atomic_load_n(shm_gen(map), __ATOMIC_RELAXED));
}

static int make(uint8_t *map, size_t size, int fd, struct xpv_publisher **out,
                struct xpv_error *err)
{
    struct xpv_publisher *p = calloc(1, sizeof(*p));
    uint8_t *staging = malloc(XPV_RECORD_MAP_SIZE);
    if (!p || !staging) {
        free(p);
        free(staging);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    p->map = map;
    p->size = size;
    p->fd = fd;
    p->staging = staging;
    p->generation = stored_generation(map, size);
    uint32_t s = le32toh(__atomic_load_n(shm_seq(map), __ATOMIC_RELAXED));
    p->seq = s + (s & 1);
    *out = p;
    return 0;
}

int xpv_publisher_open_mem(void *mem, size_t size, struct xpv_publisher **out,
                           struct xpv_error *err)
{
    *out = NULL;
    int rc = shm_check_mem(mem, size, err);
    if (rc < 0)
        return rc;
    return make(mem, size, -1, out, err);
}

int xpv_publisher_open_fd(int fd, const char *name, struct xpv_publisher **out,
                          struct xpv_error *err)
{
    *out = NULL;
    if (!name)
        name = "the record file";
    /* One publisher per file: an open-file-description write lock, which only a writer can
     * take (a reader's flock() on the 0644 file used to keep the next publisher out). */
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &lk) < 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EACCES)
            return xpv_error_set(err, -EBUSY, "another publisher is writing %s", name);
        if (e == EBADF)
            return xpv_error_set(err, -EBADF, "%s is not open for writing", name);
        return xpv_error_set(err, -e, "cannot lock %s: %s", name, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "cannot stat %s: %s", name, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return xpv_error_set(err, -EINVAL, "%s is not a regular file", name);
    }
    if ((size_t)st.st_size < XPV_RECORD_MAP_SIZE) {
        /* the caller's open reserves the size (xpv_safe_openat): a file smaller than the
         * mapping would SIGBUS at the first store past its end */
        close(fd);
        return xpv_error_set(err, -EINVAL, "%s is %lld bytes, smaller than a record mapping (%u)",
                             name, (long long)st.st_size, XPV_RECORD_MAP_SIZE);
    }
    void *map = mmap(NULL, XPV_RECORD_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "cannot map %s: %s", name, strerror(e));
    }
    int rc = make(map, XPV_RECORD_MAP_SIZE, fd, out, err);
    if (rc < 0) {
        munmap(map, XPV_RECORD_MAP_SIZE);
        close(fd);
    }
    return rc;
}

int xpv_publisher_open(const char *path, struct xpv_publisher **out, struct xpv_error *err)
{
    *out = NULL;
    if (!path)
        path = xpv_channel_default_path();
    /* a new file (O_EXCL), or an existing one that is the caller's own, not writable by
     * others, one link, no symlink; its size reserved so a full tmpfs fails here */
    int fd = xpv_safe_open(path, O_RDWR, XPV_SAFE_CREATE, 0644, XPV_RECORD_MAP_SIZE, NULL, err);
    if (fd < 0)
        return fd;
    return xpv_publisher_open_fd(fd, path, out, err);
}

uint64_t xpv_publisher_generation(const struct xpv_publisher *p)
{
    return p->generation;
}

int xpv_publisher_publish(struct xpv_publisher *p, const struct xpv_record_desc *desc,
                          uint64_t *generation, struct xpv_error *err)
{
    uint64_t gen = p->generation + 1;
    if (gen == 0) /* 0 means "nothing published" */
        gen = 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    size_t cap = p->size < XPV_RECORD_MAP_SIZE ? p->size : XPV_RECORD_MAP_SIZE;
    long len = xpv_record_encode(desc, gen, now, p->staging, cap, err);
    if (len < 0)
        return (int)len;

    uint32_t *seq = shm_seq(p->map);
    uint32_t s = p->seq;
    __atomic_store_n(seq, htole32(s + 1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(p->map, p->staging, XPV_RECORD_OFF_SEQ);
    memcpy(p->map + 32, p->staging + 32, (size_t)len - 32);
    __atomic_store_n(shm_gen(p->map), htole64(gen), __ATOMIC_RELAXED);
    __atomic_store_n(seq, htole32(s + 2), __ATOMIC_RELEASE);
    shm_futex_wake(seq);
    p->seq = s + 2;
    p->generation = gen;
    if (generation)
        *generation = gen;
    return 0;
}

void xpv_publisher_close(struct xpv_publisher *p)
{
    if (!p)
        return;
    if (p->fd >= 0) {
        munmap(p->map, p->size);
        close(p->fd);
    }
    free(p->staging);
    free(p);
}
