/*
 * cf_perf_script.c — `perf script` text of precise memory sampling as Carrefour samples
 * (xpv/cf_perf_script.h). Pure: text in, replay out. The input is untrusted: every field is
 * checked, malformed lines are refused with NAME:LINE, and the output goes through the replay
 * parser (so its size bound, 16 MiB of replay text, applies too).
 *
 * Invariants: rounds are consecutive slices of round_ns from the first sample's time; a
 * sample earlier than its predecessor (perf sorts by time, but tolerate) joins the current
 * round; a page's node is the page map's, else the node of the CPU that sampled it first
 * (for a sample perf says is on a 2M page: per 2 MiB page, written "2m" in the replay).
 */
#include "xpv/cf_perf_script.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/file.h"

#define PAGE_SHIFT 12
#define HUGE_SHIFT 21 /* 2 MiB pages */
#define HUGE_SIZE  (1ull << HUGE_SHIFT)
#define HUGE_PAGES (1ull << (HUGE_SHIFT - PAGE_SHIFT)) /* 4 KiB pages in one */
#define HUGE_KEY   (1ull << 62) /* first-touch keys of 2 MiB pages (4 KiB ones: addr >> 12) */
#define MAX_TEXT   (16u << 20)

struct outbuf {
    char *s;
    size_t len, cap;
    int oom;
};

static void emit(struct outbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct outbuf *b, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (b->oom || n < 0 || (size_t)n >= sizeof(line)) {
        b->oom = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 4096;
        char *ns = realloc(b->s, c);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = c;
    }
    memcpy(b->s + b->len, line, (size_t)n + 1);
    b->len += (size_t)n;
}

int xpv_cf_perf_cpu_map(const char *spec, struct xpv_cf_perf_opts *o, struct xpv_error *err)
{
    for (unsigned c = 0; c < XPV_CF_REPLAY_MAX_CPUS; c++)
        o->cpu_node[c] = -1;
    o->nr_nodes = 0;
    const char *s = spec;
    int any = 0;
    while (*s) {
        if (*s == ',' || *s == ' ') {
            s++;
            continue;
        }
        unsigned a, b, node;
        int used = 0;
        if (sscanf(s, "%u-%u:%u%n", &a, &b, &node, &used) != 3) {
            used = 0;
            if (sscanf(s, "%u:%u%n", &a, &node, &used) != 2)
                return xpv_error_set(err, -EINVAL,
                                     "--cpu-nodes: expected CPU ranges like 0-7:0,8-15:1 at '%s'",
                                     s);
            b = a;
        }
        if (a > b || b >= XPV_CF_REPLAY_MAX_CPUS || node >= XPV_CF_MAX_NODES)
            return xpv_error_set(err, -EINVAL,
                                 "--cpu-nodes: CPUs %u-%u on node %u out of bounds (CPUs < %u, "
                                 "nodes < %u)",
                                 a, b, node, XPV_CF_REPLAY_MAX_CPUS, XPV_CF_MAX_NODES);
        for (unsigned c = a; c <= b; c++)
            o->cpu_node[c] = (int)node;
        if (node + 1 > o->nr_nodes)
            o->nr_nodes = node + 1;
        s += used;
        if (*s && *s != ',' && *s != ' ')
            return xpv_error_set(err, -EINVAL, "--cpu-nodes: unexpected '%c'", *s);
        any = 1;
    }
    return any ? 0 : xpv_error_set(err, -EINVAL, "--cpu-nodes: empty map");
}

static int pn_cmp(const void *a, const void *b)
{
    const struct xpv_cf_perf_page_node *x = a, *y = b;
    return (x->page > y->page) - (x->page < y->page);
}

/* The next line of text[0..len) from *pos, NUL-free copy into buf; 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, char *buf, size_t cap, size_t *llen)
{
    if (*pos >= len)
        return 0;
    size_t start = *pos, e = start;
    while (e < len && text[e] != '\n')
        e++;
    *pos = e + 1;
    size_t n = e - start;
    if (n && text[start + n - 1] == '\r')
        n--;
    *llen = n;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, text + start, n);
    buf[n] = 0;
    return 1;
}

static int blank_or_comment(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == 0 || *s == '#';
}

int xpv_cf_perf_page_nodes_parse(const char *text, size_t len, const char *name,
                                 struct xpv_cf_perf_opts *o, struct xpv_error *err)
{
    size_t pos = 0, cap = 0, llen;
    unsigned line = 0;
    char buf[256];
    free(o->page_nodes);
    o->page_nodes = NULL;
    o->nr_page_nodes = 0;
    if (len > MAX_TEXT)
        return xpv_error_set(err, -EINVAL, "%s: larger than %u bytes", name, MAX_TEXT);
    while (next_line(text, len, &pos, buf, sizeof(buf), &llen)) {
        line++;
        if (blank_or_comment(buf))
            continue;
        unsigned long long a;
        unsigned node;
        int used = 0;
        if (llen >= sizeof(buf) || strlen(buf) != llen ||
            sscanf(buf, " %llx %u %n", &a, &node, &used) != 2 || buf[used] != 0 || strchr(buf, '-'))
            return xpv_error_set(err, -EINVAL, "%s:%u: expected 'HEXADDR NODE'", name, line);
        if (node >= XPV_CF_MAX_NODES || (o->nr_nodes && node >= o->nr_nodes))
            return xpv_error_set(err, -EINVAL, "%s:%u: node %u out of range (< %u)", name, line,
                                 node, o->nr_nodes ? o->nr_nodes : XPV_CF_MAX_NODES);
        if (o->nr_page_nodes == cap) {
            size_t c = cap ? cap * 2 : 256;
            void *n = realloc(o->page_nodes, c * sizeof(*o->page_nodes));
            if (!n)
                return xpv_error_set(err, -ENOMEM, "out of memory");
            o->page_nodes = n;
            cap = c;
        }
        o->page_nodes[o->nr_page_nodes++] = (struct xpv_cf_perf_page_node){a >> PAGE_SHIFT, node};
    }
    if (o->nr_page_nodes)
        qsort(o->page_nodes, o->nr_page_nodes, sizeof(*o->page_nodes), pn_cmp);
    return 0;
}

/* The first page map entry for pages [first, first + n), or NULL. */
static const struct xpv_cf_perf_page_node *page_node_in(const struct xpv_cf_perf_opts *o,
                                                        uint64_t first, uint64_t n)
{
    size_t lo = 0, hi = o->nr_page_nodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->page_nodes[mid].page < first)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < o->nr_page_nodes && o->page_nodes[lo].page - first < n ? &o->page_nodes[lo] : NULL;
}

static int read_file(const char *path, char **text, size_t *len, struct xpv_error *err)
{
    return xpv_read_file(path, MAX_TEXT * 8u, text, len, err);
}

int xpv_cf_perf_page_nodes_load(const char *path, struct xpv_cf_perf_opts *o, struct xpv_error *err)
{
    char *t;
    size_t n;
    int rc = read_file(path, &t, &n, err);
    if (rc < 0)
        return rc;
    rc = xpv_cf_perf_page_nodes_parse(t, n, path, o, err);
    free(t);
    return rc;
}

/* Open-addressing map page -> first sampling node, for pages the page map does not list. */
struct first_touch {
    uint64_t *key; /* page + 1; 0 = empty */
    unsigned char *node;
    size_t cap, used;
};

static int ft_get(struct first_touch *ft, uint64_t page, unsigned node, unsigned *out)
{
    if (ft->used * 2 >= ft->cap) {
        size_t nc = ft->cap ? ft->cap * 2 : 1024;
        uint64_t *nk = calloc(nc, sizeof(*nk));
        unsigned char *nn = malloc(nc);
        if (!nk || !nn) {
            free(nk);
            free(nn);
            return -ENOMEM;
        }
        for (size_t i = 0; i < ft->cap; i++)
            if (ft->key[i]) {
                size_t h = (size_t)(ft->key[i] * 0x9e3779b97f4a7c15ull) & (nc - 1);
                while (nk[h])
                    h = (h + 1) & (nc - 1);
                nk[h] = ft->key[i];
                nn[h] = ft->node[i];
            }
        free(ft->key);
        free(ft->node);
        ft->key = nk;
        ft->node = nn;
        ft->cap = nc;
    }
    uint64_t k = page + 1;
    size_t h = (size_t)(k * 0x9e3779b97f4a7c15ull) & (ft->cap - 1);
    while (ft->key[h] && ft->key[h] != k)
        h = (h + 1) & (ft->cap - 1);
    if (!ft->key[h]) {
        ft->key[h] = k;
        ft->node[h] = (unsigned char)node;
        ft->used++;
    }
    *out = ft->node[h];
    return 0;
}

/*
 * The page size perf script prints last on the line for data_page_size (get_page_size_name():
 * a number and B, K, M or G, e.g. 4K, 2M, 1024M for 1 GiB; N/A when the kernel could not tell):
 * its bytes, 0 for N/A or when the last word of rest is not a size (no data_page_size field;
 * data_src's text never ends in one).
 */
static uint64_t page_size(const char *rest, char *word, size_t cap)
{
    const char *e = rest + strlen(rest);
    while (e > rest && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    const char *b = e;
    while (b > rest && b[-1] != ' ' && b[-1] != '\t')
        b--;
    size_t n = (size_t)(e - b);
    if (n < 2 || n > 7) /* up to 999999G: no overflow */
        return 0;
    uint64_t v = 0;
    for (const char *q = b; q < e - 1; q++) {
        if (*q < '0' || *q > '9')
            return 0;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    const char *units = "BKMG", *u = strchr(units, e[-1]);
    if (!u || !*u)
        return 0;
    snprintf(word, cap, "%.*s", (int)n, b);
    return v << (10 * (u - units));
}

/* Parse "[CPU] SECONDS: EVENT: HEXADDR [rest]"; *size: data_page_size's bytes (0: none, N/A). */
static int parse_sample(const char *s, unsigned *cpu, double *t, uint64_t *addr, int *write,
                        int *known, uint64_t *size, char *size_word, size_t size_cap)
{
    unsigned c;
    int n = 0;
    double sec;
    if (sscanf(s, " [%u] %lf:%n", &c, &sec, &n) != 2 || !n || !isfinite(sec) || sec < 0 ||
        sec > 1e12 || c >= XPV_CF_REPLAY_MAX_CPUS)
        return -1;
    /* %u and %lf accept signs and spaces in odd places; require the strict shape */
    const char *q = s;
    while (*q == ' ' || *q == '\t')
        q++;
    if (*q != '[' || q[1] < '0' || q[1] > '9')
        return -1;
    s += n;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *ev = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    size_t evlen = (size_t)(s - ev);
    if (evlen < 2 || ev[evlen - 1] != ':')
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *a = s;
    uint64_t v = 0;
    unsigned digits = 0;
    for (; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F'); s++) {
        if (++digits > 16)
            return -1;
        unsigned d = *s <= '9' ? (unsigned)(*s - '0') : (unsigned)((*s | 0x20) - 'a' + 10);
        v = v << 4 | d;
    }
    if (s == a || (*s && *s != ' ' && *s != '\t'))
        return -1;
    *cpu = c;
    *t = sec;
    *addr = v;
    *known = 1;
    *size = page_size(s, size_word, size_cap);
    if (strstr(s, "|OP STORE"))
        *write = 1;
    else if (strstr(s, "|OP LOAD"))
        *write = 0;
    else {
        char evb[128];
        size_t k = evlen < sizeof(evb) ? evlen : sizeof(evb) - 1;
        memcpy(evb, ev, k);
        evb[k] = 0;
        if (strstr(evb, "store"))
            *write = 1;
        else {
            *write = 0;
            *known = strstr(evb, "load") != NULL;
        }
    }
    return 0;
}

int xpv_cf_perf_convert(const char *text, size_t len, const char *name, struct xpv_cf_perf_opts *o,
                        char **out, size_t *out_len, struct xpv_error *err)
{
    *out = NULL;
    *out_len = 0;
    o->skipped_no_addr = o->unknown_kind = 0;
    if (!name)
        name = "perf script";
    if (o->nr_nodes < 1 || o->nr_nodes > XPV_CF_MAX_NODES)
        return xpv_error_set(err, -EINVAL, "%s: %u nodes (1..%u)", name, o->nr_nodes,
                             XPV_CF_MAX_NODES);
    if (!(o->round_ns > 0) || o->round_ns > 1e15)
        return xpv_error_set(err, -EINVAL, "%s: round length must be > 0", name);
    if (len > MAX_TEXT * 8u)
        return xpv_error_set(err, -EINVAL, "%s: larger than %u bytes", name, MAX_TEXT * 8u);
    struct outbuf b = {0};
    struct first_touch ft = {0};
    emit(&b, "xpv-samples 1\nnodes %u\ncpus", o->nr_nodes);
    int any_cpu = 0;
    for (unsigned c = 0; c < XPV_CF_REPLAY_MAX_CPUS; c++)
        if (o->cpu_node[c] >= 0 && (unsigned)o->cpu_node[c] < o->nr_nodes) {
            emit(&b, " %u:%d", c, o->cpu_node[c]);
            any_cpu = 1;
        }
    if (!any_cpu)
        return xpv_error_set(err, -EINVAL, "%s: no CPU has a node", name);
    double every = o->sample_every > 0 ? o->sample_every : 1;
    if (every > 1e12)
        return xpv_error_set(err, -EINVAL, "%s: sample period %g is too large", name, every);
    emit(&b, "\nsample_every %.0f\n", every);
    size_t pos = 0, llen;
    unsigned line = 0;
    char buf[1024];
    double t0 = 0;
    uint64_t round = 0;
    int started = 0, rc = 0;
    while (!rc && next_line(text, len, &pos, buf, sizeof(buf), &llen)) {
        line++;
        if (blank_or_comment(buf))
            continue;
        unsigned cpu, node;
        double t;
        uint64_t addr, size;
        int write, known;
        char sw[16];
        if (strlen(buf) != (llen < sizeof(buf) ? llen : sizeof(buf) - 1) ||
            parse_sample(buf, &cpu, &t, &addr, &write, &known, &size, sw, sizeof(sw)) < 0) {
            rc = xpv_error_set(err, -EINVAL,
                               "%s:%u: expected '[CPU] SECONDS: EVENT: HEXADDR ...' (perf script "
                               "-F cpu,time,event,addr[,data_src][,data_page_size])",
                               name, line);
            break;
        }
        if (!addr) {
            o->skipped_no_addr++;
            continue;
        }
        if (size && size != 4096 && size != HUGE_SIZE) {
            rc = xpv_error_set(err, -EINVAL,
                               "%s:%u: data_page_size %s: expected 4K or 2M (Carrefour decides "
                               "4 KiB and 2 MiB pages; leave other pages' samples out, e.g. "
                               "grep -v ' %s$')",
                               name, line, sw, sw);
            break;
        }
        bool huge = size == HUGE_SIZE;
        o->unknown_kind += !known;
        if (o->cpu_node[cpu] < 0 || (unsigned)o->cpu_node[cpu] >= o->nr_nodes) {
            rc = xpv_error_set(err, -EINVAL, "%s:%u: CPU %u has no node (give --cpu-nodes)", name,
                               line, cpu);
            break;
        }
        if (!started) {
            t0 = t;
            started = 1;
            emit(&b, "round %.0f\n", o->round_ns);
        }
        double idx = t > t0 ? floor((t - t0) * 1e9 / o->round_ns) : 0;
        if (idx > (double)round) {
            if (idx >= (double)XPV_CF_REPLAY_MAX_ROUNDS) {
                rc = xpv_error_set(err, -EINVAL,
                                   "%s:%u: the sample falls in round %.0f; a replay holds %u "
                                   "rounds (split the recording, or longer rounds)",
                                   name, line, idx + 1, XPV_CF_REPLAY_MAX_ROUNDS);
                break;
            }
            for (; (double)round < idx; round++)
                emit(&b, "round %.0f\n", o->round_ns);
        }
        uint64_t page = addr >> PAGE_SHIFT;
        const struct xpv_cf_perf_page_node *pn =
                huge ? page_node_in(o, page & ~(HUGE_PAGES - 1), HUGE_PAGES)
                     : page_node_in(o, page, 1);
        if (pn) {
            node = pn->node;
            if (node >= o->nr_nodes) {
                rc = xpv_error_set(err, -EINVAL, "%s:%u: page map puts 0x%llx on node %u of %u",
                                   name, line, (unsigned long long)addr, node, o->nr_nodes);
                break;
            }
        } else if (ft_get(&ft, huge ? HUGE_KEY | addr >> HUGE_SHIFT : page,
                          (unsigned)o->cpu_node[cpu], &node) < 0) {
            rc = xpv_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        emit(&b, "s %u %llx %c %u%s\n", cpu, (unsigned long long)addr, write ? 'w' : 'r', node,
             huge ? " 2m" : "");
        if (b.len > MAX_TEXT) {
            rc = xpv_error_set(err, -EINVAL,
                               "%s:%u: more samples than the replay format holds (%u bytes); "
                               "split the recording",
                               name, line, MAX_TEXT);
            break;
        }
    }
    free(ft.key);
    free(ft.node);
    if (!rc && b.oom)
        rc = xpv_error_set(err, -ENOMEM, "out of memory");
    if (!rc && !started)
        rc = xpv_error_set(err, -EINVAL, "%s: no samples with a data address", name);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    *out_len = b.len;
    return 0;
}

int xpv_cf_perf_parse(const char *text, size_t len, const char *name, struct xpv_cf_perf_opts *o,
                      struct xpv_cf_replay **out, struct xpv_error *err)
{
    char *rep;
    size_t n;
    *out = NULL;
    int rc = xpv_cf_perf_convert(text, len, name, o, &rep, &n, err);
    if (rc < 0)
        return rc;
    rc = xpv_cf_replay_parse(rep, n, name, out, err);
    free(rep);
    return rc;
}

int xpv_cf_perf_load(const char *path, struct xpv_cf_perf_opts *o, struct xpv_cf_replay **out,
                     struct xpv_error *err)
{
    char *t;
    size_t n;
    *out = NULL;
    int rc = read_file(path, &t, &n, err);
    if (rc < 0)
        return rc;
    rc = xpv_cf_perf_parse(t, n, path, o, out, err);
    free(t);
    return rc;
}
