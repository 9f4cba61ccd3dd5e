/*
 * e2e_hotplug.c — the guest half of the lab's vCPU hotplug soak (tests/lab/hotplug_soak.sh is
 * the host half): the host adds and removes one vCPU over and over, as the e2e test does once,
 * to measure how often the guest kernel hangs in it under TCG (docs/lab.md, "vCPU hotplug
 * under TCG").
 *
 * The guest onlines every CPU that appears (as the agent does) and reports on the console:
 *
 *   XPV-HP READY                 the churn is running, the host may start
 *   XPV-HP online CPU N #K       the K-th hot-added CPU is online
 *   XPV-HP gone CPU N #K         it was ejected (its sysfs directory went away)
 *
 * Meanwhile one thread per boot CPU maps, touches and unmaps memory without pause, so the
 * kernel sends TLB-shootdown IPIs to every CPU the process runs on and khugepaged has work:
 * the activity both hangs were seen under. The test ends `hp.hold` seconds (default 30) after
 * it saw `hp.adds` CPUs come online and `hp.dels` go (kernel command line, default 4 each),
 * or when no change came for 300 s (the host half gave up).
 * Only run when named (an e2e.* test).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define MAX_CPUS 64

static atomic_bool stop;

static void *churn(void *arg)
{
    (void)arg;
    const size_t len = 4u << 20;
    while (!atomic_load(&stop)) {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            continue;
        for (size_t i = 0; i < len; i += 4096)
            p[i] = (char)i;
        munmap(p, len);
    }
    return NULL;
}

static int cmdline_int(const char *key, int def)
{
    char buf[4096] = {0};
    FILE *f = fopen("/proc/cmdline", "r");
    if (!f)
        return def;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *s = strstr(buf, key);
    return s && s[strlen(key)] == '=' ? atoi(s + strlen(key) + 1) : def;
}

/* 1 online, 0 offline, -1 absent. */
static int cpu_state(unsigned cpu)
{
    char path[96], c = 0;
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u", cpu);
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/online", cpu);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1; /* CPU 0 has no online file */
    if (fread(&c, 1, 1, f) != 1)
        c = '1';
    fclose(f);
    return c == '1';
}

static enum lab_result e2e_hotplug(const struct lab_env *env)
{
    int adds = cmdline_int("hp.adds", 4), dels = cmdline_int("hp.dels", 4);
    int hold = cmdline_int("hp.hold", 30);
    unsigned boot = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    pthread_t th[MAX_CPUS];
    unsigned nth = boot < MAX_CPUS ? boot : MAX_CPUS;
    for (unsigned i = 0; i < nth; i++)
        LAB_CHECK(pthread_create(&th[i], NULL, churn, NULL) == 0, "pthread_create");
    printf("XPV-HP READY %u CPUs, %u nodes, %d hot-adds, %d unplugs\n", boot, env->nodes, adds,
           dels);
    fflush(stdout);

    int state[MAX_CPUS];
    for (unsigned c = 0; c < MAX_CPUS; c++)
        state[c] = cpu_state(c);
    int added = 0, gone = 0;
    time_t last = time(NULL);
    while ((added < adds || gone < dels) && time(NULL) - last < 300) {
        for (unsigned c = 1; c < MAX_CPUS; c++) {
            int s = cpu_state(c);
            if (s == 0) { /* appeared offline: online it, as the agent does */
                char path[96];
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/online", c);
                FILE *f = fopen(path, "w");
                if (f) {
                    fputs("1", f);
                    fclose(f);
                }
                s = cpu_state(c);
            }
            if (s == 1 && state[c] != 1) {
                printf("XPV-HP online CPU %u #%d\n", c, ++added);
                last = time(NULL);
            } else if (s == -1 && state[c] != -1) {
                printf("XPV-HP gone CPU %u #%d\n", c, ++gone);
                last = time(NULL);
            }
            fflush(stdout);
            state[c] = s;
        }
        usleep(50000); /* not a wait: the poll interval of this loop (its deadline: 300 s) */
    }
    bool complete = added >= adds && gone >= dels;
    if (complete) {
        struct timespec ts = {.tv_sec = hold};
        nanosleep(&ts, NULL); /* not a wait: the churn runs on for `hold` s after the events */
        printf("XPV-HP held %d s\n", hold);
    }
    atomic_store(&stop, true);
    for (unsigned i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    printf("  %d hot-adds onlined, %d ejections seen\n", added, gone);
    LAB_CHECK(complete, "%d of %d hot-adds and %d of %d unplugs seen (no change for 300 s)", added,
              adds, gone, dels);
    return LAB_PASS;
}

const struct lab_test lab_hotplug_tests[] = {
        {"e2e.hotplug", e2e_hotplug},
        {NULL, NULL},
};
