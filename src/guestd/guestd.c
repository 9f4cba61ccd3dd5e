/*
 * guestd.c — the guest agent's loop: take the host's record from a kick (a RECORD frame on
 * the virtio-serial port) or, when a kick was missed, from the ivshmem region by polling its
 * generation; validate it; compute the effective guest topology; republish it for local
 * readers (libxpv, unchanged) and wake them; re-bind processes that follow their vNode;
 * acknowledge the host's generation (an ACK frame). Hot-added CPUs and memory are onlined and
 * the topology republished, with or without a host record.
 *
 * Untrusted input, all of it: the ivshmem bytes (anyone with the device can scribble there),
 * the port's byte stream (resynchronised by the frame decoder, bounded), uevents (only the
 * kernel's are read). A bad record is counted and logged once per generation; the last good
 * one stays in force.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guestd.h"
#include "xpv/channel.h"
#include "xpv/frame.h"
#include "xpv/publisher.h"

struct guestd {
    struct guestd_opts o;
    char root[256];
    struct guestd_local local;
    struct guestd_topo topo;
    struct guestd_stats st;
    struct xpv_publisher *pub;  /* the local record */
    struct xpv_channel *hostch; /* the ivshmem region, read-only */
    uint64_t bad_gen;           /* the last generation found bad (logged once) */
    /* the port */
    int port_fd;
    bool own_port;          /* opened here (closed here) */
    bool port_hup;          /* the host end is not connected: leave it out of poll for a while */
    bool port_wanted;       /* a port was asked for: look for it again while it is missing */
    uint64_t port_retry_ns; /* when to look next */
    struct xpv_frame_decoder *dec;
    int uevent_fd;
    /* the host's record in force: a snapshot (from ivshmem) or an owned copy (from a frame) */
    struct xpv_snapshot *host_snap;
    void *host_buf;
    struct xpv_record_view host;
    bool have_host;
    struct guestd_follow *follow;
    bool follow_refused; /* the follow directory was refused last time (logged once) */
};

static void logf_(struct guestd *g, enum guestd_log_level lvl, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void logf_(struct guestd *g, enum guestd_log_level lvl, const char *fmt, ...)
{
    if (lvl > g->o.verbosity || !g->o.log.fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    g->o.log.fn(g->o.log.arg, lvl, msg);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void send_frame(struct guestd *g, unsigned type, const void *p, size_t n)
{
    if (g->port_fd < 0)
        return;
    unsigned char buf[XPV_FRAME_HEADER + 64];
    long len = xpv_frame_encode(type, p, n, buf, sizeof(buf));
    if (len < 0)
        return;
    ssize_t w = write(g->port_fd, buf, (size_t)len);
    if (w == len)
        g->st.frames_out++;
    else
        g->st.frames_dropped++; /* the host end is not listening: it polls the record anyway */
}

/* Compute and publish the effective topology; follow; acknowledge. */
static int republish(struct guestd *g)
{
    struct xpv_error err = {0};
    int rc = guestd_effective(g->have_host ? &g->host : NULL, &g->local, &g->topo, &err);
    if (rc == 0)
        rc = xpv_publisher_publish(g->pub, &g->topo.desc, &g->st.local_gen, &err);
    if (rc < 0) {
        g->st.errors++;
        logf_(g, GUESTD_LOG_ERR, "cannot republish the topology: %s", xpv_error_str(&err, rc));
        return rc;
    }
    g->st.republishes++;
    if (g->o.verbosity >= GUESTD_LOG_INFO) {
        char line[512];
        size_t n = 0;
        for (unsigned c = 0; c < g->topo.desc.nr_cpus && n < sizeof(line) - 32; c++) {
            uint16_t e = g->topo.cpu_eff[c];
            if (e == XPV_RECORD_NONE)
                continue;
            n += (size_t)snprintf(line + n, sizeof(line) - n, " cpu%u->%u", c,
                                  (unsigned)g->topo.ids[e]);
        }
        logf_(g, GUESTD_LOG_INFO, "host generation %llu, local generation %llu:%s",
              (unsigned long long)g->st.host_gen, (unsigned long long)g->st.local_gen, line);
    }
    if (g->follow) {
        int m = guestd_follow_apply(g->follow, g->root, g->o.ops, &g->local, &g->topo);
        if (m < 0 && !g->follow_refused)
            logf_(g, GUESTD_LOG_WARN,
                  "follow directory %s refused (%s): it must be a directory owned by root, "
                  "writable by others only when sticky; nobody is followed",
                  g->o.follow_dir, strerror(-m));
        g->follow_refused = m < 0;
        if (m > 0) {
            g->st.rebinds += (uint64_t)m;
            logf_(g, GUESTD_LOG_INFO, "re-bound %d thread(s) to their vNode's effective CPUs", m);
        }
    }
    if (g->have_host) {
        unsigned char ack[8];
        for (int i = 0; i < 8; i++)
            ack[i] = (unsigned char)(g->st.host_gen >> (8 * i));
        send_frame(g, XPV_FRAME_ACK, ack, sizeof(ack));
        g->st.acks++;
    }
    return 0;
}

static void drop_host(struct guestd *g)
{
    if (g->host_snap)
        xpv_snapshot_put(g->host_snap);
    free(g->host_buf);
    g->host_snap = NULL;
    g->host_buf = NULL;
}

/* A record from a kick frame: decoded from a private copy. */
static void adopt_bytes(struct guestd *g, const void *p, size_t n)
{
    struct xpv_error err = {0};
    void *copy = malloc(n ? n : 1);
    if (!copy)
        return;
    memcpy(copy, p, n);
    struct xpv_record_view v;
    int rc = xpv_record_decode(copy, n, &v, &err);
    if (rc < 0) {
        g->st.bad_records++;
        logf_(g, GUESTD_LOG_WARN, "a kick carried a bad record (ignored): %s",
              xpv_error_str(&err, rc));
        free(copy);
        return;
    }
    if (g->have_host && v.generation <= g->st.host_gen) {
        free(copy); /* already in force (the ivshmem poll was first), or older */
        return;
    }
    drop_host(g);
    g->host_buf = copy;
    g->host = v;
    g->have_host = true;
    g->st.host_gen = v.generation;
    g->st.kicks++;
    republish(g);
}

/* The ivshmem region's record, when its generation moved. */
static void poll_ivshmem(struct guestd *g)
{
    if (!g->hostch)
        return;
    uint64_t gen = xpv_channel_generation(g->hostch);
    if (!gen || (g->have_host && gen <= g->st.host_gen) || gen == g->bad_gen)
        return;
    struct xpv_snapshot *s = NULL;
    struct xpv_error err = {0};
    int rc = xpv_channel_snapshot(g->hostch, &s, &err);
    if (rc < 0) {
        if (s)
            xpv_snapshot_put(s); /* the last good one: already in force */
        if (rc != -EAGAIN && rc != -ENODATA) {
            g->bad_gen = gen;
            g->st.bad_records++;
            logf_(g, GUESTD_LOG_WARN, "the ivshmem record (generation %llu) is bad, ignored: %s",
                  (unsigned long long)gen, xpv_error_str(&err, rc));
        }
        return;
    }
    uint64_t sg = xpv_snapshot_generation(s);
    if (g->have_host && sg <= g->st.host_gen) {
        xpv_snapshot_put(s);
        return;
    }
    drop_host(g);
    g->host_snap = s;
    g->host = *xpv_snapshot_view(s);
    g->have_host = true;
    g->st.host_gen = sg;
    g->st.polled++;
    republish(g);
}

static int on_frame(void *arg, unsigned type, const void *payload, size_t len)
{
    struct guestd *g = arg;
    g->st.frames_in++;
    if (type == XPV_FRAME_RECORD)
        adopt_bytes(g, payload, len);
    return 0; /* HELLO, PING, others: nothing to do */
}

static void read_port(struct guestd *g)
{
    unsigned char buf[16384];
    for (;;) {
        ssize_t n = read(g->port_fd, buf, sizeof(buf));
        if (n > 0) {
            xpv_frame_feed(g->dec, buf, (size_t)n, on_frame, g);
            continue;
        }
        if (n == 0 || errno != EINTR)
            break;
    }
    struct xpv_frame_stats fs;
    xpv_frame_stats(g->dec, &fs);
    g->st.bad_frames = fs.bad_crc + fs.bad_header;
}

static void read_uevents(struct guestd *g)
{
    unsigned char buf[8192];
    bool changed = false;
    for (;;) {
        struct sockaddr_nl from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(g->uevent_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        if (fl != sizeof(from) || from.nl_pid != 0)
            continue; /* only the kernel's own messages */
        unsigned id;
        enum guestd_uevent_kind k = guestd_uevent_parse(buf, (size_t)n, &id);
        if (k == GUESTD_UEVENT_NONE)
            continue;
        if (k == GUESTD_UEVENT_CHANGE) { /* online/offline/remove: the topology changed */
            logf_(g, GUESTD_LOG_DEBUG, "uevent: %.60s", (const char *)buf);
            changed = true;
            continue;
        }
        struct xpv_error err = {0};
        int rc = guestd_online(g->root, k, id, &err);
        const char *what = k == GUESTD_UEVENT_CPU_ADD ? "CPU" : "memory block";
        if (rc < 0) {
            g->st.errors++;
            logf_(g, GUESTD_LOG_ERR, "hot-added %s %u: cannot online it: %s", what, id,
                  xpv_error_str(&err, rc));
            continue;
        }
        if (k == GUESTD_UEVENT_CPU_ADD)
            g->st.cpus_onlined++;
        else
            g->st.mem_onlined++;
        logf_(g, GUESTD_LOG_INFO, "hot-added %s %u onlined", what, id);
        changed = true;
    }
    if (changed)
        guestd_refresh(g);
}

int guestd_refresh(struct guestd *g)
{
    struct xpv_error err = {0};
    struct guestd_local l;
    int rc = guestd_local_read(g->root, &l, &err);
    if (rc < 0) {
        logf_(g, GUESTD_LOG_ERR, "cannot read the guest's topology: %s", xpv_error_str(&err, rc));
        return rc;
    }
    g->local = l;
    return republish(g);
}

/* Find and open the kick port (a given path, or by name). -ENOENT while it does not exist. */
static int open_port(struct guestd *g, struct xpv_error *err)
{
    char path[768];
    int rc = 0;
    if (g->o.port)
        snprintf(path, sizeof(path), "%s", g->o.port);
    else
        rc = guestd_find_port(g->root, g->o.port_name, path, sizeof(path), err);
    if (rc < 0)
        return rc;
    g->port_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (g->port_fd < 0)
        return xpv_error_set(err, errno == ENOENT ? -ENOENT : -errno, "cannot open %s: %s", path,
                             strerror(errno));
    g->own_port = true;
    if (g->dec)
        xpv_frame_decoder_reset(g->dec);
    logf_(g, GUESTD_LOG_INFO, "kick port %s", path);
    return 0;
}

int guestd_open(const struct guestd_opts *o, struct guestd **out, struct xpv_error *err)
{
    *out = NULL;
    struct guestd *g = calloc(1, sizeof(*g));
    if (!g)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    g->o = *o;
    g->port_fd = -1;
    g->uevent_fd = -1;
    snprintf(g->root, sizeof(g->root), "%s", o->root ? o->root : "");
    if (!g->o.port_name)
        g->o.port_name = GUESTD_PORT_NAME;
    if (g->o.poll_ms <= 0)
        g->o.poll_ms = 100;
    int rc = guestd_local_read(g->root, &g->local, err);
    if (rc < 0)
        goto fail;
    char path[768];
    /* the ivshmem region: given, found, or none */
    if (!o->ivshmem || o->ivshmem[0]) {
        if (o->ivshmem)
            snprintf(path, sizeof(path), "%s", o->ivshmem);
        else if ((rc = guestd_find_ivshmem(g->root, path, sizeof(path), err)) < 0 &&
                 !o->optional_devices)
            goto fail;
        /* libxpv maps it read-only, like any record file: the agent never writes there */
        if (rc == 0 && (rc = xpv_channel_open(path, &g->hostch, err)) < 0)
            goto fail;
        if (g->hostch)
            logf_(g, GUESTD_LOG_INFO, "record region %s", path);
        rc = 0;
    }
    /* the port: a descriptor given (tests), a path given, found by name, or none */
    if (o->port_fd >= 0 && o->port_fd_set) {
        g->port_fd = o->port_fd;
    } else if (!o->port || o->port[0]) {
        g->port_wanted = true;
        rc = open_port(g, err);
        if (rc == -ENOENT && (g->hostch || o->optional_devices)) {
            /* virtio ports appear asynchronously after the driver loads: keep looking */
            logf_(g, GUESTD_LOG_WARN,
                  "%s; looking again every second (the region is polled meanwhile)",
                  xpv_error_str(err, rc));
            rc = 0;
        }
        if (rc < 0)
            goto fail;
    }
    if (!g->hostch && g->port_fd < 0 && !g->port_wanted && !o->optional_devices) {
        rc = xpv_error_set(err, -ENODEV, "neither an ivshmem region nor a port: nothing to follow");
        goto fail;
    }
    if (!(g->dec = xpv_frame_decoder_new(0))) {
        rc = xpv_error_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (o->hotplug) {
        g->uevent_fd = guestd_uevent_open();
        if (g->uevent_fd < 0)
            logf_(g, GUESTD_LOG_WARN,
                  "no uevent socket (%s): hot-added CPUs and memory stay offline",
                  strerror(-g->uevent_fd));
    }
    if (o->follow_dir && o->follow_dir[0] && !(g->follow = guestd_follow_new(o->follow_dir))) {
        rc = xpv_error_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = xpv_publisher_open(o->record, &g->pub, err)) < 0)
        goto fail;
    /* re-sync: the host's current record (after our own restart, or a kick sent while the
     * agent was not running), else the guest's own view */
    poll_ivshmem(g);
    if (!g->have_host)
        republish(g);
    *out = g;
    return 0;
fail:
    guestd_close(g);
    return rc;
}

int guestd_step(struct guestd *g, int timeout_ms)
{
    if (g->port_fd < 0 && g->port_wanted && now_ns() >= g->port_retry_ns) {
        struct xpv_error err = {0};
        g->port_retry_ns = now_ns() + 1000000000u;
        if (open_port(g, &err) == 0)
            logf_(g, GUESTD_LOG_WARN, "the kick port appeared");
    }
    struct pollfd p[2];
    int n = 0, ip = -1, iu = -1;
    if (g->port_fd >= 0 && !g->port_hup) {
        ip = n;
        p[n++] = (struct pollfd){.fd = g->port_fd, .events = POLLIN};
    }
    if (g->uevent_fd >= 0) {
        iu = n;
        p[n++] = (struct pollfd){.fd = g->uevent_fd, .events = POLLIN};
    }
    int t = timeout_ms < 0 || timeout_ms > g->o.poll_ms ? g->o.poll_ms : timeout_ms;
    uint64_t t0 = now_ns();
    int r = poll(p, (nfds_t)n, t);
    if (r < 0 && errno != EINTR)
        return -errno;
    g->port_hup = false;
    if (r > 0 && ip >= 0 && p[ip].revents) {
        if (p[ip].revents & POLLIN)
            read_port(g);
        else if (p[ip].revents & (POLLHUP | POLLERR)) {
            g->port_hup = true; /* the host end is closed: poll it again next time */
            uint64_t spent = (now_ns() - t0) / 1000000u;
            if ((int)spent < t) {
                struct timespec ts = {0, (long)(t - (int)spent) * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
    }
    if (r > 0 && iu >= 0 && p[iu].revents & POLLIN)
        read_uevents(g);
    poll_ivshmem(g); /* a missed kick, or a host without a port */
    return 0;
}

void guestd_stats(const struct guestd *g, struct guestd_stats *out)
{
    *out = g->st;
}

const struct guestd_topo *guestd_topology(const struct guestd *g)
{
    return &g->topo;
}

void guestd_close(struct guestd *g)
{
    if (!g)
        return;
    drop_host(g);
    xpv_channel_close(g->hostch);
    if (g->own_port && g->port_fd >= 0)
        close(g->port_fd);
    if (g->uevent_fd >= 0)
        close(g->uevent_fd);
    xpv_frame_decoder_free(g->dec);
    xpv_publisher_close(g->pub);
    guestd_follow_free(g->follow);
    free(g);
}
