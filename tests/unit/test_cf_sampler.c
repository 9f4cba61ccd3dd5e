/*
 * test_cf_sampler.c — the software sampler (libxpv-cfsampler.so) preloaded into a real
 * program on this host (cf-target: a reader thread pinned to one CPU reads buffer R, a writer
 * pinned to another stores to buffer W). Checks, from the ring the library publishes:
 *  - samples arrive, and every one lies in R or W (nothing else of the program qualifies);
 *  - the reader's samples are reads in R taken on the reader's CPU, the writer's are writes
 *    in W on the writer's CPU (sched_getcpu and the page-fault error code are right);
 *  - the ring's statistics add up (no drops at this rate, pages protected >= samples);
 *  - the program prints exactly what it prints without the library.
 *
 *   test-cf_sampler LIB TARGET      (CTest passes the build's paths)
 *   test-cf_sampler LIB TARGET rounds
 *     threads made in rounds under a fast sampler (cf-target rounds, 6 processes, 256 pages
 *     every 1 ms): each must exit normally with its data intact, and samples must arrive.
 *     Before the fix in keep_off (a new thread's stack lying partly over an unmapped one's was
 *     taken as known, and windows protected the rest of it), 36 of 40 such processes died of a
 *     silent SIGSEGV here; the lab's xpv-cf-work died so in 2 of 6 8-node soak runs (issue 21).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xpv/cf_ring.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        printf("FAIL: " __VA_ARGS__);                                                              \
        printf("\n");                                                                              \
        return 1;                                                                                  \
    } while (0)

static int fast; /* the sampler's windows: 256 pages every 1 ms (rounds), else 32 every 5 ms */

/* Run TARGET SECONDS with `preload` (or none); its stdout into out, its stderr into a pipe
 * whose read end is returned in *err_fd. */
static pid_t start(const char *lib, const char *target, const char *secs, int *out_fd, int *err_fd)
{
    int o[2], e[2];
    if (pipe(o) < 0 || pipe(e) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        if (lib) {
            setenv("LD_PRELOAD", lib, 1);
            setenv("XPV_CFSAMPLER_PAGES", fast ? "256" : "32", 1);
            setenv("XPV_CFSAMPLER_PERIOD_US", fast ? "1000" : "5000", 1);
        } else {
            unsetenv("LD_PRELOAD");
        }
        execl(target, target, secs, (char *)NULL);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    *out_fd = o[0];
    *err_fd = e[0];
    return pid;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = 0;
    return n;
}

/* not a wait: a pause for the drain loop below (annotated there) */
static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL); /* not a wait: nap_ms() itself */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The target's first line of stderr into buf (it comes after the library's constructor, which
 * made the ring): up to its newline, or what came before EOF. */
static void first_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    while (n + 1 < cap && !memchr(buf, '\n', n)) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = 0;
    }
}

/* The ring file fd, mapped and checked into rd (fd closed); the mapping, or NULL with err. */
static void *map_ring(int fd, struct xpv_cf_ring_reader *rd, size_t *len, struct xpv_error *err)
{
    struct stat sb;
    fstat(fd, &sb);
    *len = (size_t)sb.st_size;
    void *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return xpv_error_set(err, -errno, "mmap: %s", strerror(errno)), NULL;
    if (xpv_cf_ring_open(rd, m, *len, err) < 0) {
        munmap(m, *len);
        return NULL;
    }
    return m;
}

/* cf-target rounds, RUNS times with the sampler: every run exits 0 with its data intact and
 * the output of a run without it; the samples of all runs are counted from their rings. */
static int rounds(const char *lib, const char *target)
{
    enum { RUNS = 6 };
    int ofd, efd, st;
    char ref[256], got[256], info[4096];
    pid_t pid = start(NULL, target, "rounds", &ofd, &efd);
    if (pid < 0)
        FAIL("cannot start %s", target);
    read_all(ofd, ref, sizeof(ref));
    read_all(efd, info, sizeof(info));
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(ref, "data intact"))
        FAIL("cf-target rounds without the sampler: status 0x%x, '%s'", st, ref);
    fast = 1;
    uint64_t samples = 0;
    static struct xpv_cf_ring_sample s[1 << 16];
    for (int run = 0; run < RUNS; run++) {
        pid = start(lib, target, "rounds", &ofd, &efd);
        if (pid < 0)
            FAIL("cannot start %s", target);
        first_line(efd, info, sizeof(info));
        char name[128];
        struct xpv_error ferr = {0};
        int fd = xpv_cf_ring_file_open(XPV_CF_RING_DIR, pid, getuid(), name, sizeof(name), &ferr);
        if (fd < 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            FAIL("run %d: no ring for the target (%s); its stderr: '%s'", run, ferr.msg, info);
        }
        struct xpv_cf_ring_reader rd;
        struct xpv_error err = {0};
        size_t len;
        void *m = map_ring(fd, &rd, &len, &err);
        if (!m)
            FAIL("run %d: ring: %s", run, err.msg);
        int done = 0;
        double t0 = now_s();
        while (!done) {
            if (now_s() - t0 > 120) {
                kill(pid, SIGKILL);
                FAIL("run %d: the target still runs after 120 s", run);
            }
            done = waitpid(pid, &st, WNOHANG) == pid;
            samples += xpv_cf_ring_pop(&rd, s, sizeof(s) / sizeof(s[0]));
            if (!done)
                nap_ms(20); /* not a wait: the drain interval while the target runs */
        }
        samples += xpv_cf_ring_pop(&rd, s, sizeof(s) / sizeof(s[0]));
        munmap(m, len);
        read_all(ofd, got, sizeof(got));
        read_all(efd, info, sizeof(info));
        close(ofd);
        close(efd);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAIL("run %d of cf-target rounds with the sampler: %s %d, stdout '%s', stderr '%s'",
                 run, WIFSIGNALED(st) ? "killed by signal" : "exit status",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), got, info);
        if (strcmp(ref, got) != 0)
            FAIL("run %d: output differs with the sampler: '%s' vs '%s'", run, got, ref);
    }
    printf("%d runs of cf-target rounds with the sampler: all exited normally, data intact; "
           "%llu samples\n",
           RUNS, (unsigned long long)samples);
    if (samples < 100)
        FAIL("only %llu samples in %d runs: the sampler did not sample the slices",
             (unsigned long long)samples, RUNS);
    printf("PASS\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[3], "rounds") == 0)
        return rounds(argv[1], argv[2]);
    if (argc != 3) {
        fprintf(stderr, "usage: test-cf_sampler LIB TARGET [rounds]\n");
        return 2;
    }
    const char *lib = argv[1], *target = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* the reference run, without the library */
    int ofd, efd;
    char ref[4096], got[4096], info[512];
    pid_t pid = start(NULL, target, "0.3", &ofd, &efd);
    if (pid < 0)
        FAIL("cannot start %s", target);
    read_all(ofd, ref, sizeof(ref));
    read_all(efd, info, sizeof(info));
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("%s without the sampler failed: %s", target, ref);

    pid = start(lib, target, "1.5", &ofd, &efd);
    /* the info line comes once the threads are pinned, after the library's constructor */
    first_line(efd, info, sizeof(info));
    unsigned long rlo, rhi, wlo, whi;
    int rtid, rcpu, wtid, wcpu;
    if (sscanf(info, "cf-target R %lx %lx W %lx %lx reader %d %d writer %d %d", &rlo, &rhi, &wlo,
               &whi, &rtid, &rcpu, &wtid, &wcpu) != 8)
        FAIL("unexpected info line from the target: '%s'", info);
    char name[128];
    struct xpv_error ferr = {0};
    int fd = xpv_cf_ring_file_open(XPV_CF_RING_DIR, pid, getuid(), name, sizeof(name), &ferr);
    if (fd < 0)
        FAIL("no ring for the preloaded target: %s", ferr.msg);
    struct stat rs;
    if (fstat(fd, &rs) < 0 || (rs.st_mode & 07777) != 0600 || rs.st_uid != getuid())
        FAIL("ring %s: mode %04o owner %u, expected 0600 and ours", name,
             (unsigned)(rs.st_mode & 07777), (unsigned)rs.st_uid);
    struct xpv_cf_ring_reader rd;
    struct xpv_error err = {0};
    size_t len;
    if (!map_ring(fd, &rd, &len, &err))
        FAIL("ring: %s", err.msg);
    if (rd.pid != pid)
        FAIL("ring names pid %d, target is %d", rd.pid, (int)pid);

    static struct xpv_cf_ring_sample s[1 << 16];
    unsigned total = 0, reads_r = 0, writes_w = 0, other = 0;
    int done = 0;
    double t0 = now_s();
    while (!done) {
        if (now_s() - t0 > 60) {
            kill(pid, SIGKILL);
            FAIL("the target (a 1.5 s run) still runs after 60 s; %u samples so far (reader %u, "
                 "writer %u)",
                 total, reads_r, writes_w);
        }
        done = waitpid(pid, &st, WNOHANG) == pid;
        size_t k = xpv_cf_ring_pop(&rd, s, sizeof(s) / sizeof(s[0]));
        for (size_t i = 0; i < k; i++) {
            total++;
            int in_r = s[i].addr >= rlo && s[i].addr < rhi;
            int in_w = s[i].addr >= wlo && s[i].addr < whi;
            if (!in_r && !in_w)
                FAIL("sample at 0x%llx is outside the program's buffers",
                     (unsigned long long)s[i].addr);
            if ((int)s[i].tid == rtid) {
                if (!in_r || s[i].write || (int)s[i].cpu != rcpu)
                    FAIL("reader sample: addr 0x%llx in R %d, write %u, cpu %u (pinned %d)",
                         (unsigned long long)s[i].addr, in_r, s[i].write, s[i].cpu, rcpu);
                reads_r++;
            } else if ((int)s[i].tid == wtid) {
                if (!in_w || !s[i].write || (int)s[i].cpu != wcpu)
                    FAIL("writer sample: addr 0x%llx in W %d, write %u, cpu %u (pinned %d)",
                         (unsigned long long)s[i].addr, in_w, s[i].write, s[i].cpu, wcpu);
                writes_w++;
            } else {
                other++; /* the main thread filling R or checking W */
            }
        }
        if (!done)
            nap_ms(50); /* not a wait: the drain interval while the target runs (deadline above) */
    }
    read_all(ofd, got, sizeof(got));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("the target with the sampler failed (status 0x%x): %s", st, got);
    struct xpv_cf_ring_hdr h;
    xpv_cf_ring_stats(&rd, &h);
    printf("samples %u (reader %u reads in R, writer %u writes in W, main thread %u); "
           "windows %llu, pages protected %llu, untouched %llu, dropped %llu, unmatched %llu, "
           "eligible pages %llu, state %u; sampler %.1f ms, handler %.1f ms\n",
           total, reads_r, writes_w, other, (unsigned long long)h.windows,
           (unsigned long long)h.protected_pages, (unsigned long long)h.untouched,
           (unsigned long long)h.dropped, (unsigned long long)h.unmatched,
           (unsigned long long)h.eligible_pages, h.state, (double)h.sampler_ns / 1e6,
           (double)h.handler_ns / 1e6);
    if (reads_r < 10 || writes_w < 10)
        FAIL("too few samples from the threads (reader %u, writer %u)", reads_r, writes_w);
    if (h.dropped || h.samples != total || h.protected_pages < total)
        FAIL("ring statistics do not add up");
    if (h.state != XPV_CF_RING_EXITED)
        FAIL("ring state %u after a normal exit", h.state);
    /* the two buffers (2048 pages); the heap is below the 1 MiB threshold */
    if (h.eligible_pages != 2 * (4u << 20) / 4096)
        FAIL("eligible pages %llu, expected the two buffers' 2048",
             (unsigned long long)h.eligible_pages);
    if (strcmp(ref, got) != 0)
        FAIL("output differs with the sampler:\n--- without\n%s--- with\n%s", ref, got);
    if (access("/dev/shm/xpv-cfsampler.0", F_OK) == 0 || access(name, F_OK) == 0)
        FAIL("the ring %s is still in /dev/shm after a normal exit", name);
    /* the program's own fault is passed on: it dies of SIGSEGV as it would without the
     * sampler, and the sampler says so on stderr */
    pid = start(lib, target, "crash", &ofd, &efd);
    read_all(ofd, got, sizeof(got));
    read_all(efd, info, sizeof(info));
    waitpid(pid, &st, 0);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
        FAIL("cf-target crash under the sampler: status 0x%x, not SIGSEGV", st);
    if (!strstr(info, "xpv-cfsampler: SIGSEGV at 0x0000000000000000 (not an access error): "
                      "passed on"))
        FAIL("no line from the sampler about the fault it passed on: '%s'", info);
    /* its ring's name went with the crash (no destructor ran): nothing left in /dev/shm */
    char pattern[96];
    glob_t g;
    snprintf(pattern, sizeof(pattern), "/dev/shm/xpv-cfsampler.%d.*", (int)pid);
    if (glob(pattern, 0, NULL, &g) == 0) {
        printf("FAIL: the crashed target's ring %s is still in /dev/shm\n", g.gl_pathv[0]);
        globfree(&g);
        return 1;
    }
    printf("the program's own fault: SIGSEGV, and the sampler's line: %s", info);
    printf("PASS\n");
    return 0;
}
