/*
 * scenario.c — read a simulator scenario (YAML, or JSON, whose flow syntax is YAML) into
 * struct xpv_sim_scenario (xpv/sim.h).
 *
 * libyaml's event API builds a small private tree (mapping / sequence / scalar nodes, each
 * with the 1-based line it starts on); a schema walk then fills the scenario. A scenario is a
 * file people write by hand, so every mistake is reported, never guessed around: unknown keys
 * and duplicate keys are errors, and every error is -EINVAL with one line,
 *   "NAME:LINE: what was expected, and what was found"
 * e.g. "cg.yaml:12: workloads[1].threads: expected a positive integer, found 'many'".
 * The scenario is written only on success.
 *
 * The input is hostile until proven otherwise: at most 4 MiB, nesting depth <= 32, <= 100000
 * nodes, scalars <= 4096 bytes; anchors are ignored and aliases rejected (no expansion); the
 * simulated run at most XPV_SIM_MAX_EPOCHS epochs.
 *
 * Schema (every key optional unless marked "required"; defaults: xpv_sim_scenario_defaults):
 *   name: STRING (< 64 chars)          default: the file name without directory and extension
 *   seed: INTEGER >= 0                  default 1
 *   machine: required; one of
 *     PRESET                            a preset name (xpv_sim_machine_preset)
 *     {preset: PRESET}                  the same
 *     {xml: PATH, local_ns: N > 0 (100), mc_gbps: N > 0 (20), link_gbps: N > 0 (10)}
 *                                       hwloc XML (xpv_sim_machine_from_hwloc_xml); a relative
 *                                       PATH is relative to the scenario file's directory
 *   epoch_ms: NUMBER in (0, 100]        default 1
 *   max_seconds: NUMBER > 0             default 600 (simulated seconds); max_seconds x 1000
 *                                       / epoch_ms <= XPV_SIM_MAX_EPOCHS (1e7), and that
 *                                       times all workloads' threads <= 1e9
 *                                       (XPV_SIM_MAX_THREAD_EPOCHS): the work a file can ask
 *                                       for is bounded
 *   migrate_gbps: NUMBER > 0            default 1
 *   policies: [NAME, ...]               1..8 distinct names, [a-z0-9-]+ and < 32 chars (the
 *                                       engine checks that they exist); default [first-touch],
 *                                       or [vnuma] when a workload runs in a VM;
 *                                       VM policies when a workload runs in a VM, native ones
 *                                       otherwise (xpv_policy_check; hostd is both)
 *   baseline: NAME                      one of policies; default policies[0]
 *   workloads: required, a list of 1..16 mappings, each either a preset
 *     preset: NAME                      xpv_sim_workload_preset(NAME, threads)
 *     threads: INTEGER in 1..1024       required
 *     name: STRING (< 64 chars)         default: the preset's
 *     placement: spread | pack | {nodes: [NODE, ...]}   distinct node ids < the machine's
 *                                       node count; default: the preset's
 *     membind: [NODE, ...]              memory only on these nodes (numactl --membind);
 *                                       default: anywhere
 *     start_s: NUMBER >= 0              default 0 (the preset's)
 *     work_scale: NUMBER in (0, 1e6]    multiplies every phase's work; default 1
 *     churn_per_s: NUMBER in [0, 100]   the rate (share per second freed and allocated
 *                                       again) of the workload's turned-over regions that
 *                                       have no rate of their own; loaded-once regions never
 *                                       churn. An error on a
 *                                       workload with no turned-over region (the meaning
 *                                       before issue 16, every region churns, is now
 *                                       `churn_per_s` on each region); default 0
 *     page: 4k | 2m                     every region's page size (2m: memory backed by
 *                                       transparent huge pages, THP "always"); default: the
 *                                       preset's (4k), or each region's own
 *     runtime: none | arenas | jemalloc | jvm   only with `vm`: the runtime its memory
 *                                       goes through in the guest (docs/sim.md, "Inside
 *                                       the guest"): none, every re-allocation from the
 *                                       guest kernel; arenas (jemalloc: the same), per-node
 *                                       arenas bound at thread start reusing freed memory
 *                                       in place; jvm, an eden laid out per node at start,
 *                                       collected every 1 / churn_per_s s; default none
 *   or a custom workload, without `preset`:
 *     name: STRING                      default "workloadI" (I: its index)
 *     threads, placement (default spread), membind, start_s, work_scale, page, vm,
 *     churn_per_s (sets every turned-over region's): as above
 *     regions: required, 1..8 of
 *       name: STRING (< 32 chars)       required, distinct within the workload
 *       kind: private | shared | sliced required. private: one region of size_mb per
 *                                       thread; shared: one region read uniformly by every
 *                                       thread; sliced: one region cut into a slice per
 *                                       thread, each thread mostly reading its own
 *       size_mb: NUMBER in (0, 1e9]     required (MiB; rounded up to whole bytes)
 *       init: master | parallel         who touches it first: the master thread, or every
 *                                       thread its part (private: its own, sliced: its
 *                                       slice); default parallel
 *       page: 4k | 2m                   default 4k
 *       lifetime: loaded | turnover     loaded once and reused (never churns), or freed and
 *                                       allocated again at churn_per_s; default loaded, or
 *                                       turnover when churn_per_s is given
 *       churn_per_s: NUMBER in [0, 100] a turned-over region's rate; an error with
 *                                       `lifetime: loaded`; default 0
 *       own_frac: NUMBER in [0, 1]      sliced only: share of a thread's accesses to the
 *                                       region that go to its own slice, the rest spread
 *                                       over the whole region; default 0.9
 *     phases: required, 1..8 of
 *       work_m: NUMBER in (0, 1e12]     required; memory accesses per thread, in millions
 *       compute_ns: NUMBER >= 0         default 0
 *       mlp: NUMBER >= 1                default 1
 *       write_frac: NUMBER in [0, 1]    default 0
 *       weights: {REGION: NUMBER in [0, 1e9], ...}   region names of this workload,
 *                                       normalised to sum 1 (they must not sum to 0);
 *                                       required unless the workload has one region
 *     vm: NAME                          runs in that VM (one thread per vCPU; one workload
 *                                       per VM)
 *   vms: 1..8 of
 *     name: STRING (< 32 chars)         required, distinct
 *     host_nodes: [NODE, ...]           required; 1..8, one per vNode: where its vCPUs run
 *     memory_nodes: [NODE, ...]         one per vNode: where its frames are backed at boot, a
 *                                       preallocation that ignores vNodes (all the same node:
 *                                       funnelled); default host_nodes
 *     vcpu_moves_per_s: NUMBER in [0, 1000]   the hypervisor's per-vCPU scheduler: each vCPU
 *                                       moved alone at this rate to the least loaded other
 *                                       node of its soft affinity; default 0
 *     soft_affinity: [NODE, ...]        distinct; default the nodes its vNodes run on
 *     numa_balancing: yes | no          the guest runs NUMA balancing on the topology it
 *                                       has (believed vNodes, or XPV's effective nodes);
 *                                       default no
 *   events: 1..32, at_s non-decreasing, each {at_s: NUMBER >= 0, vm: NAME} and one of
 *     to: [NODE per vNode]              re-place each vNode's vCPUs there; with
 *       move_memory: yes | no | SHARE   its frames re-backed along (SHARE in (0, 1]: that
 *                                       share of each vNode's frames); default no
 *     reback: {vnode: V, to: NODE, fraction: SHARE in (0, 1] (default 1)}   that share of
 *                                       vNode V's frames re-backed on NODE (migration,
 *                                       ballooning); vCPUs and the guest's view stay
 *     funnel: NODE                      every frame of the VM re-backed on NODE
 *     consolidate: [NODE, ...]          distinct; vCPU i moved to the (i mod k)-th node, with
 *       move_memory: as above           vNode v's frames to xpv_place_vnode(nodes, v)
 *   xpv_update_us, hv_fault_us, hotplug_ms, balance_s, hv_fault_budget: NUMBER >= 0
 *                                       (hv_fault_budget <= 1): docs/sim.md
 *   guest_sched_per_s: NUMBER in [0, 1000]  the guest scheduler's migrations per running
 *                                       vCPU thread and second; default 0 (none)
 *   guest_sched_cross: NUMBER in [0, 1] the share of them that cross the guest's scheduling
 *                                       domains (believed vNodes, or effective nodes under
 *                                       XPV); default 0
 *
 * Labelled cases (read by xpv_sim_suite_parse; xpv_sim_scenario_parse refuses them):
 *   cases: [CASE, ...]                  1..16 (XPV_SIM_MAX_CASES); each case is the file's
 *                                       scenario with its own keys replacing the file's:
 *     name: STRING (< 64 chars)         required: the case's label, distinct (the scenario's
 *                                       name stays the file's)
 *     vm: VM                            the VM its headline measures; default: the VM of its
 *                                       first event, else its first VM
 *     sweep: {churn_per_s: [N in [0, 100], ...], residency_s: [N in (0, 1e6], ...]}
 *                                       1..8 values each: with --out, the case re-run with
 *                                       its VM's turned-over regions at each rate and its
 *                                       first event repeated every residency_s (there and
 *                                       back); needs an event moving the VM and a turned-over
 *                                       region (xpv_sim_sweep_scenario)
 *     and any scenario key above but `cases` and `headline` (vms, workloads, events,
 *     policies, machine, max_seconds, ...): a case that sets `workloads` replaces the file's
 *     list whole, it does not add to it. Keys the case does not set are the file's, so the
 *     file's top level needs only what its cases share (`machine` still required in one of
 *     them). Messages about a case name it: "f.yaml:12: cases[1].workloads[0].threads: ...";
 *     the line is where the offending value is, in the case or in the shared top level.
 *   headline: [POLICY, ...]             the policies each case's headline names (each run by
 *                                       some case); default: every policy whose name starts
 *                                       with "xpv", in the order they run
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "xpv/policy.h"
#include "xpv/sim.h"

#define MAX_INPUT  (4u << 20)
#define MAX_DEPTH  32
#define MAX_NODES  100000
#define MAX_SCALAR 4096

enum { N_SCALAR, N_SEQ, N_MAP };

/* A node of the tree. Children are chained by index (first, next); a mapping's children
 * alternate key, value. */
struct node {
    unsigned char kind;
    bool plain; /* an unquoted scalar */
    unsigned line;
    unsigned len;   /* scalar: bytes, without the terminating NUL */
    unsigned count; /* children */
    int first, last, next;
    char *str; /* scalar: NUL-terminated copy (may hold NULs from escapes) */
};

struct ctx {
    const char *file; /* NAME in messages */
    struct node *n;
    unsigned nr, cap;
    struct xpv_error *err;
    const struct xpv_sim_machine *machine;
    const struct xpv_sim_scenario *scenario; /* its VMs, for workloads' `vm` */
    /* A case of a file with `cases:`: its mapping, whose keys replace the root's (get()), and
     * "cases[I]", the prefix of every message about it */
    const struct node *root, *overlay;
    const char *prefix;
};

static int fail(struct ctx *c, unsigned line, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(struct ctx *c, unsigned line, const char *path, const char *fmt, ...)
{
    char what[XPV_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (c->prefix)
        return xpv_error_set(c->err, -EINVAL, "%s:%u: %s%s%s: %s", c->file, line, c->prefix,
                             *path ? "." : "", path, what);
    return xpv_error_set(c->err, -EINVAL, "%s:%u: %s%s%s", c->file, line, path, *path ? ": " : "",
                         what);
}

static const struct node *at(const struct ctx *c, int i)
{
    return i < 0 ? NULL : &c->n[i];
}

static const struct node *next(const struct ctx *c, const struct node *n)
{
    return at(c, n->next);
}

/* 'text' quoted for a message: at most 40 bytes, control bytes as '?'. */
static const char *quote(const struct node *n, char *buf, size_t size)
{
    size_t o = 0, max = size < 48 ? size - 7 : 41; /* at most 40 bytes quoted */
    buf[o++] = '\'';
    for (unsigned i = 0; i < n->len && o < max; i++) {
        unsigned char ch = (unsigned char)n->str[i];
        buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (o >= max && n->len > o - 1) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}

/* What was found, for "expected X, found Y". */
static const char *found(const struct node *n, char *buf, size_t size)
{
    if (!n)
        return "nothing";
    if (n->kind == N_MAP)
        return n->count ? "a mapping" : "an empty mapping";
    if (n->kind == N_SEQ)
        return n->count ? "a list" : "an empty list";
    if (n->plain && n->len == 0)
        return "nothing";
    return quote(n, buf, size);
}

#define FOUND(n) found((n), (char[48]){0}, 48)
#define QUOTE(n) quote((n), (char[48]){0}, 48)

/* ---- the tree ---------------------------------------------------------------------------- */

static void tree_free(struct ctx *c)
{
    for (unsigned i = 0; i < c->nr; i++)
        free(c->n[i].str);
    free(c->n);
    c->n = NULL;
    c->nr = c->cap = 0;
}

/* A new node, last child of `parent` (or the root when parent < 0). Index, or -errno. */
static int add_node(struct ctx *c, int kind, unsigned line, int parent)
{
    if (c->nr >= MAX_NODES)
        return fail(c, line, "", "expected at most %d YAML nodes, found more", MAX_NODES);
    if (c->nr == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 64;
        if (cap > MAX_NODES)
            cap = MAX_NODES;
        struct node *n = realloc(c->n, cap * sizeof(*n));
        if (!n)
            return xpv_error_set(c->err, -ENOMEM, "%s:%u: out of memory", c->file, line);
        c->n = n;
        c->cap = cap;
    }
    int i = (int)c->nr++;
    c->n[i] = (struct node){
            .kind = (unsigned char)kind, .line = line, .first = -1, .last = -1, .next = -1};
    if (parent >= 0) {
        struct node *p = &c->n[parent];
        if (p->last >= 0)
            c->n[p->last].next = i;
        else
            p->first = i;
        p->last = i;
        p->count++;
    }
    return i;
}

static int syntax_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR)
        return xpv_error_set(c->err, -ENOMEM, "%s: out of memory reading YAML", c->file);
    if (p->error == YAML_READER_ERROR) {
        /* Encoding problems: libyaml gives a byte offset. */
        unsigned line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += text[i] == '\n';
        return fail(c, line, "", "YAML syntax error: %s (byte %zu)", problem, p->problem_offset);
    }
    unsigned line = (unsigned)p->problem_mark.line + 1;
    if (p->context)
        return fail(c, line, "", "YAML syntax error at column %u: %s (%s, line %u)",
                    (unsigned)p->problem_mark.column + 1, problem, p->context,
                    (unsigned)p->context_mark.line + 1);
    return fail(c, line, "", "YAML syntax error at column %u: %s",
                (unsigned)p->problem_mark.column + 1, problem);
}

/* Parse text into the tree; *root is -1 for an empty stream. */
static int build(struct ctx *c, const char *text, size_t len, int *root)
{
    yaml_parser_t p;
    int stack[MAX_DEPTH], depth = 0, docs = 0, rc = 0;
    bool done = false;
    *root = -1;
    if (!yaml_parser_initialize(&p))
        return xpv_error_set(c->err, -ENOMEM, "%s: out of memory", c->file);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!rc && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(c, &p, text, len);
            break;
        }
        unsigned line = (unsigned)ev.start_mark.line + 1;
        int parent = depth ? stack[depth - 1] : -1, i;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = fail(c, line, "", "expected a single YAML document, found a second one");
            break;
        case YAML_ALIAS_EVENT:
            rc = fail(c, line, "", "expected a value, found an alias (aliases are not supported)");
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length > MAX_SCALAR) {
                rc = fail(c, line, "", "expected a scalar of at most %d bytes, found %zu bytes",
                          MAX_SCALAR, ev.data.scalar.length);
                break;
            }
            i = add_node(c, N_SCALAR, line, parent);
            if (i < 0) {
                rc = i;
                break;
            }
            if (parent < 0)
                *root = i;
            c->n[i].plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            c->n[i].len = (unsigned)ev.data.scalar.length;
            c->n[i].str = malloc(ev.data.scalar.length + 1);
            if (!c->n[i].str) {
                rc = xpv_error_set(c->err, -ENOMEM, "%s:%u: out of memory", c->file, line);
                break;
            }
            memcpy(c->n[i].str, ev.data.scalar.value, ev.data.scalar.length);
            c->n[i].str[ev.data.scalar.length] = 0;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == MAX_DEPTH) {
                rc = fail(c, line, "", "expected nesting at most %d levels deep, found deeper",
                          MAX_DEPTH);
                break;
            }
            i = add_node(c, ev.type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ, line, parent);
            if (i < 0) {
                rc = i;
                break;
            }
            if (parent < 0)
                *root = i;
            stack[depth++] = i;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* ---- schema helpers ---------------------------------------------------------------------- */

static bool key_is(const struct node *k, const char *name)
{
    return k->kind == N_SCALAR && k->len == strlen(name) && !memcmp(k->str, name, k->len);
}

/* The value of `key` in mapping m (keys already checked), or NULL. In a case, the scenario's
 * keys are looked up in the case first (its `name` is its label, not the scenario's). */
static const struct node *get(const struct ctx *c, const struct node *m, const char *key)
{
    if (m == c->root && c->overlay && strcmp(key, "name") != 0)
        for (const struct node *k = at(c, c->overlay->first); k; k = next(c, next(c, k)))
            if (key_is(k, key))
                return next(c, k);
    for (const struct node *k = at(c, m->first); k; k = next(c, next(c, k)))
        if (key_is(k, key))
            return next(c, k);
    return NULL;
}

/* The key node of `key` in m, or NULL. */
static const struct node *get_key(const struct ctx *c, const struct node *m, const char *key)
{
    for (const struct node *k = at(c, m->first); k; k = next(c, next(c, k)))
        if (key_is(k, key))
            return k;
    return NULL;
}

/* m must be a mapping whose keys are all in `keys` (NULL-terminated, <= 32), each once. */
static int check_map(struct ctx *c, const struct node *m, const char *path, const char *what,
                     const char *const *keys)
{
    if (m->kind != N_MAP)
        return fail(c, m->line, path, "expected %s, found %s", what, FOUND(m));
    unsigned seen = 0;
    for (const struct node *k = at(c, m->first); k; k = next(c, next(c, k))) {
        if (k->kind != N_SCALAR)
            return fail(c, k->line, path, "expected a key name, found %s", FOUND(k));
        unsigned i = 0;
        while (keys[i] && !key_is(k, keys[i]))
            i++;
        if (!keys[i]) {
            char list[256];
            xpv_names_join(keys, list, sizeof(list));
            return fail(c, k->line, path, "unknown key %s (expected one of: %s)", QUOTE(k), list);
        }
        if (seen & (1u << i))
            return fail(c, k->line, path, "duplicate key %s (first at line %u)", QUOTE(k),
                        get_key(c, m, keys[i])->line);
        seen |= 1u << i;
    }
    return 0;
}

/* Key paths for messages ("workloads[1].threads"), truncated to fit. */
#define PATH_LEN 160

static void append(char *buf, size_t *o, const char *s)
{
    while (*s && *o < PATH_LEN - 1)
        buf[(*o)++] = *s++;
    buf[*o] = 0;
}

/* path.key, or key at the top level. */
static char *key_path(char *buf, const char *path, const char *key)
{
    size_t o = 0;
    buf[0] = 0;
    append(buf, &o, path);
    if (*path)
        append(buf, &o, ".");
    append(buf, &o, key);
    return buf;
}

/* path[i] */
static char *index_path(char *buf, const char *path, unsigned i)
{
    char num[16];
    size_t o = 0;
    snprintf(num, sizeof(num), "[%u]", i);
    buf[0] = 0;
    append(buf, &o, path);
    append(buf, &o, num);
    return buf;
}

static int missing(struct ctx *c, const struct node *m, const char *path, const char *key)
{
    return fail(c, m->line, path, "expected key '%s', found none", key);
}

static bool parse_double(const struct node *n, double *out)
{
    if (n->kind != N_SCALAR || n->len == 0 || n->len > 64 || strlen(n->str) != n->len ||
        strspn(n->str, "0123456789+-.eE") != n->len || !strpbrk(n->str, "0123456789"))
        return false;
    char *end;
    double v = strtod(n->str, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool parse_u64(const struct node *n, uint64_t *out)
{
    const char *s = n->kind == N_SCALAR ? n->str : "";
    if (n->kind == N_SCALAR && *s == '+')
        s++;
    size_t digits = strspn(s, "0123456789");
    if (n->kind != N_SCALAR || digits == 0 || digits > 20 || s[digits] ||
        (size_t)(s - n->str) + digits != n->len)
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

/* A number in the given range; hi = HUGE_VAL for none. */
static int get_num(struct ctx *c, const struct node *v, const char *path, double lo, bool lo_in,
                   double hi, bool hi_in, double *out)
{
    char desc[64];
    if (isinf(hi))
        snprintf(desc, sizeof(desc), "a number %s %g", lo_in ? ">=" : ">", lo);
    else
        snprintf(desc, sizeof(desc), "a number in %c%g, %g%c", lo_in ? '[' : '(', lo, hi,
                 hi_in ? ']' : ')');
    double x = 0;
    if (!parse_double(v, &x) || x < lo || (!lo_in && x <= lo) || x > hi || (!hi_in && x >= hi))
        return fail(c, v->line, path, "expected %s, found %s", desc, FOUND(v));
    *out = x;
    return 0;
}

static int get_num_key(struct ctx *c, const struct node *m, const char *path, const char *key,
                       double lo, bool lo_in, double hi, bool hi_in, double *out)
{
    const struct node *v = get(c, m, key);
    if (!v)
        return 0;
    char p[PATH_LEN];
    key_path(p, path, key);
    return get_num(c, v, p, lo, lo_in, hi, hi_in, out);
}

/* An integer in lo..hi (hi = UINT64_MAX for none). */
static int get_uint(struct ctx *c, const struct node *v, const char *path, uint64_t lo, uint64_t hi,
                    uint64_t *out)
{
    uint64_t x = 0;
    if (!parse_u64(v, &x))
        return fail(c, v->line, path, "expected %s, found %s",
                    lo == 1 ? "a positive integer" : "an integer >= 0", FOUND(v));
    if (x < lo || x > hi) {
        if (hi == UINT64_MAX)
            return fail(c, v->line, path, "expected an integer >= %llu, found %s",
                        (unsigned long long)lo, FOUND(v));
        return fail(c, v->line, path, "expected an integer in %llu..%llu, found %s",
                    (unsigned long long)lo, (unsigned long long)hi, FOUND(v));
    }
    *out = x;
    return 0;
}

static bool printable(const struct node *n)
{
    for (unsigned i = 0; i < n->len; i++)
        if ((unsigned char)n->str[i] < 0x20 || n->str[i] == 0x7f)
            return false;
    return true;
}

/* A non-empty string of printable bytes that fits out[size]. */
static int get_str(struct ctx *c, const struct node *v, const char *path, char *out, size_t size)
{
    if (v->kind != N_SCALAR || v->len == 0)
        return fail(c, v->line, path, "expected a non-empty string, found %s", FOUND(v));
    if (v->len >= size || !printable(v))
        return fail(c, v->line, path,
                    "expected a string of at most %zu printable characters, found %s", size - 1,
                    FOUND(v));
    memcpy(out, v->str, v->len + 1);
    return 0;
}

/* One of names[] (NULL-terminated): its index. */
static int get_enum(struct ctx *c, const struct node *v, const char *path, const char *const *names,
                    int *out)
{
    for (int i = 0; v->kind == N_SCALAR && names[i]; i++)
        if (key_is(v, names[i])) {
            *out = i;
            return 0;
        }
    char list[128] = "";
    for (size_t i = 0, o = 0; names[i] && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s'%s'",
                              !i             ? ""
                              : names[i + 1] ? ", "
                                             : " or ",
                              names[i]);
    return fail(c, v->line, path, "expected %s, found %s", list, FOUND(v));
}

/* A sequence of lo..hi items. */
static int check_seq(struct ctx *c, const struct node *v, const char *path, const char *what,
                     unsigned lo, unsigned hi)
{
    if (v->kind != N_SEQ || v->count < lo)
        return fail(c, v->line, path, "expected a list of %u to %u %s, found %s", lo, hi, what,
                    FOUND(v));
    if (v->count > hi) {
        const struct node *x = at(c, v->first);
        for (unsigned i = 0; i < hi; i++)
            x = next(c, x);
        return fail(c, x->line, path, "expected at most %u %s, found %u", hi, what, v->count);
    }
    return 0;
}

/* ---- the schema -------------------------------------------------------------------------- */

static int machine_error(struct ctx *c, unsigned line, const struct xpv_error *e, int rc)
{
    return xpv_error_set(c->err, -EINVAL, "%s:%u: %s", c->file, line,
                         e->msg[0] ? e->msg : xpv_error_str(e, rc));
}

static int machine_preset(struct ctx *c, const struct node *v, const char *path,
                          struct xpv_sim_machine *m)
{
    char name[64];
    int rc = get_str(c, v, path, name, sizeof(name));
    if (rc)
        return rc;
    struct xpv_error e = {0};
    rc = xpv_sim_machine_preset(name, m, &e);
    return rc < 0 ? machine_error(c, v->line, &e, rc) : 0;
}

static int parse_machine(struct ctx *c, const struct node *v, struct xpv_sim_machine *m)
{
    static const char *const keys[] = {"preset", "xml", "local_ns", "mc_gbps", "link_gbps", NULL};
    const char *path = "machine";
    if (v->kind == N_SCALAR)
        return machine_preset(c, v, path, m);
    if (v->kind != N_MAP)
        return fail(c, v->line, path,
                    "expected a preset name, {preset: NAME} or {xml: PATH, ...}, found %s",
                    FOUND(v));
    int rc = check_map(c, v, path, "a mapping", keys);
    if (rc)
        return rc;
    const struct node *preset = get(c, v, "preset"), *xml = get(c, v, "xml");
    if (preset && xml)
        return fail(c, get_key(c, v, "xml")->line, path,
                    "expected either 'preset' or 'xml', found both");
    if (preset) {
        for (int i = 2; keys[i]; i++)
            if (get(c, v, keys[i]))
                return fail(c, get_key(c, v, keys[i])->line, path,
                            "expected '%s' only with 'xml', found it with 'preset'", keys[i]);
        return machine_preset(c, preset, "machine.preset", m);
    }
    if (!xml)
        return fail(c, v->line, path, "expected key 'preset' or 'xml', found neither");
    double local_ns = 100, mc_gbps = 20, link_gbps = 10;
    char file[MAX_SCALAR + 1], full[2 * MAX_SCALAR + 2];
    if ((rc = get_str(c, xml, "machine.xml", file, sizeof(file))) ||
        (rc = get_num_key(c, v, path, "local_ns", 0, false, HUGE_VAL, false, &local_ns)) ||
        (rc = get_num_key(c, v, path, "mc_gbps", 0, false, HUGE_VAL, false, &mc_gbps)) ||
        (rc = get_num_key(c, v, path, "link_gbps", 0, false, HUGE_VAL, false, &link_gbps)))
        return rc;
    const char *slash = strrchr(c->file, '/');
    if (file[0] != '/' && slash)
        snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - c->file), c->file, file);
    else
        snprintf(full, sizeof(full), "%s", file);
    /* Only regular files: not a FIFO or /dev/zero that would block or never end. */
    struct stat st;
    if (stat(full, &st) < 0)
        return fail(c, xml->line, "machine.xml", "expected a readable file, found %s: %s", full,
                    strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(c, xml->line, "machine.xml", "expected a regular file, found %s", full);
    struct xpv_error e = {0};
    rc = xpv_sim_machine_from_hwloc_xml(full, local_ns, mc_gbps, link_gbps, m, &e);
    return rc < 0 ? machine_error(c, xml->line, &e, rc) : 0;
}

static int parse_policies(struct ctx *c, const struct node *v, struct xpv_sim_scenario *s)
{
    int rc = check_seq(c, v, "policies", "policy names", 1, XPV_SIM_MAX_POLICIES);
    if (rc)
        return rc;
    unsigned i = 0;
    for (const struct node *x = at(c, v->first); x; x = next(c, x), i++) {
        char p[PATH_LEN];
        index_path(p, "policies", i);
        if (x->kind != N_SCALAR || x->len == 0 || x->len >= sizeof(s->policies[0]) ||
            strspn(x->str, "abcdefghijklmnopqrstuvwxyz0123456789-") != x->len)
            return fail(c, x->line, p,
                        "expected a policy name ([a-z0-9-]+, at most %zu characters), found %s",
                        sizeof(s->policies[0]) - 1, FOUND(x));
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(s->policies[j], x->str))
                return fail(c, x->line, p, "expected distinct policies, found %s twice", QUOTE(x));
        memcpy(s->policies[i], x->str, x->len + 1);
    }
    s->nr_policies = i;
    return 0;
}

static int parse_baseline(struct ctx *c, const struct node *v, struct xpv_sim_scenario *s)
{
    for (unsigned i = 0; v->kind == N_SCALAR && i < s->nr_policies; i++)
        if (key_is(v, s->policies[i])) {
            memcpy(s->baseline, v->str, v->len + 1);
            return 0;
        }
    char list[XPV_SIM_MAX_POLICIES * 34] = "";
    for (size_t i = 0, o = 0; i < s->nr_policies && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", s->policies[i]);
    return fail(c, v->line, "baseline", "expected one of the policies (%s), found %s", list,
                FOUND(v));
}

/* A list of distinct node ids of the machine, as a mask. */
static int parse_nodes(struct ctx *c, const struct node *v, const char *path, uint64_t *out)
{
    unsigned nr = c->machine->nr_nodes;
    int rc = check_seq(c, v, path, "node ids", 1, nr);
    if (rc)
        return rc;
    uint64_t mask = 0, id;
    unsigned i = 0;
    for (const struct node *x = at(c, v->first); x; x = next(c, x), i++) {
        char q[PATH_LEN];
        index_path(q, path, i);
        if ((rc = get_uint(c, x, q, 0, nr - 1, &id)))
            return rc;
        if (mask & (UINT64_C(1) << id))
            return fail(c, x->line, q, "expected distinct node ids, found %llu twice",
                        (unsigned long long)id);
        mask |= UINT64_C(1) << id;
    }
    *out = mask;
    return 0;
}

/* An ordered list of 1..max node ids (may repeat). */
static int parse_node_list(struct ctx *c, const struct node *v, const char *path, unsigned max,
                           unsigned *out, unsigned *count)
{
    int rc = check_seq(c, v, path, "node ids", 1, max);
    if (rc)
        return rc;
    unsigned i = 0;
    for (const struct node *x = at(c, v->first); x; x = next(c, x), i++) {
        char q[PATH_LEN];
        uint64_t id;
        index_path(q, path, i);
        if ((rc = get_uint(c, x, q, 0, c->machine->nr_nodes - 1, &id)))
            return rc;
        out[i] = (unsigned)id;
    }
    *count = i;
    return 0;
}

/* vms: [{name, host_nodes: [NODE per vNode], memory_nodes: [NODE per vNode],
 *        vcpu_moves_per_s: RATE, soft_affinity: [NODE, ...]}] */
static int parse_vms(struct ctx *c, const struct node *v, struct xpv_sim_scenario *s)
{
    static const char *const keys[] = {"name",          "host_nodes",       "memory_nodes",
                                       "soft_affinity", "vcpu_moves_per_s", "numa_balancing",
                                       NULL};
    int rc = check_seq(c, v, "vms", "VM mappings", 1, XPV_SIM_MAX_VMS);
    if (rc)
        return rc;
    for (const struct node *x = at(c, v->first); x; x = next(c, x)) {
        char path[PATH_LEN], p[PATH_LEN];
        struct xpv_sim_vm_spec *vm = &s->vms[s->nr_vms];
        index_path(path, "vms", s->nr_vms);
        if ((rc = check_map(c, x, path, "a VM mapping", keys)))
            return rc;
        const struct node *name = get(c, x, "name"), *hosts = get(c, x, "host_nodes");
        if (!name)
            return missing(c, x, path, "name");
        if (!hosts)
            return missing(c, x, path, "host_nodes");
        key_path(p, path, "name");
        if ((rc = get_str(c, name, p, vm->name, sizeof(vm->name))))
            return rc;
        for (unsigned i = 0; i < s->nr_vms; i++)
            if (!strcmp(s->vms[i].name, vm->name))
                return fail(c, name->line, p, "expected a VM name not used before, found '%s'",
                            vm->name);
        key_path(p, path, "host_nodes");
        if ((rc = parse_node_list(c, hosts, p, XPV_SIM_MAX_VNODES, vm->host_node, &vm->nr_vnodes)))
            return rc;
        const struct node *nb = get(c, x, "numa_balancing");
        if (nb) { /* the guest's own NUMA balancing (src/sim/guest.c) */
            static const char *const yn[] = {"no", "yes", NULL};
            int b = 0;
            key_path(p, path, "numa_balancing");
            if ((rc = get_enum(c, nb, p, yn, &b)))
                return rc;
            vm->numa_balancing = b == 1;
        }
        const struct node *mem = get(c, x, "memory_nodes"), *aff = get(c, x, "soft_affinity");
        if (mem) {
            unsigned n = 0;
            key_path(p, path, "memory_nodes");
            if ((rc = parse_node_list(c, mem, p, XPV_SIM_MAX_VNODES, vm->memory_node, &n)))
                return rc;
            if (n != vm->nr_vnodes)
                return fail(c, mem->line, p,
                            "expected %u host nodes (one per vNode, as host_nodes), found %u",
                            vm->nr_vnodes, n);
            vm->has_memory_node = true;
        }
        if (aff) {
            key_path(p, path, "soft_affinity");
            if ((rc = parse_nodes(c, aff, p, &vm->soft_affinity)))
                return rc;
        }
        if ((rc = get_num_key(c, x, path, "vcpu_moves_per_s", 0, true, 1000, true,
                              &vm->vcpu_moves_per_s)))
            return rc;
        s->nr_vms++;
    }
    return 0;
}

static int vm_by_name(struct ctx *c, const struct node *v, const char *path,
                      const struct xpv_sim_scenario *s, unsigned *out)
{
    char name[32];
    int rc = get_str(c, v, path, name, sizeof(name));
    if (rc)
        return rc;
    for (unsigned i = 0; i < s->nr_vms; i++)
        if (!strcmp(s->vms[i].name, name)) {
            *out = i;
            return 0;
        }
    return fail(c, v->line, path, "expected the name of a VM defined under vms, found '%s'", name);
}

/* move_memory: yes | no | a share in (0, 1] of each vNode's frames */
static int parse_move_memory(struct ctx *c, const struct node *mm, const char *path,
                             struct xpv_sim_event *ev)
{
    if (mm->kind == N_SCALAR && (key_is(mm, "yes") || key_is(mm, "no"))) {
        ev->move_memory = key_is(mm, "yes");
        ev->memory_frac = ev->move_memory ? 1 : 0;
        return 0;
    }
    double f;
    if (mm->kind != N_SCALAR || get_num(c, mm, path, 0, false, 1, true, &f))
        return fail(c, mm->line, path,
                    "expected yes, no, or the share of each vNode's memory moved (a number in "
                    "(0, 1]), found %s",
                    FOUND(mm));
    ev->move_memory = true;
    ev->memory_frac = f;
    return 0;
}

/* reback: {vnode: V, to: NODE, fraction: F} */
static int parse_reback(struct ctx *c, const struct node *v, const char *epath,
                        const struct xpv_sim_scenario *s, struct xpv_sim_event *ev)
{
    static const char *const keys[] = {"vnode", "to", "fraction", NULL};
    char path[PATH_LEN], p[PATH_LEN];
    key_path(path, epath, "reback");
    int rc = check_map(c, v, path, "a mapping {vnode, to, fraction}", keys);
    if (rc)
        return rc;
    const struct node *vn = get(c, v, "vnode"), *to = get(c, v, "to");
    if (!vn)
        return missing(c, v, path, "vnode");
    if (!to)
        return missing(c, v, path, "to");
    uint64_t x;
    key_path(p, path, "vnode");
    if ((rc = get_uint(c, vn, p, 0, s->vms[ev->vm].nr_vnodes - 1, &x)))
        return rc;
    ev->vnode = (unsigned)x;
    key_path(p, path, "to");
    if ((rc = get_uint(c, to, p, 0, c->machine->nr_nodes - 1, &x)))
        return rc;
    ev->node = (unsigned)x;
    ev->memory_frac = 1;
    return get_num_key(c, v, path, "fraction", 0, false, 1, true, &ev->memory_frac);
}

/*
 * events: [{at_s, vm, and one of
 *   to: [NODE per vNode], move_memory: yes|no|SHARE      vNodes' vCPUs (and memory) move
 *   reback: {vnode, to, fraction}                        part of a vNode's frames re-backed
 *   funnel: NODE                                         all of the VM's frames on one node
 *   consolidate: [NODE, ...], move_memory: yes|no|SHARE  vCPUs packed onto fewer nodes
 * }]
 */
static int parse_events(struct ctx *c, const struct node *v, struct xpv_sim_scenario *s)
{
    static const char *const keys[] = {"at_s",   "vm",     "to",          "move_memory",
                                       "reback", "funnel", "consolidate", NULL};
    static const char *const kinds[] = {"to", "reback", "funnel", "consolidate"};
    int rc = check_seq(c, v, "events", "event mappings", 1, XPV_SIM_MAX_EVENTS);
    if (rc)
        return rc;
    double last = 0;
    for (const struct node *x = at(c, v->first); x; x = next(c, x)) {
        char path[PATH_LEN], p[PATH_LEN];
        struct xpv_sim_event *ev = &s->events[s->nr_events];
        index_path(path, "events", s->nr_events);
        if ((rc = check_map(c, x, path, "an event mapping", keys)))
            return rc;
        const struct node *at_s = get(c, x, "at_s"), *vm = get(c, x, "vm"),
                          *mm = get(c, x, "move_memory");
        if (!at_s)
            return missing(c, x, path, "at_s");
        if (!vm)
            return missing(c, x, path, "vm");
        int kind = -1;
        for (int k = 0; k < 4; k++) {
            if (!get(c, x, kinds[k]))
                continue;
            if (kind >= 0)
                return fail(c, get_key(c, x, kinds[k])->line, path,
                            "expected one of 'to', 'reback', 'funnel' or 'consolidate', found "
                            "'%s' and '%s'",
                            kinds[kind], kinds[k]);
            kind = k;
        }
        if (kind < 0)
            return fail(c, x->line, path,
                        "expected key 'to' (re-place vNodes), 'reback', 'funnel' or "
                        "'consolidate', found none");
        const struct node *what = get(c, x, kinds[kind]);
        key_path(p, path, "at_s");
        if ((rc = get_num(c, at_s, p, last, true, HUGE_VAL, false, &ev->at_s)))
            return rc;
        last = ev->at_s;
        key_path(p, path, "vm");
        if ((rc = vm_by_name(c, vm, p, s, &ev->vm)))
            return rc;
        if (mm && (kind == 1 || kind == 2))
            return fail(c, get_key(c, x, "move_memory")->line, path,
                        "expected 'move_memory' only with 'to' or 'consolidate', found it with "
                        "'%s' (a re-backing moves memory only)",
                        kinds[kind]);
        key_path(p, path, kinds[kind]);
        if (kind == 0) {
            unsigned n = 0;
            ev->kind = XPV_SIM_EV_MOVE;
            if ((rc = parse_node_list(c, what, p, XPV_SIM_MAX_VNODES, ev->to, &n)))
                return rc;
            if (n != s->vms[ev->vm].nr_vnodes)
                return fail(c, what->line, p,
                            "expected %u host nodes (one per vNode of %s), found %u",
                            s->vms[ev->vm].nr_vnodes, s->vms[ev->vm].name, n);
        } else if (kind == 1) {
            ev->kind = XPV_SIM_EV_REBACK;
            if ((rc = parse_reback(c, what, path, s, ev)))
                return rc;
        } else if (kind == 2) {
            uint64_t n;
            ev->kind = XPV_SIM_EV_FUNNEL;
            if ((rc = get_uint(c, what, p, 0, c->machine->nr_nodes - 1, &n)))
                return rc;
            ev->node = (unsigned)n;
        } else {
            ev->kind = XPV_SIM_EV_CONSOLIDATE;
            if ((rc = parse_nodes(c, what, p, &ev->nodes)))
                return rc;
        }
        if (mm) {
            key_path(p, path, "move_memory");
            if ((rc = parse_move_memory(c, mm, p, ev)))
                return rc;
        }
        s->nr_events++;
    }
    return 0;
}

static int parse_placement(struct ctx *c, const struct node *v, const char *wpath,
                           struct xpv_sim_workload_spec *w)
{
    static const char *const keys[] = {"nodes", NULL};
    char path[PATH_LEN], p[PATH_LEN];
    key_path(path, wpath, "placement");
    if (v->kind == N_SCALAR && (key_is(v, "spread") || key_is(v, "pack"))) {
        w->placement = key_is(v, "spread") ? XPV_SIM_SPREAD : XPV_SIM_PACK;
        w->nodes_mask = 0;
        return 0;
    }
    if (v->kind != N_MAP)
        return fail(c, v->line, path, "expected spread, pack or {nodes: [ID, ...]}, found %s",
                    FOUND(v));
    int rc = check_map(c, v, path, "a mapping", keys);
    if (rc)
        return rc;
    const struct node *nodes = get(c, v, "nodes");
    if (!nodes)
        return missing(c, v, path, "nodes");
    key_path(p, path, "nodes");
    if ((rc = parse_nodes(c, nodes, p, &w->nodes_mask)))
        return rc;
    w->placement = XPV_SIM_NODES;
    return 0;
}

/* page sizes, as `page` spells them (regions and workloads) */
static const char *const pages[] = {"4k", "2m", NULL};

static int parse_region(struct ctx *c, const struct node *v, const char *path,
                        struct xpv_sim_workload_spec *w, unsigned idx)
{
    static const char *const keys[] = {"name",     "kind",        "size_mb",  "init", "page",
                                       "lifetime", "churn_per_s", "own_frac", NULL};
    static const char *const kinds[] = {"private", "shared", "sliced", NULL};
    static const char *const lifetimes[] = {"loaded", "turnover", NULL};
    static const char *const inits[] = {"master", "parallel", NULL};
    struct xpv_sim_region_spec *r = &w->regions[idx];
    char p[PATH_LEN];
    int rc = check_map(c, v, path, "a region mapping {name, kind, size_mb, ...}", keys);
    if (rc)
        return rc;
    const struct node *name = get(c, v, "name"), *kind = get(c, v, "kind"),
                      *size = get(c, v, "size_mb"), *init = get(c, v, "init"),
                      *page = get(c, v, "page");
    if (!name)
        return missing(c, v, path, "name");
    if (!kind)
        return missing(c, v, path, "kind");
    if (!size)
        return missing(c, v, path, "size_mb");
    key_path(p, path, "name");
    if ((rc = get_str(c, name, p, r->name, sizeof(r->name))))
        return rc;
    for (unsigned j = 0; j < idx; j++)
        if (!strcmp(w->regions[j].name, r->name))
            return fail(c, name->line, p, "expected distinct region names, found %s twice",
                        QUOTE(name));
    int k = 0, in = 1, pg = 0; /* indexes in kinds, inits, pages */
    double mb = 0;
    key_path(p, path, "kind");
    if ((rc = get_enum(c, kind, p, kinds, &k)))
        return rc;
    key_path(p, path, "size_mb");
    if ((rc = get_num(c, size, p, 0, false, 1e9, true, &mb)))
        return rc;
    if (init) {
        key_path(p, path, "init");
        if ((rc = get_enum(c, init, p, inits, &in)))
            return rc;
    }
    if (page) {
        key_path(p, path, "page");
        if ((rc = get_enum(c, page, p, pages, &pg)))
            return rc;
    }
    r->kind = k == 0 ? XPV_SIM_PRIVATE : k == 1 ? XPV_SIM_SHARED : XPV_SIM_SLICED;
    r->init = in == 0 ? XPV_SIM_INIT_MASTER : XPV_SIM_INIT_PARALLEL;
    r->bytes = (uint64_t)ceil(mb * 1048576.0);
    r->page_shift = pg == 0 ? 12 : 21;
    /* lifetime: loaded once (default) or turned over; churn_per_s alone means turnover */
    const struct node *life = get(c, v, "lifetime"), *churn = get(c, v, "churn_per_s"),
                      *own = get(c, v, "own_frac");
    int lt = churn ? 1 : 0;
    if (life) {
        key_path(p, path, "lifetime");
        if ((rc = get_enum(c, life, p, lifetimes, &lt)))
            return rc;
    }
    r->lifetime = lt == 0 ? XPV_SIM_LOADED : XPV_SIM_TURNOVER;
    if ((rc = get_num_key(c, v, path, "churn_per_s", 0, true, 100, true, &r->churn_per_s)))
        return rc;
    if (churn && r->lifetime == XPV_SIM_LOADED)
        return fail(c, churn->line, path,
                    "expected churn_per_s only on a turned-over region, found it with "
                    "'lifetime: loaded' (a loaded-once region never churns)");
    r->own_frac = 1;
    if (own && r->kind != XPV_SIM_SLICED)
        return fail(c, own->line, path,
                    "expected own_frac only on a 'kind: sliced' region, found it on a %s one",
                    kinds[k]);
    if (r->kind == XPV_SIM_SLICED) {
        r->own_frac = 0.9;
        if ((rc = get_num_key(c, v, path, "own_frac", 0, true, 1, true, &r->own_frac)))
            return rc;
    }
    return 0;
}

static int parse_weights(struct ctx *c, const struct node *v, const char *path,
                         const struct xpv_sim_workload_spec *w, struct xpv_sim_phase_spec *ph)
{
    if (v->kind != N_MAP || v->count == 0)
        return fail(c, v->line, path, "expected a mapping {REGION: WEIGHT, ...}, found %s",
                    FOUND(v));
    const char *names[XPV_SIM_MAX_REGIONS + 1] = {NULL};
    for (unsigned i = 0; i < w->nr_regions; i++)
        names[i] = w->regions[i].name;
    unsigned seen = 0;
    double sum = 0;
    for (const struct node *k = at(c, v->first); k; k = next(c, next(c, k))) {
        unsigned i = 0;
        while (i < w->nr_regions && !key_is(k, names[i]))
            i++;
        if (k->kind != N_SCALAR || i == w->nr_regions) {
            char list[XPV_SIM_MAX_REGIONS * 34];
            xpv_names_join(names, list, sizeof(list));
            return fail(c, k->line, path, "expected a region of this workload (%s), found %s", list,
                        FOUND(k));
        }
        if (seen & (1u << i))
            return fail(c, k->line, path, "duplicate region %s", QUOTE(k));
        seen |= 1u << i;
        char p[PATH_LEN];
        key_path(p, path, names[i]);
        int rc = get_num(c, next(c, k), p, 0, true, 1e9, true, &ph->weight[i]);
        if (rc)
            return rc;
        sum += ph->weight[i];
    }
    if (!(sum > 0))
        return fail(c, v->line, path, "expected weights summing to more than 0, found all 0");
    for (unsigned i = 0; i < w->nr_regions; i++)
        ph->weight[i] /= sum;
    return 0;
}

static int parse_phase(struct ctx *c, const struct node *v, const char *path,
                       const struct xpv_sim_workload_spec *w, struct xpv_sim_phase_spec *ph)
{
    static const char *const keys[] = {"work_m",     "compute_ns", "mlp",
                                       "write_frac", "weights",    NULL};
    int rc = check_map(c, v, path, "a phase mapping {work_m, weights, ...}", keys);
    if (rc)
        return rc;
    const struct node *work = get(c, v, "work_m"), *weights = get(c, v, "weights");
    if (!work)
        return missing(c, v, path, "work_m");
    double work_m = 0;
    *ph = (struct xpv_sim_phase_spec){.mlp = 1};
    char p[PATH_LEN];
    key_path(p, path, "work_m");
    if ((rc = get_num(c, work, p, 0, false, 1e12, true, &work_m)) ||
        (rc = get_num_key(c, v, path, "compute_ns", 0, true, HUGE_VAL, false, &ph->compute_ns)) ||
        (rc = get_num_key(c, v, path, "mlp", 1, true, HUGE_VAL, false, &ph->mlp)) ||
        (rc = get_num_key(c, v, path, "write_frac", 0, true, 1, true, &ph->write_frac)))
        return rc;
    ph->work = work_m * 1e6;
    if (weights) {
        key_path(p, path, "weights");
        return parse_weights(c, weights, p, w, ph);
    }
    if (w->nr_regions != 1)
        return fail(c, v->line, path,
                    "expected key 'weights' (the workload has %u regions), found none",
                    w->nr_regions);
    ph->weight[0] = 1;
    return 0;
}

static int parse_custom(struct ctx *c, const struct node *v, const char *path,
                        struct xpv_sim_workload_spec *w)
{
    const struct node *regions = get(c, v, "regions"), *phases = get(c, v, "phases");
    char p[PATH_LEN], q[PATH_LEN];
    int rc;
    if (!regions)
        return missing(c, v, path, "regions");
    if (!phases)
        return missing(c, v, path, "phases");
    key_path(p, path, "regions");
    if ((rc = check_seq(c, regions, p, "regions", 1, XPV_SIM_MAX_REGIONS)))
        return rc;
    for (const struct node *x = at(c, regions->first); x; x = next(c, x)) {
        index_path(q, p, w->nr_regions);
        if ((rc = parse_region(c, x, q, w, w->nr_regions)))
            return rc;
        w->nr_regions++;
    }
    key_path(p, path, "phases");
    if ((rc = check_seq(c, phases, p, "phases", 1, XPV_SIM_MAX_PHASES)))
        return rc;
    for (const struct node *x = at(c, phases->first); x; x = next(c, x)) {
        index_path(q, p, w->nr_phases);
        if ((rc = parse_phase(c, x, q, w, &w->phases[w->nr_phases])))
            return rc;
        w->nr_phases++;
    }
    return 0;
}

static int parse_workload(struct ctx *c, const struct node *v, unsigned idx,
                          struct xpv_sim_workload_spec *w)
{
    static const char *const keys[] = {
            "preset",  "name",   "threads", "placement",   "membind", "start_s", "work_scale",
            "regions", "phases", "vm",      "churn_per_s", "page",    "runtime", NULL};
    char path[PATH_LEN], p[PATH_LEN];
    index_path(path, "workloads", idx);
    int rc = check_map(c, v, path, "a workload mapping", keys);
    if (rc)
        return rc;
    const struct node *preset = get(c, v, "preset"), *threads = get(c, v, "threads"),
                      *name = get(c, v, "name"), *placement = get(c, v, "placement"), *membind;
    uint64_t nr = 0;
    if (!threads)
        return missing(c, v, path, "threads");
    key_path(p, path, "threads");
    if ((rc = get_uint(c, threads, p, 1, XPV_SIM_MAX_THREADS, &nr)))
        return rc;
    memset(w, 0, sizeof(*w));
    if (preset) {
        static const char *const custom_only[] = {"regions", "phases"};
        for (int i = 0; i < 2; i++)
            if (get(c, v, custom_only[i]))
                return fail(c, get_key(c, v, custom_only[i])->line, path,
                            "expected '%s' only in custom workloads, found it with 'preset'",
                            custom_only[i]);
        char pname[64];
        key_path(p, path, "preset");
        if ((rc = get_str(c, preset, p, pname, sizeof(pname))))
            return rc;
        struct xpv_error e = {0};
        rc = xpv_sim_workload_preset(pname, (unsigned)nr, w, &e);
        if (rc < 0)
            return fail(c, preset->line, p, "%s", e.msg[0] ? e.msg : xpv_error_str(&e, rc));
        if (w->nr_phases > XPV_SIM_MAX_PHASES)
            w->nr_phases = XPV_SIM_MAX_PHASES;
    } else {
        w->placement = XPV_SIM_SPREAD;
        snprintf(w->name, sizeof(w->name), "workload%u", idx);
        if ((rc = parse_custom(c, v, path, w)))
            return rc;
    }
    w->nr_threads = (unsigned)nr;
    const struct node *page = get(c, v, "page");
    if (page) { /* every region's page size: 2m is memory backed by transparent huge pages */
        int pg = 0;
        key_path(p, path, "page");
        if ((rc = get_enum(c, page, p, pages, &pg)))
            return rc;
        for (unsigned i = 0; i < w->nr_regions; i++)
            w->regions[i].page_shift = pg == 0 ? 12 : 21;
    }
    if (name) {
        key_path(p, path, "name");
        if ((rc = get_str(c, name, p, w->name, sizeof(w->name))))
            return rc;
    }
    if (placement && (rc = parse_placement(c, placement, path, w)))
        return rc;
    if ((membind = get(c, v, "membind"))) {
        key_path(p, path, "membind");
        if ((rc = parse_nodes(c, membind, p, &w->membind_mask)))
            return rc;
    }
    const struct node *vm = get(c, v, "vm");
    if (vm) {
        key_path(p, path, "vm");
        if ((rc = vm_by_name(c, vm, p, c->scenario, &w->vm)))
            return rc;
        w->in_vm = true;
    }
    const struct node *rt = get(c, v, "runtime");
    if (rt) { /* the runtime its memory goes through in the guest (src/sim/guest.c) */
        static const char *const rts[] = {"none", "arenas", "jemalloc", "jvm", NULL};
        int k = 0;
        key_path(p, path, "runtime");
        if ((rc = get_enum(c, rt, p, rts, &k)))
            return rc;
        if (!w->in_vm)
            return fail(c, rt->line, p,
                        "expected 'runtime' on a workload in a VM (with 'vm: NAME'), found it "
                        "on a native workload, whose topology never changes");
        w->runtime = k == 0 ? XPV_SIM_RT_NONE : k == 3 ? XPV_SIM_RT_JVM : XPV_SIM_RT_ARENAS;
    }
    double scale = 1;
    const struct node *churn = get(c, v, "churn_per_s");
    if (churn) {
        /* the rate of the workload's turned-over regions (loaded-once ones never churn) */
        double rate = 0;
        unsigned turned = 0;
        if ((rc = get_num_key(c, v, path, "churn_per_s", 0, true, 100, true, &rate)))
            return rc;
        for (unsigned i = 0; i < w->nr_regions; i++)
            if (w->regions[i].lifetime == XPV_SIM_TURNOVER) {
                if (w->regions[i].churn_per_s == 0) /* a region's own rate wins */
                    w->regions[i].churn_per_s = rate;
                turned++;
            }
        if (!turned && preset)
            return fail(c, churn->line, path,
                        "expected churn_per_s on a workload with turned-over regions, found it "
                        "on preset %s, whose regions are all loaded once (churn is per region "
                        "since issue 16: drop the key, or write a custom workload whose "
                        "temporaries say `lifetime: turnover`)",
                        preset->str);
        if (!turned)
            return fail(c, churn->line, path,
                        "expected churn_per_s on a workload with turned-over regions, found "
                        "none (churn is per region since issue 16: the old meaning, every "
                        "region churns, is `churn_per_s: RATE` on each region; better, put it "
                        "only on the temporaries, not on loaded-once inputs)");
    }
    if ((rc = get_num_key(c, v, path, "start_s", 0, true, HUGE_VAL, false, &w->start_s)) ||
        (rc = get_num_key(c, v, path, "work_scale", 0, false, 1e6, true, &scale)))
        return rc;
    for (unsigned i = 0; i < w->nr_phases; i++)
        w->phases[i].work *= scale;
    return 0;
}

/* Every policy applies to the scenario's kind: VM policies when a workload runs in a VM,
 * native ones otherwise (xpv_policy_check; hostd both). Unknown names are left to the engine,
 * which lists the policies. */
static int check_policy_kinds(struct ctx *c, const struct node *root, struct xpv_sim_scenario *s)
{
    bool vms = false;
    for (unsigned i = 0; i < s->nr_workloads; i++)
        vms |= s->workloads[i].in_vm;
    const struct node *v = get(c, root, "policies");
    if (!v && vms) { /* the default for VMs: static vNUMA */
        snprintf(s->policies[0], sizeof(s->policies[0]), "vnuma");
        snprintf(s->baseline, sizeof(s->baseline), "vnuma");
        return 0;
    }
    const struct node *x = v ? at(c, v->first) : NULL;
    for (unsigned i = 0; i < s->nr_policies; i++, x = x ? next(c, x) : NULL) {
        struct xpv_error e = {0};
        if (xpv_policy_check(s->policies[i], vms, &e) != -EINVAL)
            continue;
        char p[PATH_LEN];
        index_path(p, "policies", i);
        return fail(c, x ? x->line : root->line, p, "%s", e.msg);
    }
    return 0;
}

static void default_name(const char *file, char *out, size_t size)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n >= size)
        n = size - 1;
    bool ok = n > 0;
    for (size_t i = 0; i < n; i++)
        ok = ok && (unsigned char)base[i] >= 0x20 && base[i] != 0x7f;
    if (ok) {
        memcpy(out, base, n);
        out[n] = 0;
    }
}

/* The scenario's keys; a case may hold each but `cases` and `headline` (the file's own). */
static const char *const keys[] = {"name",        "seed",         "machine",   "epoch_ms",
                                   "max_seconds", "migrate_gbps", "policies",  "baseline",
                                   "workloads",   "vms",          "events",    "xpv_update_us",
                                   "hv_fault_us", "hotplug_ms",   "balance_s", "hv_fault_budget",
                                   "guest_sched_per_s", "guest_sched_cross", "cases", "headline",
                                   NULL};

static int walk(struct ctx *c, const struct node *root, struct xpv_sim_scenario *s)
{
    c->root = root;
    if (!root)
        return fail(c, 1, "", "expected a mapping of scenario keys, found nothing");
    const char *prefix = c->prefix;
    c->prefix = NULL; /* the root's own keys are not the case's */
    int rc = check_map(c, root, "", "a mapping of scenario keys", keys);
    c->prefix = prefix;
    if (rc)
        return rc;
    const struct node *v;
    if (!c->overlay && (v = get_key(c, root, "cases")))
        return fail(c, v->line, "cases",
                    "expected a scenario without labelled cases here, found 'cases' (a file "
                    "with cases is read by xpv_sim_suite_parse, as `xpv sim FILE` does)");
    if ((v = get(c, root, "name")) && (rc = get_str(c, v, "name", s->name, sizeof(s->name))))
        return rc;
    if ((v = get(c, root, "seed")) && (rc = get_uint(c, v, "seed", 0, UINT64_MAX, &s->seed)))
        return rc;
    if (!(v = get(c, root, "machine")))
        return missing(c, root, "", "machine");
    if ((rc = parse_machine(c, v, &s->machine)))
        return rc;
    c->machine = &s->machine;
    c->scenario = s;
    if ((v = get(c, root, "vms")) && (rc = parse_vms(c, v, s)))
        return rc;
    if ((rc = get_num_key(c, root, "", "xpv_update_us", 0, true, 1e6, true, &s->xpv_update_us)) ||
        (rc = get_num_key(c, root, "", "hv_fault_us", 0, true, 1e6, true, &s->hv_fault_us)) ||
        (rc = get_num_key(c, root, "", "hv_fault_budget", 0, true, 1, true, &s->hv_fault_budget)) ||
        (rc = get_num_key(c, root, "", "hotplug_ms", 0, true, 1e6, true, &s->hotplug_ms)) ||
        (rc = get_num_key(c, root, "", "balance_s", 0, true, 1e6, true, &s->balance_s)) ||
        (rc = get_num_key(c, root, "", "guest_sched_per_s", 0, true, 1000, true,
                          &s->guest_sched_per_s)) ||
        (rc = get_num_key(c, root, "", "guest_sched_cross", 0, true, 1, true,
                          &s->guest_sched_cross)))
        return rc;
    if ((rc = get_num_key(c, root, "", "epoch_ms", 0, false, 100, true, &s->epoch_ms)) ||
        (rc = get_num_key(c, root, "", "max_seconds", 0, false, HUGE_VAL, false,
                          &s->max_seconds)) ||
        (rc = get_num_key(c, root, "", "migrate_gbps", 0, false, HUGE_VAL, false,
                          &s->migrate_gbps)))
        return rc;
    if (s->max_seconds * 1e3 / s->epoch_ms > XPV_SIM_MAX_EPOCHS) {
        const struct node *at_ = get(c, root, "max_seconds");
        if (!at_)
            at_ = get(c, root, "epoch_ms");
        return fail(c, at_ ? at_->line : root->line,
                    at_ == get(c, root, "epoch_ms") ? "epoch_ms" : "max_seconds",
                    "expected at most %.0f epochs (max_seconds x 1000 / epoch_ms), found %.3g "
                    "(max_seconds %g, epoch_ms %g): shorten the run or lengthen the epoch",
                    XPV_SIM_MAX_EPOCHS, s->max_seconds * 1e3 / s->epoch_ms, s->max_seconds,
                    s->epoch_ms);
    }
    if ((v = get(c, root, "policies")) && (rc = parse_policies(c, v, s)))
        return rc;
    if ((v = get(c, root, "baseline"))) {
        if ((rc = parse_baseline(c, v, s)))
            return rc;
    } else {
        memcpy(s->baseline, s->policies[0], sizeof(s->baseline));
    }
    if (!(v = get(c, root, "workloads")))
        return missing(c, root, "", "workloads");
    if ((rc = check_seq(c, v, "workloads", "workloads", 1, XPV_SIM_MAX_WORKLOADS)))
        return rc;
    for (const struct node *x = at(c, v->first); x; x = next(c, x)) {
        if ((rc = parse_workload(c, x, s->nr_workloads, &s->workloads[s->nr_workloads])))
            return rc;
        s->nr_workloads++;
    }
    for (unsigned i = 0; i < s->nr_workloads; i++)
        for (unsigned j = 0; j < i; j++)
            if (s->workloads[i].in_vm && s->workloads[j].in_vm &&
                s->workloads[i].vm == s->workloads[j].vm)
                return fail(c, v->line, "workloads",
                            "expected one workload per VM, found two in VM %s",
                            s->vms[s->workloads[i].vm].name);
    if ((v = get(c, root, "events")) && (rc = parse_events(c, v, s)))
        return rc;
    if ((rc = check_policy_kinds(c, root, s)))
        return rc;
    double threads = 0, epochs = s->max_seconds * 1e3 / s->epoch_ms;
    for (unsigned i = 0; i < s->nr_workloads; i++)
        threads += s->workloads[i].nr_threads;
    if (epochs * threads > XPV_SIM_MAX_THREAD_EPOCHS) {
        const struct node *m = get(c, root, "max_seconds");
        return fail(c, m ? m->line : root->line, "max_seconds",
                    "expected at most %.0f thread-epochs (threads x max_seconds x 1000 / "
                    "epoch_ms), found %.3g (%.0f threads, %.3g epochs): shorten the run",
                    XPV_SIM_MAX_THREAD_EPOCHS, epochs * threads, threads, epochs);
    }
    return 0;
}

/* ---- API --------------------------------------------------------------------------------- */

void xpv_sim_scenario_defaults(struct xpv_sim_scenario *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "scenario");
    s->seed = 1;
    s->epoch_ms = 1;
    s->max_seconds = 600;
    s->migrate_gbps = 1;
    s->xpv_update_us = 100;
    s->hv_fault_us = 3;        /* docs/sim.md: a first touch of unbacked guest memory */
    s->hv_fault_budget = 0.03; /* docs/sim.md: at most 3 % of a vCPU's time */
    s->hotplug_ms = 20;
    s->nr_policies = 1;
    snprintf(s->policies[0], sizeof(s->policies[0]), "first-touch");
    snprintf(s->baseline, sizeof(s->baseline), "first-touch");
}

int xpv_sim_scenario_parse(const char *text, size_t len, const char *name,
                           struct xpv_sim_scenario *s, struct xpv_error *err)
{
    struct xpv_error e = {0};
    struct ctx c = {.file = name ? name : "<scenario>", .err = &e};
    struct xpv_sim_scenario *tmp = NULL;
    int root = -1, rc;
    if (!text && len)
        rc = xpv_error_set(&e, -EINVAL, "%s: no text", c.file);
    else if (len > MAX_INPUT)
        rc = fail(&c, 1, "", "expected at most %u bytes (4 MiB), found %zu", MAX_INPUT, len);
    else if (!(tmp = malloc(sizeof(*tmp))))
        rc = xpv_error_set(&e, -ENOMEM, "%s: out of memory", c.file);
    else if (!(rc = build(&c, text ? text : "", len, &root))) {
        xpv_sim_scenario_defaults(tmp);
        if (name)
            default_name(name, tmp->name, sizeof(tmp->name));
        rc = walk(&c, at(&c, root), tmp);
    }
    if (!rc)
        *s = *tmp;
    else if (err)
        *err = e;
    tree_free(&c);
    free(tmp);
    return rc;
}

/* The file's bytes (at most MAX_INPUT) in *buf (malloc'd). */
static int read_file(const char *path, char **out, size_t *out_len, struct xpv_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return xpv_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    size_t cap = MAX_INPUT + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return xpv_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    len = fread(buf, 1, cap, f);
    int rc = 0;
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        rc = xpv_error_set(err, -e, "%s: %s", path, strerror(e));
    } else if (len > MAX_INPUT) {
        rc = xpv_error_set(err, -EINVAL, "%s:1: expected at most %u bytes (4 MiB), found more",
                           path, MAX_INPUT);
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int xpv_sim_scenario_load(const char *path, struct xpv_sim_scenario *s, struct xpv_error *err)
{
    char *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = xpv_sim_scenario_parse(buf, len, path, s, err);
    free(buf);
    return rc;
}

/* ---- cases (xpv_sim_suite_*) ------------------------------------------------------------- */

/* headline: [POLICY, ...] */
static int parse_headline(struct ctx *c, const struct node *v, struct xpv_sim_suite *out)
{
    int rc = check_seq(c, v, "headline", "policy names", 1, XPV_SIM_MAX_POLICIES);
    if (rc)
        return rc;
    unsigned i = 0;
    for (const struct node *x = at(c, v->first); x; x = next(c, x), i++) {
        char p[PATH_LEN];
        index_path(p, "headline", i);
        if (x->kind != N_SCALAR || x->len == 0 || x->len >= sizeof(out->headline[0]) ||
            strspn(x->str, "abcdefghijklmnopqrstuvwxyz0123456789-") != x->len)
            return fail(c, x->line, p,
                        "expected a policy name ([a-z0-9-]+, at most %zu characters), found %s",
                        sizeof(out->headline[0]) - 1, FOUND(x));
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(out->headline[j], x->str))
                return fail(c, x->line, p, "expected distinct policies, found %s twice", QUOTE(x));
        bool run = false;
        for (unsigned k = 0; k < out->nr_cases && !run; k++)
            for (unsigned j = 0; j < out->cases[k].s.nr_policies && !run; j++)
                run = key_is(x, out->cases[k].s.policies[j]);
        if (!run)
            return fail(c, x->line, p, "expected a policy the scenario runs, found %s", QUOTE(x));
        memcpy(out->headline[i], x->str, x->len + 1);
    }
    out->nr_headline = i;
    return 0;
}

/* A list of 1..XPV_SIM_MAX_SWEEP numbers in (lo, hi] (lo_in: [lo, hi]). */
static int parse_axis(struct ctx *c, const struct node *v, const char *path, double lo, bool lo_in,
                      double hi, double *out, unsigned *nr)
{
    int rc = check_seq(c, v, path, "numbers", 1, XPV_SIM_MAX_SWEEP);
    if (rc)
        return rc;
    unsigned i = 0;
    for (const struct node *x = at(c, v->first); x; x = next(c, x), i++) {
        char p[PATH_LEN];
        index_path(p, path, i);
        if ((rc = get_num(c, x, p, lo, lo_in, hi, true, &out[i])))
            return rc;
    }
    *nr = i;
    return 0;
}

/* sweep: {churn_per_s: [RATE, ...], residency_s: [SECONDS, ...]} */
static int parse_sweep(struct ctx *c, const struct node *v, struct xpv_sim_case *k)
{
    static const char *const skeys[] = {"churn_per_s", "residency_s", NULL};
    int rc = check_map(c, v, "sweep", "a mapping {churn_per_s: [..], residency_s: [..]}", skeys);
    if (rc)
        return rc;
    const struct node *ch = get(c, v, "churn_per_s"), *res = get(c, v, "residency_s");
    if (!ch)
        return missing(c, v, "sweep", "churn_per_s");
    if (!res)
        return missing(c, v, "sweep", "residency_s");
    if ((rc = parse_axis(c, ch, "sweep.churn_per_s", 0, true, 100, k->sweep.churn_per_s,
                         &k->sweep.nr_churn)) ||
        (rc = parse_axis(c, res, "sweep.residency_s", 0, false, 1e6, k->sweep.residency_s,
                         &k->sweep.nr_residency)))
        return rc;
    bool moved = false, turned = false;
    for (unsigned i = 0; i < k->s.nr_events; i++)
        moved |= k->s.events[i].vm == k->vm;
    for (unsigned i = 0; i < k->s.nr_workloads; i++) {
        const struct xpv_sim_workload_spec *w = &k->s.workloads[i];
        for (unsigned j = 0; w->in_vm && w->vm == k->vm && j < w->nr_regions; j++)
            turned |= w->regions[j].lifetime == XPV_SIM_TURNOVER;
    }
    if (!moved)
        return fail(c, v->line, "sweep",
                    "expected a case with an event moving VM %s (the "
                    "sweep repeats it), found none",
                    k->s.vms[k->vm].name);
    if (!turned)
        return fail(c, v->line, "sweep",
                    "expected VM %s to run a workload with turned-over "
                    "regions (the sweep sets their churn), found none",
                    k->s.vms[k->vm].name);
    k->has_sweep = true;
    return 0;
}

/* Case i: the scenario (the root's keys replaced by the case's), then its own keys. */
static int parse_case(struct ctx *c, const struct node *root, const struct node *v, unsigned i,
                      const char *file, struct xpv_sim_case *k)
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "cases[%u]", i);
    /* a case's keys: the scenario's but the file's own, and its label, VM and sweep */
    const char *ckeys[40];
    unsigned n = 0;
    ckeys[n++] = "vm";
    ckeys[n++] = "sweep";
    for (unsigned j = 0; keys[j] && n < 39; j++)
        if (strcmp(keys[j], "cases") && strcmp(keys[j], "headline"))
            ckeys[n++] = keys[j];
    ckeys[n] = NULL;
    int rc = check_map(c, v, prefix, "a case mapping (name: LABEL, and scenario keys)", ckeys);
    if (rc)
        return rc;
    const struct node *name = get(c, v, "name");
    if (!name)
        return missing(c, v, prefix, "name");
    char p[PATH_LEN];
    key_path(p, prefix, "name");
    if ((rc = get_str(c, name, p, k->name, sizeof(k->name))))
        return rc;
    xpv_sim_scenario_defaults(&k->s);
    default_name(file, k->s.name, sizeof(k->s.name));
    c->overlay = v;
    c->prefix = prefix;
    rc = walk(c, root, &k->s);
    if (!rc) {
        const struct node *vm = get(c, v, "vm"), *sw = get(c, v, "sweep");
        k->has_vm = k->s.nr_vms > 0;
        k->vm = k->s.nr_events ? k->s.events[0].vm : 0;
        if (vm && (rc = vm_by_name(c, vm, "vm", &k->s, &k->vm)) == 0)
            k->has_vm = true;
        if (!rc && sw && !k->has_vm)
            rc = fail(c, sw->line, "sweep", "expected a case with a VM, found none");
        if (!rc && sw)
            rc = parse_sweep(c, sw, k);
    }
    c->overlay = NULL;
    c->prefix = NULL;
    return rc;
}

static int walk_suite(struct ctx *c, const struct node *root, const char *file,
                      struct xpv_sim_suite *out)
{
    if (!root || root->kind != N_MAP)
        return fail(c, root ? root->line : 1, "", "expected a mapping of scenario keys, found %s",
                    FOUND(root));
    const struct node *cases = get(c, root, "cases"), *hl = get(c, root, "headline");
    int rc;
    if (cases && (rc = check_seq(c, cases, "cases", "case mappings", 1, XPV_SIM_MAX_CASES)))
        return rc;
    out->labelled = cases != NULL;
    out->nr_cases = cases ? cases->count : 1;
    if (!(out->cases = calloc(out->nr_cases, sizeof(*out->cases))))
        return xpv_error_set(c->err, -ENOMEM, "%s: out of memory", c->file);
    if (!cases) {
        struct xpv_sim_case *k = &out->cases[0];
        xpv_sim_scenario_defaults(&k->s);
        default_name(file, k->s.name, sizeof(k->s.name));
        if ((rc = walk(c, root, &k->s)))
            return rc;
        k->has_vm = k->s.nr_vms > 0;
        k->vm = k->s.nr_events ? k->s.events[0].vm : 0;
    } else {
        unsigned i = 0;
        for (const struct node *x = at(c, cases->first); x; x = next(c, x), i++) {
            if ((rc = parse_case(c, root, x, i, file, &out->cases[i])))
                return rc;
            for (unsigned j = 0; j < i; j++)
                if (!strcmp(out->cases[j].name, out->cases[i].name))
                    return fail(c, get(c, x, "name")->line, "",
                                "cases[%u].name: expected a "
                                "label not used before, found '%s'",
                                i, out->cases[i].name);
        }
    }
    return hl ? parse_headline(c, hl, out) : 0;
}

void xpv_sim_suite_free(struct xpv_sim_suite *suite)
{
    if (!suite)
        return;
    free(suite->cases);
    memset(suite, 0, sizeof(*suite));
}

int xpv_sim_suite_parse(const char *text, size_t len, const char *name, struct xpv_sim_suite *out,
                        struct xpv_error *err)
{
    struct xpv_error e = {0};
    struct ctx c = {.file = name ? name : "<scenario>", .err = &e};
    struct xpv_sim_suite tmp = {0};
    int root = -1, rc;
    if (!text && len)
        rc = xpv_error_set(&e, -EINVAL, "%s: no text", c.file);
    else if (len > MAX_INPUT)
        rc = fail(&c, 1, "", "expected at most %u bytes (4 MiB), found %zu", MAX_INPUT, len);
    else if (!(rc = build(&c, text ? text : "", len, &root)))
        rc = walk_suite(&c, at(&c, root), name ? name : "", &tmp);
    if (!rc) {
        *out = tmp;
    } else {
        xpv_sim_suite_free(&tmp);
        if (err)
            *err = e;
    }
    tree_free(&c);
    return rc;
}

int xpv_sim_suite_load(const char *path, struct xpv_sim_suite *out, struct xpv_error *err)
{
    char *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = xpv_sim_suite_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

int xpv_sim_sweep_scenario(const struct xpv_sim_case *c, double churn, double residency_s,
                           struct xpv_sim_scenario *out, struct xpv_error *err)
{
    const struct xpv_sim_scenario *s = &c->s;
    const struct xpv_sim_event *first = NULL;
    for (unsigned i = 0; i < s->nr_events && !first; i++)
        if (s->events[i].vm == c->vm)
            first = &s->events[i];
    if (!c->has_vm || !first || !(residency_s > 0))
        return xpv_error_set(err, -EINVAL, "case %s: no event of its VM to repeat", c->name);
    *out = *s;
    /* the other VMs' events, then the VM's first one every residency_s, there and back */
    out->nr_events = 0;
    for (unsigned i = 0; i < s->nr_events; i++)
        if (s->events[i].vm != c->vm)
            out->events[out->nr_events++] = s->events[i];
    for (unsigned k = 0; out->nr_events < XPV_SIM_MAX_EVENTS; k++) {
        double at_s = first->at_s + k * residency_s;
        if (at_s >= s->max_seconds)
            break;
        struct xpv_sim_event ev = *first;
        ev.at_s = at_s;
        if (k % 2)
            memcpy(ev.to, s->vms[c->vm].host_node, sizeof(ev.to));
        out->events[out->nr_events++] = ev;
    }
    for (unsigned i = 1; i < out->nr_events; i++) /* in time order, stable */
        for (unsigned j = i; j > 0 && out->events[j - 1].at_s > out->events[j].at_s; j--) {
            struct xpv_sim_event t = out->events[j];
            out->events[j] = out->events[j - 1];
            out->events[j - 1] = t;
        }
    unsigned turned = 0;
    for (unsigned i = 0; i < out->nr_workloads; i++) {
        struct xpv_sim_workload_spec *w = &out->workloads[i];
        for (unsigned j = 0; w->in_vm && w->vm == c->vm && j < w->nr_regions; j++)
            if (w->regions[j].lifetime == XPV_SIM_TURNOVER) {
                w->regions[j].churn_per_s = churn;
                turned++;
            }
    }
    if (!turned)
        return xpv_error_set(err, -EINVAL, "case %s: VM %s has no turned-over region to churn",
                             c->name, s->vms[c->vm].name);
    return 0;
}
