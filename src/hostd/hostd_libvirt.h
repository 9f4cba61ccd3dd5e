/*
 * hostd_libvirt.h — the host daemon's libvirt backend (hostd_libvirt.c, docs/libvirt.md): the
 * running domains of a libvirt connection that carry the xpv metadata element become VM
 * domains of the daemon, followed through libvirt's lifecycle events, placed through libvirt's
 * pinning calls and hot-plugged through libvirt, and described without QEMU's monitor.
 * Built when libvirt is found (CMake option XPV_LIBVIRT).
 */
#ifndef XPV_HOSTD_LIBVIRT_H
#define XPV_HOSTD_LIBVIRT_H

#include "hostd.h"

#define HOSTD_LIBVIRT_DEFAULT_URI "qemu:///system"

/* Connect to uri (NULL or "": HOSTD_LIBVIRT_DEFAULT_URI) and install the backend on h (its
 * domains appear from the next round on). -ECONNREFUSED etc. with libvirt's message. */
int hostd_libvirt_start(struct hostd *h, const char *uri, struct xpv_error *err);

#endif
