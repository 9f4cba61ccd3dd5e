/*
 * guestd_dev.c — finding the XPV devices in the guest: the ivshmem-plain PCI device (vendor
 * 0x1af4, device 0x1110; the record is in its BAR 2, mapped through sysfs `resource2`) and the
 * virtio-serial port by name (/sys/class/virtio-ports/vportNpM/name → /dev/vportNpM).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guestd.h"

static int read_line(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -EIO;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return (int)n;
}

int guestd_find_ivshmem(const char *root, char *path, size_t len, struct xpv_error *err)
{
    char dir[512], p[1024], v[32], dv[32];
    snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", root);
    DIR *d = opendir(dir);
    if (!d)
        return xpv_error_set(err, -ENOENT, "no PCI bus in %s: no ivshmem device", dir);
    struct dirent *de;
    int rc = -ENOENT;
    while (rc == -ENOENT && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s/vendor", dir, de->d_name);
        if (read_line(p, v, sizeof(v)) < 0 || strcmp(v, "0x1af4"))
            continue;
        snprintf(p, sizeof(p), "%s/%s/device", dir, de->d_name);
        if (read_line(p, dv, sizeof(dv)) < 0 || strcmp(dv, "0x1110"))
            continue;
        /* the BAR only decodes once the device is enabled; no driver does it for ivshmem */
        snprintf(p, sizeof(p), "%s/%s/enable", dir, de->d_name);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "1", 1) < 0) {
                /* already enabled, or not permitted: the mapping will tell */
            }
            close(fd);
        }
        if ((size_t)snprintf(path, len, "%s/%s/resource2", dir, de->d_name) >= len)
            rc = xpv_error_set(err, -ENAMETOOLONG, "path of %s too long", de->d_name);
        else
            rc = 0;
    }
    closedir(d);
    if (rc == -ENOENT)
        xpv_error_set(err, rc,
                      "no ivshmem device (PCI 1af4:1110) under %s; give the VM one "
                      "(xpv qemu-args) or run with --no-ivshmem to use the serial port alone",
                      dir);
    return rc;
}

int guestd_find_port(const char *root, const char *name, char *path, size_t len,
                     struct xpv_error *err)
{
    char dir[512], p[1024], n[256];
    snprintf(dir, sizeof(dir), "%s/sys/class/virtio-ports", root);
    DIR *d = opendir(dir);
    if (!d)
        return xpv_error_set(err, -ENOENT,
                             "no virtio ports (%s): is the virtio_console module loaded?", dir);
    struct dirent *de;
    int rc = -ENOENT;
    while (rc == -ENOENT && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s/name", dir, de->d_name);
        if (read_line(p, n, sizeof(n)) < 0 || strcmp(n, name))
            continue;
        if ((size_t)snprintf(path, len, "%s/dev/%s", root, de->d_name) >= len)
            rc = xpv_error_set(err, -ENAMETOOLONG, "path of %s too long", de->d_name);
        else
            rc = 0;
    }
    closedir(d);
    if (rc == -ENOENT)
        xpv_error_set(err, rc,
                      "no virtio port named '%s' under %s (xpv qemu-args prints the "
                      "QEMU options that create it)",
                      name, dir);
    return rc;
}
