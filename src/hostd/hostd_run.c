/*
 * hostd_run.c — the host daemon's event loop (`xpv hostd`, docs/hostd.md): a round every
 * period (a timerfd, the first at once), a round now on SIGHUP, one request at a time on the
 * control socket, the guest agents' frames on each VM's virtio-serial socket, launched
 * command domains reaped on SIGCHLD, and a clean stop on SIGINT or SIGTERM.
 *
 * Signals without global state: hostd_run blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in the
 * calling thread (sigprocmask: the daemon is single-threaded) and reads them from a
 * signalfd; it installs no handler. Before returning it discards those that arrived during
 * the shutdown (a second SIGTERM must not kill the process) and restores the caller's mask.
 * Command domains are launched from here (hostd_launch), once the control socket listens.
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
#include <unistd.h>

#include "hostd.h"

static void reap(struct hostd *h)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        hostd_log(h, HOSTD_LOG_INFO, NULL, "pid %d exited (status %d)", (int)pid,
                  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* The signals waiting on sfd; *stop when one asks to stop. */
static void on_signals(struct hostd *h, int sfd, bool *stop)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            reap(h);
        } else if (si.ssi_signo == SIGHUP) {
            hostd_log(h, HOSTD_LOG_INFO, NULL, "SIGHUP: a round now");
            hostd_round(h);
        } else {
            hostd_log(h, HOSTD_LOG_INFO, NULL, "signal %d: stopping", (int)si.ssi_signo);
            *stop = true;
        }
    }
}

/* The rounds, the signals, the control socket (lfd, -1: none) and the VMs' sockets. */
static int loop(struct hostd *h, const struct hostd_run_opts *o, int sfd, int lfd,
                struct xpv_error *err)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0)
        return xpv_error_set(err, -errno, "timerfd: %s", strerror(errno));
    double period = h->conf.period_s;
    struct itimerspec its = {0};
    its.it_interval.tv_sec = (time_t)period;
    its.it_interval.tv_nsec = (long)((period - (double)(time_t)period) * 1e9);
    its.it_value.tv_nsec = 1; /* first round now */
    timerfd_settime(tfd, 0, &its, NULL);
    struct pollfd *p = calloc(3 + h->nr_domains, sizeof(*p));
    if (!p) {
        close(tfd);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    bool stop = false;
    uint64_t done = 0;
    while (!stop) {
        p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = tfd, .events = POLLIN};
        p[2] = (struct pollfd){.fd = lfd, .events = POLLIN};
        /* the guest agents' frames (ACKs), on each VM's virtio-serial socket */
        for (unsigned k = 0; k < h->nr_domains; k++)
            p[3 + k] = (struct pollfd){.fd = hostd_vm_fd(&h->domains[k]), .events = POLLIN};
        if (poll(p, 3 + h->nr_domains, -1) < 0 && errno != EINTR)
            break;
        for (unsigned k = 0; k < h->nr_domains; k++)
            if (p[3 + k].fd >= 0 && p[3 + k].revents)
                hostd_vm_read(h, &h->domains[k]);
        if (p[0].revents)
            on_signals(h, sfd, &stop);
        if (p[1].revents) {
            uint64_t ticks;
            if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
                hostd_round(h);
                if (o->rounds && ++done >= o->rounds)
                    stop = true;
            }
        }
        if (lfd >= 0 && p[2].revents)
            hostd_control_serve(h, lfd);
    }
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
        hostd_log(h, HOSTD_LOG_INFO, NULL, "control socket %s; %u domains; period %gs%s",
                  h->conf.socket, h->nr_domains, h->conf.period_s, h->dry_run ? "; dry run" : "");
    }
    if ((rc = hostd_launch(h, err)) == 0)
        rc = loop(h, o, sfd, lfd, err);
out:
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
