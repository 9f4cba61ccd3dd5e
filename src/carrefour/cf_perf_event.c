/*
 * cf_perf_event.c — the perf_event sampler backend (xpv/cf_perf_event.h): finding the precise
 * memory sampling PMU in sysfs, opening it on a process (one ring per CPU, every thread's
 * event on a CPU redirected to that CPU's ring, inherit on), and draining the rings with the
 * pure parser of cf_perf_event_record.c.
 *
 * Ring protocol (perf_event_open(2), struct perf_event_mmap_page): the kernel writes records,
 * then publishes data_head; we read data_head with acquire ordering (the smp_rmb the ABI asks
 * for), parse up to it, and publish data_tail with release ordering (the smp_mb before the
 * tail store: every read of the records is done before the kernel may overwrite them).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "xpv/cf_perf_event.h"

#define PMU_DIR "sys/bus/event_source/devices"

static const char *const instead =
        "use the software sampler (xpv carrefour --sampler soft), or record with perf on a "
        "machine that has one and give the text to xpv carrefour --perf-script";

/* ---- probing ---------------------------------------------------------------------------- */

static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = 0;
    return (int)n;
}

static int read_u32(const char *path, uint32_t *v)
{
    char buf[32], *end;
    int rc = read_small(path, buf, sizeof(buf));
    if (rc <= 0)
        return rc < 0 ? rc : -EINVAL;
    unsigned long x = strtoul(buf, &end, 0);
    if (*end || x > UINT32_MAX)
        return -EINVAL;
    *v = (uint32_t)x;
    return 0;
}

/* Deposit value v into the bits a format spec names ("config1:0-15", "config:0-7,32-35"). */
static int deposit(const char *spec, uint64_t v, uint64_t config[3])
{
    int word;
    const char *p;
    if (!strncmp(spec, "config2:", 8))
        word = 2, p = spec + 8;
    else if (!strncmp(spec, "config1:", 8))
        word = 1, p = spec + 8;
    else if (!strncmp(spec, "config:", 7))
        word = 0, p = spec + 7;
    else
        return -EINVAL;
    while (*p) {
        char *end;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (end == p)
            return -EINVAL;
        if (*end == '-') {
            p = end + 1;
            hi = strtoul(p, &end, 10);
            if (end == p)
                return -EINVAL;
        }
        if (lo > hi || hi > 63)
            return -EINVAL;
        for (unsigned long b = lo; b <= hi; b++, v >>= 1)
            if (v & 1)
                config[word] |= 1ull << b;
        if (*end == ',')
            end++;
        else if (*end)
            return -EINVAL;
        p = end;
    }
    return v ? -ERANGE : 0;
}

int xpv_cf_pe_encode(const char *fmt_dir, const char *terms, uint64_t config[3],
                     struct xpv_error *err)
{
    config[0] = config[1] = config[2] = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", terms);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t v = 1;
        if (eq) {
            *eq = 0;
            char *end;
            v = strtoull(eq + 1, &end, 0);
            if (end == eq + 1 || *end)
                return xpv_error_set(err, -EINVAL, "event term %s=%s: not a number", tok, eq + 1);
        }
        char path[4200], spec[128];
        snprintf(path, sizeof(path), "%s/%s", fmt_dir, tok);
        int rc = read_small(path, spec, sizeof(spec));
        if (rc <= 0)
            return xpv_error_set(err, -EINVAL, "event term '%s': no format file %s", tok, path);
        if ((rc = deposit(spec, v, config)) < 0)
            return xpv_error_set(err, rc, "event term %s: format '%s' (%s) cannot hold %llu", tok,
                                 spec, path, (unsigned long long)v);
    }
    return 0;
}

static const char *root_or_empty(const char *root)
{
    return root && *root ? root : "";
}

int xpv_cf_pe_probe(const char *root, uint64_t period, struct xpv_cf_pe_spec *out,
                    struct xpv_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *r = root_or_empty(root);
    char path[4096];
    const uint64_t st = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU |
                        PERF_SAMPLE_DATA_SRC;

    /* AMD IBS op: its own PMU; config 0 counts cycles (the module's mode), data_src and the
     * data address come with the sample (Linux 6.1 and later) */
    uint32_t type;
    snprintf(path, sizeof(path), "%s/" PMU_DIR "/ibs_op/type", r);
    if (read_u32(path, &type) == 0) {
        struct xpv_cf_pe_event *e = &out->ev[out->nr++];
        snprintf(e->name, sizeof(e->name), "ibs_op");
        e->type = type;
        e->period = period ? period : 65536;
        e->sample_type = st;
        e->exclude_kernel = true;
        return 0;
    }

    /* Intel PEBS: every core PMU with a mem-loads event (cpu; cpu_core and cpu_atom on hybrid
     * parts) */
    snprintf(path, sizeof(path), "%s/" PMU_DIR, r);
    DIR *d = opendir(path);
    struct dirent *de;
    int rc = 0;
    while (d && rc == 0 && (de = readdir(d)) != NULL && out->nr + 2 <= XPV_CF_PE_MAX_EVENTS) {
        if (de->d_name[0] == '.')
            continue;
        static const char *const evs[] = {"mem-loads", "mem-stores"};
        for (int k = 0; k < 2 && rc == 0; k++) {
            char terms[256], fmt[4200];
            snprintf(path, sizeof(path), "%s/" PMU_DIR "/%s/events/%s", r, de->d_name, evs[k]);
            if (read_small(path, terms, sizeof(terms)) <= 0)
                break; /* no mem-loads: not this PMU; no mem-stores: loads only */
            snprintf(path, sizeof(path), "%s/" PMU_DIR "/%s/type", r, de->d_name);
            if (read_u32(path, &type) < 0) {
                rc = xpv_error_set(err, -EINVAL, "%s: no PMU type", path);
                break;
            }
            struct xpv_cf_pe_event *e = &out->ev[out->nr];
            snprintf(fmt, sizeof(fmt), "%s/" PMU_DIR "/%s/format", r, de->d_name);
            uint64_t cfg[3];
            if ((rc = xpv_cf_pe_encode(fmt, terms, cfg, err)) < 0)
                break;
            out->nr++;
            snprintf(e->name, sizeof(e->name), "%.30s/%s/", de->d_name, evs[k]);
            e->type = type;
            e->config = cfg[0];
            e->config1 = cfg[1];
            e->config2 = cfg[2];
            e->period = period ? period : 10007;
            e->precise_ip = 2;
            e->sample_type = st;
            e->exclude_kernel = true;
        }
    }
    if (d)
        closedir(d);
    if (rc < 0)
        return rc;
    if (out->nr)
        return 0;
    return xpv_error_set(err, -ENODEV,
                         "no precise memory sampling PMU: looked for AMD IBS op (%s/" PMU_DIR
                         "/ibs_op/type) and Intel PEBS (%s/" PMU_DIR "/*/events/mem-loads); %s",
                         r, r, instead);
}

/* ---- events and rings ------------------------------------------------------------------- */

struct pe_ring {
    int cpu;
    int fd; /* the event whose buffer this is */
    void *map;
    size_t map_len;
    struct perf_event_mmap_page *meta;
    const uint8_t *data;
    uint64_t size;
};

struct xpv_cf_pe {
    char name[200];
    uint64_t sample_type;
    struct pe_ring *rings;
    unsigned nr_rings;
    int *fds;
    unsigned nr_fds, cap_fds;
    unsigned next_ring; /* where the next drain starts: no ring starves when out fills */
    struct xpv_cf_pe_stats st;
};

static long pe_open(struct perf_event_attr *a, pid_t pid, int cpu)
{
    return syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* Open ev on (tid, cpu), relaxing precise_ip and then exclude_kernel as the kernel refuses.
 * Returns the fd or a negative errno. */
static int open_event(const struct xpv_cf_pe_event *ev, pid_t tid, int cpu, bool on_exec)
{
    int e = EINVAL;
    for (int excl = ev->exclude_kernel ? 1 : 0; excl >= 0; excl--) {
        for (int prec = (int)ev->precise_ip; prec >= 0; prec--) {
            struct perf_event_attr a;
            memset(&a, 0, sizeof(a));
            a.size = sizeof(a);
            a.type = ev->type;
            a.config = ev->config;
            a.config1 = ev->config1;
            a.config2 = ev->config2;
            a.sample_period = ev->period;
            a.sample_type = ev->sample_type;
            a.precise_ip = (unsigned)prec & 3;
            a.exclude_kernel = (unsigned)excl;
            a.exclude_hv = 1;
            a.inherit = 1;
            a.disabled = on_exec;
            a.enable_on_exec = on_exec;
            long fd = pe_open(&a, tid, cpu);
            if (fd >= 0)
                return (int)fd;
            e = errno;
            if (e != EINVAL && e != EOPNOTSUPP && e != EACCES && e != EPERM)
                return -e;
        }
    }
    return -e;
}

static int add_fd(struct xpv_cf_pe *pe, int fd)
{
    if (pe->nr_fds == pe->cap_fds) {
        unsigned c = pe->cap_fds ? 2 * pe->cap_fds : 64;
        int *n = realloc(pe->fds, c * sizeof(*n));
        if (!n)
            return -ENOMEM;
        pe->fds = n;
        pe->cap_fds = c;
    }
    pe->fds[pe->nr_fds++] = fd;
    return 0;
}

void xpv_cf_pe_free(struct xpv_cf_pe *pe)
{
    if (!pe)
        return;
    for (unsigned i = 0; i < pe->nr_rings; i++)
        if (pe->rings[i].map)
            munmap(pe->rings[i].map, pe->rings[i].map_len);
    for (unsigned i = 0; i < pe->nr_fds; i++)
        close(pe->fds[i]);
    free(pe->rings);
    free(pe->fds);
    free(pe);
}

/* The target's threads, from /proc/PID/task. */
static int list_tids(pid_t pid, pid_t **tids, unsigned *n)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    unsigned cap = 16, k = 0;
    pid_t *t = malloc(cap * sizeof(*t));
    struct dirent *de;
    while (t && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        if (k == cap) {
            pid_t *nt = realloc(t, 2 * cap * sizeof(*t));
            if (!nt) {
                free(t);
                t = NULL;
                break;
            }
            t = nt;
            cap *= 2;
        }
        t[k++] = (pid_t)atoi(de->d_name);
    }
    closedir(d);
    if (!t)
        return -ENOMEM;
    *tids = t;
    *n = k;
    return 0;
}

int xpv_cf_pe_open(pid_t pid, const struct xpv_cf_pe_spec *spec, unsigned ring_pages,
                   bool enable_on_exec, struct xpv_cf_pe **out, struct xpv_error *err)
{
    *out = NULL;
    if (!spec->nr || spec->nr > XPV_CF_PE_MAX_EVENTS || !ring_pages ||
        (ring_pages & (ring_pages - 1)) || ring_pages > 4096)
        return xpv_error_set(err, -EINVAL, "perf backend: %u events, %u ring pages", spec->nr,
                             ring_pages);
    for (unsigned i = 0; i < spec->nr; i++)
        if (spec->ev[i].sample_type != spec->ev[0].sample_type ||
            xpv_cf_pe_sample_size(spec->ev[i].sample_type) < 0)
            return xpv_error_set(err, -EINVAL,
                                 "perf backend: event %s: sample_type %#llx (one for all, "
                                 "fixed-size fields only)",
                                 spec->ev[i].name, (unsigned long long)spec->ev[i].sample_type);
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    long psz = sysconf(_SC_PAGESIZE);
    if (ncpu < 1 || ncpu > XPV_CF_RING_MAX_CPU || psz < 4096)
        return xpv_error_set(err, -EINVAL, "perf backend: %ld CPUs, pages of %ld bytes", ncpu, psz);
    pid_t *tids = NULL;
    unsigned ntids = 0;
    int rc = list_tids(pid, &tids, &ntids);
    if (rc < 0)
        return xpv_error_set(err, rc == -ENOENT ? -ESRCH : rc,
                             "pid %d: cannot list its threads: %s", (int)pid, strerror(-rc));
    struct xpv_cf_pe *pe = calloc(1, sizeof(*pe));
    if (!pe || !(pe->rings = calloc((size_t)ncpu, sizeof(*pe->rings)))) {
        free(tids);
        xpv_cf_pe_free(pe);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    pe->sample_type = spec->ev[0].sample_type;
    for (unsigned i = 0; i < spec->nr; i++) {
        size_t used = strlen(pe->name);
        snprintf(pe->name + used, sizeof(pe->name) - used, "%s%s", i ? "," : "", spec->ev[i].name);
    }
    int first_err = 0;
    const char *first_ev = spec->ev[0].name;
    for (long cpu = 0; cpu < ncpu && rc == 0; cpu++) {
        struct pe_ring *r = &pe->rings[pe->nr_rings];
        r->fd = -1;
        r->cpu = (int)cpu;
        for (unsigned t = 0; t < ntids && rc == 0; t++) {
            for (unsigned i = 0; i < spec->nr && rc == 0; i++) {
                int fd = open_event(&spec->ev[i], tids[t], (int)cpu, enable_on_exec);
                if (fd < 0) {
                    /* an offline CPU, a hybrid part's event on the other kind of core, a
                     * thread that just ended: skip that one */
                    if (fd == -ENODEV || fd == -ENOENT || fd == -ESRCH || fd == -EINVAL ||
                        fd == -EOPNOTSUPP) {
                        if (!first_err)
                            first_err = fd, first_ev = spec->ev[i].name;
                        continue;
                    }
                    rc = xpv_error_set(err, fd, "perf_event_open(%s, tid %d, cpu %ld): %s%s",
                                       spec->ev[i].name, (int)tids[t], cpu, strerror(-fd),
                                       fd == -EACCES || fd == -EPERM
                                               ? " (needs CAP_PERFMON, or "
                                                 "/proc/sys/kernel/perf_event_paranoid <= 2 "
                                                 "and the target's owner)"
                                               : "");
                    break;
                }
                if ((rc = add_fd(pe, fd)) < 0) {
                    close(fd);
                    xpv_error_set(err, rc, "out of memory");
                    break;
                }
                if (r->fd < 0) {
                    size_t len = (size_t)(ring_pages + 1) * (size_t)psz;
                    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                    if (m == MAP_FAILED) {
                        rc = xpv_error_set(err, -errno, "mmap of the %s ring on cpu %ld: %s",
                                           spec->ev[i].name, cpu, strerror(errno));
                        break;
                    }
                    r->fd = fd;
                    r->map = m;
                    r->map_len = len;
                    r->meta = m;
                    uint64_t off = r->meta->data_offset ? r->meta->data_offset : (uint64_t)psz;
                    uint64_t size = r->meta->data_size ? r->meta->data_size
                                                       : (uint64_t)ring_pages * (uint64_t)psz;
                    if (off + size > len) {
                        rc = xpv_error_set(err, -EINVAL, "perf ring on cpu %ld: data at %llu+%llu",
                                           cpu, (unsigned long long)off, (unsigned long long)size);
                        break;
                    }
                    r->data = (const uint8_t *)m + off;
                    r->size = size;
                    pe->nr_rings++;
                } else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd) < 0) {
                    rc = xpv_error_set(err, -errno, "redirecting %s on cpu %ld: %s",
                                       spec->ev[i].name, cpu, strerror(errno));
                    break;
                }
            }
        }
    }
    free(tids);
    if (rc == 0 && pe->nr_rings == 0)
        rc = xpv_error_set(err, first_err ? first_err : -ENODEV,
                           "perf_event_open(%s) on pid %d failed on every CPU: %s; %s", first_ev,
                           (int)pid, strerror(first_err ? -first_err : ENODEV), instead);
    if (rc < 0) {
        xpv_cf_pe_free(pe);
        return rc;
    }
    *out = pe;
    return 0;
}

size_t xpv_cf_pe_drain(struct xpv_cf_pe *pe, struct xpv_cf_ring_sample *out, size_t cap)
{
    size_t n = 0;
    for (unsigned k = 0; k < pe->nr_rings && n < cap; k++) {
        struct pe_ring *r = &pe->rings[(pe->next_ring + k) % pe->nr_rings];
        uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
        uint64_t tail = r->meta->data_tail; /* ours: only we write it */
        n += xpv_cf_pe_parse(r->data, r->size, head, &tail, pe->sample_type, r->cpu, out + n,
                             cap - n, &pe->st);
        __atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
    }
    if (pe->nr_rings)
        pe->next_ring = (pe->next_ring + 1) % pe->nr_rings;
    return n;
}

void xpv_cf_pe_stats(const struct xpv_cf_pe *pe, struct xpv_cf_pe_stats *out)
{
    *out = pe->st;
}

void xpv_cf_pe_counts(const struct xpv_cf_pe *pe, unsigned *rings, unsigned *events)
{
    *rings = pe->nr_rings;
    *events = pe->nr_fds;
}

const char *xpv_cf_pe_name(const struct xpv_cf_pe *pe)
{
    return pe->name;
}
