/*
 * guestd_dev.c — finding the XPV devices in the guest: the ivshmem-plain PCI device (vendor
 * 0x1af4, device 0x1110; the record is in its BAR 2, mapped through sysfs `resource2`) and the
 * virtio-serial port by name (/sys/class/virtio-ports/vportNpM/name → /dev/vportNpM).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guestd.h"
#include "xpv/file.h"

/* path's first line into buf (cut to cap); its length, or -errno. */
static int read_line(const char *path, char *buf, size_t cap)
{
    char *text;
    size_t n;
    int rc = xpv_read_file(path, 4096, &text, &n, NULL);
    if (rc < 0)
        return rc;
    text[strcspn(text, "\n")] = '\0';
    snprintf(buf, cap, "%s", text);
    free(text);
    return (int)strlen(buf);
}

/* The first entry of dir (in readdir order) for which match(entry path) holds, its
 * name in name[NAME_MAX+1]: 0, -ENOENT when none, -errno when dir cannot be listed. */
static int find_entry(const char *dir, bool (*match)(const char *path, const void *arg),
                      const void *arg, char *name)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = -ENOENT;
    char p[1024];
    while (rc == -ENOENT && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (match(p, arg)) {
            snprintf(name, 256, "%s", de->d_name);
            rc = 0;
        }
    }
    closedir(d);
    return rc;
}

static bool file_is(const char *dir, const char *file, const char *want)
{
    char p[1100], v[256];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    return read_line(p, v, sizeof(v)) >= 0 && !strcmp(v, want);
}

static bool is_ivshmem(const char *dev, const void *arg)
{
    (void)arg;
    return file_is(dev, "vendor", "0x1af4") && file_is(dev, "device", "0x1110");
}

static bool port_named(const char *port, const void *name)
{
    return file_is(port, "name", name);
}

int guestd_find_ivshmem(const char *root, char *path, size_t len, struct xpv_error *err)
{
    char dir[512], name[256], p[1024];
    snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", root);
    int rc = find_entry(dir, is_ivshmem, NULL, name);
    if (rc < 0)
        return xpv_error_set(err, -ENOENT,
                             "no ivshmem device (PCI 1af4:1110) under %s; give the VM one "
                             "(xpv qemu-args) or run with --no-ivshmem to use the serial port "
                             "alone",
                             dir);
    /* the BAR only decodes once the device is enabled; no driver does it for ivshmem */
    snprintf(p, sizeof(p), "%s/%s/enable", dir, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) < 0) {
            /* already enabled, or not permitted: the mapping will tell */
        }
        close(fd);
    }
    if ((size_t)snprintf(path, len, "%s/%s/resource2", dir, name) >= len)
        return xpv_error_set(err, -ENAMETOOLONG, "path of %s too long", name);
    return 0;
}

int guestd_find_port(const char *root, const char *name, char *path, size_t len,
                     struct xpv_error *err)
{
    char dir[512], port[256];
    snprintf(dir, sizeof(dir), "%s/sys/class/virtio-ports", root);
    int rc = find_entry(dir, port_named, name, port);
    if (rc == -ENOENT)
        return xpv_error_set(err, rc,
                             "no virtio port named '%s' under %s (xpv qemu-args prints the "
                             "QEMU options that create it)",
                             name, dir);
    if (rc < 0)
        return xpv_error_set(err, -ENOENT,
                             "no virtio ports (%s): is the virtio_console module loaded?", dir);
    if ((size_t)snprintf(path, len, "%s/dev/%s", root, port) >= len)
        return xpv_error_set(err, -ENAMETOOLONG, "path of %s too long", port);
    return 0;
}
