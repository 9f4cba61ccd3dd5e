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

#include "shm.h"
#include "xpv/effective.h"

#define COPY_RETRIES 200 /* a writer holds seq odd for one memcpy; a hostile one forever */

struct xpv_snapshot {
    int refs; /* atomic */
    struct xpv_record_view view;
    uint8_t bytes[];
};

struct xpv_channel {
    struct xpv_channel_fast fast; /* first: xpv_channel_generation() reads it */
    const uint8_t *map;
    size_t size;
    int fd; /* -1: caller-owned memory */
    bool futex_ok;
    pthread_mutex_t lock; /* guards last_good and the subscription fields */
    struct xpv_snapshot *last_good;
    /* subscription */
    pthread_t watcher;
    bool subscribed;
    int stop; /* atomic */
    xpv_channel_cb cb;
    void *cb_arg;
    uint64_t sub_since; /* generation at subscribe time: changes after it are reported */
};

const char *xpv_channel_default_path(void)
{
    const char *p = getenv("XPV_RECORD");
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

int xpv_channel_open(const char *path, struct xpv_channel **out, struct xpv_error *err)
{
    *out = NULL;
    if (!path)
        path = xpv_channel_default_path();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
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
    size_t size =
            (size_t)st.st_size < XPV_RECORD_MAP_SIZE ? (size_t)st.st_size : XPV_RECORD_MAP_SIZE;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "cannot map %s: %s", path, strerror(e));
    }
    int rc = make(map, size, fd, out, err);
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
        free(m);
}

/* One seqlock copy attempt: 0 with *out (unvalidated bytes), -EAGAIN to retry, <0 error. */
static int copy_once(struct xpv_channel *ch, struct xpv_snapshot **out)
{
    const uint32_t *seq = shm_seq(ch->map);
    uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (le32toh(s1) & 1)
        return -EAGAIN;
    uint32_t total;
    memcpy(&total, ch->map + 16, sizeof(total));
    total = le32toh(total);
    if (total < XPV_RECORD_HEADER_SIZE || total > ch->size)
        total = (uint32_t)(ch->size < XPV_RECORD_HEADER_SIZE ? ch->size : XPV_RECORD_HEADER_SIZE);
    struct xpv_snapshot *s = malloc(sizeof(*s) + total);
    if (!s)
        return -ENOMEM;
    memcpy(s->bytes, ch->map, total);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint32_t s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
    if (s1 != s2) {
        free(s);
        return -EAGAIN;
    }
    s->refs = 1;
    *out = s;
    return (int)total;
}

static struct xpv_snapshot *last_good_ref(struct xpv_channel *ch)
{
    pthread_mutex_lock(&ch->lock);
    struct xpv_snapshot *s = ch->last_good ? xpv_snapshot_get(ch->last_good) : NULL;
    pthread_mutex_unlock(&ch->lock);
    return s;
}

int xpv_channel_snapshot(struct xpv_channel *ch, struct xpv_snapshot **out, struct xpv_error *err)
{
    struct xpv_snapshot *s = NULL;
    int rc = -EAGAIN;
    *out = NULL;
    for (int i = 0; i < COPY_RETRIES && rc == -EAGAIN; i++) {
        rc = copy_once(ch, &s);
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
        if (rc < 0) {
            free(s);
            s = NULL;
        }
    } else if (rc == -EAGAIN) {
        xpv_error_set(err, -EAGAIN, "the record stayed busy through %d copy attempts",
                      COPY_RETRIES);
    } else {
        xpv_error_set(err, rc, "cannot copy the record: %s", strerror(-rc));
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

static int node_index(const struct xpv_snapshot *s, int node)
{
    for (unsigned i = 0; i < s->view.nr_pnodes; i++)
        if (xpv_record_pnode_id(&s->view, i) == (uint32_t)node)
            return (int)i;
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
    struct xpv_effective e;
    int rc = xpv_effective_record(&s->view, cpu, &e); /* the one rule: xpv/effective.h */
    return rc < 0 ? rc : (int)xpv_record_pnode_id(&s->view, e.pnode);
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

/* Wait for a generation other than since; stop (optional) cancels with -ECANCELED. */
static int wait_change(struct xpv_channel *ch, uint64_t since, int timeout_ms, const int *stop)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
    uint32_t *seq = shm_seq(ch->map);
    for (;;) {
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
    return wait_change(ch, since, timeout_ms, NULL);
}

static void *watcher_main(void *arg)
{
    struct xpv_channel *ch = arg;
    uint64_t seen = ch->sub_since, bad = 0;
    while (!__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE)) {
        if (wait_change(ch, seen, 250, &ch->stop) < 0)
            continue;
        uint64_t gen = xpv_channel_generation(ch);
        struct xpv_snapshot *s = NULL;
        int rc = xpv_channel_snapshot(ch, &s, NULL);
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
