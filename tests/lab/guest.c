/*
 * guest.c — xpv-lab-guest: runs the lab tests inside the QEMU guest (see lab.h for the
 * protocol). Each test runs in a forked child with a time limit, so one crash or hang cannot
 * take the others with it.
 *
 *   xpv-lab-guest --nodes N [TEST|PREFIX.*]...     (no test named: all of them)
 *   xpv-lab-guest --list
 */
#define _GNU_SOURCE
#include "lab.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A hang guard, not a speed check: well above the longest run seen with the host loaded (15-19
 * runnable tasks on 2 cores: carrefour.private_follows 55 s, malloc.preload_guest over 60 s)
 * and above what the Carrefour tests may take by construction (up to 60 rounds, the workload
 * stopped at 240 s at most; docs/test-statistics.md) */
#define TEST_TIMEOUT_S     600
#define E2E_TEST_TIMEOUT_S 900 /* e2e.*: a host script drives them, TCG hotplug is slow */

static const struct lab_test *const groups[] = {
        lab_topo_tests,         lab_ops_tests,  lab_carrefour_tests,   lab_malloc_tests,
        lab_hostd_tests,        lab_e2e_tests,  lab_hotplug_tests,     lab_e2e_libvirt_tests,
        lab_e2e_callback_tests, lab_nest_tests, lab_e2e_runtimes_tests};

/* e2e.* tests need their host half (tests/lab/e2e_vm.sh): run only when named. */
static int is_e2e(const char *name)
{
    return strncmp(name, "e2e.", 4) == 0;
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc == 0)
        return !is_e2e(name);
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (strcmp(argv[i], name) == 0 ||
            (n > 1 && argv[i][n - 1] == '*' && strncmp(argv[i], name, n - 1) == 0))
            return 1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run t in a child under its time limit; print how long it took against the limit (the
 * deadline's margin, read by scripts/lab_stats.py: docs/test-statistics.md). */
static enum lab_result run_one(const struct lab_test *t, const struct lab_env *env)
{
    unsigned limit = is_e2e(t->name) ? E2E_TEST_TIMEOUT_S : TEST_TIMEOUT_S;
    double t0 = now_s();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        printf("  fork: %s\n", strerror(errno));
        return LAB_FAIL;
    }
    if (pid == 0) {
        alarm(limit);
        enum lab_result r = t->fn(env);
        fflush(stdout);
        _exit(r);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    printf("  the test finished after %.1f s (deadline %u s)\n", now_s() - t0, limit);
    if (WIFSIGNALED(st)) {
        printf("  killed by signal %d (%s)%s\n", WTERMSIG(st), strsignal(WTERMSIG(st)),
               WTERMSIG(st) == SIGALRM ? ": over the time limit" : "");
        return LAB_FAIL;
    }
    int code = WEXITSTATUS(st);
    return code == LAB_PASS ? LAB_PASS : code == LAB_SKIP ? LAB_SKIP : LAB_FAIL;
}

int main(int argc, char **argv)
{
    struct lab_env env = {0};
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
            for (const struct lab_test *t = groups[g]; t->name; t++)
                printf("%s\n", t->name);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "--nodes") != 0 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: xpv-lab-guest --nodes N [TEST|PREFIX*]...\n"
                        "       xpv-lab-guest --list\n");
        return 2;
    }
    env.nodes = (unsigned)atoi(argv[2]);
    argc -= 3;
    argv += 3;

    struct xpv_error err = {0};
    int rc = xpv_topo_discover(NULL, &env.topo, &err);
    if (rc == 0)
        env.ops = xpv_ops_linux_new(env.topo, &err);
    int failed = 0;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (const struct lab_test *t = groups[g]; t->name; t++) {
            if (!selected(t->name, argc, argv))
                continue;
            printf("XPV-LAB BEGIN %s\n", t->name);
            enum lab_result r;
            if (!env.ops) {
                printf("  discovery or ops setup failed: %s\n",
                       xpv_error_str(&err, rc ? rc : -ENOMEM));
                r = LAB_FAIL;
            } else {
                r = run_one(t, &env);
            }
            failed += r == LAB_FAIL;
            printf("XPV-LAB END %s %s\n", t->name,
                   r == LAB_PASS   ? "PASS"
                   : r == LAB_SKIP ? "SKIP"
                                   : "FAIL");
        }
    xpv_ops_free(env.ops);
    xpv_topo_free(env.topo);
    return failed ? 1 : 0;
}
