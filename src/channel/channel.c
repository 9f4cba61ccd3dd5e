/*
 * channel.c — libxpv's reader (xpv/channel.h): seqlock copies of an untrusted shared record,
 * validated snapshots, waiting and the watcher thread.
 *
 * Seqlock read protocol (docs/record-abi.md, "Concurrency"):
 *   s1 := seq (acquire); odd -> retry
 *   copy total_len bytes (total_len itself read from the copy, bounded by the mapping)
 *   acquire fence; s2 := seq (relaxed); s2 != s1 -> retry
 *   decode and validate the private copy
 * A torn copy is never decoded as good: either seq moved (retry) or, if a hostile writer does
 * not follow the protocol, the CRC and bounds checks reject it.
 *
 * Who may write the file (docs/security.md, "Readers"): xpv_channel_open maps only a regular
 * file, not reached through a symlink, owned by root or by the caller's effective uid and
 * writable by nobody but its owner; others cannot feed the reader a topology, nor truncate it.
 * A truncation by the owner does not crash the reader either, except the one-load fast path
 * on a file cut to 0 bytes and a cut to 0 bytes that lands between a size check and the loads
 * of the first page that follow it: the copy first fstat()s the file and refuses while it is
 * shorter than what was mapped; bytes past the first page are copied with pread() from the
 * descriptor (a short read, never a SIGBUS), a record within the first page with memcpy (that
 * page goes only with a cut to 0 bytes, under which the seq loads around the copy fault
 * anyway: copy_bytes); and the wait leaves the mapping alone while the file is shorter than a
 * header.
 */
#define _GNU_SOURCE
#include "xpv/channel.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "effective_all.h"
#include "shm.h"
#include "xpv/effective.h"

#define COPY_RETRIES 200 /* a writer holds seq odd for one memcpy; a hostile one forever */

struct xpv_snapshot {
    int refs; /* atomic */
    struct xpv_record_view view;
    uint16_t *eff;  /* [view.nr_cpus]: effective physical node index, XPV_RECORD_NONE */
    size_t eff_cap; /* entries eff has room for */
    uint64_t ops;   /* steps spent computing eff (xpv__effective_cpus) */
    uint8_t bytes[];
};

struct xpv_channel {
    struct xpv_channel_fast fast; /* first: xpv_channel_generation() reads it */
    const uint8_t *map;
    size_t size;
    int fd; /* -1: caller-owned memory */
    bool futex_ok;
    bool no_pread;        /* the file does not read (a PCI BAR in sysfs): copy from the mapping */
    pthread_mutex_t lock; /* guards last_good and the subscription fields */
    struct xpv_snapshot *last_good;
    /* subscription */
    pthread_t watcher;
    bool subscribed;
    int stop; /* atomic */
    xpv_channel_cb cb;
    void *cb_arg;
    uint64_t sub_since;   /* generation at subscribe time: changes after it are reported */
    uint64_t size_checks; /* atomic: fstat()s of the file (file_short), for tests */
    uint64_t preads;      /* atomic: copies made with pread() (copy_bytes), for tests */
    size_t page;          /* the page size: copies within the first page use memcpy */
    struct xpv__effective_scratch *watch_sc; /* the watcher thread's, reused per snapshot */
};

const char *xpv_channel_default_path(void)
{
    /* secure_getenv: a set-user-ID program must not read the record its caller names */
    const char *p = secure_getenv("XPV_RECORD");
    return p && *p ? p : XPV_CHANNEL_DEFAULT_PATH;
}

static int make(const uint8_t *map, size_t size, int fd, struct xpv_channel **out,
                struct xpv_error *err)
{
    struct xpv_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    ch->map = map;
    ch->size = size;
    ch->fd = fd;
    ch->futex_ok = fd >= 0;
    long page = sysconf(_SC_PAGESIZE);
    ch->page = page > 0 ? (size_t)page : 4096;
    ch->fast.generation_word = shm_gen(map);
    pthread_mutex_init(&ch->lock, NULL);
    *out = ch;
    return 0;
}

int xpv_channel_open_mem(const void *mem, size_t size, struct xpv_channel **out,
                         struct xpv_error *err)
{
    *out = NULL;
    int rc = shm_check_mem(mem, size, err);
    if (rc < 0)
        return rc;
    return make(mem, size, -1, out, err);
}

/* Whoever may write the record decides where this process's memory goes, and may truncate
 * it under the mapping: only root or the caller itself (its effective uid), and nobody else
 * through the mode bits. */
static int check_owner(const char *path, const struct stat *st, struct xpv_error *err)
{
    uid_t me = geteuid();
    if (st->st_uid != 0 && st->st_uid != me)
        return xpv_error_set(err, -EPERM,
                             "%s is owned by uid %u, neither root nor this process's uid %u: its "
                             "owner could steer this process's memory; publish the record as "
                             "root or as uid %u, or point XPV_RECORD at a record you own",
                             path, (unsigned)st->st_uid, (unsigned)me, (unsigned)me);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return xpv_error_set(err, -EPERM,
                             "%s has mode %04o: writable by its group or by others, who could "
                             "steer this process's memory; chmod go-w %s",
                             path, (unsigned)(st->st_mode & 07777), path);
    return 0;
}

int xpv_channel_open(const char *path, struct xpv_channel **out, struct xpv_error *err)
{
    *out = NULL;
    if (!path)
        path = xpv_channel_default_path();
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return xpv_error_set(err, -EPERM,
                                 "%s is a symbolic link: a record is read only from the file "
                                 "itself (point XPV_RECORD at the target)",
                                 path);
        if (e == ENOENT)
            return xpv_error_set(err, -ENOENT,
                                 "no topology record at %s: start a publisher (xpv publish) or "
                                 "point XPV_RECORD at the right file",
                                 path);
        return xpv_error_set(err, -e, "cannot open %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size < XPV_RECORD_HEADER_SIZE) {
        close(fd);
        return xpv_error_set(err, -EBADMSG, "%s is not a topology record file (size %lld)", path,
                             (long long)st.st_size);
    }
    int rc = check_owner(path, &st, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    size_t size =
            (size_t)st.st_size < XPV_RECORD_MAP_SIZE ? (size_t)st.st_size : XPV_RECORD_MAP_SIZE;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "cannot map %s: %s", path, strerror(e));
    }
    rc = make(map, size, fd, out, err);
    if (rc < 0) {
        munmap(map, size);
        close(fd);
    }
    return rc;
}

void xpv_channel_close(struct xpv_channel *ch)
{
    if (!ch)
        return;
    xpv_channel_unsubscribe(ch);
    if (ch->last_good)
        xpv_snapshot_put(ch->last_good);
    if (ch->fd >= 0) {
        munmap((void *)ch->map, ch->size);
        close(ch->fd);
    }
    pthread_mutex_destroy(&ch->lock);
    free(ch->watch_sc);
    free(ch);
}

/* --- snapshots --- */

struct xpv_snapshot *xpv_snapshot_get(const struct xpv_snapshot *s)
{
    struct xpv_snapshot *m = (struct xpv_snapshot *)s;
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void xpv_snapshot_put(const struct xpv_snapshot *s)
{
    struct xpv_snapshot *m = (struct xpv_snapshot *)s;
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(m); /* eff lives in the same allocation (copy_once) */
}

/* The file is shorter than what was mapped (its owner truncated it): touching the missing
 * pages would raise SIGBUS. Caller memory (fd < 0) cannot shrink. Sets *size when asked.
 * The size is lseek(SEEK_END)'s answer, the file's size as fstat's st_size is, for about half
 * the cost of fstat (no attributes gathered and copied out); the descriptor's offset it moves
 * is used by nothing (copies are pread()s). fstat when lseek fails. */
static bool file_short(const struct xpv_channel *ch, long long *size)
{
    if (ch->fd < 0)
        return false;
    __atomic_fetch_add(&((struct xpv_channel *)ch)->size_checks, 1, __ATOMIC_RELAXED);
    off_t end = lseek(ch->fd, 0, SEEK_END);
    if (end < 0) {
        struct stat st;
        end = fstat(ch->fd, &st) < 0 ? 0 : st.st_size;
    }
    if (size)
        *size = (long long)end;
    return (size_t)end < ch->size;
}

/* len bytes of the record into dst: from the mapping for caller memory, files that do not
 * read, and copies that lie within the first page; else pread() from the file (a truncation
 * mid-copy reads short, no signal).
 *
 * Why the first page may be read from the mapping: the copy's caller has just loaded the seq
 * and total_len words from that page, and loads the seq word again after the copy. A page of
 * a file mapping raises SIGBUS only when it lies wholly past the end of the file, so the first
 * page goes only when the file is cut to 0 bytes, and then those header loads fault as well:
 * a memcpy within the first page adds no way to fault that the loads around it do not have.
 * A cut to any other size leaves the first page mapped (bytes past the end read as zeros: the
 * CRC rejects them). Bytes past the first page may vanish under a cut to one page, as in
 * test_attack's test_truncate: those are read with pread(). */
static int copy_bytes(struct xpv_channel *ch, uint8_t *dst, size_t len)
{
    if (ch->fd < 0 || __atomic_load_n(&ch->no_pread, __ATOMIC_RELAXED) || len <= ch->page) {
        memcpy(dst, ch->map, len);
        return 0;
    }
    __atomic_fetch_add(&ch->preads, 1, __ATOMIC_RELAXED);
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(ch->fd, dst + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && done == 0 && errno != EAGAIN) {
            /* sysfs BARs map but do not read; atomic: any thread may take a snapshot */
            __atomic_store_n(&ch->no_pread, true, __ATOMIC_RELAXED);
            memcpy(dst, ch->map, len);
            return 0;
        }
        if (n <= 0)
            return -EBADMSG; /* end of file before len: truncated under us */
        done += (size_t)n;
    }
    return 0;
}

/* Where eff starts in a snapshot's bytes[] after a record of total bytes (2-byte aligned). */
static size_t eff_offset(size_t total)
{
    return (total + 7) & ~(size_t)7;
}

/* One seqlock copy attempt: 0 with *out (unvalidated bytes), -EAGAIN to retry, <0 error.
 * size_ok: the caller found the file full-size an instant ago (the watcher, right after its
 * wake-up), so the copy skips its own fstat; a truncation since then still reads short. */
static int copy_once(struct xpv_channel *ch, struct xpv_snapshot **out, struct xpv_error *err,
                     bool size_ok)
{
    long long fsize = 0;
    if (!size_ok && file_short(ch, &fsize))
        return xpv_error_set(err, -EBADMSG,
                             "the record file is %lld bytes, shorter than the %zu mapped: "
                             "truncated (a publisher restores it)",
                             fsize, ch->size);
    const uint32_t *seq = shm_seq(ch->map);
    uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (le32toh(s1) & 1)
        return -EAGAIN;
    uint32_t total;
    memcpy(&total, ch->map + 16, sizeof(total));
    total = le32toh(total);
    if (total < XPV_RECORD_HEADER_SIZE || total > ch->size)
        total = (uint32_t)(ch->size < XPV_RECORD_HEADER_SIZE ? ch->size : XPV_RECORD_HEADER_SIZE);
    /* one allocation: the bytes, then room for eff (2 bytes per CPU; a record spends 4 bytes
     * per CPU on cpu_pnode and cpu_vnode, so total / 2 bounds it; add_effective checks) */
    struct xpv_snapshot *s = malloc(sizeof(*s) + eff_offset(total) + total / 2);
    if (!s)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    if (copy_bytes(ch, s->bytes, total) < 0) {
        free(s);
        return xpv_error_set(err, -EBADMSG,
                             "the record file ended before %u bytes: truncated while read", total);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint32_t s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
    if (s1 != s2) {
        free(s);
        return -EAGAIN;
    }
    s->refs = 1;
    s->eff = (uint16_t *)(void *)(s->bytes + eff_offset(total));
    s->eff_cap = total / 2 / sizeof(uint16_t);
    s->ops = 0;
    *out = s;
    return (int)total;
}

/* The effective node of every CPU, once per snapshot: O(backing + nodes² + CPUs × nodes)
 * whatever the record says (xpv__effective_cpus), so that per-CPU lookups cost nothing.
 * sc: the watcher's own scratch, or NULL to allocate one (any thread may take a snapshot). */
static int add_effective(struct xpv_snapshot *s, struct xpv__effective_scratch *sc,
                         struct xpv_error *err)
{
    if (s->view.nr_cpus > s->eff_cap) /* the decoder's layout makes this impossible */
        return xpv_error_set(err, -EBADMSG, "record has %u CPUs in too few bytes", s->view.nr_cpus);
    struct xpv__effective_scratch *own = sc ? NULL : malloc(sizeof(*own));
    if (!sc && !own)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    s->ops = xpv__effective_cpus(&s->view, sc ? sc : own, s->eff);
    free(own);
    return 0;
}

uint64_t xpv__snapshot_ops(const struct xpv_snapshot *s)
{
    return s->ops;
}

static struct xpv_snapshot *last_good_ref(struct xpv_channel *ch)
{
    pthread_mutex_lock(&ch->lock);
    struct xpv_snapshot *s = ch->last_good ? xpv_snapshot_get(ch->last_good) : NULL;
    pthread_mutex_unlock(&ch->lock);
    return s;
}

uint64_t xpv__channel_size_checks(const struct xpv_channel *ch)
{
    return __atomic_load_n(&ch->size_checks, __ATOMIC_RELAXED);
}

uint64_t xpv__channel_preads(const struct xpv_channel *ch)
{
    return __atomic_load_n(&ch->preads, __ATOMIC_RELAXED);
}

/* size_ok: see copy_once; only the first attempt trusts it, a retry checks again.
 * sc: the watcher's scratch for the effective nodes, or NULL. */
static int snapshot_impl(struct xpv_channel *ch, struct xpv_snapshot **out, struct xpv_error *err,
                         bool size_ok, struct xpv__effective_scratch *sc)
{
    struct xpv_snapshot *s = NULL;
    int rc = -EAGAIN;
    *out = NULL;
    for (int i = 0; i < COPY_RETRIES && rc == -EAGAIN; i++) {
        rc = copy_once(ch, &s, err, size_ok && i == 0);
        if (rc == -EAGAIN && i > 16)
            sched_yield();
    }
    if (rc >= 0) {
        size_t len = (size_t)rc;
        rc = xpv_record_decode(s->bytes, len, &s->view, err);
        if (rc == -EBADMSG && xpv_channel_generation(ch) == 0) {
            uint64_t magic;
            memcpy(&magic, s->bytes, sizeof(magic));
            if (magic == 0)
                rc = xpv_error_set(err, -ENODATA, "no record has been published yet");
        }
        if (rc == 0)
            rc = add_effective(s, sc, err);
        if (rc < 0) {
            xpv_snapshot_put(s);
            s = NULL;
        }
    } else if (rc == -EAGAIN) {
        xpv_error_set(err, -EAGAIN, "the record stayed busy through %d copy attempts",
                      COPY_RETRIES);
    }
    if (rc < 0) {
        *out = last_good_ref(ch);
        return rc;
    }
    pthread_mutex_lock(&ch->lock);
    if (!ch->last_good || ch->last_good->view.generation <= s->view.generation) {
        struct xpv_snapshot *old = ch->last_good;
        ch->last_good = xpv_snapshot_get(s);
        pthread_mutex_unlock(&ch->lock);
        xpv_snapshot_put(old);
    } else {
        pthread_mutex_unlock(&ch->lock);
    }
    *out = s;
    return 0;
}

int xpv_channel_snapshot(struct xpv_channel *ch, struct xpv_snapshot **out, struct xpv_error *err)
{
    return snapshot_impl(ch, out, err, false, NULL);
}

int xpv__channel_snapshot_trusting(struct xpv_channel *ch, struct xpv_snapshot **out,
                                   struct xpv_error *err)
{
    return snapshot_impl(ch, out, err, true, NULL);
}

const struct xpv_record_view *xpv_snapshot_view(const struct xpv_snapshot *s)
{
    return &s->view;
}
uint64_t xpv_snapshot_generation(const struct xpv_snapshot *s)
{
    return s->view.generation;
}
uint64_t xpv_snapshot_timestamp_ns(const struct xpv_snapshot *s)
{
    return s->view.timestamp_ns;
}
unsigned xpv_snapshot_nr_nodes(const struct xpv_snapshot *s)
{
    return s->view.nr_pnodes;
}
unsigned xpv_snapshot_nr_cpus(const struct xpv_snapshot *s)
{
    return s->view.nr_cpus;
}

int xpv_snapshot_node_id(const struct xpv_snapshot *s, unsigned index)
{
    return index < s->view.nr_pnodes ? (int)xpv_record_pnode_id(&s->view, index) : -ENODEV;
}

/* Binary search: the decoder checked that ids strictly increase. A full distance matrix by
 * ids (xpv watch --json) is then O(nodes² log nodes), not O(nodes³). */
static int node_index(const struct xpv_snapshot *s, int node)
{
    unsigned lo = 0, hi = s->view.nr_pnodes;
    if (node < 0)
        return -ENODEV;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        uint32_t id = xpv_record_pnode_id(&s->view, mid);
        if (id == (uint32_t)node)
            return (int)mid;
        if (id < (uint32_t)node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENODEV;
}

int xpv_snapshot_cpu_node(const struct xpv_snapshot *s, unsigned cpu)
{
    if (cpu >= s->view.nr_cpus)
        return -ENOENT;
    uint16_t p = xpv_record_cpu_pnode(&s->view, cpu);
    return p == XPV_RECORD_NONE ? -ENOENT : (int)xpv_record_pnode_id(&s->view, p);
}

static uint64_t index_memory(const struct xpv_snapshot *s, unsigned pidx)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < s->view.nr_backing; i++) {
        struct xpv_record_backing b = xpv_record_backing_at(&s->view, i);
        if (b.pnode == pidx)
            sum += b.bytes;
    }
    return sum;
}

int xpv_snapshot_effective_node(const struct xpv_snapshot *s, unsigned cpu)
{
    /* the one rule (xpv/effective.h), computed for every CPU when the snapshot was taken */
    if (cpu >= s->view.nr_cpus || s->eff[cpu] == XPV_RECORD_NONE)
        return -ENOENT;
    return (int)xpv_record_pnode_id(&s->view, s->eff[cpu]);
}

int xpv_snapshot_node_cpus(const struct xpv_snapshot *s, int node, struct xpv_bitmap *cpus)
{
    xpv_bitmap_zero(cpus);
    int idx = node_index(s, node);
    if (idx < 0)
        return idx;
    for (unsigned c = 0; c < s->view.nr_cpus && c < XPV_MAX_CPUS; c++)
        if (xpv_record_cpu_pnode(&s->view, c) == (uint16_t)idx)
            xpv_bitmap_set(cpus, c);
    return 0;
}

int xpv_snapshot_distance(const struct xpv_snapshot *s, int a, int b)
{
    int i = node_index(s, a), j = node_index(s, b);
    if (i < 0 || j < 0)
        return -ENODEV;
    return xpv_record_distance(&s->view, (unsigned)i, (unsigned)j);
}

uint64_t xpv_snapshot_node_memory(const struct xpv_snapshot *s, int node)
{
    int idx = node_index(s, node);
    return idx < 0 ? 0 : index_memory(s, (unsigned)idx);
}

int xpv_channel_current_node(struct xpv_channel *ch, int *node, struct xpv_error *err)
{
    int cpu = sched_getcpu();
    if (cpu < 0)
        return xpv_error_set(err, -errno, "sched_getcpu: %s", strerror(errno));
    struct xpv_snapshot *s = last_good_ref(ch);
    int rc = 0;
    /* Re-read only when the generation moved: the common case costs a mutex, no copy. */
    if (!s || s->view.generation != xpv_channel_generation(ch)) {
        xpv_snapshot_put(s);
        rc = xpv_channel_snapshot(ch, &s, err);
    }
    if (!s)
        return rc;
    int n = xpv_snapshot_effective_node(s, (unsigned)cpu);
    xpv_snapshot_put(s);
    if (n < 0)
        return xpv_error_set(err, n, "CPU %d is not placed in the record", cpu);
    *node = n;
    return rc;
}

/* --- waiting and the watcher --- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for a generation other than since; stop (optional) cancels with -ECANCELED.
 * *full (optional): on 0, whether the size check that preceded the generation load found the
 * file full-size (so a snapshot taken right away need not fstat again). */
static int wait_change(struct xpv_channel *ch, uint64_t since, int timeout_ms, const int *stop,
                       bool *full)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
    uint32_t *seq = shm_seq(ch->map);
    for (;;) {
        long long fsize = 0;
        bool short_ = file_short(ch, &fsize);
        if (full)
            *full = ch->fd >= 0 && !short_;
        if (short_ && fsize < XPV_RECORD_HEADER_SIZE) {
            /* truncated below the header: the mapped words may be gone (SIGBUS); poll the
             * size until a publisher restores the file, or the deadline. (A file cut shorter
             * but keeping its header keeps its first page: the words stay readable, and the
             * snapshot that follows a change reports the cut.) */
            if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
                return -ECANCELED;
            uint64_t now = now_ms();
            if (now >= deadline)
                return -ETIMEDOUT;
            uint64_t nap = deadline - now < 10 ? deadline - now : 10;
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)nap * 1000000};
            nanosleep(&ts, NULL); /* the poll interval inside the deadline loop */
            continue;
        }
        uint32_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (xpv_channel_generation(ch) != since)
            return 0;
        if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
            return -ECANCELED;
        uint64_t now = now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        uint64_t left = deadline - now;
        if (!ch->futex_ok && left > 1)
            left = 1; /* memory another machine writes: no futex can reach us, poll */
        struct timespec rel = {.tv_sec = (time_t)(left / 1000),
                               .tv_nsec = (long)(left % 1000) * 1000000};
        if (ch->futex_ok)
            shm_futex_wait(seq, s, left == UINT64_MAX ? NULL : &rel);
        else
            nanosleep(&rel, NULL);
    }
}

int xpv_channel_wait(struct xpv_channel *ch, uint64_t since, int timeout_ms)
{
    return wait_change(ch, since, timeout_ms, NULL, NULL);
}

static void *watcher_main(void *arg)
{
    struct xpv_channel *ch = arg;
    uint64_t seen = ch->sub_since, bad = 0;
    while (!__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE)) {
        bool full = false;
        if (wait_change(ch, seen, 250, &ch->stop, &full) < 0)
            continue;
        uint64_t gen = xpv_channel_generation(ch);
        struct xpv_snapshot *s = NULL;
        /* one fstat per wake-up: wait_change's, just before it loaded the generation */
        int rc = snapshot_impl(ch, &s, NULL, full, ch->watch_sc);
        if (rc == 0) {
            seen = xpv_snapshot_generation(s);
            ch->cb(s, ch->cb_arg);
        } else {
            seen = gen;
            if (gen != bad)
                ch->cb(NULL, ch->cb_arg);
            bad = gen;
        }
        xpv_snapshot_put(s);
    }
    return NULL;
}

int xpv_channel_subscribe(struct xpv_channel *ch, xpv_channel_cb cb, void *arg,
                          struct xpv_error *err)
{
    if (!cb)
        return xpv_error_set(err, -EINVAL, "no callback");
    pthread_mutex_lock(&ch->lock);
    if (ch->subscribed) {
        pthread_mutex_unlock(&ch->lock);
        return xpv_error_set(err, -EBUSY, "this handle already has a subscriber");
    }
    ch->cb = cb;
    ch->cb_arg = arg;
    ch->sub_since = xpv_channel_generation(ch);
    __atomic_store_n(&ch->stop, 0, __ATOMIC_RELEASE);
    if (!ch->watch_sc)
        ch->watch_sc = malloc(sizeof(*ch->watch_sc)); /* NULL: each snapshot allocates one */
    int rc = pthread_create(&ch->watcher, NULL, watcher_main, ch);
    if (rc == 0)
        ch->subscribed = true;
    pthread_mutex_unlock(&ch->lock);
    return rc ? xpv_error_set(err, -rc, "cannot start the watcher thread: %s", strerror(rc)) : 0;
}

void xpv_channel_unsubscribe(struct xpv_channel *ch)
{
    pthread_mutex_lock(&ch->lock);
    bool was = ch->subscribed;
    ch->subscribed = false;
    pthread_mutex_unlock(&ch->lock);
    if (!was)
        return;
    __atomic_store_n(&ch->stop, 1, __ATOMIC_RELEASE);
    /* Wake the watcher out of its futex wait; other waiters on the word just re-check. */
    if (ch->futex_ok)
        shm_futex_wake(shm_seq(ch->map));
    pthread_join(ch->watcher, NULL);
    __atomic_store_n(&ch->stop, 0, __ATOMIC_RELEASE);
}
