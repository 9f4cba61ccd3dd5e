/*
 * numa_shim.c — libxpv-numa.so and the libnuma.so.1 shim (docs/runtimes.md): the node
 * queries unmodified runtimes make, answered from the XPV record's effective topology.
 *
 * What changes: the CPU -> node answers (numa_node_of_cpu, numa_node_to_cpus, getcpu's node)
 * say each CPU's *effective* node (xpv_snapshot_effective_node: where its new memory should
 * come from), and the node-table queries (numa_max_node, numa_num_configured_nodes,
 * numa_distance) describe the record's nodes. What does not: CPU ids. getcpu's cpu and
 * sched_getcpu (not interposed) stay the kernel's, so CPU ids remain a bijection and per-CPU
 * caches never collide; only the node a CPU maps to moves.
 *
 * With no record published (or for a CPU the record does not place, or a node it does not
 * know) every call passes through to the real function: dlvsym(RTLD_NEXT, name, version), the
 * next definition after this object — the real libnuma (the preload form: later in the global
 * scope; the libnuma.so.1 form: its own dependency, linked by absolute path) and libc.
 *
 * Following the record: every call loads the record's generation word once
 * (xpv_channel_generation) and compares it with the generation its tables were built from;
 * only on a difference does it take the lock, take a snapshot (libxpv's reader: copied under
 * the seqlock, validated) and rebuild the CPU -> effective node table. A missing record is
 * looked for at most once a second (CLOCK_MONOTONIC_COARSE, no system call on x86-64).
 * Thread-safe: the table's entries are read and written with atomic 16-bit accesses, so a
 * reader racing a rebuild sees a CPU's old or new node, each a valid answer around the change;
 * answers built from several entries (numa_node_to_cpus) and from the snapshot are taken under
 * the lock, from one generation.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "xpv/bitmap.h"
#include "xpv/channel.h"

#define RETRY_NS 1000000000ull /* a missing record is looked for at most once a second */

static struct {
    pthread_mutex_t lock;
    struct xpv_channel *ch;    /* atomic: set once, then never closed */
    uint64_t gen;              /* atomic: the generation eff[] was built for (0: none) */
    uint64_t retry_ns;         /* atomic: next time to look for a missing record */
    struct xpv_snapshot *snap; /* under lock: the snapshot eff[] comes from, or NULL */
    bool have;                 /* atomic: eff[] was filled from a snapshot (it starts all 0) */
    int16_t eff[XPV_MAX_CPUS]; /* atomic entries: effective node id, -1: ask the real one */
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The version a call of ours was bound for is the one it forwards to. */
#define REAL(fn, version)                                                                          \
    ({                                                                                             \
        static __typeof__(fn) *real_;                                                              \
        __typeof__(fn) *r_ = __atomic_load_n(&real_, __ATOMIC_RELAXED);                            \
        if (!r_) {                                                                                 \
            r_ = (__typeof__(fn) *)dlvsym(RTLD_NEXT, #fn, version);                                \
            __atomic_store_n(&real_, r_, __ATOMIC_RELAXED);                                        \
        }                                                                                          \
        r_;                                                                                        \
    })

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Under st.lock: rebuild eff[] for generation g when it moved. A record that fails validation
 * keeps the last good table (libxpv hands back the last good snapshot). */
static void refresh_locked(uint64_t g)
{
    if (g == __atomic_load_n(&st.gen, __ATOMIC_RELAXED))
        return;
    struct xpv_snapshot *s = NULL;
    xpv_channel_snapshot(st.ch, &s, NULL);
    if (s && s != st.snap) {
        unsigned n = xpv_snapshot_nr_cpus(s);
        for (unsigned c = 0; c < XPV_MAX_CPUS; c++) {
            int e = c < n ? xpv_snapshot_effective_node(s, c) : -1;
            __atomic_store_n(&st.eff[c], (int16_t)(e >= 0 && e <= INT16_MAX ? e : -1),
                             __ATOMIC_RELAXED);
        }
        xpv_snapshot_put(st.snap);
        st.snap = s;
        __atomic_store_n(&st.have, true, __ATOMIC_RELEASE);
    } else {
        xpv_snapshot_put(s);
    }
    __atomic_store_n(&st.gen, g, __ATOMIC_RELEASE);
}

static void open_locked(void)
{
    if (__atomic_load_n(&st.ch, __ATOMIC_RELAXED))
        return;
    uint64_t now = now_ns();
    if (now < __atomic_load_n(&st.retry_ns, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&st.retry_ns, now + RETRY_NS, __ATOMIC_RELAXED);
    struct xpv_channel *ch;
    if (xpv_channel_open(NULL, &ch, NULL) == 0) /* $XPV_RECORD (secure_getenv), else default */
        __atomic_store_n(&st.ch, ch, __ATOMIC_RELEASE);
}

/*
 * Bring the table up to the record's generation: the one load, and the lock only when it
 * moved or no record is open yet and the retry time passed. Returns true when the table was
 * filled from a valid record (a record file with nothing valid published yet answers nothing).
 */
static bool follow(void)
{
    struct xpv_channel *ch = __atomic_load_n(&st.ch, __ATOMIC_ACQUIRE);
    if (!ch) {
        if (now_ns() < __atomic_load_n(&st.retry_ns, __ATOMIC_RELAXED))
            return false;
        pthread_mutex_lock(&st.lock);
        open_locked();
        pthread_mutex_unlock(&st.lock);
        ch = __atomic_load_n(&st.ch, __ATOMIC_ACQUIRE);
        if (!ch)
            return false;
    }
    uint64_t g = xpv_channel_generation(ch);
    if (g != __atomic_load_n(&st.gen, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&st.lock);
        refresh_locked(g);
        pthread_mutex_unlock(&st.lock);
    }
    return __atomic_load_n(&st.have, __ATOMIC_ACQUIRE);
}

static int eff_node(int cpu)
{
    if (cpu < 0 || cpu >= XPV_MAX_CPUS || !follow())
        return -1;
    return __atomic_load_n(&st.eff[cpu], __ATOMIC_RELAXED);
}

/* Under st.lock, after follow(): the snapshot the answers come from, or NULL. */
static const struct xpv_snapshot *snap_locked(void)
{
    refresh_locked(xpv_channel_generation(st.ch));
    return st.snap;
}

static const struct xpv_snapshot *lock_snap(void)
{
    if (!follow())
        return NULL;
    pthread_mutex_lock(&st.lock);
    const struct xpv_snapshot *s = snap_locked();
    if (!s)
        pthread_mutex_unlock(&st.lock);
    return s;
}

/* --- libc --- */

/* The kernel's CPU, and that CPU's effective node (the kernel's node when it has none). */
int getcpu(unsigned *cpu, unsigned *node)
{
    int (*real)(unsigned *, unsigned *) = REAL(getcpu, "GLIBC_2.29");
    unsigned c, n;
    int rc = real ? real(&c, &n) : -1;
    if (!real)
        errno = ENOSYS;
    if (rc != 0)
        return rc;
    if (cpu)
        *cpu = c;
    if (node) {
        int e = eff_node((int)c);
        *node = e >= 0 ? (unsigned)e : n;
    }
    return 0;
}

/* --- libnuma --- */

int numa_node_of_cpu(int cpu)
{
    int e = eff_node(cpu);
    if (e >= 0)
        return e;
    int (*real)(int) = REAL(numa_node_of_cpu, "libnuma_1.2");
    if (!real) {
        errno = EINVAL;
        return -1;
    }
    return real(cpu);
}

int numa_max_node(void)
{
    const struct xpv_snapshot *s = lock_snap();
    if (s) {
        int max = -1;
        for (unsigned i = 0; i < xpv_snapshot_nr_nodes(s); i++)
            if (xpv_snapshot_node_id(s, i) > max)
                max = xpv_snapshot_node_id(s, i);
        pthread_mutex_unlock(&st.lock);
        if (max >= 0)
            return max;
    }
    int (*real)(void) = REAL(numa_max_node, "libnuma_1.1");
    return real ? real() : 0;
}

/* Nodes holding memory for the domain (libnuma: nodes with memory); all the record's nodes
 * when it says nothing about memory. */
int numa_num_configured_nodes(void)
{
    const struct xpv_snapshot *s = lock_snap();
    if (s) {
        unsigned n = xpv_snapshot_nr_nodes(s), with = 0;
        for (unsigned i = 0; i < n; i++)
            with += xpv_snapshot_node_memory(s, xpv_snapshot_node_id(s, i)) > 0;
        pthread_mutex_unlock(&st.lock);
        if (n)
            return (int)(with ? with : n);
    }
    int (*real)(void) = REAL(numa_num_configured_nodes, "libnuma_1.2");
    return real ? real() : 1;
}

int numa_distance(int a, int b)
{
    const struct xpv_snapshot *s = lock_snap();
    if (s) {
        int d = xpv_snapshot_distance(s, a, b);
        pthread_mutex_unlock(&st.lock);
        if (d >= 0)
            return d;
    }
    int (*real)(int, int) = REAL(numa_distance, "libnuma_1.1");
    return real ? real(a, b) : 0;
}

/* Does the record know node id `node`? (under st.lock) */
static bool record_has_node(const struct xpv_snapshot *s, int node)
{
    for (unsigned i = 0; i < xpv_snapshot_nr_nodes(s); i++)
        if (xpv_snapshot_node_id(s, i) == node)
            return true;
    return false;
}

/*
 * The CPUs whose node is `node`, into bits[0..nbits): the real answer for the CPUs the record
 * does not place (real_rc: what the real call returned, -1 with bits cleared if it failed),
 * the record's effective node for those it does. Under st.lock. Returns 0, or -1 (EINVAL)
 * when neither knows the node.
 */
static int merge_cpus(const struct xpv_snapshot *s, int node, unsigned long *bits,
                      unsigned long nbits, int real_rc)
{
    const unsigned w = sizeof(unsigned long) * CHAR_BIT;
    bool any = real_rc == 0 || record_has_node(s, node);
    for (unsigned long c = 0; c < nbits && c < XPV_MAX_CPUS; c++) {
        int e = __atomic_load_n(&st.eff[c], __ATOMIC_RELAXED);
        if (e < 0)
            continue;
        if (e == node) {
            bits[c / w] |= 1ul << (c % w);
            any = true;
        } else {
            bits[c / w] &= ~(1ul << (c % w));
        }
    }
    if (!any) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* libnuma 2's numa_node_to_cpus (libnuma_1.2), what runtimes build their tables with. */
int xpv_numa_node_to_cpus_v2(int node, struct bitmask *mask);
int xpv_numa_node_to_cpus_v2(int node, struct bitmask *mask)
{
    int (*real)(int, struct bitmask *) =
            (int (*)(int, struct bitmask *))REAL(numa_node_to_cpus, "libnuma_1.2");
    int rc = real ? real(node, mask) : -1; /* before the lock: it may call our functions */
    int real_errno = errno;
    const struct xpv_snapshot *s = lock_snap();
    if (!s) {
        errno = real_errno;
        return rc;
    }
    /* ERANGE: the mask is smaller than the kernel's CPU mask, or (libnuma 1) a node beyond the
     * kernel's; the second is no error for a node of the record */
    if (rc < 0 && real_errno == ERANGE && !record_has_node(s, node)) {
        pthread_mutex_unlock(&st.lock);
        errno = real_errno;
        return rc;
    }
    if (rc < 0)
        memset(mask->maskp, 0, (mask->size + CHAR_BIT - 1) / CHAR_BIT);
    rc = merge_cpus(s, node, mask->maskp, mask->size, rc);
    pthread_mutex_unlock(&st.lock);
    return rc;
}
__asm__(".symver xpv_numa_node_to_cpus_v2, numa_node_to_cpus@@libnuma_1.2");

/* libnuma 1's numa_node_to_cpus (libnuma_1.1): bufferlen bytes of unsigned longs. */
int xpv_numa_node_to_cpus_v1(int node, unsigned long *buffer, int bufferlen);
int xpv_numa_node_to_cpus_v1(int node, unsigned long *buffer, int bufferlen)
{
    typedef int v1_fn(int, unsigned long *, int);
    static v1_fn *real_v1;
    v1_fn *real = __atomic_load_n(&real_v1, __ATOMIC_RELAXED);
    if (!real) {
        real = (v1_fn *)dlvsym(RTLD_NEXT, "numa_node_to_cpus", "libnuma_1.1");
        __atomic_store_n(&real_v1, real, __ATOMIC_RELAXED);
    }
    int rc = real ? real(node, buffer, bufferlen) : -1; /* before the lock, as above */
    int real_errno = errno;
    const struct xpv_snapshot *s = lock_snap();
    if (!s) {
        errno = real_errno;
        return rc;
    }
    if ((rc < 0 && real_errno == ERANGE && !record_has_node(s, node)) || bufferlen < 0) {
        pthread_mutex_unlock(&st.lock);
        errno = real_errno;
        return rc;
    }
    if (rc < 0)
        memset(buffer, 0, (size_t)bufferlen);
    rc = merge_cpus(s, node, buffer, (unsigned long)bufferlen * CHAR_BIT, rc);
    pthread_mutex_unlock(&st.lock);
    return rc;
}
__asm__(".symver xpv_numa_node_to_cpus_v1, numa_node_to_cpus@libnuma_1.1");
