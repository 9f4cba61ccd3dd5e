/*
 * cf_replay.c — the recorded-samples format for Carrefour (xpv/cf_replay.h): parser and the
 * conversion of a round into the engine's inputs. Input is untrusted: every number is range
 * checked, every line must be one of the documented kinds, sizes are bounded (16 MiB of text,
 * counts grow only with the text, the rounds' counter matrices at XPV_CF_REPLAY_MAX_COUNTERS
 * in all: a short line "round 1" must not cost 32 KiB). A round's pages are its samples grouped by
 * 4 KiB page, or, for the 2 MB rules (thp), by 2 MiB page where a sample of the range says 2m;
 * pages come out sorted by key (4 KiB page number; a 2 MiB page's is its first 4 KiB page's).
 */
#include "xpv/cf_replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/file.h"

#define MAX_INPUT  (16u << 20)
#define PAGE_SHIFT 12
#define HUGE_SHIFT 21 /* 2 MiB pages */

struct parser {
    const char *name;
    unsigned line;
    struct xpv_error *err;
};

static int bad(struct parser *p, const char *fmt, const char *what)
{
    return xpv_error_set(p->err, -EINVAL, "%s:%u: %s%s", p->name, p->line, fmt, what ? what : "");
}

/* Next whitespace-separated word of *s (not crossing the line); NULL at the end. */
static const char *word(const char **s, size_t *len)
{
    const char *q = *s;
    while (*q == ' ' || *q == '\t' || *q == '\r')
        q++;
    if (!*q)
        return NULL;
    const char *start = q;
    while (*q && *q != ' ' && *q != '\t' && *q != '\r')
        q++;
    *len = (size_t)(q - start);
    *s = q;
    return start;
}

static int get_u64(const char **s, int base, uint64_t max, uint64_t *out)
{
    size_t len;
    const char *w = word(s, &len);
    if (!w || len > 24)
        return -1;
    char buf[32];
    memcpy(buf, w, len);
    buf[len] = '\0';
    if (buf[0] == '-' || buf[0] == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, base);
    if (*end || errno || v > max || end == buf)
        return -1;
    *out = v;
    return 0;
}

static int get_num(const char **s, double max, double *out)
{
    size_t len;
    const char *w = word(s, &len);
    if (!w || len > 31)
        return -1;
    char buf[32];
    memcpy(buf, w, len);
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end || end == buf || !isfinite(v) || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int at_end(const char **s)
{
    size_t len;
    return word(s, &len) == NULL;
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *n = realloc(*v, c * elem);
    if (!n)
        return -ENOMEM;
    *v = n;
    *cap = c;
    return 0;
}

/* Room for one more sample and its page size (the two arrays share a capacity). */
static int grow_samples(struct xpv_cf_replay *r, size_t *cap)
{
    size_t c = *cap;
    int rc = grow((void **)&r->samples, &c, r->nr_samples + 1, sizeof(*r->samples));
    if (rc == 0 && c != *cap) {
        unsigned char *h = realloc(r->huge, c);
        if (!h)
            return -ENOMEM; /* samples grew, huge did not: *cap stays, the next call retries */
        r->huge = h;
        *cap = c;
    }
    return rc;
}

static int parse_cpus(struct parser *p, const char *s, struct xpv_cf_replay *r)
{
    size_t len;
    const char *w;
    int any = 0;
    while ((w = word(&s, &len))) {
        unsigned a, b, node;
        int used = 0;
        char buf[64];
        if (len >= sizeof(buf))
            return bad(p, "expected CPU ranges like 0-7:0", NULL);
        memcpy(buf, w, len);
        buf[len] = '\0';
        if (sscanf(buf, "%u-%u:%u%n", &a, &b, &node, &used) != 3 || (size_t)used != len) {
            used = 0;
            if (sscanf(buf, "%u:%u%n", &a, &node, &used) != 2 || (size_t)used != len)
                return bad(p, "expected CPU ranges like 0-7:0 or 8:1, found ", buf);
            b = a;
        }
        if (a > b || b >= XPV_CF_REPLAY_MAX_CPUS || node >= r->nr_nodes)
            return bad(p, "CPU range or node out of bounds: ", buf);
        for (unsigned c = a; c <= b; c++)
            r->cpu_node[c] = (int)node;
        any = 1;
    }
    return any ? 0 : bad(p, "expected CPU ranges after 'cpus'", NULL);
}

int xpv_cf_replay_parse(const char *text, size_t len, const char *name, struct xpv_cf_replay **out,
                        struct xpv_error *err)
{
    struct parser p = {name ? name : "samples", 0, err};
    *out = NULL;
    if (len > MAX_INPUT)
        return xpv_error_set(err, -EINVAL, "%s: larger than %u bytes", p.name, MAX_INPUT);
    struct xpv_cf_replay *r = calloc(1, sizeof(*r));
    char *buf = malloc(len + 1);
    if (!r || !buf) {
        free(r);
        free(buf);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    for (unsigned c = 0; c < XPV_CF_REPLAY_MAX_CPUS; c++)
        r->cpu_node[c] = -1;
    r->sample_every = 1;
    size_t cap_s = 0, cap_r = 0, cap_d = 0, nn = 0; /* nn: doubles per matrix */
    int rc = 0, seen_header = 0;
    char *line = buf;
    while (line && rc == 0) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        size_t seg = (size_t)((nl ? nl : buf + len) - line);
        if (nl)
            *nl = '\0';
        p.line++;
        if (strnlen(line, seg) != seg) {
            rc = bad(&p, "a NUL byte in the line", NULL);
            break;
        }
        const char *s = line;
        size_t kl;
        const char *kw = word(&s, &kl);
        line = nl ? nl + 1 : NULL;
        if (!kw || kw[0] == '#')
            continue;
        if (!seen_header) {
            uint64_t v;
            if (kl != 11 || memcmp(kw, "xpv-samples", 11) || get_u64(&s, 10, 1000, &v) ||
                !at_end(&s)) {
                rc = bad(&p, "expected the header 'xpv-samples 1'", NULL);
            } else if (v != 1) {
                rc = bad(&p, "this reader understands xpv-samples version 1 only", NULL);
            }
            seen_header = 1;
            continue;
        }
#define KW(x) (kl == sizeof(x) - 1 && !memcmp(kw, x, kl))
        uint64_t a, b, c;
        double d;
        if (KW("nodes")) {
            if (r->nr_nodes || get_u64(&s, 10, XPV_CF_MAX_NODES, &a) || a < 1 || !at_end(&s))
                rc = bad(&p, "expected 'nodes N' once, 1 <= N <= 64", NULL);
            else
                r->nr_nodes = (unsigned)a, nn = (size_t)a * (size_t)a;
        } else if (!r->nr_nodes) {
            rc = bad(&p, "expected 'nodes N' before anything else", NULL);
        } else if (KW("cpus")) {
            rc = parse_cpus(&p, s, r);
        } else if (KW("sample_every")) {
            if (get_num(&s, 1e12, &d) || d < 1 || !at_end(&s))
                rc = bad(&p, "expected 'sample_every N' with N >= 1", NULL);
            else
                r->sample_every = d;
        } else if (KW("round")) {
            if (get_num(&s, 1e15, &d) || d <= 0 || !at_end(&s)) {
                rc = bad(&p, "expected 'round NS' with NS > 0", NULL);
            } else if (r->nr_rounds >= XPV_CF_REPLAY_MAX_ROUNDS) {
                rc = bad(&p, "more rounds than a replay holds (8192): split the recording", NULL);
            } else if ((r->nr_rounds + 1) * nn * sizeof(double) > XPV_CF_REPLAY_MAX_COUNTERS) {
                char m[128];
                snprintf(m, sizeof(m), "%zu rounds of %u nodes (16 MiB of counters)", r->nr_rounds,
                         r->nr_nodes);
                rc = bad(&p, "more rounds than a replay holds, split the recording: ", m);
            } else if ((rc = grow((void **)&r->rounds, &cap_r, r->nr_rounds + 1,
                                  sizeof(*r->rounds))) == 0 &&
                       (rc = grow((void **)&r->dram, &cap_d, r->nr_rounds + 1,
                                  nn * sizeof(double))) == 0) {
                memset(r->dram + r->nr_rounds * nn, 0, nn * sizeof(double));
                struct xpv_cf_replay_round *rd = &r->rounds[r->nr_rounds++];
                memset(rd, 0, sizeof(*rd));
                rd->round_ns = d;
                rd->first = r->nr_samples;
            } else {
                rc = xpv_error_set(err, rc, "out of memory");
            }
        } else if (!r->nr_rounds && (KW("dram") || KW("s"))) {
            rc = bad(&p, "expected 'round NS' before counters and samples", NULL);
        } else if (KW("dram")) {
            if (get_u64(&s, 10, r->nr_nodes - 1, &a) || get_u64(&s, 10, r->nr_nodes - 1, &b) ||
                get_num(&s, 1e18, &d) || !at_end(&s)) {
                rc = bad(&p, "expected 'dram FROM_NODE TO_NODE COUNT'", NULL);
            } else {
                struct xpv_cf_replay_round *rd = &r->rounds[r->nr_rounds - 1];
                r->dram[(r->nr_rounds - 1) * nn + a * r->nr_nodes + b] += d;
                rd->dram_given = 1;
            }
        } else if (KW("s")) {
            size_t wl, zl;
            const char *rw, *sz;
            uint64_t node;
            if (get_u64(&s, 10, XPV_CF_REPLAY_MAX_CPUS - 1, &a) ||
                get_u64(&s, 16, UINT64_MAX, &c) || !(rw = word(&s, &wl)) || wl != 1 ||
                (rw[0] != 'r' && rw[0] != 'w') || get_u64(&s, 10, r->nr_nodes - 1, &node)) {
                rc = bad(&p, "expected 's CPU ADDR_HEX r|w NODE [4k|2m]'", NULL);
            } else if ((sz = word(&s, &zl)) && !at_end(&s)) {
                rc = bad(&p, "expected 's CPU ADDR_HEX r|w NODE [4k|2m]'", NULL);
            } else if (sz && (zl != 2 || (memcmp(sz, "4k", 2) && memcmp(sz, "2m", 2)))) {
                char f[32];
                snprintf(f, sizeof(f), "%.*s", (int)(zl < 31 ? zl : 31), sz);
                rc = bad(&p, "expected the page size 4k or 2m after the node, found ", f);
            } else if (r->cpu_node[a] < 0) {
                rc = bad(&p, "a sample from a CPU the 'cpus' line did not place", NULL);
            } else if ((rc = grow_samples(r, &cap_s)) == 0) {
                r->huge[r->nr_samples] = sz && sz[0] == '2';
                r->samples[r->nr_samples++] =
                        (struct xpv_cf_sample){(unsigned)a, c, rw[0] == 'w', (unsigned)node};
                r->rounds[r->nr_rounds - 1].count++;
            } else {
                rc = xpv_error_set(err, rc, "out of memory");
            }
        } else {
            char k[32];
            snprintf(k, sizeof(k), "%.*s", (int)(kl < 31 ? kl : 31), kw);
            rc = bad(&p, "unknown line kind ", k);
        }
#undef KW
    }
    if (rc == 0 && !seen_header)
        rc = xpv_error_set(err, -EINVAL, "%s: empty (expected the header 'xpv-samples 1')", p.name);
    if (rc == 0 && !r->nr_nodes)
        rc = xpv_error_set(err, -EINVAL, "%s: no 'nodes N' line", p.name);
    free(buf);
    if (rc < 0) {
        xpv_cf_replay_free(r);
        return rc;
    }
    /* rounds without counters: estimate them from the samples */
    for (size_t i = 0; i < r->nr_rounds; i++) {
        struct xpv_cf_replay_round *rd = &r->rounds[i];
        rd->dram = r->dram + i * nn; /* the array grew while parsing: pointers only now */
        if (rd->dram_given)
            continue;
        for (size_t k = rd->first; k < rd->first + rd->count; k++) {
            const struct xpv_cf_sample *sm = &r->samples[k];
            rd->dram[(unsigned)r->cpu_node[sm->cpu] * r->nr_nodes + sm->node] += r->sample_every;
        }
    }
    *out = r;
    return 0;
}

int xpv_cf_replay_load(const char *path, struct xpv_cf_replay **out, struct xpv_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    int rc = xpv_read_file(path, MAX_INPUT, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = xpv_cf_replay_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void xpv_cf_replay_free(struct xpv_cf_replay *r)
{
    if (!r)
        return;
    free(r->samples);
    free(r->huge);
    free(r->rounds);
    free(r->dram);
    free(r);
}

/* A sample of the round being grouped: its page size and its place in the file (the
 * tie-break, so that "the first sample" of a page is the first in the file). */
struct rsample {
    struct xpv_cf_sample s;
    size_t idx;
    bool huge;
};

static int page_cmp(const void *a, const void *b)
{
    const struct rsample *x = a, *y = b;
    uint64_t px = x->s.addr >> PAGE_SHIFT, py = y->s.addr >> PAGE_SHIFT;
    if (px != py)
        return (px > py) - (px < py);
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Add sample sm to the page with that key, a new one at the end of pages[0..*nr) unless the
 * last one has it; a full table misses new pages (like the module's). */
static void add(const struct xpv_cf_replay *r, const struct xpv_cf_sample *sm, uint64_t key,
                unsigned node, bool huge, struct xpv_cf_page *pages, unsigned cap, unsigned *nr)
{
    if (!*nr || pages[*nr - 1].key != key) {
        if (*nr == cap)
            return;
        memset(&pages[*nr], 0, sizeof(pages[*nr]));
        pages[*nr].key = key;
        pages[*nr].node = node;
        pages[*nr].huge = huge;
        (*nr)++;
    }
    struct xpv_cf_page *pg = &pages[*nr - 1];
    pg->accesses[r->cpu_node[sm->cpu]]++;
    pg->writes += sm->write;
}

int xpv_cf_replay_round_thp(const struct xpv_cf_replay *r, size_t i, bool thp,
                            struct xpv_cf_counters *c, struct xpv_cf_page *pages, unsigned cap,
                            unsigned *nr)
{
    *nr = 0;
    if (i >= r->nr_rounds)
        return -ERANGE;
    const struct xpv_cf_replay_round *rd = &r->rounds[i];
    struct rsample *sorted = malloc((rd->count ? rd->count : 1) * sizeof(*sorted));
    if (!sorted)
        return -ENOMEM;
    for (size_t k = 0; k < rd->count; k++) /* a round may have no samples (nor the arrays) */
        sorted[k] =
                (struct rsample){r->samples[rd->first + k], k, r->huge && r->huge[rd->first + k]};
    qsort(sorted, rd->count, sizeof(*sorted), page_cmp);
    size_t reads = 0;
    for (size_t k = 0; k < rd->count; k++)
        reads += !sorted[k].s.write;
    /* sorted by 4 KiB page, hence by 2 MiB range: one range at a time */
    for (size_t k = 0, e; k < rd->count; k = e) {
        uint64_t range = sorted[k].s.addr >> HUGE_SHIFT;
        const struct rsample *first_huge = NULL;
        for (e = k; e < rd->count && sorted[e].s.addr >> HUGE_SHIFT == range; e++)
            if (thp && sorted[e].huge && !first_huge)
                first_huge = &sorted[e];
        for (size_t j = k; j < e; j++) {
            const struct xpv_cf_sample *sm = &sorted[j].s;
            if (first_huge)
                add(r, sm, range << (HUGE_SHIFT - PAGE_SHIFT), first_huge->s.node, true, pages, cap,
                    nr);
            else
                add(r, sm, sm->addr >> PAGE_SHIFT, sm->node, false, pages, cap, nr);
        }
    }
    free(sorted);
    *c = (struct xpv_cf_counters){
            .nr_nodes = r->nr_nodes,
            .dram = rd->dram,
            .round_ns = rd->round_ns,
            .read_ratio = rd->count ? 100.0 * (double)reads / (double)rd->count : 100,
            .samples = (double)rd->count,
    }; /* interleaving_before: the caller's, which knows the previous round */
    return 0;
}

int xpv_cf_replay_round(const struct xpv_cf_replay *r, size_t i, struct xpv_cf_counters *c,
                        struct xpv_cf_page *pages, unsigned cap, unsigned *nr)
{
    return xpv_cf_replay_round_thp(r, i, false, c, pages, cap, nr);
}
