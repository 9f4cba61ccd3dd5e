/*
 * cf_run.c — Carrefour's runner on a live process (xpv/cf_run.h): the target's life around
 * the rounds. A command is started with the software sampler preloaded (its ring appears in
 * its constructor: attach is retried until then) or, for the perf sampler, held on a pipe
 * until its events are open (they start at its execve); a running process is attached to.
 * Then a round every period, the wait between rounds cut short when the target ends; a
 * round that fails while the target is exiting is its end, not an error. A started command
 * is always waited for, and a ring left by a killed target is removed.
 *
 * Nothing is printed: a started command that cannot be executed says so through a
 * close-on-exec pipe (errno), which the runner logs; rounds go to the caller's callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include "xpv/cf_perf_event.h"
#include "xpv/cf_run.h"
#include "xpv/file.h"
#include "xpv/ops.h"
#include "xpv/topo.h"

__attribute__((format(printf, 3, 4))) static void
logf_(const struct xpv_cf_run_opts *o, enum xpv_cf_log_level lvl, const char *fmt, ...)
{
    if (!o->log.fn)
        return;
    char msg[XPV_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o->log.fn(o->log.arg, lvl, msg);
}

/* A failure of the runner: logged now (the run goes on to wait for its command), kept in err. */
__attribute__((format(printf, 4, 5))) static int
fail(const struct xpv_cf_run_opts *o, struct xpv_error *err, int rc, const char *fmt, ...)
{
    struct xpv_error e = {.code = rc};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    logf_(o, XPV_CF_LOG_ERR, "%s", e.msg);
    if (err)
        *err = e;
    return rc;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The sampler library: given, $XPV_CFSAMPLER_LIB, ../lib next to this executable (the build
 * tree's build/lib), else installed (the installed plugin, when the caller knows it). */
static int sampler_path(const char *given, const char *installed, char *buf, size_t len)
{
    const char *p = given ? given : getenv("XPV_CFSAMPLER_LIB");
    if (p) {
        snprintf(buf, len, "%s", p);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
            return -errno;
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        if ((size_t)snprintf(buf, len, "%.*s/../lib/libxpv-cfsampler.so", (int)(len / 2), exe) >=
            len)
            return -ENAMETOOLONG;
        if (access(buf, R_OK) == 0 || !installed)
            return access(buf, R_OK) == 0 ? 0 : -errno;
        snprintf(buf, len, "%s", installed);
    }
    return access(buf, R_OK) == 0 ? 0 : -errno;
}

/* In the child: exec the command; on failure, its errno to the pipe, and exit 127. */
static void exec_or_report(char *const *argv, int efd)
{
    execvp(argv[0], argv);
    int e = errno;
    ssize_t w = write(efd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* In the parent: the child's exec went through (the pipe closed empty) or failed (errno). */
static void exec_result(const struct xpv_cf_run_opts *o, int efd)
{
    int e;
    ssize_t n;
    while ((n = read(efd, &e, sizeof(e))) < 0 && errno == EINTR)
        ;
    close(efd);
    if (n == (ssize_t)sizeof(e))
        logf_(o, XPV_CF_LOG_ERR, "cannot run %s: %s", o->cmd[0], strerror(e));
}

/* The command with the software sampler preloaded. */
static pid_t launch(const struct xpv_cf_run_opts *o, const char *lib)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL); /* the caller's buffered output, not twice */
    pid_t pid = fork();
    if (pid != 0) {
        int e = errno;
        close(ep[1]);
        if (pid > 0)
            exec_result(o, ep[0]);
        else
            close(ep[0]);
        errno = e;
        return pid;
    }
    close(ep[0]);
    char buf[PATH_MAX * 2], num[32];
    const char *old = getenv("LD_PRELOAD");
    snprintf(buf, sizeof(buf), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    setenv("LD_PRELOAD", buf, 1);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)o->sampler_pages);
    setenv("XPV_CFSAMPLER_PAGES", num, 1);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)o->sampler_window_us);
    setenv("XPV_CFSAMPLER_PERIOD_US", num, 1);
    exec_or_report(o->cmd, ep[1]);
    return -1; /* not reached */
}

/* The perf sampler's command: it waits on a pipe until its events are open (they start at
 * its execve); *go is the pipe's write end: a byte lets it run, closing it makes it exit 127.
 * *efd: the exec-result pipe, to read once it was let go. */
static pid_t launch_stopped(char *const *argv, int *go, int *efd)
{
    int p[2], ep[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(ep, O_CLOEXEC) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) {
        int e = errno;
        close(p[0]);
        close(ep[1]);
        if (pid < 0) {
            close(p[1]);
            close(ep[0]);
            errno = e;
        }
        *go = p[1];
        *efd = ep[0];
        return pid;
    }
    close(p[1]);
    close(ep[0]);
    char c;
    if (read(p[0], &c, 1) != 1)
        _exit(127);
    exec_or_report(argv, ep[1]);
    return -1; /* not reached */
}

/* The perf sampler's events: the page-fault software event, or the probed precise one. */
static int perf_spec(const struct xpv_cf_run_opts *o, struct xpv_cf_pe_spec *spec,
                     struct xpv_error *err)
{
    memset(spec, 0, sizeof(*spec));
    if (o->sampler != XPV_CF_SAMPLER_PERF_FAULTS)
        return xpv_cf_pe_probe(NULL, o->perf_period, spec, err);
    spec->nr = 1;
    snprintf(spec->ev[0].name, sizeof(spec->ev[0].name), "page-faults");
    spec->ev[0].type = PERF_TYPE_SOFTWARE;
    spec->ev[0].config = PERF_COUNT_SW_PAGE_FAULTS;
    spec->ev[0].period = o->perf_period ? o->perf_period : 1;
    spec->ev[0].sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU;
    spec->ev[0].exclude_kernel = true;
    return 0;
}

/* The perf sampler: the events on pid, and the live handle over them. */
static int attach_perf(const struct xpv_cf_run_opts *o, const struct xpv_cf_pe_spec *spec,
                       pid_t pid, bool on_exec, const struct xpv_topo *t, struct xpv_ops *ops,
                       struct xpv_cf_live **l, struct xpv_error *err)
{
    struct xpv_cf_pe *pe = NULL;
    int rc = xpv_cf_pe_open(pid, spec, 64, on_exec, &pe, err);
    if (rc < 0)
        return rc;
    unsigned rings, events;
    xpv_cf_pe_counts(pe, &rings, &events);
    logf_(o, XPV_CF_LOG_INFO, "perf sampler %s, period %llu: %u events, %u rings",
          xpv_cf_pe_name(pe), (unsigned long long)spec->ev[0].period, events, rings);
    return xpv_cf_live_attach_perf(pid, pe, t, ops, o->params, o->seed, l, err);
}

/* Has the target ended? Reaps our own child and keeps its status; another process counts as
 * ended once it is a zombie. */
static int target_gone(pid_t pid, bool child, int *wstatus)
{
    if (child) {
        pid_t w = waitpid(pid, wstatus, WNOHANG);
        return w == pid || (w < 0 && errno == ECHILD);
    }
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    char path[64], *text = NULL;
    size_t len;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (xpv_read_file(path, 4096, &text, &len, NULL) < 0)
        return 1;
    const char *st = strrchr(text, ')'); /* "pid (comm) S ...": comm may hold anything */
    int gone = st && st[1] == ' ' && (st[2] == 'Z' || st[2] == 'X');
    free(text);
    return gone;
}

/* After a failed round: is the target ending? A process that is exiting has already lost its
 * memory (move_pages then fails with EINVAL, not ESRCH) a moment before it becomes a zombie,
 * so look for up to a second before calling the failure an error. */
static int target_ending(pid_t pid, bool child, int *wstatus)
{
    for (int i = 0; i < 100; i++) {
        if (target_gone(pid, child, wstatus))
            return 1;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return 0;
}

/* Sleep up to sec seconds, waking early when the target ends. */
static int nap(double sec, pid_t pid, bool child, int *wstatus)
{
    double end = now_ns() + sec * 1e9;
    for (;;) {
        if (target_gone(pid, child, wstatus))
            return 1;
        double left = end - now_ns();
        if (left <= 0)
            return 0;
        if (left > 20e6)
            left = 20e6;
        struct timespec ts = {0, (long)left};
        nanosleep(&ts, NULL);
    }
}

int xpv_cf_run(const struct xpv_cf_run_opts *o, struct xpv_cf_run_result *res,
               struct xpv_error *err)
{
    memset(res, 0, sizeof(*res));
    struct xpv_error e = {0};
    struct xpv_topo *t = NULL;
    struct xpv_ops *ops = NULL;
    struct xpv_cf_live *l = NULL;
    bool child = o->cmd != NULL, perf = o->sampler != XPV_CF_SAMPLER_SOFT;
    int wstatus = 0, gone = 0, status = 0, rc;
    pid_t pid = child ? 0 : o->pid;
    /* whose ring files may be removed once the target is gone: our child's are ours; an
     * attached process's are its owner's (as /proc has it now) */
    struct stat pst;
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
    uid_t owner = child ? geteuid() : stat(proc, &pst) == 0 ? pst.st_uid : (uid_t)-1;
    if ((rc = xpv_topo_discover(NULL, &t, &e)) < 0 || !(ops = xpv_ops_linux_new(t, &e))) {
        rc = rc < 0 ? rc : -ENOMEM;
        status = fail(o, err, rc, "%s", xpv_error_str(&e, rc));
        xpv_topo_free(t);
        return status;
    }
    struct xpv_cf_pe_spec spec = {0};
    if (perf && (rc = perf_spec(o, &spec, &e)) < 0) {
        status = fail(o, err, rc, "%s", xpv_error_str(&e, rc));
        goto out;
    }
    if (child && perf) {
        int go = -1, efd = -1;
        pid = launch_stopped(o->cmd, &go, &efd);
        if (pid < 0) {
            status = fail(o, err, -errno, "fork: %s", strerror(errno));
            goto out;
        }
        rc = attach_perf(o, &spec, pid, true, t, ops, &l, &e);
        if (rc < 0) {
            close(go); /* the child exits without running the command */
            close(efd);
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
            status = fail(o, err, rc, "%s", xpv_error_str(&e, rc));
            goto out;
        }
        res->started = true;
        if (write(go, "g", 1) != 1)
            rc = xpv_error_set(&e, -errno, "%s", strerror(errno));
        close(go);
        exec_result(o, efd);
    } else if (child) {
        char lib[PATH_MAX];
        if ((rc = sampler_path(o->sampler_lib, o->sampler_installed, lib, sizeof(lib))) < 0) {
            status = fail(o, err, rc,
                          "sampler library %s: %s (build target xpv-cfsampler, or give --sampler)",
                          lib, strerror(-rc));
            goto out;
        }
        pid = launch(o, lib);
        if (pid < 0) {
            status = fail(o, err, -errno, "fork: %s", strerror(errno));
            goto out;
        }
        res->started = true;
        /* the library creates the ring in the target's constructor, before main */
        for (int i = 0;; i++) {
            rc = xpv_cf_live_attach(pid, t, ops, o->params, o->seed, &l, &e);
            /* -EPERM: only someone else's files so far (planted under the child's pid) */
            if ((rc != -ENOENT && rc != -EAGAIN && rc != -EPERM) || i >= 500)
                break;
            if (target_gone(pid, true, &wstatus)) {
                gone = 1;
                break;
            }
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (gone) {
            logf_(o, XPV_CF_LOG_INFO, "%s ended before its sampler started", o->cmd[0]);
            goto reap;
        }
    } else if (perf) {
        rc = attach_perf(o, &spec, pid, false, t, ops, &l, &e);
    } else {
        for (int i = 0; i < 100; i++) {
            rc = xpv_cf_live_attach(pid, t, ops, o->params, o->seed, &l, &e);
            if (rc != -EAGAIN)
                break;
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    res->pid = pid;
    if (rc < 0) {
        status = fail(o, err, rc, "%s", xpv_error_str(&e, rc));
        if (child)
            goto reap;
        goto out;
    }
    if (o->on_sample)
        xpv_cf_live_set_observer(l, o->on_sample, o->arg);
    if (o->sample_memory)
        xpv_cf_live_set_memory(l, o->sample_memory < 0 ? 0 : (unsigned)o->sample_memory);
    logf_(o, XPV_CF_LOG_INFO, "pid %d, rounds of %.3g s, %s sampler%s", (int)pid, o->period_s,
          o->sampler_label ? o->sampler_label
          : perf           ? "perf"
                           : "software",
          o->dry_run ? ", dry run" : "");
    res->attached = true;
    for (unsigned i = 0; !o->rounds || i < o->rounds; i++) {
        gone = nap(o->period_s, pid, child, &wstatus);
        struct xpv_cf_live_round r;
        rc = xpv_cf_live_round(l, o->dry_run, &r, &e);
        if (rc == -ESRCH || (rc < 0 && target_ending(pid, child, &wstatus))) {
            gone = 1;
            break;
        }
        if (rc < 0) {
            status = fail(o, err, rc, "round %u: %s", i, xpv_error_str(&e, rc));
            break;
        }
        if (o->on_round)
            o->on_round(o->arg, i, &r);
        res->rounds = i + 1;
        res->migrated += r.ex.migrated;
        res->interleaved += r.ex.interleaved;
        res->repl_interleaved += r.ex.repl_interleaved;
        res->failed += r.ex.failed;
        if (!perf && r.sampler_state == XPV_CF_RING_STOPPED && r.samples == 0) {
            status = fail(o, err, -EIO, "the sampler in pid %d stopped: %s", (int)pid,
                          r.stop_msg[0] ? r.stop_msg
                          : r.stop_reason == XPV_CF_STOP_HANDLER
                                  ? "the program installed its own SIGSEGV handler"
                                  : "it could not read /proc/self/maps or start its thread");
            break;
        }
        if (gone)
            break;
    }
reap:
    res->pid = pid;
    if (child) {
        if (!gone)
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
        res->wstatus = wstatus;
    }
    res->gone = gone;
    /* a target killed before its destructor leaves its ring behind */
    if ((gone || child) && pid > 0 && !perf) /* the target's own, never another user's */
        xpv_cf_ring_file_remove(XPV_CF_RING_DIR, pid, owner);
out:
    xpv_cf_live_free(l);
    xpv_ops_free(ops);
    xpv_topo_free(t);
    return status;
}
