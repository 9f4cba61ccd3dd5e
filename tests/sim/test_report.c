/*
 * test_report.c — the `xpv sim` reports (src/sim/report.c) on hand-made results: 2 apps under
 * 3 policies, one app stopped at the time limit. Checks the table's speed-ups against values
 * computed by hand, the JSON read back with jansson, the CSV files, the gnuplot rendering
 * (when gnuplot is installed) and the errors for paths that cannot be written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tu_cmocka.h"
#include "xpv/sim.h"

#define NRUNS 3

static struct xpv_sim_scenario scen;
static struct xpv_sim_result runs[NRUNS];
static char tmpdir[] = "/tmp/xpv-test-report-XXXXXX";

static void set_app(struct xpv_sim_app_result *a, const char *name, bool finished, double t,
                    double local, double lat, double mig)
{
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->finished = finished;
    a->completion_s = t;
    a->local_ratio = local;
    a->avg_latency_ns = lat;
    a->migrated_mb = mig;
    a->accesses = 1e9 * t;
}

/*
 * Baseline first-touch: cg 4 s, "a,b" 6 s.
 * interleave: cg 5 s (0.80x), "a,b" stopped at the 10 s limit (-).
 * xpv-auto:   cg 2.5 s (1.60x), "a,b" 4 s (1.50x).
 */
static void build(void)
{
    static const char *const pol[NRUNS] = {"first-touch", "interleave", "xpv-auto"};
    static const double cg[NRUNS] = {4.0, 5.0, 2.5}, ab[NRUNS] = {6.0, 10.0, 4.0};

    memset(&scen, 0, sizeof(scen));
    snprintf(scen.name, sizeof(scen.name), "mixed");
    snprintf(scen.machine.name, sizeof(scen.machine.name), "test-2n");
    scen.machine.nr_nodes = 2;
    scen.seed = 42;
    scen.max_seconds = 10;
    scen.nr_policies = NRUNS;
    for (unsigned i = 0; i < NRUNS; i++)
        snprintf(scen.policies[i], sizeof(scen.policies[i]), "%s", pol[i]);
    snprintf(scen.baseline, sizeof(scen.baseline), "first-touch");

    memset(runs, 0, sizeof(runs));
    for (unsigned i = 0; i < NRUNS; i++) {
        struct xpv_sim_result *r = &runs[i];
        snprintf(r->policy, sizeof(r->policy), "%s", pol[i]);
        r->sim_seconds = ab[i] > cg[i] ? ab[i] : cg[i];
        r->epochs = (unsigned long)(r->sim_seconds * 1000);
        r->nr_apps = 2;
        set_app(&r->apps[0], "cg", true, cg[i], 0.9 - 0.1 * i, 100 + 10 * i, 1.5 * i);
        set_app(&r->apps[1], "a,b", i != 1, ab[i], 0.5, 150, 0);
        /* the guest layers' counters: distinct per run, app and counter */
        for (unsigned j = 0; j < 2; j++) {
            r->apps[j].guest_moves = 100 * i + 10 * j + 1;
            r->apps[j].guest_node_moves = 100 * i + 10 * j + 2;
            r->apps[j].relayouts = 100 * i + 10 * j + 3;
        }
        r->nr_nodes = 2;
        r->mc_imbalance = 0.25 * i;
        r->mc_bytes[0] = 3e9 + i;
        r->mc_bytes[1] = 1e9;
        /* traffic[cpu * nr_nodes + mem], bytes */
        r->traffic[0] = 2e9;
        r->traffic[1] = 0.5e9 * (i + 1);
        r->traffic[2] = 1e9;
        r->traffic[3] = 0.5e9;
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    build();
    strcpy(tmpdir, "/tmp/xpv-test-report-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The table as one string, which the caller frees. The stream's pointer and size are static:
 * with locals, gcc 12 at -O2 (-Wdangling-pointer) took the returned text for a pointer into
 * this function's frame, whose address open_memstream() was given, once it was inlined. */
static char *table(void)
{
    static char *buf;
    static size_t len;
    buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    xpv_sim_print_table(f, &scen, runs, NRUNS);
    fclose(f);
    return buf;
}

/* The table line of (app, policy). */
static const char *row(const char *t, const char *app, const char *policy)
{
    for (const char *l = t; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t n = strlen(app);
        if (strncmp(l, app, n) == 0 && l[n] == ' ') {
            const char *p = l + n;
            while (*p == ' ')
                p++;
            if (strncmp(p, policy, strlen(policy)) == 0 && p[strlen(policy)] == ' ')
                return l;
        }
    }
    fail_msg("no row for %s / %s in:\n%s", app, policy, t);
    return NULL;
}

static bool row_has(const char *line, const char *what)
{
    const char *end = strchr(line, '\n');
    const char *hit = strstr(line, what);
    return hit && (!end || hit < end);
}

static void test_table(void **state)
{
    (void)state;
    char *t = table();
    printf("%s", t);
    assert_non_null(strstr(t, "mixed"));
    assert_non_null(strstr(t, "test-2n"));
    assert_non_null(strstr(t, "42"));
    assert_true(row_has(row(t, "cg", "first-touch"), " 1.00x"));
    assert_true(row_has(row(t, "cg", "interleave"), " 0.80x"));
    assert_true(row_has(row(t, "cg", "xpv-auto"), " 1.60x"));
    assert_true(row_has(row(t, "a,b", "first-touch"), " 1.00x"));
    assert_true(row_has(row(t, "a,b", "xpv-auto"), " 1.50x"));
    /* Unfinished: the limit marker and no speed-up. */
    assert_true(row_has(row(t, "a,b", "interleave"), "> 10.000"));
    assert_false(row_has(row(t, "a,b", "interleave"), "x "));
    assert_true(row_has(row(t, "a,b", "interleave"), " - "));
    /* Local %, latency, imbalance %, migrated MB. */
    assert_true(row_has(row(t, "cg", "xpv-auto"), "70.0%"));
    assert_true(row_has(row(t, "cg", "xpv-auto"), "120.0"));
    assert_true(row_has(row(t, "cg", "xpv-auto"), "50.0%"));
    assert_true(row_has(row(t, "cg", "xpv-auto"), "3.0"));
    assert_non_null(strstr(t, "imbalance: "));
    /* Aligned: every data row as long as the header row. */
    {
        const char *l2 = strchr(t, '\n') + 1;
        size_t w = (size_t)(strchr(l2, '\n') - l2);
        const char *l = strchr(l2, '\n') + 1;
        for (int i = 0; i < 1 + 2 * NRUNS; i++) {
            const char *e = strchr(l, '\n');
            assert_non_null(e);
            assert_int_equal((size_t)(e - l), w);
            l = e + 1;
        }
    }
    free(t);

    /* No baseline run among the results, then an unfinished baseline: "-" everywhere. */
    snprintf(scen.baseline, sizeof(scen.baseline), "nope");
    t = table();
    assert_null(strstr(t, "0x "));
    free(t);
    build();
    runs[0].apps[0].finished = false;
    t = table();
    assert_false(row_has(row(t, "cg", "xpv-auto"), "x "));
    assert_true(row_has(row(t, "a,b", "xpv-auto"), " 1.50x"));
    free(t);
    build();
}

/* An app's guest-layer counters in a JSON object: integers, each its own value. */
static void check_guest_counters(json_t *o, const struct xpv_sim_app_result *e)
{
    static const char *const key[] = {"guest_moves", "guest_node_moves", "relayouts"};
    const unsigned long want[] = {e->guest_moves, e->guest_node_moves, e->relayouts};
    for (unsigned k = 0; k < 3; k++) {
        json_t *v = json_object_get(o, key[k]);
        if (!json_is_integer(v))
            fail_msg("%s: not an integer", key[k]);
        assert_int_equal(json_integer_value(v), want[k]);
    }
}

static void check_json(json_t *root)
{
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "scenario")), "mixed");
    assert_string_equal(json_string_value(json_object_get(root, "machine")), "test-2n");
    assert_int_equal(json_integer_value(json_object_get(root, "seed")), 42);
    assert_string_equal(json_string_value(json_object_get(root, "baseline")), "first-touch");
    json_t *jr = json_object_get(root, "runs");
    assert_int_equal(json_array_size(jr), NRUNS);
    for (unsigned i = 0; i < NRUNS; i++) {
        json_t *run = json_array_get(jr, i);
        assert_string_equal(json_string_value(json_object_get(run, "policy")), runs[i].policy);
        assert_int_equal(json_integer_value(json_object_get(run, "epochs")), runs[i].epochs);
        assert_float_equal(json_real_value(json_object_get(run, "sim_seconds")),
                           runs[i].sim_seconds, 1e-12);
        assert_float_equal(json_real_value(json_object_get(run, "mc_imbalance")),
                           runs[i].mc_imbalance, 1e-12);
        json_t *mc = json_object_get(run, "mc_bytes");
        assert_int_equal(json_array_size(mc), 2);
        assert_float_equal(json_real_value(json_array_get(mc, 0)), 3e9 + i, 1e-3);
        json_t *tr = json_object_get(run, "traffic");
        assert_int_equal(json_array_size(tr), 2);
        for (unsigned c = 0; c < 2; c++) {
            json_t *trow = json_array_get(tr, c);
            assert_int_equal(json_array_size(trow), 2);
            for (unsigned m = 0; m < 2; m++)
                assert_float_equal(json_real_value(json_array_get(trow, m)),
                                   runs[i].traffic[c * 2 + m], 1e-3);
        }
        json_t *apps = json_object_get(run, "apps");
        assert_int_equal(json_array_size(apps), 2);
        for (unsigned j = 0; j < 2; j++) {
            json_t *a = json_array_get(apps, j);
            const struct xpv_sim_app_result *e = &runs[i].apps[j];
            assert_string_equal(json_string_value(json_object_get(a, "name")), e->name);
            assert_int_equal(json_is_true(json_object_get(a, "finished")), e->finished);
            assert_float_equal(json_real_value(json_object_get(a, "completion_s")), e->completion_s,
                               1e-12);
            assert_float_equal(json_real_value(json_object_get(a, "local_ratio")), e->local_ratio,
                               1e-12);
            assert_float_equal(json_real_value(json_object_get(a, "avg_latency_ns")),
                               e->avg_latency_ns, 1e-12);
            assert_float_equal(json_real_value(json_object_get(a, "migrated_mb")), e->migrated_mb,
                               1e-12);
            assert_float_equal(json_real_value(json_object_get(a, "accesses")), e->accesses, 1e-3);
            check_guest_counters(a, e);
        }
    }
    /* the flat rows: one per app and policy, in run order, with the same counters */
    json_t *rows = json_object_get(root, "results");
    assert_int_equal(json_array_size(rows), 2 * NRUNS);
    for (unsigned i = 0; i < NRUNS; i++)
        for (unsigned j = 0; j < 2; j++) {
            json_t *row = json_array_get(rows, 2 * i + j);
            assert_string_equal(json_string_value(json_object_get(row, "policy")), runs[i].policy);
            assert_string_equal(json_string_value(json_object_get(row, "app")),
                                runs[i].apps[j].name);
            check_guest_counters(row, &runs[i].apps[j]);
        }
    /* Speed-ups computed by hand; null for the unfinished app. */
    static const double want[NRUNS][2] = {{1.0, 1.0}, {0.8, -1}, {1.6, 1.5}};
    for (unsigned i = 0; i < NRUNS; i++) {
        json_t *apps = json_object_get(json_array_get(jr, i), "apps");
        for (unsigned j = 0; j < 2; j++) {
            json_t *sp = json_object_get(json_array_get(apps, j), "speedup");
            assert_non_null(sp);
            if (want[i][j] < 0)
                assert_true(json_is_null(sp));
            else
                assert_float_equal(json_real_value(sp), want[i][j], 1e-12);
        }
    }
}

static void test_json(void **state)
{
    (void)state;
    char path[512], tmp[520];
    struct xpv_error err = {0};
    json_error_t je;

    snprintf(path, sizeof(path), "%s/out.json", tmpdir);
    assert_int_equal(xpv_sim_write_json(path, &scen, runs, NRUNS, &err), 0);
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        fail_msg("%s: %s", path, je.text);
    check_json(root);
    json_decref(root);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);

    /* "-" is standard output. */
    snprintf(path, sizeof(path), "%s/stdout.json", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), saved;
    assert_true(fd >= 0);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = xpv_sim_write_json("-", &scen, runs, NRUNS, &err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    assert_int_equal(rc, 0);
    root = json_load_file(path, 0, &je);
    check_json(root);
    json_decref(root);
}

static void test_json_errors(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    const char *p = "/proc/xpv-nope/x.json";
    int rc = xpv_sim_write_json(p, &scen, runs, NRUNS, &err);
    assert_true(rc < 0);
    assert_int_equal(err.code, rc);
    assert_non_null(strstr(err.msg, p));
}

/* The lines of a file (CRLF or LF), or -1 when it cannot be read. */
static int count_lines(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;
    int lines = 0;
    if (!f)
        return -1;
    n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    fclose(f);
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    return lines;
}

static bool is_png(const char *dir, const char *name)
{
    char path[1024];
    unsigned char magic[8];
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return false;
    n = fread(magic, 1, sizeof(magic), f);
    fclose(f);
    return n == 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static bool exists(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void check_csv(const char *dir)
{
    char path[1024], buf[8192];

    snprintf(path, sizeof(path), "%s/results.csv", dir);
    assert_int_equal(count_lines(path, buf, sizeof(buf)), 1 + 2 * NRUNS);
    assert_true(strncmp(buf,
                        "scenario,policy,app,finished,completion_s,speedup,local_ratio,"
                        "avg_latency_ns,mc_imbalance,migrated_mb\r\n",
                        strlen("scenario,policy,app,finished,completion_s,speedup,local_ratio,"
                               "avg_latency_ns,mc_imbalance,migrated_mb\r\n")) == 0);
    assert_non_null(strstr(buf, "mixed,xpv-auto,\"a,b\",1,4,1.5,0.5,150,0.5,0\r\n"));
    assert_non_null(strstr(buf, "mixed,interleave,\"a,b\",0,10,,0.5,150,0.25,0\r\n"));
    assert_non_null(strstr(buf, "mixed,interleave,cg,1,5,0.8,"));

    snprintf(path, sizeof(path), "%s/traffic-interleave.csv", dir);
    assert_int_equal(count_lines(path, buf, sizeof(buf)), 3);
    assert_string_equal(buf, "cpu\\mem,0,1\r\n0,2,1\r\n1,1,0.5\r\n");
    for (unsigned i = 0; i < NRUNS; i++) {
        char name[128];
        snprintf(name, sizeof(name), "traffic-%.32s.csv", runs[i].policy);
        assert_true(exists(dir, name));
        snprintf(name, sizeof(name), "traffic-%.32s.gp", runs[i].policy);
        assert_true(exists(dir, name));
    }
    assert_true(exists(dir, "completion.gp"));
}

static void test_dir(void **state)
{
    (void)state;
    char dir[512];
    struct xpv_error err = {0};

    snprintf(dir, sizeof(dir), "%s/a/b/c", tmpdir); /* mkdir -p */
    int rc = xpv_sim_write_dir(dir, &scen, runs, NRUNS, &err);
    if (rc)
        fail_msg("write_dir: %s", xpv_error_str(&err, rc));
    check_csv(dir);
    /* Writing again over an existing directory works. */
    assert_int_equal(xpv_sim_write_dir(dir, &scen, runs, NRUNS, &err), 0);
    assert_false(exists(dir, "results.csv.tmp"));
}

/* With gnuplot: the plots rendered (a case of its own, sim.report.dir_png: it skips without). */
static void test_dir_png(void **state)
{
    (void)state;
    if (access("/usr/bin/gnuplot", X_OK) != 0)
        xpv_skip("/usr/bin/gnuplot is not installed: PNG rendering not checked "
                 "(apt-get install gnuplot-nox, or scripts/setup.sh test)");
    char dir[512];
    struct xpv_error err = {0};
    snprintf(dir, sizeof(dir), "%s/png", tmpdir);
    int rc = xpv_sim_write_dir(dir, &scen, runs, NRUNS, &err);
    if (rc)
        fail_msg("write_dir: %s", xpv_error_str(&err, rc));
    assert_true(is_png(dir, "completion.png"));
    for (unsigned i = 0; i < NRUNS; i++) {
        char name[128];
        snprintf(name, sizeof(name), "traffic-%.32s.png", runs[i].policy);
        assert_true(is_png(dir, name));
    }
    assert_false(exists(dir, "README.txt"));
}

/* Odd policy names become safe file names; repeated ones get distinct files. */
static void test_dir_names(void **state)
{
    (void)state;
    char dir[512];
    struct xpv_error err = {0};
    const char *path = getenv("PATH");
    char *saved = strdup(path ? path : "/usr/bin:/bin");

    snprintf(runs[1].policy, sizeof(runs[1].policy), "../x y/\"z");
    snprintf(runs[2].policy, sizeof(runs[2].policy), "first-touch");
    snprintf(dir, sizeof(dir), "%s/names", tmpdir);
    setenv("PATH", "/nonexistent", 1); /* no rendering needed here */
    int rc = xpv_sim_write_dir(dir, &scen, runs, NRUNS, &err);
    setenv("PATH", saved, 1);
    free(saved);
    build();
    assert_int_equal(rc, 0);
    assert_true(exists(dir, "traffic-.._x_y__z.csv"));
    assert_true(exists(dir, "traffic-first-touch.csv"));
    assert_true(exists(dir, "traffic-first-touch-2.csv"));
    assert_true(exists(dir, "traffic-first-touch-2.gp"));
}

/* Without gnuplot: the scripts and a README saying how to render them, and success. */
static void test_dir_no_gnuplot(void **state)
{
    (void)state;
    char dir[512], path[1024], buf[4096];
    struct xpv_error err = {0};
    const char *p = getenv("PATH");
    char *saved = strdup(p ? p : "/usr/bin:/bin");

    snprintf(dir, sizeof(dir), "%s/nognuplot", tmpdir);
    setenv("PATH", "/nonexistent", 1);
    int rc = xpv_sim_write_dir(dir, &scen, runs, NRUNS, &err);
    setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(rc, 0);
    check_csv(dir);
    assert_false(exists(dir, "completion.png"));
    snprintf(path, sizeof(path), "%s/README.txt", dir);
    assert_true(count_lines(path, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "gnuplot completion.gp"));
    assert_non_null(strstr(buf, "gnuplot traffic-xpv-auto.gp"));
}

/* A gnuplot that fails: -EIO naming the script. */
static void test_dir_gnuplot_fails(void **state)
{
    (void)state;
    char dir[512], bin[512], fake[600];
    struct xpv_error err = {0};
    const char *p = getenv("PATH");
    char *saved = strdup(p ? p : "/usr/bin:/bin");
    FILE *f;

    snprintf(bin, sizeof(bin), "%s/bin", tmpdir);
    assert_int_equal(mkdir(bin, 0755), 0);
    snprintf(fake, sizeof(fake), "%s/gnuplot", bin);
    f = fopen(fake, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho \"line 3: unknown terminal\" >&2\nexit 1\n", f);
    fclose(f);
    assert_int_equal(chmod(fake, 0755), 0);

    snprintf(dir, sizeof(dir), "%s/failing", tmpdir);
    setenv("PATH", bin, 1);
    int rc = xpv_sim_write_dir(dir, &scen, runs, NRUNS, &err);
    setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(err.msg, "completion.gp"));
    assert_non_null(strstr(err.msg, "unknown terminal"));
}

static void test_dir_errors(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    char file[512];
    const char *p = "/proc/xpv-nope/out";
    int rc = xpv_sim_write_dir(p, &scen, runs, NRUNS, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, p));

    /* A regular file where the directory should be. */
    snprintf(file, sizeof(file), "%s/out.json", tmpdir);
    assert_int_equal(xpv_sim_write_json(file, &scen, runs, NRUNS, &err), 0);
    memset(&err, 0, sizeof(err));
    rc = xpv_sim_write_dir(file, &scen, runs, NRUNS, &err);
    assert_int_equal(rc, -ENOTDIR);
    assert_non_null(strstr(err.msg, file));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table),
            cmocka_unit_test(test_json),
            cmocka_unit_test(test_json_errors),
            cmocka_unit_test(test_dir),
            cmocka_unit_test(test_dir_png),
            cmocka_unit_test(test_dir_names),
            cmocka_unit_test(test_dir_no_gnuplot),
            cmocka_unit_test(test_dir_gnuplot_fails),
            cmocka_unit_test(test_dir_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
