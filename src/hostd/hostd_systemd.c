/*
 * hostd_systemd.c — systemd's readiness and watchdog protocol (sd_notify(3), "NOTIFY_SOCKET"),
 * written by hand rather than linked from libsystemd: the protocol is one datagram of
 * "KEY=VALUE\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the
 * abstract namespace), a stable interface systemd documents for implementations without the
 * library; xpv and its package then gain no dependency, and the daemon runs the same under
 * other service managers that speak it, or none (the variable unset: nothing is sent).
 *
 * The loop (hostd_run.c) sends READY=1 once the control socket listens and the domains are
 * launched, STATUS= lines, WATCHDOG=1 every half $WATCHDOG_USEC while it turns, and
 * RELOADING=1 (with MONOTONIC_USEC) ... READY=1 around a reload, STOPPING=1 at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostd.h"

int hostd_sd_notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(a.sun_path))
        return -EINVAL;
    memcpy(a.sun_path, path, n);
    if (path[0] == '@')
        a.sun_path[0] = 0; /* abstract */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    ssize_t w = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&a, len);
    int rc = w < 0 ? -errno : 0;
    close(fd);
    return rc;
}

uint64_t hostd_watchdog_ns(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || !*usec)
        return 0;
    if (pid && *pid) {
        char *end;
        long p = strtol(pid, &end, 10);
        if (*end || p != (long)getpid())
            return 0; /* meant for another process */
    }
    char *end;
    unsigned long long us = strtoull(usec, &end, 10);
    if (*end || us == 0)
        return 0;
    return (uint64_t)us * 1000u / 2;
}
