/*
 * cf_ring.c — the sampler's shared-memory ring (xpv/cf_ring.h): a bounded multi-producer,
 * single-consumer queue with one sequence word per slot. Slot i is free for position p when
 * seq == p, published when seq == p + 1, and handed back by the consumer with
 * seq = p + capacity. Producers claim a position with a compare-and-swap on head, so a full
 * ring never blocks a signal handler: it drops the sample and counts it.
 *
 * Compiled into both the preloaded sampler library (producer) and the daemon (consumer). The
 * consumer never trusts the shared words: positions are reduced modulo the capacity it
 * checked when it opened the ring, and each slot's fields are range-checked.
 */
#define _GNU_SOURCE
#include "xpv/cf_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct xpv_cf_ring_hdr) == XPV_CF_RING_HDR, "ring header is 256 bytes");
_Static_assert(sizeof(struct xpv_cf_ring_slot) == 32, "ring slots are 32 bytes");
_Static_assert(offsetof(struct xpv_cf_ring_hdr, head) == 40, "head at 40");
_Static_assert(offsetof(struct xpv_cf_ring_hdr, windows) == 56, "statistics at 56");

void *xpv_cf_ring_create(uint32_t capacity, pid_t pid, uint32_t page_size, uint32_t flags,
                         uint64_t seed, char *name, size_t name_len, size_t *len)
{
    /* A new file under a name nobody can guess: shm_open adds O_NOFOLLOW, O_EXCL refuses
     * anything already there (a planted file or link is never opened, let alone written). */
    int fd = -1;
    for (uint64_t i = 0; i < 4 && fd < 0; i++) {
        uint64_t r;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
            r = (seed + i) * 0x9e3779b97f4a7c15ull; /* not yet seeded */
        snprintf(name, name_len, "/" XPV_CF_RING_PREFIX_FMT "%016llx", (int)pid,
                 (unsigned long long)r);
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        name[0] = 0;
        return NULL;
    }
    fchmod(fd, 0600); /* whatever the umask left: the reader wants exactly no group/other bits */
    *len = xpv_cf_ring_size(capacity);
    void *m = MAP_FAILED;
    /* allocated now: a full tmpfs fails here, not as a SIGBUS in a fault handler */
    if (posix_fallocate(fd, 0, (off_t)*len) == 0 || ftruncate(fd, (off_t)*len) == 0)
        m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        shm_unlink(name);
        name[0] = 0;
        return NULL;
    }
    xpv_cf_ring_init(m, *len, capacity, pid, page_size, flags);
    return m;
}

static struct xpv_cf_ring_slot *slots(void *mem)
{
    return (struct xpv_cf_ring_slot *)((char *)mem + XPV_CF_RING_HDR);
}

int xpv_cf_ring_init(void *mem, size_t len, uint32_t capacity, pid_t pid, uint32_t page_size,
                     uint32_t flags)
{
    if (capacity < XPV_CF_RING_MIN_CAP || capacity > XPV_CF_RING_MAX_CAP ||
        (capacity & (capacity - 1)) || len < xpv_cf_ring_size(capacity))
        return -EINVAL;
    struct xpv_cf_ring_hdr *h = mem;
    memset(h, 0, XPV_CF_RING_HDR);
    h->version = XPV_CF_RING_VERSION;
    h->hdr_size = XPV_CF_RING_HDR;
    h->slot_size = sizeof(struct xpv_cf_ring_slot);
    h->capacity = capacity;
    h->pid = pid;
    h->page_size = page_size;
    h->flags = flags;
    h->state = XPV_CF_RING_RUNNING;
    struct xpv_cf_ring_slot *s = slots(mem);
    for (uint32_t i = 0; i < capacity; i++)
        s[i] = (struct xpv_cf_ring_slot){.seq = i};
    /* the magic last: a reader that sees it sees a complete layout */
    __atomic_store_n(&h->magic, XPV_CF_RING_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int xpv_cf_ring_push(void *mem, uint64_t addr, uint32_t cpu, uint32_t tid, uint32_t write)
{
    return xpv_cf_ring_push_vcpu(mem, addr, cpu, tid, write, 0);
}

int xpv_cf_ring_push_vcpu(void *mem, uint64_t addr, uint32_t cpu, uint32_t tid, uint32_t write,
                          uint32_t vcpu)
{
    struct xpv_cf_ring_hdr *h = mem;
    uint32_t cap = h->capacity; /* our own ring: trusted on the producer side */
    struct xpv_cf_ring_slot *s = slots(mem);
    __atomic_fetch_add(&h->samples, 1, __ATOMIC_RELAXED);
    uint64_t pos = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
    for (;;) {
        struct xpv_cf_ring_slot *sl = &s[pos & (cap - 1)];
        uint64_t seq = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&h->head, &pos, pos + 1, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                sl->addr = addr;
                sl->cpu = cpu;
                sl->tid = tid;
                sl->write = write;
                sl->reserved = vcpu;
                __atomic_store_n(&sl->seq, pos + 1, __ATOMIC_RELEASE);
                return 0;
            }
            /* pos was reloaded by the failed CAS */
        } else if (dif < 0) {
            __atomic_fetch_add(&h->dropped, 1, __ATOMIC_RELAXED);
            return -ENOSPC;
        } else {
            pos = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
        }
    }
}

int xpv_cf_ring_open(struct xpv_cf_ring_reader *rd, void *mem, size_t len, struct xpv_error *err)
{
    memset(rd, 0, sizeof(*rd));
    if (len < XPV_CF_RING_HDR)
        return xpv_error_set(err, -EINVAL, "sampler ring: %zu bytes, shorter than its header", len);
    const struct xpv_cf_ring_hdr *h = mem;
    uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
    if (magic != XPV_CF_RING_MAGIC)
        return xpv_error_set(err, -EINVAL, "sampler ring: bad magic 0x%016llx",
                             (unsigned long long)magic);
    if (h->version != XPV_CF_RING_VERSION)
        return xpv_error_set(err, -EINVAL, "sampler ring: version %u, this reader knows %u",
                             h->version, XPV_CF_RING_VERSION);
    if (h->hdr_size != XPV_CF_RING_HDR || h->slot_size != sizeof(struct xpv_cf_ring_slot))
        return xpv_error_set(
                err, -EINVAL, "sampler ring: header %u / slot %u bytes, expected %u / %zu",
                h->hdr_size, h->slot_size, XPV_CF_RING_HDR, sizeof(struct xpv_cf_ring_slot));
    uint32_t cap = h->capacity;
    if (cap < XPV_CF_RING_MIN_CAP || cap > XPV_CF_RING_MAX_CAP || (cap & (cap - 1)))
        return xpv_error_set(err, -EINVAL,
                             "sampler ring: capacity %u is not a power of two in %u..%u", cap,
                             XPV_CF_RING_MIN_CAP, XPV_CF_RING_MAX_CAP);
    if (len < xpv_cf_ring_size(cap))
        return xpv_error_set(err, -EINVAL, "sampler ring: %zu bytes, %u slots need %zu", len, cap,
                             xpv_cf_ring_size(cap));
    uint32_t ps = h->page_size;
    if (ps < 4096 || (ps & (ps - 1)))
        return xpv_error_set(err, -EINVAL, "sampler ring: page size %u", ps);
    if (h->pid <= 0)
        return xpv_error_set(err, -EINVAL, "sampler ring: pid %d", h->pid);
    *rd = (struct xpv_cf_ring_reader){mem, len, cap, ps, h->flags, h->pid, 0};
    return 0;
}

size_t xpv_cf_ring_pop(struct xpv_cf_ring_reader *rd, struct xpv_cf_ring_sample *out, size_t cap)
{
    struct xpv_cf_ring_hdr *h = rd->mem;
    struct xpv_cf_ring_slot *s = slots(rd->mem);
    uint64_t pos = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
    size_t n = 0;
    while (n < cap) {
        struct xpv_cf_ring_slot *sl = &s[pos & (rd->capacity - 1)];
        if (__atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE) != pos + 1)
            break;
        struct xpv_cf_ring_sample v = {sl->addr, sl->cpu, sl->tid, sl->write,
                                       rd->flags & XPV_CF_RING_F_VCPU ? sl->reserved : 0};
        __atomic_store_n(&sl->seq, pos + rd->capacity, __ATOMIC_RELEASE);
        pos++;
        if (v.cpu >= XPV_CF_RING_MAX_CPU || v.write > 1 || v.vcpu > XPV_CF_RING_MAX_VCPU) {
            rd->bad++;
            continue;
        }
        out[n++] = v;
    }
    __atomic_store_n(&h->tail, pos, __ATOMIC_RELAXED);
    return n;
}

void xpv_cf_ring_stats(const struct xpv_cf_ring_reader *rd, struct xpv_cf_ring_hdr *out)
{
    const struct xpv_cf_ring_hdr *h = rd->mem;
    memset(out, 0, sizeof(*out));
#define LD(f) out->f = __atomic_load_n(&h->f, __ATOMIC_RELAXED)
    LD(state);
    LD(windows);
    LD(protected_pages);
    LD(samples);
    LD(dropped);
    LD(untouched);
    LD(unmatched);
    LD(sampler_ns);
    LD(handler_ns);
    LD(eligible_pages);
    LD(pages_per_window);
    LD(period_us);
    LD(stop_reason);
#undef LD
    /* another process's bytes: only printable ASCII, always terminated */
    for (size_t i = 0; i + 1 < sizeof(out->stop_msg); i++) {
        char c = __atomic_load_n(&h->stop_msg[i], __ATOMIC_RELAXED);
        if (!c)
            break;
        out->stop_msg[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
}
