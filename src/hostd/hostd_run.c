/*
 * hostd_run.c — the host daemon's event loop (`xpv hostd`, docs/hostd.md): a round every
 * period (a timerfd, the first at once), a round now on SIGHUP, the control socket's clients
 * (hostd_ctl: non-blocking, each with a deadline), the guest agents' frames on each VM's
 * virtio-serial socket, launched command domains reaped on SIGCHLD, and a clean stop on
 * SIGINT or SIGTERM.
 *
 * Nothing outside the daemon can hold the loop: every fd it serves is non-blocking, a
 * control client that is slow is dropped at its deadline, a guest's bytes are read within a
 * budget per wake-up and per round (hostd_vm_read), QMP calls within conf.qmp_timeout_ms.
 * Each pass serves every ready source once, so a busy one cannot starve the others.
 *
 * Signals without global state: hostd_run blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in the
 * calling thread (sigprocmask: the daemon is single-threaded) and reads them from a
 * signalfd; it installs no handler. Before returning it discards those that arrived during
 * the shutdown (a second SIGTERM must not kill the process) and restores the caller's mask.
 * Command domains are launched from here (hostd_launch), once the control socket listens,
 * and stopped when the loop ends (SIGTERM to each one's process group, SIGKILL after 5 s).
 *
 * Everything the loop has to say goes through the daemon's log sink; failures that stop it
 * (the control socket, a launch) are returned with a message, never printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostd.h"

/* How long launched commands get to exit on SIGTERM when the daemon stops, before SIGKILL. */
#define STOP_GRACE_NS (5 * 1000000000ull)

/* A launched command's process exited: its domain has no process any more (the number may
 * go to any other process from now on) and is not launched again. */
static void reaped(struct hostd *h, pid_t pid, int st)
{
    const char *name = NULL;
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        if (d->conf.kind == HOSTD_COMMAND && d->nr_pids && d->pids[0] == pid) {
            d->nr_pids = 0;
            name = d->conf.name;
        }
    }
    hostd_log(h, HOSTD_LOG_INFO, name, "pid %d exited (status %d)", (int)pid,
              WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void reap(struct hostd *h)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        reaped(h, pid, st);
}

static unsigned children(const struct hostd *h)
{
    unsigned n = 0;
    for (unsigned k = 0; k < h->nr_domains; k++)
        n += h->domains[k].conf.kind == HOSTD_COMMAND && h->domains[k].nr_pids;
    return n;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The daemon stops: each launched command's process group gets SIGTERM, then SIGKILL if it
 * has not exited within STOP_GRACE_NS; all are reaped. SIGCHLD is blocked (hostd_run). */
static void stop_children(struct hostd *h)
{
    if (!children(h))
        return;
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        if (d->conf.kind != HOSTD_COMMAND || !d->nr_pids)
            continue;
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "stopping pid %d (SIGTERM to its group)",
                  (int)d->pids[0]);
        if (kill(-d->pids[0], SIGTERM) < 0)
            kill(d->pids[0], SIGTERM);
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    uint64_t deadline = now_ns() + STOP_GRACE_NS;
    for (;;) {
        reap(h);
        uint64_t t = now_ns();
        if (!children(h) || t >= deadline)
            break;
        struct timespec left = {(time_t)((deadline - t) / 1000000000ull),
                                (long)((deadline - t) % 1000000000ull)};
        sigtimedwait(&chld, NULL, &left); /* a child exited, or the deadline */
    }
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        if (d->conf.kind != HOSTD_COMMAND || !d->nr_pids)
            continue;
        pid_t pid = d->pids[0];
        hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                  "pid %d still running %gs after SIGTERM: SIGKILL to its group", (int)pid,
                  STOP_GRACE_NS / 1e9);
        if (kill(-pid, SIGKILL) < 0)
            kill(pid, SIGKILL);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        reaped(h, pid, st);
    }
}

/* The signals waiting on sfd; *stop when one asks to stop, *hup on SIGHUP. */
static void on_signals(struct hostd *h, int sfd, bool *stop, bool *hup)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            reap(h);
        } else if (si.ssi_signo == SIGHUP) {
            *hup = true;
        } else {
            hostd_log(h, HOSTD_LOG_INFO, NULL, "signal %d: stopping", (int)si.ssi_signo);
            *stop = true;
        }
    }
}

static void arm(int tfd, double period)
{
    struct itimerspec its = {0};
    its.it_interval.tv_sec = (time_t)period;
    its.it_interval.tv_nsec = (long)((period - (double)(time_t)period) * 1e9);
    its.it_value.tv_nsec = 1; /* a round now */
    timerfd_settime(tfd, 0, &its, NULL);
}

static void status(struct hostd *h, const char *first)
{
    char msg[192];
    snprintf(msg, sizeof(msg), "%sSTATUS=%u domains, %llu rounds, %llu moves", first, h->nr_domains,
             (unsigned long long)h->stats.rounds, (unsigned long long)h->stats.moves);
    hostd_sd_notify(msg);
}

/* SIGHUP: the configuration read again and applied (o->reload), between RELOADING=1 and
 * READY=1; a configuration that is rejected leaves the running one as it was. */
static void reload(struct hostd *h, const struct hostd_run_opts *o)
{
    if (!o->reload) {
        hostd_log(h, HOSTD_LOG_INFO, NULL, "SIGHUP: no configuration file to read again");
        return;
    }
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)(now_ns() / 1000u));
    hostd_sd_notify(msg);
    hostd_log(h, HOSTD_LOG_INFO, NULL, "SIGHUP: reading the configuration again");
    struct xpv_error e = {0};
    int rc = o->reload(o->reload_arg, h, &e);
    if (rc < 0) {
        struct hostd_ops_state *os = hostd_ops_state_get(h);
        if (os)
            os->reloads_rejected++;
        h->stats.errors++;
        hostd_log(h, HOSTD_LOG_ERR, NULL,
                  "reload: the new configuration is rejected, the running one is kept: %s",
                  xpv_error_str(&e, rc));
    }
    status(h, "READY=1\n");
}

/* The rounds, the signals, the control socket (ctl, NULL: none), the metrics endpoint (met,
 * NULL: none), the VMs' sockets and systemd's watchdog. */
static int loop(struct hostd *h, const struct hostd_run_opts *o, int sfd, struct hostd_ctl *ctl,
                struct hostd_met *met, struct xpv_error *err)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0)
        return xpv_error_set(err, -errno, "timerfd: %s", strerror(errno));
    double period = h->conf.period_s;
    arm(tfd, period); /* first round now */
    uint64_t wd = hostd_watchdog_ns(), wd_next = 0;
    enum {
        P_SIG,
        P_TIMER,
        P_CTL,
        P_MET = P_CTL + 1 + HOSTD_CTL_MAX_CLIENTS,
        P_VM = P_MET + 1 + HOSTD_MET_MAX_CLIENTS
    };
    /* room for every domain a reload or a backend (hostd_add_domain) may bring */
    struct pollfd *p = calloc(P_VM + HOSTD_MAX_DOMAINS, sizeof(*p));
    if (!p) {
        close(tfd);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    bool stop = false, hup = false;
    uint64_t done = 0;
    while (!stop) {
        if (wd && now_ns() >= wd_next) {
            hostd_sd_notify("WATCHDOG=1");
            wd_next = now_ns() + wd;
        }
        p[P_SIG] = (struct pollfd){.fd = sfd, .events = POLLIN};
        p[P_TIMER] = (struct pollfd){.fd = tfd, .events = POLLIN};
        int timeout = -1;
        if (ctl)
            timeout = hostd_ctl_pollfds(ctl, p + P_CTL);
        else
            for (unsigned k = 0; k <= HOSTD_CTL_MAX_CLIENTS; k++)
                p[P_CTL + k] = (struct pollfd){.fd = -1};
        int mt = -1;
        if (met)
            mt = hostd_met_pollfds(met, p + P_MET);
        else
            for (unsigned k = 0; k <= HOSTD_MET_MAX_CLIENTS; k++)
                p[P_MET + k] = (struct pollfd){.fd = -1};
        if (mt >= 0 && (timeout < 0 || mt < timeout))
            timeout = mt;
        if (wd) {
            uint64_t t = now_ns(), left = wd_next > t ? (wd_next - t + 999999) / 1000000 : 0;
            if (timeout < 0 || left < (uint64_t)timeout)
                timeout = (int)left;
        }
        /* the guest agents' frames (ACKs), on each VM's virtio-serial socket */
        for (unsigned k = 0; k < h->nr_domains; k++)
            p[P_VM + k] = (struct pollfd){.fd = hostd_vm_fd(&h->domains[k]), .events = POLLIN};
        if (poll(p, P_VM + h->nr_domains, timeout) < 0 && errno != EINTR)
            break;
        for (unsigned k = 0; k < h->nr_domains; k++)
            if (p[P_VM + k].fd >= 0 && p[P_VM + k].revents)
                hostd_vm_read(h, &h->domains[k]);
        if (p[P_SIG].revents)
            on_signals(h, sfd, &stop, &hup);
        if (hup && !stop) {
            hup = false;
            reload(h, o);
            period = h->conf.period_s;
            arm(tfd, period); /* a round now, then at the (new) period */
        }
        if (p[P_TIMER].revents) {
            uint64_t ticks;
            if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
                hostd_round_timed(h);
                for (unsigned k = 0; k < h->nr_domains; k++)
                    hostd_vm_new_round(&h->domains[k]);
                if (o->rounds && ++done >= o->rounds)
                    stop = true;
            }
        }
        if (ctl)
            hostd_ctl_serve(h, ctl, p + P_CTL);
        if (met)
            hostd_met_serve(h, met, p + P_MET);
    }
    hostd_sd_notify("STOPPING=1");
    free(p);
    close(tfd);
    const struct hostd_stats *s = &h->stats;
    hostd_log(h, HOSTD_LOG_INFO, NULL,
              "%" PRIu64 " rounds, %" PRIu64 " moves (%" PRIu64 " manual), %" PRIu64
              " pages moved, %" PRIu64 " page moves failed, %" PRIu64 " records published, %" PRIu64
              " errors, %" PRIu64 " vanished threads/processes",
              s->rounds, s->moves, s->manual_moves, s->pages_moved, s->pages_failed, s->publishes,
              s->errors, s->vanished);
    return 0;
}

int hostd_run(struct hostd *h, const struct hostd_run_opts *o, struct xpv_error *err)
{
    if (h->nr_domains == 0)
        hostd_log(h, HOSTD_LOG_INFO, NULL,
                  "no domains yet (--pids, --cgroup, --qmp, --config, or a command after --)");
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
        return xpv_error_set(err, -errno, "sigprocmask: %s", strerror(errno));
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK), lfd = -1, rc = 0;
    struct hostd_ctl *ctl = NULL;
    struct hostd_met *met = NULL;
    if (sfd < 0) {
        rc = xpv_error_set(err, -errno, "signalfd: %s", strerror(errno));
        goto out;
    }
    if (o->rounds != 1) {
        struct xpv_error e = {0};
        if ((lfd = hostd_control_listen(h->conf.socket, &e)) < 0) {
            rc = xpv_error_set(err, lfd, "control socket: %s", xpv_error_str(&e, lfd));
            lfd = -1;
            goto out;
        }
        if (!(ctl = hostd_ctl_new(lfd))) {
            rc = xpv_error_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        hostd_log(h, HOSTD_LOG_INFO, NULL, "control socket %s; %u domains; period %gs%s",
                  h->conf.socket, h->nr_domains, h->conf.period_s, h->dry_run ? "; dry run" : "");
        if (h->conf.metrics_listen[0]) {
            if (!(met = hostd_met_new(h->conf.metrics_listen, &e))) {
                rc = xpv_error_set(err, e.code ? e.code : -ENOMEM, "metrics endpoint: %s",
                                   xpv_error_str(&e, e.code ? e.code : -ENOMEM));
                goto out;
            }
            hostd_log(h, HOSTD_LOG_INFO, NULL, "metrics on http://%s/metrics",
                      h->conf.metrics_listen);
        }
    }
    if ((rc = hostd_launch(h, err)) == 0) {
        status(h, "READY=1\n");
        rc = loop(h, o, sfd, ctl, met, err);
    }
out:
    stop_children(h);
    hostd_ctl_free(ctl);
    hostd_met_free(met);
    if (lfd >= 0) {
        close(lfd);
        unlink(h->conf.socket);
    }
    if (sfd >= 0)
        close(sfd);
    /* what came during the shutdown is dropped, not delivered when the mask is restored */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
