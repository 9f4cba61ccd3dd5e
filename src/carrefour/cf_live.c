/*
 * cf_live.c — one Carrefour round on a live process (xpv/cf_live.h): ring -> samples with
 * their pages' nodes -> the engine's counters and pages -> decisions -> moves.
 *
 * The sampler's samples stand for page touches, not DRAM accesses: counters built from them
 * give the right ratios (local access ratio, imbalance, read ratio) but MAPTU is in sampled
 * touches per microsecond, which is why live runs set the MAPTU gate themselves
 * (docs/carrefour.md). Node ids index the engine's arrays directly, so the machine's largest
 * node id must be below XPV_CF_MAX_NODES.
 */
#define _GNU_SOURCE
#include "xpv/cf_live.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "xpv/cf_perf_event.h"
#include "xpv/cf_replay.h"
#include "xpv/file.h"

#define ROUND_SAMPLES (1u << 17) /* samples drained per round at most; the rest wait */
#define PAGE_SHIFT    12
#define QUERY_BATCH   512

struct xpv_cf_live {
    pid_t pid;
    struct xpv_ops *ops;
    struct xpv_cf_params params;
    uint64_t rng;
    unsigned rr;
    bool interleaving; /* the last round's gate (the hold profile's hysteresis) */
    void *map;         /* the software sampler's ring, or */
    size_t map_len;
    struct xpv_cf_pe *pe; /* the perf_event backend's rings (owned) */
    struct xpv_cf_pe_stats pe_last;
    struct xpv_cf_ring_reader rd;
    struct xpv_cf_ring_hdr last;   /* statistics at the previous round */
    xpv_cf_live_sample_fn observe; /* each sample of a round, with its page's node */
    void *observe_arg;
    double last_ns;
    struct xpv_cf_replay rep; /* one round, rebuilt each time; cpu_node from the topology */
    struct xpv_cf_replay_round round;
    double dram[XPV_CF_MAX_NODES * XPV_CF_MAX_NODES]; /* the round's counter matrix */
    struct xpv_cf_ring_sample *raw;
    struct xpv_cf_sample *samples;
    uint64_t *upages; /* distinct sampled pages of a round, sorted */
    int *unode;
    struct xpv_cf_page *pages;
    struct xpv_cf_decision *dec;
    unsigned cap; /* pages and decisions */
    /* Sample memory (xpv_cf_live_set_memory): samples of pages the engine left undecided,
     * given to it again in the next `memory` rounds (their page's samples only, never the
     * round's counters), with the rounds they have been carried. */
    unsigned memory;
    struct xpv_cf_ring_sample *carry;
    uint8_t *carry_age; /* [nr_carry]: rounds each was carried so far */
    size_t nr_carry;
    uint8_t *sample_age; /* the round's samples[]: 0 its own, else carried so far */
    double cpu_ns;       /* the target's CPU time at the previous round (-1: unknown) */
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The CPU time pid has used (user + system, all threads), from /proc/PID/stat: fields 14 and
 * 15, counted after the last ')' (the command name may hold anything). -1 when unreadable. */
static double target_cpu_ns(pid_t pid)
{
    char path[64], *text = NULL;
    size_t len;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (xpv_read_file(path, 4096, &text, &len, NULL) < 0)
        return -1;
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    int ok = p &&
             sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2;
    free(text);
    long hz = sysconf(_SC_CLK_TCK);
    return ok && hz > 0 ? (double)(ut + st) * 1e9 / (double)hz : -1;
}

void xpv_cf_live_free(struct xpv_cf_live *l)
{
    if (!l)
        return;
    if (l->map)
        munmap(l->map, l->map_len);
    xpv_cf_pe_free(l->pe);
    free(l->raw);
    free(l->samples);
    free(l->upages);
    free(l->unode);
    free(l->pages);
    free(l->dec);
    free(l->carry);
    free(l->carry_age);
    free(l->sample_age);
    free(l);
}

/* What both sources share: buffers, the engine's state, the CPU -> node map. */
static int live_setup(struct xpv_cf_live *l, pid_t pid, const struct xpv_topo *t,
                      struct xpv_ops *ops, const struct xpv_cf_params *p, uint64_t seed,
                      struct xpv_error *err)
{
    l->pid = pid;
    l->ops = ops;
    l->params = *p;
    /* stock Linux cannot replicate: such pages get the fate they would have without it
     * (interleaving while it is on) and count as replicate->interleave */
    l->params.replicate_fallback = true;
    l->rng = seed;
    l->cap = p->page_budget * 4;
    if (l->cap < 1024)
        l->cap = 1024;
    /* a round's samples and the carried ones: ROUND_SAMPLES each at most */
    l->memory = XPV_CF_LIVE_MEMORY_DEFAULT;
    l->raw = malloc(2 * ROUND_SAMPLES * sizeof(*l->raw));
    l->samples = malloc(2 * ROUND_SAMPLES * sizeof(*l->samples));
    l->upages = malloc(2 * ROUND_SAMPLES * sizeof(*l->upages));
    l->unode = malloc(2 * ROUND_SAMPLES * sizeof(*l->unode));
    l->carry = malloc(ROUND_SAMPLES * sizeof(*l->carry));
    l->carry_age = malloc(ROUND_SAMPLES * sizeof(*l->carry_age));
    l->sample_age = malloc(2 * ROUND_SAMPLES * sizeof(*l->sample_age));
    l->pages = malloc(l->cap * sizeof(*l->pages));
    l->dec = malloc(l->cap * sizeof(*l->dec));
    if (!l->raw || !l->samples || !l->upages || !l->unode || !l->carry || !l->carry_age ||
        !l->sample_age || !l->pages || !l->dec)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    unsigned nodes = 0;
    for (unsigned i = 0; i < t->nr_nodes; i++)
        if ((unsigned)t->nodes[i].id + 1 > nodes)
            nodes = (unsigned)t->nodes[i].id + 1;
    if (nodes < 1 || nodes > XPV_CF_MAX_NODES)
        return xpv_error_set(err, -ENOTSUP, "node ids up to %u: the engine handles ids below %d",
                             nodes - 1, XPV_CF_MAX_NODES);
    l->rep.nr_nodes = nodes;
    l->rep.sample_every = 1;
    for (unsigned c = 0; c < XPV_CF_REPLAY_MAX_CPUS; c++)
        l->rep.cpu_node[c] = xpv_topo_cpu_node(t, c);
    l->rep.samples = l->samples;
    l->rep.rounds = &l->round;
    l->rep.nr_rounds = 1;
    l->last_ns = now_ns();
    l->cpu_ns = target_cpu_ns(pid);
    return 0;
}

int xpv_cf_live_attach(pid_t pid, const struct xpv_topo *t, struct xpv_ops *ops,
                       const struct xpv_cf_params *p, uint64_t seed, struct xpv_cf_live **out,
                       struct xpv_error *err)
{
    *out = NULL;
    char name[128], proc[64];
    struct stat st;
    /* the target's owner, as /proc has it (root for a process that is not dumpable) */
    snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
    if (stat(proc, &st) < 0)
        return xpv_error_set(err, -ESRCH, "no process %d", (int)pid);
    uid_t uid = st.st_uid;
    int fd = xpv_cf_ring_file_open(XPV_CF_RING_DIR, pid, uid, name, sizeof(name), err);
    if (fd == -ENOENT)
        return xpv_error_set(
                err, -ENOENT,
                "no sampler ring for pid %d (" XPV_CF_RING_DIR "/" XPV_CF_RING_PREFIX_FMT
                "*): start the target with the sampler "
                "preloaded (LD_PRELOAD=.../libxpv-cfsampler.so CMD), or let xpv start it: "
                "xpv carrefour [OPTIONS] -- CMD ARGS...; a QEMU VM (--vm) is sampled by "
                "LD_PRELOAD=.../libxpv-gmsampler.so qemu-system-...",
                (int)pid, (int)pid);
    if (fd < 0)
        return fd; /* err says which file was refused and why */
    if (fstat(fd, &st) == 0 && st.st_size == 0) {
        close(fd);
        return xpv_error_set(err, -EAGAIN, "the sampler of pid %d is still creating its ring",
                             (int)pid);
    }
    if (fstat(fd, &st) < 0 || st.st_size < XPV_CF_RING_HDR ||
        (uint64_t)st.st_size > xpv_cf_ring_size(XPV_CF_RING_MAX_CAP)) {
        close(fd);
        return xpv_error_set(err, -EINVAL, "%s: %lld bytes is not a sampler ring", name,
                             (long long)st.st_size);
    }
    struct xpv_cf_live *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    l->map_len = (size_t)st.st_size;
    l->map = mmap(NULL, l->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    int rc;
    if (l->map == MAP_FAILED) {
        l->map = NULL;
        rc = xpv_error_set(err, -errno, "cannot map %s: %s", name, strerror(errno));
        goto fail;
    }
    if (__atomic_load_n((const uint64_t *)l->map, __ATOMIC_ACQUIRE) == 0) {
        rc = xpv_error_set(err, -EAGAIN, "the sampler of pid %d is still creating its ring",
                           (int)pid);
        goto fail;
    }
    if ((rc = xpv_cf_ring_open(&l->rd, l->map, l->map_len, err)) < 0)
        goto fail;
    if (l->rd.pid != pid) {
        rc = xpv_error_set(err, -EINVAL, "%s belongs to pid %d", name, l->rd.pid);
        goto fail;
    }
    if (l->rd.page_size != 1u << PAGE_SHIFT) {
        rc = xpv_error_set(err, -ENOTSUP, "pages of %u bytes: only 4 KiB pages are supported",
                           l->rd.page_size);
        goto fail;
    }
    if ((rc = live_setup(l, pid, t, ops, p, seed, err)) < 0)
        goto fail;
    xpv_cf_ring_stats(&l->rd, &l->last);
    *out = l;
    return 0;
fail:
    xpv_cf_live_free(l);
    return rc;
}

int xpv_cf_live_attach_perf(pid_t pid, struct xpv_cf_pe *pe, const struct xpv_topo *t,
                            struct xpv_ops *ops, const struct xpv_cf_params *p, uint64_t seed,
                            struct xpv_cf_live **out, struct xpv_error *err)
{
    *out = NULL;
    struct xpv_cf_live *l = calloc(1, sizeof(*l));
    if (!l) {
        xpv_cf_pe_free(pe);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    l->pe = pe;
    int rc = live_setup(l, pid, t, ops, p, seed, err);
    if (rc < 0) {
        xpv_cf_live_free(l);
        return rc;
    }
    l->last.state = XPV_CF_RING_RUNNING;
    *out = l;
    return 0;
}

void xpv_cf_live_ring_stats(const struct xpv_cf_live *l, struct xpv_cf_ring_hdr *out)
{
    if (l->pe)
        *out = l->last;
    else
        xpv_cf_ring_stats(&l->rd, out);
}

/* The round's samples from the perf rings; the kernel's losses count as drops, malformed
 * records as refused slots. The kernel's own sampling cost is not visible from here. */
static size_t drain_perf(struct xpv_cf_live *l, struct xpv_cf_live_round *out)
{
    size_t n = xpv_cf_pe_drain(l->pe, l->raw, ROUND_SAMPLES);
    struct xpv_cf_pe_stats s;
    xpv_cf_pe_stats(l->pe, &s);
    out->dropped = s.lost - l->pe_last.lost;
    out->bad = s.bad - l->pe_last.bad;
    out->sampler_state = XPV_CF_RING_RUNNING;
    l->pe_last = s;
    return n;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The node of every distinct sampled page, by move_pages queries on the target. */
static int query_nodes(struct xpv_cf_live *l, unsigned np)
{
    void *addr[QUERY_BATCH];
    for (unsigned off = 0; off < np; off += QUERY_BATCH) {
        unsigned k = np - off < QUERY_BATCH ? np - off : QUERY_BATCH;
        for (unsigned i = 0; i < k; i++)
            addr[i] = (void *)(uintptr_t)(l->upages[off + i] << PAGE_SHIFT);
        long rc = l->ops->move_pages(l->ops->ctx, l->pid, k, addr, NULL, l->unode + off, 0);
        if (rc < 0)
            return (int)rc;
    }
    return 0;
}

static int page_node(const struct xpv_cf_live *l, unsigned np, uint64_t page)
{
    const uint64_t *hit = bsearch(&page, l->upages, np, sizeof(*l->upages), u64_cmp);
    return hit ? l->unode[hit - l->upages] : -ENOENT;
}

static int dec_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct xpv_cf_decision *)a)->key,
             y = ((const struct xpv_cf_decision *)b)->key;
    return (x > y) - (x < y);
}

/* Keep, for the next round, the samples (of k in samples[]) whose page got no decision and
 * that were carried fewer than `memory` rounds: a page sampled once a round from one node
 * reaches the two samples a migration needs in the next round, as it would in one round
 * with a denser sampler. Decided pages start afresh (their samples describe where they were). */
static void carry_undecided(struct xpv_cf_live *l, size_t k, unsigned nd)
{
    l->nr_carry = 0;
    if (!l->memory)
        return;
    qsort(l->dec, nd, sizeof(*l->dec), dec_cmp); /* executed already: the order is free */
    for (size_t i = 0; i < k && l->nr_carry < ROUND_SAMPLES; i++) {
        if (l->sample_age[i] >= l->memory)
            continue;
        struct xpv_cf_decision key = {.key = l->samples[i].addr >> PAGE_SHIFT};
        if (bsearch(&key, l->dec, nd, sizeof(*l->dec), dec_cmp))
            continue;
        l->carry[l->nr_carry] = (struct xpv_cf_ring_sample){
                .cpu = l->samples[i].cpu, .addr = l->samples[i].addr, .write = l->samples[i].write};
        l->carry_age[l->nr_carry++] = (uint8_t)(l->sample_age[i] + 1);
    }
}

int xpv_cf_live_round(struct xpv_cf_live *l, bool dry_run, struct xpv_cf_live_round *out,
                      struct xpv_error *err)
{
    memset(out, 0, sizeof(*out));
    double t0 = now_ns();
    out->round_ns = t0 - l->last_ns;
    l->last_ns = t0;
    double cpu = target_cpu_ns(l->pid);
    out->target_cpu_ns = cpu >= 0 && l->cpu_ns >= 0 ? cpu - l->cpu_ns : -1;
    l->cpu_ns = cpu;
    size_t n;
    if (l->pe) {
        n = drain_perf(l, out);
    } else {
        struct xpv_cf_ring_hdr s;
        xpv_cf_ring_stats(&l->rd, &s);
        n = xpv_cf_ring_pop(&l->rd, l->raw, ROUND_SAMPLES);
        out->dropped = s.dropped - l->last.dropped;
        out->bad = l->rd.bad;
        l->rd.bad = 0;
        out->handler_ns = (double)(s.handler_ns - l->last.handler_ns);
        out->sample_ns = (double)(s.sampler_ns - l->last.sampler_ns) + out->handler_ns;
        out->sampler_state = s.state;
        out->stop_reason = s.stop_reason;
        memcpy(out->stop_msg, s.stop_msg, sizeof(out->stop_msg));
        l->last = s;
    }
    out->samples = (unsigned)n;
    /* the carried samples follow the round's own in raw[n..n + nc), with their ages */
    size_t nc = l->nr_carry;
    memcpy(l->raw + n, l->carry, nc * sizeof(*l->carry));
    out->carried = (unsigned)nc;

    /* distinct pages, their nodes */
    for (size_t i = 0; i < n + nc; i++)
        l->upages[i] = l->raw[i].addr >> PAGE_SHIFT;
    qsort(l->upages, n + nc, sizeof(*l->upages), u64_cmp);
    unsigned np = 0;
    for (size_t i = 0; i < n + nc; i++)
        if (!np || l->upages[np - 1] != l->upages[i])
            l->upages[np++] = l->upages[i];
    int rc = query_nodes(l, np);
    if (rc < 0)
        return xpv_error_set(err, rc, "cannot query the pages of pid %d: %s", (int)l->pid,
                             strerror(-rc));

    /* samples with a node, and the counters they imply */
    unsigned nn = l->rep.nr_nodes;
    memset(l->dram, 0, sizeof(l->dram));
    l->round = (struct xpv_cf_replay_round){
            .round_ns = out->round_ns > 0 ? out->round_ns : 1, .dram = l->dram, .dram_given = 1};
    size_t k = 0, reads = 0, own = 0;
    for (size_t i = 0; i < n + nc; i++) {
        const struct xpv_cf_ring_sample *r = &l->raw[i];
        int node = page_node(l, np, r->addr >> PAGE_SHIFT);
        int cnode = l->rep.cpu_node[r->cpu];
        if (i < n) {
            out->vcpu_samples += r->vcpu != 0;
            if (l->observe)
                l->observe(l->observe_arg, r, node);
        }
        if (node < 0 || (unsigned)node >= nn || cnode < 0 || (unsigned)cnode >= nn) {
            out->gone += i < n;
            continue;
        }
        l->sample_age[k] = i < n ? 0 : l->carry_age[i - n];
        l->samples[k++] = (struct xpv_cf_sample){r->cpu, r->addr, r->write, (unsigned)node};
        if (i >= n)
            continue; /* a carried sample counts for its page only: the counters are the round's */
        own++;
        l->round.dram[(unsigned)cnode * nn + (unsigned)node] += 1;
        reads += !r->write;
    }
    l->rep.nr_samples = k;
    l->round.count = k;
    struct xpv_cf_counters c;
    unsigned npages;
    if ((rc = xpv_cf_replay_round(&l->rep, 0, &c, l->pages, l->cap, &npages)) < 0)
        return xpv_error_set(err, rc, "building the round's pages: %s", strerror(-rc));
    struct sysinfo si;
    if (sysinfo(&si) == 0 && si.totalram)
        c.mem_usage = 100.0 * (double)(si.totalram - si.freeram) / (double)si.totalram;
    out->read_ratio = own ? 100.0 * (double)reads / (double)own : 100;
    c.read_ratio = out->read_ratio;
    out->pages = npages;
    c.interleaving_before = l->interleaving;
    if ((rc = xpv_cf_metrics(&l->params, &c, &out->m)) < 0 ||
        (rc = xpv_cf_decide(&l->params, &out->m, l->pages, npages, &l->rng, l->dec, l->cap,
                            &out->rd)) < 0)
        return xpv_error_set(err, rc, "the engine failed: %s", strerror(-rc));
    l->interleaving = out->m.interleaving;
    double t1 = now_ns();
    out->decide_ns = t1 - t0;
    rc = xpv_cf_exec(l->ops, l->pid, l->dec, out->rd.nr_decisions, l->pages, npages, PAGE_SHIFT,
                     dry_run, &l->rr, &out->ex);
    out->migrate_ns = now_ns() - t1;
    if (rc < 0)
        return xpv_error_set(err, rc, "moving pages of pid %d: %s", (int)l->pid, strerror(-rc));
    carry_undecided(l, k, out->rd.nr_decisions);
    return 0;
}

void xpv_cf_live_set_observer(struct xpv_cf_live *l, xpv_cf_live_sample_fn fn, void *arg)
{
    l->observe = fn;
    l->observe_arg = arg;
}

void xpv_cf_live_set_memory(struct xpv_cf_live *l, unsigned rounds)
{
    l->memory = rounds > XPV_CF_LIVE_MEMORY_MAX ? XPV_CF_LIVE_MEMORY_MAX : rounds;
    if (!l->memory)
        l->nr_carry = 0;
}
