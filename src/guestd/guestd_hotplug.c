/*
 * guestd_hotplug.c — hot-added CPUs and memory: the kernel announces them on the uevent
 * netlink socket and leaves them offline (nothing onlines them without udev; inotify on sysfs
 * reports nothing). The agent onlines CPUs, and memory as online_movable (so it can be
 * unplugged again), then republishes the topology.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guestd.h"

/* "add@/devices/system/cpu/cpu4", then NUL-separated KEY=value fields. Only the header is
 * needed; the fields must agree when present (ACTION= the header's action). */
enum guestd_uevent_kind guestd_uevent_parse(const void *buf, size_t len, unsigned *id)
{
    const char *s = buf;
    const char *nul = memchr(s, '\0', len);
    size_t hl = nul ? (size_t)(nul - s) : len;
    static const struct {
        const char *prefix;
        enum guestd_uevent_kind kind;
        const char *action; /* what a later ACTION= field must say */
    } forms[] = {{"add@/devices/system/cpu/cpu", GUESTD_UEVENT_CPU_ADD, "add"},
                 {"add@/devices/system/memory/memory", GUESTD_UEVENT_MEM_ADD, "add"},
                 {"remove@/devices/system/cpu/cpu", GUESTD_UEVENT_CHANGE, "remove"},
                 {"remove@/devices/system/memory/memory", GUESTD_UEVENT_CHANGE, "remove"},
                 {"online@/devices/system/cpu/cpu", GUESTD_UEVENT_CHANGE, "online"},
                 {"online@/devices/system/memory/memory", GUESTD_UEVENT_CHANGE, "online"},
                 {"offline@/devices/system/cpu/cpu", GUESTD_UEVENT_CHANGE, "offline"},
                 {"offline@/devices/system/memory/memory", GUESTD_UEVENT_CHANGE, "offline"}};
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        size_t pl = strlen(forms[f].prefix);
        if (hl <= pl || memcmp(s, forms[f].prefix, pl))
            continue;
        unsigned long v = 0;
        size_t i = pl;
        for (; i < hl && s[i] >= '0' && s[i] <= '9' && i - pl < 7; i++)
            v = v * 10 + (unsigned long)(s[i] - '0');
        if (i != hl || i == pl) /* digits up to the end of the header only */
            return GUESTD_UEVENT_NONE;
        /* a later ACTION= field that disagrees makes it something else */
        for (size_t k = hl + 1; k < len;) {
            const char *fld = s + k;
            const char *e = memchr(fld, '\0', len - k);
            size_t fl = e ? (size_t)(e - fld) : len - k;
            size_t al = strlen(forms[f].action);
            if (fl >= 7 && !memcmp(fld, "ACTION=", 7) &&
                (fl != 7 + al || memcmp(fld + 7, forms[f].action, al)))
                return GUESTD_UEVENT_NONE;
            k += fl + 1;
        }
        *id = (unsigned)v;
        return forms[f].kind;
    }
    return GUESTD_UEVENT_NONE;
}

int guestd_online(const char *root, enum guestd_uevent_kind kind, unsigned id,
                  struct xpv_error *err)
{
    char path[512], cur[64] = "";
    const char *want;
    if (kind == GUESTD_UEVENT_CPU_ADD) {
        snprintf(path, sizeof(path), "%s/sys/devices/system/cpu/cpu%u/online", root, id);
        want = "1";
    } else if (kind == GUESTD_UEVENT_MEM_ADD) {
        snprintf(path, sizeof(path), "%s/sys/devices/system/memory/memory%u/state", root, id);
        want = "online_movable";
    } else {
        return xpv_error_set(err, -EINVAL, "not a hotplug event");
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return xpv_error_set(err, -errno, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, cur, sizeof(cur) - 1);
    if (n > 0) {
        cur[n] = '\0';
        cur[strcspn(cur, "\n")] = '\0';
        if (!strcmp(cur, "1") || !strncmp(cur, "online", 6)) {
            close(fd);
            return 0;
        }
    }
    int rc = 0;
    if (lseek(fd, 0, SEEK_SET) < 0 || write(fd, want, strlen(want)) < 0)
        rc = xpv_error_set(err, -errno, "writing %s to %s: %s", want, path, strerror(errno));
    close(fd);
    return rc;
}

int guestd_uevent_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}
