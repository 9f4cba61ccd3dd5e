/*
 * report.c — the reports of `xpv sim` (xpv/sim.h): a text table comparing the policies of one
 * scenario, a JSON document with everything a run produced, and a directory of CSV files and
 * gnuplot scripts (rendered to PNG when gnuplot is installed).
 *
 * Every file is written to NAME.tmp and renamed over NAME once complete, so a failure never
 * leaves a half-written report behind. Traffic matrices are indexed
 * traffic[cpu node * nr_nodes + mem node] (the layout of struct xpv_topo's distances).
 */
#include "xpv/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH_BUF 4096
#define GB       1e9

/* ---- shared helpers ---- */

static double traffic_at(const struct xpv_sim_result *r, unsigned c, unsigned m)
{
    return r->traffic[(size_t)c * r->nr_nodes + m];
}

static unsigned run_nodes(const struct xpv_sim_result *r)
{
    return r->nr_nodes > XPV_SIM_MAX_NODES ? XPV_SIM_MAX_NODES : r->nr_nodes;
}

static unsigned run_apps(const struct xpv_sim_result *r)
{
    return r->nr_apps > XPV_SIM_MAX_WORKLOADS ? XPV_SIM_MAX_WORKLOADS : r->nr_apps;
}

/* The baseline policy's run among r, or NULL. */
static const struct xpv_sim_result *find_baseline(const struct xpv_sim_scenario *s,
                                                  const struct xpv_sim_result *r, unsigned nr)
{
    if (!s || !s->baseline[0])
        return NULL;
    for (unsigned i = 0; i < nr; i++)
        if (strncmp(r[i].policy, s->baseline, sizeof(r[i].policy)) == 0)
            return &r[i];
    return NULL;
}

/* The app of run b matching app j of another run: same index when the names agree (they do
 * for runs of one scenario), else the first with that name. */
static const struct xpv_sim_app_result *match_app(const struct xpv_sim_result *b, unsigned j,
                                                  const char *name)
{
    unsigned n = run_apps(b);
    if (j < n && strncmp(b->apps[j].name, name, sizeof(b->apps[j].name)) == 0)
        return &b->apps[j];
    for (unsigned k = 0; k < n; k++)
        if (strncmp(b->apps[k].name, name, sizeof(b->apps[k].name)) == 0)
            return &b->apps[k];
    return NULL;
}

/* Baseline completion / this completion for app j of run `run`; false when either is missing,
 * unfinished or not a positive number. */
static bool speedup_of(const struct xpv_sim_result *base, const struct xpv_sim_result *run,
                       unsigned j, double *out)
{
    const struct xpv_sim_app_result *a = &run->apps[j], *b;
    if (!base || !a->finished || !(a->completion_s > 0) || !isfinite(a->completion_s))
        return false;
    b = match_app(base, j, a->name);
    if (!b || !b->finished || !(b->completion_s > 0) || !isfinite(b->completion_s))
        return false;
    *out = b->completion_s / a->completion_s;
    return isfinite(*out);
}

/* The most apps any run has (runs of one scenario all have the same). */
static unsigned max_apps(const struct xpv_sim_result *r, unsigned nr)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nr; i++)
        if (run_apps(&r[i]) > n)
            n = run_apps(&r[i]);
    return n;
}

/* ---- table ---- */

enum { COL_APP, COL_POLICY, COL_TIME, COL_SPEEDUP, COL_LOCAL, COL_LAT, COL_IMB, COL_MIG, NCOLS };

#define CELL 80

static const char *const col_head[NCOLS] = {
        "app",   "policy",       "completion (s)", "speed-up",
        "local", "avg lat (ns)", "imbalance",      "migrated (MB)",
};

/* PREFIX V SUFFIX with `decimals` decimals, or "-" when v is not a number. */
static void cell_num(char *c, const char *prefix, double v, int decimals, const char *suffix)
{
    if (isfinite(v))
        snprintf(c, CELL, "%s%.*f%s", prefix, decimals, v, suffix);
    else
        snprintf(c, CELL, "-");
}

void xpv_sim_print_table(FILE *f, const struct xpv_sim_scenario *s, const struct xpv_sim_result *r,
                         unsigned nr)
{
    const struct xpv_sim_result *base = find_baseline(s, r, nr);
    unsigned napps = max_apps(r, nr), nrows = 0;
    size_t width[NCOLS];
    char(*cells)[NCOLS][CELL];

    if (s)
        fprintf(f, "scenario %s on %s, seed %llu, baseline %s\n", s->name, s->machine.name,
                (unsigned long long)s->seed, s->baseline[0] ? s->baseline : "(none)");
    cells = calloc((size_t)napps * nr + 1, sizeof(*cells));
    if (!cells) {
        fprintf(f, "(out of memory)\n");
        return;
    }
    for (unsigned k = 0; k < NCOLS; k++)
        snprintf(cells[0][k], CELL, "%s", col_head[k]);
    nrows = 1;
    /* One row per (app, policy), grouped by app. */
    for (unsigned j = 0; j < napps; j++) {
        for (unsigned i = 0; i < nr; i++) {
            const struct xpv_sim_app_result *a;
            char(*c)[CELL] = cells[nrows];
            double sp;
            if (j >= run_apps(&r[i]))
                continue;
            a = &r[i].apps[j];
            snprintf(c[COL_APP], CELL, "%s", a->name);
            snprintf(c[COL_POLICY], CELL, "%s", r[i].policy);
            cell_num(c[COL_TIME], a->finished ? "" : "> ", a->completion_s, 3, "");
            if (speedup_of(base, &r[i], j, &sp))
                snprintf(c[COL_SPEEDUP], CELL, "%.2fx", sp);
            else
                snprintf(c[COL_SPEEDUP], CELL, "-");
            cell_num(c[COL_LOCAL], "", a->local_ratio * 100, 1, "%");
            cell_num(c[COL_LAT], "", a->avg_latency_ns, 1, "");
            cell_num(c[COL_IMB], "", r[i].mc_imbalance * 100, 1, "%");
            cell_num(c[COL_MIG], "", a->migrated_mb, 1, "");
            nrows++;
        }
    }
    for (unsigned k = 0; k < NCOLS; k++) {
        width[k] = 0;
        for (unsigned i = 0; i < nrows; i++)
            if (strlen(cells[i][k]) > width[k])
                width[k] = strlen(cells[i][k]);
    }
    for (unsigned i = 0; i < nrows; i++) {
        for (unsigned k = 0; k < NCOLS; k++) {
            int w = (int)width[k];
            const char *sep = k + 1 < NCOLS ? "  " : "\n";
            /* Names left-aligned, figures right-aligned. */
            if (k <= COL_POLICY)
                fprintf(f, "%-*s%s", w, cells[i][k], sep);
            else
                fprintf(f, "%*s%s", w, cells[i][k], sep);
        }
        if (i == 0) {
            size_t total = 0;
            for (unsigned k = 0; k < NCOLS; k++)
                total += width[k] + (k + 1 < NCOLS ? 2 : 0);
            for (size_t k = 0; k < total; k++)
                fputc('-', f);
            fputc('\n', f);
        }
    }
    free(cells);
    fprintf(f,
            "speed-up: %s completion time / this completion time; '>' marks apps stopped at "
            "the time limit.\nimbalance: stddev / mean of the traffic the memory controllers "
            "served over the run (0%% = evenly spread).\n",
            base ? base->policy : "baseline");
}

/* ---- atomic output files ---- */

struct out {
    FILE *f;
    char path[PATH_BUF];
    char tmp[PATH_BUF + 8];
};

static int out_open(struct out *o, const char *path, struct xpv_error *err)
{
    int n = snprintf(o->path, sizeof(o->path), "%s", path);
    if (n < 0 || (size_t)n >= sizeof(o->path))
        return xpv_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    snprintf(o->tmp, sizeof(o->tmp), "%s.tmp", path);
    o->f = fopen(o->tmp, "w");
    if (!o->f) {
        int e = errno;
        return xpv_error_set(err, -e, "%s: cannot write %s: %s", path, o->tmp, strerror(e));
    }
    return 0;
}

/* Drop a file being written (after an earlier error). */
static void out_abort(struct out *o)
{
    if (o->f) {
        fclose(o->f);
        o->f = NULL;
        unlink(o->tmp);
    }
}

static int out_commit(struct out *o, struct xpv_error *err)
{
    int e = 0;
    if (fflush(o->f) != 0)
        e = errno ? errno : EIO;
    else if (ferror(o->f))
        e = EIO;
    if (fclose(o->f) != 0 && !e)
        e = errno ? errno : EIO;
    o->f = NULL;
    if (!e && rename(o->tmp, o->path) != 0)
        e = errno;
    if (e) {
        unlink(o->tmp);
        return xpv_error_set(err, -e, "%s: %s", o->path, strerror(e));
    }
    return 0;
}

/* ---- JSON ---- */

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* json_object_set_new that remembers a failure (allocation, or a NULL value). */
static void jset(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *ok = false;
}

static void jpush(json_t *a, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(a, v) != 0)
        *ok = false;
}

/* The guest layers' counters of an app (docs/sim.md, "Inside the guest"): the guest
 * scheduler's migrations among vCPUs, those that changed the host node, and its runtime's
 * re-layouts; 0 for a native app or a VM whose guest layers are off. */
static void guest_counters(json_t *o, const struct xpv_sim_app_result *a, bool *ok)
{
    jset(o, "guest_moves", json_integer((json_int_t)a->guest_moves), ok);
    jset(o, "guest_node_moves", json_integer((json_int_t)a->guest_node_moves), ok);
    jset(o, "relayouts", json_integer((json_int_t)a->relayouts), ok);
}

static json_t *run_json(const struct xpv_sim_result *base, const struct xpv_sim_result *run)
{
    json_t *o = json_object(), *mc = json_array(), *tr = json_array(), *apps = json_array();
    unsigned n = run_nodes(run);
    bool ok = o && mc && tr && apps;

    if (!ok) {
        json_decref(o);
        json_decref(mc);
        json_decref(tr);
        json_decref(apps);
        return NULL;
    }
    jset(o, "policy", json_string(run->policy), &ok);
    jset(o, "sim_seconds", jnum(run->sim_seconds), &ok);
    jset(o, "epochs", json_integer((json_int_t)run->epochs), &ok);
    jset(o, "mc_imbalance", jnum(run->mc_imbalance), &ok);
    for (unsigned m = 0; m < n; m++)
        jpush(mc, jnum(run->mc_bytes[m]), &ok);
    jset(o, "mc_bytes", mc, &ok);
    for (unsigned c = 0; c < n; c++) {
        json_t *row = json_array();
        for (unsigned m = 0; row && m < n; m++)
            jpush(row, jnum(traffic_at(run, c, m)), &ok);
        jpush(tr, row, &ok);
    }
    jset(o, "traffic", tr, &ok);
    for (unsigned j = 0; j < run_apps(run); j++) {
        const struct xpv_sim_app_result *a = &run->apps[j];
        json_t *ja = json_object();
        double sp;
        if (!ja) {
            ok = false;
            break;
        }
        jset(ja, "name", json_string(a->name), &ok);
        jset(ja, "vm", a->vm[0] ? json_string(a->vm) : json_null(), &ok);
        jset(ja, "finished", json_boolean(a->finished), &ok);
        jset(ja, "completion_s", jnum(a->completion_s), &ok);
        jset(ja, "speedup", speedup_of(base, run, j, &sp) ? jnum(sp) : json_null(), &ok);
        jset(ja, "local_ratio", jnum(a->local_ratio), &ok);
        jset(ja, "avg_latency_ns", jnum(a->avg_latency_ns), &ok);
        jset(ja, "migrated_mb", jnum(a->migrated_mb), &ok);
        jset(ja, "accesses", jnum(a->accesses), &ok);
        guest_counters(ja, a, &ok);
        jpush(apps, ja, &ok);
    }
    jset(o, "apps", apps, &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The document of one scenario's runs; label: the case of a suite, carried by every row. */
static json_t *report_json(const struct xpv_sim_scenario *s, const struct xpv_sim_result *r,
                           unsigned nr, const char *label)
{
    const struct xpv_sim_result *base = find_baseline(s, r, nr);
    json_t *root = json_object(), *runs = json_array();
    bool ok = root && runs;

    if (!ok) {
        json_decref(root);
        json_decref(runs);
        return NULL;
    }
    jset(root, "scenario", json_string(s->name), &ok);
    jset(root, "machine", json_string(s->machine.name), &ok);
    /* json_int_t is signed: seeds beyond its range are written as decimal strings. */
    if (s->seed <= (uint64_t)INT64_MAX)
        jset(root, "seed", json_integer((json_int_t)s->seed), &ok);
    else {
        char buf[32];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)s->seed);
        jset(root, "seed", json_string(buf), &ok);
    }
    jset(root, "baseline", s->baseline[0] ? json_string(s->baseline) : json_null(), &ok);
    for (unsigned i = 0; i < nr; i++)
        jpush(runs, run_json(base, &r[i]), &ok);
    jset(root, "runs", runs, &ok);
    /* The same, flat: one row per application and policy. */
    json_t *rows = json_array();
    ok = ok && rows;
    for (unsigned i = 0; ok && i < nr; i++)
        for (unsigned j = 0; j < run_apps(&r[i]); j++) {
            const struct xpv_sim_app_result *a = &r[i].apps[j];
            double sp;
            json_t *row = json_object();
            if (!row) {
                ok = false;
                break;
            }
            if (label)
                jset(row, "case", json_string(label), &ok);
            jset(row, "app", json_string(a->name), &ok);
            jset(row, "vm", a->vm[0] ? json_string(a->vm) : json_null(), &ok);
            jset(row, "policy", json_string(r[i].policy), &ok);
            jset(row, "finished", json_boolean(a->finished), &ok);
            jset(row, "completion_s", jnum(a->completion_s), &ok);
            jset(row, "speedup", speedup_of(base, &r[i], j, &sp) ? jnum(sp) : json_null(), &ok);
            jset(row, "local_ratio", jnum(a->local_ratio), &ok);
            jset(row, "imbalance", jnum(r[i].mc_imbalance), &ok);
            jset(row, "migrated_mb", jnum(a->migrated_mb), &ok);
            jset(row, "avg_latency_ns", jnum(a->avg_latency_ns), &ok);
            guest_counters(row, a, &ok);
            jpush(rows, row, &ok);
        }
    jset(root, "results", rows, &ok);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static int dump_json(const char *path, json_t *root, struct xpv_error *err);

int xpv_sim_write_json(const char *path, const struct xpv_sim_scenario *s,
                       const struct xpv_sim_result *r, unsigned nr, struct xpv_error *err)
{
    json_t *root;

    if (!path || !s || (nr && !r))
        return xpv_error_set(err, -EINVAL, "%s: no results to write", path ? path : "(null)");
    root = report_json(s, r, nr, NULL);
    return dump_json(path, root, err);
}

/* Write (and release) a JSON document into path ("-": standard output). */
static int dump_json(const char *path, json_t *root, struct xpv_error *err)
{
    struct out o;
    int rc;

    if (!root)
        return xpv_error_set(err, -ENOMEM, "%s: cannot build the JSON document", path);
    if (strcmp(path, "-") == 0) {
        rc = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF &&
                             fflush(stdout) == 0
                     ? 0
                     : xpv_error_set(err, -EIO, "-: cannot write to standard output");
        json_decref(root);
        return rc;
    }
    rc = out_open(&o, path, err);
    if (rc) {
        json_decref(root);
        return rc;
    }
    if (json_dumpf(root, o.f, JSON_INDENT(2)) != 0 || fputc('\n', o.f) == EOF) {
        int e = errno ? errno : EIO;
        out_abort(&o);
        json_decref(root);
        return xpv_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    json_decref(root);
    return out_commit(&o, err);
}

int xpv_sim_write_json_suite(const char *path, const struct xpv_sim_suite *su,
                             const struct xpv_sim_result *const *r, struct xpv_error *err)
{
    if (!path || !su || !su->nr_cases || !r)
        return xpv_error_set(err, -EINVAL, "%s: no results to write", path ? path : "(null)");
    if (!su->labelled)
        return xpv_sim_write_json(path, &su->cases[0].s, r[0], su->cases[0].s.nr_policies, err);
    const struct xpv_sim_scenario *s0 = &su->cases[0].s;
    json_t *root = json_object(), *cases = json_array(), *rows = json_array(), *hp = json_array();
    bool ok = root && cases && rows && hp;
    struct xpv_sim_headline_in *h = calloc(su->nr_cases, sizeof(*h));
    ok = ok && h;
    char line[512];
    jset(root, "scenario", json_string(s0->name), &ok);
    if (s0->seed <= (uint64_t)INT64_MAX)
        jset(root, "seed", json_integer((json_int_t)s0->seed), &ok);
    else {
        snprintf(line, sizeof(line), "%llu", (unsigned long long)s0->seed);
        jset(root, "seed", json_string(line), &ok);
    }
    for (unsigned i = 0; i < su->nr_headline; i++)
        jpush(hp, json_string(su->headline[i]), &ok);
    jset(root, "headline_policies", hp, &ok); /* []: every policy named xpv* */
    for (unsigned i = 0; ok && i < su->nr_cases; i++) {
        const struct xpv_sim_case *c = &su->cases[i];
        unsigned nr = c->s.nr_policies;
        xpv_sim_headline_of(su, c, r[i], nr, &h[i]);
        json_t *doc = report_json(&c->s, r[i], nr, c->name), *o = json_object(),
               *rec = json_object();
        if (!doc || !o || !rec) {
            json_decref(doc);
            json_decref(o);
            json_decref(rec);
            ok = false;
            break;
        }
        double x;
        bool costly = h[i].have_base &&
                      xpv_sim_recovery(h[i].t_vnuma, h[i].t_pinned, 0, NULL) != XPV_SIM_NO_DATA;
        jset(o, "case", json_string(c->name), &ok);
        jset(o, "vm", c->has_vm ? json_string(c->s.vms[c->vm].name) : json_null(), &ok);
        jset(o, "headline", json_string(xpv_sim_headline(line, sizeof(line), &h[i])), &ok);
        jset(o, "cost", costly ? jnum(h[i].t_vnuma / h[i].t_pinned) : json_null(), &ok);
        for (unsigned k = 0; k < h[i].nr; k++)
            jset(rec, h[i].names[k],
                 xpv_sim_recovery(h[i].t_vnuma, h[i].t_pinned, h[i].t[k], &x) == XPV_SIM_COST
                         ? jnum(x)
                         : json_null(),
                 &ok);
        jset(o, "recovered", rec, &ok);
        jset(o, "machine", json_incref(json_object_get(doc, "machine")), &ok);
        jset(o, "baseline", json_incref(json_object_get(doc, "baseline")), &ok);
        jset(o, "runs", json_incref(json_object_get(doc, "runs")), &ok);
        json_t *rw = json_object_get(doc, "results");
        size_t k;
        json_t *row;
        json_array_foreach(rw, k, row) jpush(rows, json_incref(row), &ok);
        json_decref(doc);
        jpush(cases, o, &ok);
    }
    if (ok)
        jset(root, "summary",
             json_string(xpv_sim_headline_summary(line, sizeof(line), h, su->nr_cases)), &ok);
    jset(root, "cases", cases, &ok);
    jset(root, "results", rows, &ok);
    free(h);
    if (!ok) {
        json_decref(root);
        root = NULL;
    }
    return dump_json(path, root, err);
}

/* ---- CSV and gnuplot ---- */

/* An RFC 4180 field: quoted (with doubled quotes) when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

/* A number field; empty when not finite. */
static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
}

/* A file name part from any string: [A-Za-z0-9._-] kept, the rest replaced by '_'. */
static void sanitize(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < size; src++) {
        unsigned char ch = (unsigned char)*src;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        dst[n++] = keep ? (char)ch : '_';
    }
    if (n == 0 && size > 1)
        dst[n++] = '_';
    dst[n] = 0;
}

/* Text safe inside a gnuplot double-quoted string (and a datablock): no quotes, backslashes
 * or control characters. Scripts set `noenhanced`, so '_', '^' and '@' print as themselves. */
static void gp_text(FILE *f, const char *v)
{
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch == '"')
            fputc('\'', f);
        else if (ch == '\\')
            fputc('/', f);
        else if (ch < 0x20 || ch == 0x7f)
            fputc(' ', f);
        else
            fputc(ch, f);
    }
}

/* The file name stem of each run: "traffic-POLICY", with -2, -3... for repeated policies. */
static void run_stems(const struct xpv_sim_result *r, unsigned nr, char (*stem)[96])
{
    for (unsigned i = 0; i < nr; i++) {
        char name[64];
        bool taken = true;
        sanitize(name, sizeof(name), r[i].policy);
        snprintf(stem[i], 96, "traffic-%s", name);
        for (unsigned dup = 2; taken; dup++) {
            taken = false;
            for (unsigned k = 0; k < i && !taken; k++)
                taken = strcmp(stem[k], stem[i]) == 0;
            if (taken)
                snprintf(stem[i], 96, "traffic-%s-%u", name, dup);
        }
    }
}

static int join(char *buf, size_t size, const char *dir, const char *name, struct xpv_error *err)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return xpv_error_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
    return 0;
}

static int mkdir_p(const char *dir, struct xpv_error *err)
{
    char buf[PATH_BUF];
    size_t len = strlen(dir);
    struct stat st;

    if (len == 0)
        return xpv_error_set(err, -EINVAL, "empty output directory name");
    if (len >= sizeof(buf))
        return xpv_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    memcpy(buf, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        if (buf[i - 1] == '/')
            continue;
        char save = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return xpv_error_set(err, -e, "%s: cannot create %s: %s", dir, buf, strerror(e));
        }
        buf[i] = save;
    }
    if (stat(dir, &st) != 0) {
        int e = errno;
        return xpv_error_set(err, -e, "%s: %s", dir, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return xpv_error_set(err, -ENOTDIR, "%s: not a directory", dir);
    return 0;
}

static int write_results_csv(const char *dir, const struct xpv_sim_scenario *s,
                             const struct xpv_sim_result *r, unsigned nr, struct xpv_error *err)
{
    const struct xpv_sim_result *base = find_baseline(s, r, nr);
    char path[PATH_BUF];
    struct out o;
    int rc = join(path, sizeof(path), dir, "results.csv", err);

    if (rc || (rc = out_open(&o, path, err)))
        return rc;
    fputs("scenario,policy,app,finished,completion_s,speedup,local_ratio,avg_latency_ns,"
          "mc_imbalance,migrated_mb\r\n",
          o.f);
    for (unsigned i = 0; i < nr; i++) {
        for (unsigned j = 0; j < run_apps(&r[i]); j++) {
            const struct xpv_sim_app_result *a = &r[i].apps[j];
            double sp;
            csv_field(o.f, s->name);
            fputc(',', o.f);
            csv_field(o.f, r[i].policy);
            fputc(',', o.f);
            csv_field(o.f, a->name);
            fprintf(o.f, ",%d,", a->finished ? 1 : 0);
            csv_num(o.f, a->completion_s);
            fputc(',', o.f);
            if (speedup_of(base, &r[i], j, &sp))
                csv_num(o.f, sp);
            fputc(',', o.f);
            csv_num(o.f, a->local_ratio);
            fputc(',', o.f);
            csv_num(o.f, a->avg_latency_ns);
            fputc(',', o.f);
            csv_num(o.f, r[i].mc_imbalance);
            fputc(',', o.f);
            csv_num(o.f, a->migrated_mb);
            fputs("\r\n", o.f);
        }
    }
    return out_commit(&o, err);
}

static int write_traffic_csv(const char *dir, const struct xpv_sim_result *run, const char *stem,
                             struct xpv_error *err)
{
    char name[128], path[PATH_BUF];
    unsigned n = run_nodes(run);
    struct out o;
    int rc;

    snprintf(name, sizeof(name), "%s.csv", stem);
    rc = join(path, sizeof(path), dir, name, err);
    if (rc || (rc = out_open(&o, path, err)))
        return rc;
    /* GB moved, rows: the CPU node that accessed, columns: the memory node that served. */
    fputs("cpu\\mem", o.f);
    for (unsigned m = 0; m < n; m++)
        fprintf(o.f, ",%u", m);
    fputs("\r\n", o.f);
    for (unsigned c = 0; c < n; c++) {
        fprintf(o.f, "%u", c);
        for (unsigned m = 0; m < n; m++) {
            fputc(',', o.f);
            csv_num(o.f, traffic_at(run, c, m) / GB);
        }
        fputs("\r\n", o.f);
    }
    return out_commit(&o, err);
}

/* Terminal selection, in the script so it renders wherever it is run. */
static void gp_terminal(FILE *f, unsigned w, unsigned h)
{
    fprintf(f,
            "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
            "    set terminal pngcairo noenhanced size %u,%u font \"sans,10\"\n"
            "} else {\n"
            "    set terminal png noenhanced size %u,%u\n"
            "}\n",
            w, h, w, h);
}

static int write_completion_gp(const char *dir, const struct xpv_sim_scenario *s,
                               const struct xpv_sim_result *r, unsigned nr, struct xpv_error *err)
{
    unsigned napps = max_apps(r, nr), width;
    bool any_unfinished = false;
    char path[PATH_BUF];
    struct out o;
    int rc = join(path, sizeof(path), dir, "completion.gp", err);

    if (rc || (rc = out_open(&o, path, err)))
        return rc;
    fputs("# Completion time per application and policy (xpv sim).\n"
          "# Render with: gnuplot completion.gp (from this directory) -> completion.png\n",
          o.f);
    width = 400 + 60 * napps * nr;
    gp_terminal(o.f, width > 1600 ? 1600 : width, 500);
    fputs("set output \"completion.png\"\n$completion << EOD\n\"app\"", o.f);
    for (unsigned i = 0; i < nr; i++) {
        fputs(" \"", o.f);
        gp_text(o.f, r[i].policy);
        fputc('"', o.f);
    }
    fputc('\n', o.f);
    for (unsigned j = 0; j < napps; j++) {
        const char *name = NULL;
        bool unfinished = false;
        for (unsigned i = 0; i < nr; i++) {
            if (j >= run_apps(&r[i]))
                continue;
            if (!name)
                name = r[i].apps[j].name;
            if (!r[i].apps[j].finished)
                unfinished = true;
        }
        any_unfinished |= unfinished;
        fputc('"', o.f);
        gp_text(o.f, name ? name : "?");
        fputs(unfinished ? "*\"" : "\"", o.f);
        for (unsigned i = 0; i < nr; i++) {
            double v = j < run_apps(&r[i]) ? r[i].apps[j].completion_s : NAN;
            if (isfinite(v))
                fprintf(o.f, " %.9g", v);
            else
                fputs(" NaN", o.f);
        }
        fputc('\n', o.f);
    }
    fputs("EOD\n", o.f);
    fputs("set title \"", o.f);
    gp_text(o.f, s->name);
    fputs(" on ", o.f);
    gp_text(o.f, s->machine.name);
    fputs(any_unfinished ? ": completion time (* = stopped at the time limit)\"\n"
                         : ": completion time\"\n",
          o.f);
    fputs("set ylabel \"completion time (s)\"\n"
          "set yrange [0:*]\n"
          "set style data histograms\n"
          "set style histogram clustered gap 1\n"
          "set style fill solid 0.8 border -1\n"
          "set boxwidth 0.9\n"
          "set key outside right top\n"
          "set grid ytics\n"
          "set xtics nomirror rotate by -30\n",
          o.f);
    /* gnuplot's default colours repeat after 8: one distinct colour per policy (up to 12) */
    fputs("array colors[12] = [\"#1b9e77\", \"#d95f02\", \"#7570b3\", \"#e7298a\", "
          "\"#66a61e\", \"#e6ab02\", \"#a6761d\", \"#666666\", \"#1f78b4\", \"#b2df8a\", "
          "\"#fb9a99\", \"#cab2d6\"]\n",
          o.f);
    fprintf(o.f,
            "plot for [i=2:%u] $completion using i:xtic(1) title columnheader(i) "
            "lc rgb colors[(i - 2) %% 12 + 1]\n",
            nr + 1);
    return out_commit(&o, err);
}

static int write_traffic_gp(const char *dir, const struct xpv_sim_scenario *s,
                            const struct xpv_sim_result *run, const char *stem,
                            struct xpv_error *err)
{
    char name[128], path[PATH_BUF];
    unsigned n = run_nodes(run);
    struct out o;
    int rc;

    snprintf(name, sizeof(name), "%s.gp", stem);
    rc = join(path, sizeof(path), dir, name, err);
    if (rc || (rc = out_open(&o, path, err)))
        return rc;
    fprintf(o.f,
            "# Traffic (GB) from each CPU node to each memory node (xpv sim).\n"
            "# Render with: gnuplot %s.gp (from this directory) -> %s.png\n",
            stem, stem);
    gp_terminal(o.f, 700, 600);
    fprintf(o.f, "set output \"%s.png\"\n$traffic << EOD\n", stem);
    for (unsigned c = 0; c < n; c++) {
        for (unsigned m = 0; m < n; m++) {
            double v = traffic_at(run, c, m) / GB;
            fprintf(o.f, m ? " %.9g" : "%.9g", isfinite(v) ? v : 0.0);
        }
        fputc('\n', o.f);
    }
    fputs("EOD\nset title \"", o.f);
    gp_text(o.f, s->name);
    fputs(", policy ", o.f);
    gp_text(o.f, run->policy);
    fputs(": traffic (GB)\"\n", o.f);
    fprintf(o.f,
            "set xlabel \"memory node\"\n"
            "set ylabel \"cpu node\"\n"
            "set cblabel \"GB\"\n"
            "set xrange [-0.5:%u.5]\n"
            "set yrange [%u.5:-0.5]\n"
            "set cbrange [0:*]\n"
            "set palette defined (0 \"#ffffff\", 1 \"#fdd49e\", 2 \"#fc8d59\", 3 \"#b30000\")\n"
            "set size square\n",
            n ? n - 1 : 0, n ? n - 1 : 0);
    if (n <= 16)
        fputs("set xtics 1\nset ytics 1\n"
              "plot $traffic matrix with image notitle, \\\n"
              "     $traffic matrix using 1:2:(sprintf(\"%.2f\", $3)) with labels notitle\n",
              o.f);
    else
        fputs("plot $traffic matrix with image notitle\n", o.f);
    return out_commit(&o, err);
}

static int write_readme(const char *dir, const char *const *scripts, unsigned nscripts,
                        struct xpv_error *err)
{
    char path[PATH_BUF];
    struct out o;
    int rc = join(path, sizeof(path), dir, "README.txt", err);

    if (rc || (rc = out_open(&o, path, err)))
        return rc;
    fputs("gnuplot was not found in PATH when these results were written, so the plots were\n"
          "not rendered. Install gnuplot (e.g. apt-get install gnuplot-nox) and run, from this\n"
          "directory:\n\n",
          o.f);
    for (unsigned i = 0; i < nscripts; i++)
        fprintf(o.f, "    gnuplot %s\n", scripts[i]);
    fputs("\nEach NAME.gp script writes NAME.png next to it. results.csv and traffic-*.csv "
          "hold\nthe same data as plain CSV.\n",
          o.f);
    return out_commit(&o, err);
}

/* Whether an executable `name` is in PATH. */
static bool in_path(const char *name)
{
    const char *p = getenv("PATH");
    char buf[PATH_BUF];

    if (!p)
        p = "/usr/bin:/bin";
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int n = len ? snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, p, name)
                    : snprintf(buf, sizeof(buf), "./%s", name);
        if (n > 0 && (size_t)n < sizeof(buf) && access(buf, X_OK) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* Run `gnuplot script` in dir; -EIO with the script's path and gnuplot's first error line. */
static int run_gnuplot(const char *dir, const char *script, struct xpv_error *err)
{
    int pfd[2], status = 0;
    char msg[512];
    size_t got = 0;
    pid_t pid;

    if (pipe(pfd) != 0) {
        int e = errno;
        return xpv_error_set(err, -e, "%s/%s: cannot run gnuplot: %s", dir, script, strerror(e));
    }
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return xpv_error_set(err, -e, "%s/%s: cannot run gnuplot: %s", dir, script, strerror(e));
    }
    if (pid == 0) {
        char *argv[] = {"gnuplot", (char *)script, NULL};
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        if (chdir(dir) != 0)
            _exit(126);
        execvp("gnuplot", argv);
        _exit(127);
    }
    close(pfd[1]);
    /* Keep the start of gnuplot's complaints; drain the rest so it never blocks. */
    for (;;) {
        char buf[512];
        ssize_t n = read(pfd[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (got < sizeof(msg) - 1) {
            size_t take = (size_t)n < sizeof(msg) - 1 - got ? (size_t)n : sizeof(msg) - 1 - got;
            memcpy(msg + got, buf, take);
            got += take;
        }
    }
    close(pfd[0]);
    msg[got] = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            int e = errno;
            return xpv_error_set(err, -e, "%s/%s: gnuplot: %s", dir, script, strerror(e));
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* One line of diagnostics: the last non-empty line gnuplot printed says what failed. */
    for (size_t i = 0; i < got; i++)
        if (msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t')
            msg[i] = ' ';
    {
        char *m = msg;
        while (*m == ' ')
            m++;
        size_t l = strlen(m);
        while (l && m[l - 1] == ' ')
            m[--l] = 0;
        if (WIFEXITED(status))
            return xpv_error_set(err, -EIO, "%s/%s: gnuplot exited with status %d%s%s", dir, script,
                                 WEXITSTATUS(status), *m ? ": " : "", m);
        return xpv_error_set(err, -EIO, "%s/%s: gnuplot killed by signal %d", dir, script,
                             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
}

int xpv_sim_write_dir(const char *dir, const struct xpv_sim_scenario *s,
                      const struct xpv_sim_result *r, unsigned nr, struct xpv_error *err)
{
    char(*stem)[96] = NULL;
    const char **scripts = NULL;
    char(*script_names)[128] = NULL;
    unsigned nscripts = 0;
    int rc;

    if (!dir || !s || (nr && !r))
        return xpv_error_set(err, -EINVAL, "%s: no results to write", dir ? dir : "(null)");
    rc = mkdir_p(dir, err);
    if (rc)
        return rc;
    stem = calloc(nr + 1, sizeof(*stem));
    scripts = calloc(nr + 1, sizeof(*scripts));
    script_names = calloc(nr + 1, sizeof(*script_names));
    if (!stem || !scripts || !script_names) {
        rc = xpv_error_set(err, -ENOMEM, "%s: out of memory", dir);
        goto out;
    }
    run_stems(r, nr, stem);

    rc = write_results_csv(dir, s, r, nr, err);
    for (unsigned i = 0; !rc && i < nr; i++)
        rc = write_traffic_csv(dir, &r[i], stem[i], err);
    if (!rc && (rc = write_completion_gp(dir, s, r, nr, err)) == 0)
        scripts[nscripts++] = "completion.gp";
    for (unsigned i = 0; !rc && i < nr; i++) {
        rc = write_traffic_gp(dir, s, &r[i], stem[i], err);
        snprintf(script_names[i], sizeof(script_names[i]), "%s.gp", stem[i]);
        scripts[nscripts++] = script_names[i];
    }
    if (rc)
        goto out;

    if (!in_path("gnuplot")) {
        rc = write_readme(dir, scripts, nscripts, err);
        goto out;
    }
    for (unsigned i = 0; !rc && i < nscripts; i++)
        rc = run_gnuplot(dir, scripts[i], err);
out:
    free(stem);
    free(scripts);
    free(script_names);
    return rc;
}

int xpv_sim_write_series(const char *dir, const char *stem, const char *title, const char *xlabel,
                         const char *ylabel, const double *x, unsigned n, const char *const *names,
                         const double *y, unsigned nr, const double *marks, unsigned nmarks,
                         struct xpv_error *err)
{
    char file[160], path[PATH_BUF], safe[96];
    struct out o;
    int rc = mkdir_p(dir, err);
    if (rc)
        return rc;
    sanitize(safe, sizeof(safe), stem);
    /* CSV: x, then one column per series */
    snprintf(file, sizeof(file), "%s.csv", safe);
    if ((rc = join(path, sizeof(path), dir, file, err)) || (rc = out_open(&o, path, err)))
        return rc;
    csv_field(o.f, xlabel);
    for (unsigned i = 0; i < nr; i++) {
        fputc(',', o.f);
        csv_field(o.f, names[i]);
    }
    fputc('\n', o.f);
    for (unsigned k = 0; k < n; k++) {
        csv_num(o.f, x[k]);
        for (unsigned i = 0; i < nr; i++) {
            fputc(',', o.f);
            csv_num(o.f, y[(size_t)i * n + k]);
        }
        fputc('\n', o.f);
    }
    if ((rc = out_commit(&o, err)))
        return rc;
    /* the gnuplot script, its data inline */
    snprintf(file, sizeof(file), "%s.gp", safe);
    if ((rc = join(path, sizeof(path), dir, file, err)) || (rc = out_open(&o, path, err)))
        return rc;
    fprintf(o.f, "# %s (xpv sim).\n# Render with: gnuplot %s.gp (from this directory) -> %s.png\n",
            safe, safe, safe);
    gp_terminal(o.f, 900, 500);
    fprintf(o.f, "set output \"%s.png\"\n$series << EOD\n", safe);
    for (unsigned k = 0; k < n; k++) {
        fprintf(o.f, "%.9g", x[k]);
        for (unsigned i = 0; i < nr; i++) {
            double v = y[(size_t)i * n + k];
            if (isfinite(v))
                fprintf(o.f, " %.9g", v);
            else
                fputs(" NaN", o.f);
        }
        fputc('\n', o.f);
    }
    fputs("EOD\nset title \"", o.f);
    gp_text(o.f, title);
    fputs("\"\nset xlabel \"", o.f);
    gp_text(o.f, xlabel);
    fputs("\"\nset ylabel \"", o.f);
    gp_text(o.f, ylabel);
    fputs("\"\nset key outside right top\nset grid\n", o.f);
    for (unsigned i = 0; i < nmarks; i++)
        if (isfinite(marks[i]))
            fprintf(o.f,
                    "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead dt 2 lc rgb "
                    "\"#888888\"\n",
                    marks[i], marks[i]);
    fputs("plot ", o.f);
    for (unsigned i = 0; i < nr; i++) {
        fprintf(o.f, "%s$series using 1:%u with linespoints pt 7 ps 0.5 title \"", i ? ", " : "",
                i + 2);
        gp_text(o.f, names[i]);
        fputc('"', o.f);
    }
    fputc('\n', o.f);
    if ((rc = out_commit(&o, err)))
        return rc;
    if (!in_path("gnuplot")) /* the script says how to render it */
        return 0;
    return run_gnuplot(dir, file, err);
}
