/*
 * hostd_control.c — the daemon's control socket (docs/hostd.md, "Control protocol"): a Unix
 * stream socket, owner-only (mode 0600, peers checked with SO_PEERCRED: the daemon's user or
 * root), one JSON object per line each way.
 *
 *   {"cmd":"domains"}                          → {"ok":true,"domains":[...],"stats":{...}}
 *   {"cmd":"move","domain":"db","nodes":"2"}   → {"ok":true,"nodes":"2","generation":N}
 *   {"cmd":"move","domain":"db","nodes":"auto"}→ back to automatic placement
 *   {"cmd":"move","domain":"vm","vcpu":1,"nodes":"3"} → one vCPU on node 3 ("auto": back)
 *   {"cmd":"vcpu-add","domain":"vm","vnode":2} → {"ok":true,"vcpu":N,"generation":N}
 *   {"cmd":"vcpu-del","domain":"vm","vcpu":4}  → {"ok":true} (the guest completes it later)
 *   {"cmd":"metrics"}                          → {"ok":true,"text":"# HELP ..."} (Prometheus text)
 *   anything else                              → {"ok":false,"error":"what was wrong"}
 *
 * Requests are untrusted bytes (fuzzed: tests/fuzz/fuzz_hostd_control.c); a bad one gets an
 * error reply and changes nothing.
 *
 * Clients are served from the daemon's loop (hostd_ctl): non-blocking sockets, each with its
 * own request and reply buffers and a deadline (HOSTD_CTL_DEADLINE_MS to send the request
 * line, the same again to read the reply), at most HOSTD_CTL_MAX_CLIENTS at a time. Nothing a
 * client does, or fails to do, can hold the loop: a slow or idle one is dropped, a full
 * table drops its oldest unfinished client for a newcomer. The client side
 * (hostd_control_request) checks who serves the socket (SO_PEERCRED: root or its own user)
 * before it sends anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hostd.h"

static const char *kind_name(enum hostd_kind k)
{
    static const char *const names[] = {"pids", "cgroup", "command", "vm"};
    return names[k];
}

static json_t *domain_json(const struct hostd *h, const struct hostd_domain *d)
{
    char nodes[128];
    hostd_format_nodes(h->topo, d->nodes, nodes, sizeof(nodes));
    json_t *mem = json_object();
    for (unsigned i = 0; i < h->topo->nr_nodes && i < XPV_PLACE_MAX_NODES; i++)
        if (d->mem[i]) {
            char id[16];
            snprintf(id, sizeof(id), "%d", h->topo->nodes[i].id);
            json_object_set_new(mem, id, json_integer((json_int_t)d->mem[i]));
        }
    json_t *pids = json_array();
    for (unsigned p = 0; p < d->nr_pids; p++)
        json_array_append_new(pids, json_integer(d->pids[p]));
    json_t *o = json_pack("{s:s, s:s, s:b, s:o, s:s, s:b, s:b, s:i, s:o, s:f, s:I, s:s}", "name",
                          d->conf.name, "kind", kind_name(d->conf.kind), "alive", d->alive, "pids",
                          pids, "nodes", nodes, "manual", d->pinned != 0, "moving_memory",
                          d->moving, "threads", (int)d->threads, "mem_bytes_by_node", mem,
                          "locality", hostd_locality(h, d), "generation", (json_int_t)d->generation,
                          "reason", d->reason);
    if (o && d->vm)
        json_object_set_new(o, "vm", hostd_vm_json(h, d));
    return o;
}

__attribute__((format(printf, 1, 2))) static char *reply_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The message may quote the request's bytes (jansson's parse errors do), which need not be
     * UTF-8: a JSON string must be, so anything but printable ASCII becomes '?'. */
    for (char *c = msg; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
    json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* A VM request's domain and its integer `key` (0..65535) in *v; NULL with the refusal in *s. */
static struct hostd_domain *vm_args(struct hostd *h, json_t *req, const char *cmd, const char *key,
                                    unsigned *v, char **s)
{
    const char *name = json_string_value(json_object_get(req, "domain"));
    json_t *x = json_object_get(req, key);
    struct hostd_domain *d = name ? hostd_find(h, name) : NULL;
    if (!name || !json_is_integer(x))
        *s = reply_error("\"%s\" wants a \"domain\" string and a \"%s\" integer", cmd, key);
    else if (!d)
        *s = reply_error("no domain named '%.64s' (xpv domains lists them)", name);
    else if (json_integer_value(x) < 0 || json_integer_value(x) > 65535)
        *s = reply_error("%s %lld out of range", key, (long long)json_integer_value(x));
    else {
        *v = (unsigned)json_integer_value(x);
        return d;
    }
    return NULL;
}

/* {"cmd":"move","domain":D,"vcpu":N,"nodes":"one node"|"auto"} */
static char *move_vcpu(struct hostd *h, const char *name, json_t *vcpu, uint64_t mask,
                       struct xpv_error *err)
{
    struct hostd_domain *d = hostd_find(h, name);
    if (!d)
        return reply_error("no domain named '%.64s' (xpv domains lists them)", name);
    if (!json_is_integer(vcpu) || json_integer_value(vcpu) < 0 || json_integer_value(vcpu) > 65535)
        return reply_error("\"vcpu\" wants a vCPU index");
    if (__builtin_popcountll(mask) > 1)
        return reply_error("a vCPU goes on one node, not several");
    int pos = mask ? __builtin_ctzll(mask) : -1;
    int rc = hostd_vm_pin_vcpu(h, d, (unsigned)json_integer_value(vcpu), pos, err);
    if (rc < 0)
        return reply_error("%s", xpv_error_str(err, rc));
    char node[16] = "auto";
    if (pos >= 0)
        snprintf(node, sizeof(node), "%d", h->topo->nodes[pos].id);
    json_t *rep = json_pack("{s:b, s:s, s:I, s:s, s:I}", "ok", 1, "domain", name, "vcpu",
                            (json_int_t)json_integer_value(vcpu), "nodes", node, "generation",
                            (json_int_t)d->generation);
    char *s = json_dumps(rep, JSON_COMPACT);
    json_decref(rep);
    return s;
}

void hostd_control_handle(struct hostd *h, const char *line, size_t len, char **out)
{
    json_error_t je;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je), *rep = NULL;
    char *s = NULL;
    const char *cmd;
    if (!req || !json_is_object(req)) {
        s = reply_error("the request is not a JSON object%s%s", req ? "" : ": ",
                        req ? "" : je.text);
        goto out;
    }
    cmd = json_string_value(json_object_get(req, "cmd"));
    if (!cmd) {
        s = reply_error("the request has no \"cmd\" (domains, move, vcpu-add, vcpu-del, metrics)");
    } else if (!strcmp(cmd, "domains")) {
        json_t *list = json_array();
        for (unsigned i = 0; i < h->nr_domains; i++)
            json_array_append_new(list, domain_json(h, &h->domains[i]));
        rep = json_pack("{s:b, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:b}", "ok", 1,
                        "domains", list, "stats", "rounds", (json_int_t)h->stats.rounds, "moves",
                        (json_int_t)h->stats.moves, "manual_moves",
                        (json_int_t)h->stats.manual_moves, "pages_moved",
                        (json_int_t)h->stats.pages_moved, "pages_failed",
                        (json_int_t)h->stats.pages_failed, "publishes",
                        (json_int_t)h->stats.publishes, "errors", (json_int_t)h->stats.errors,
                        "vanished", (json_int_t)h->stats.vanished, "dry_run", h->dry_run);
        json_t *st = json_object_get(rep, "stats");
        json_object_set_new(st, "control_dropped",
                            json_integer((json_int_t)h->stats.control_dropped));
        json_object_set_new(st, "qmp_timeouts", json_integer((json_int_t)h->stats.qmp_timeouts));
    } else if (!strcmp(cmd, "move")) {
        const char *name = json_string_value(json_object_get(req, "domain"));
        const char *nodes = json_string_value(json_object_get(req, "nodes"));
        if (!name || !nodes) {
            s = reply_error("\"move\" wants \"domain\" and \"nodes\" strings");
            goto out;
        }
        uint64_t mask = 0;
        struct xpv_error err = {0};
        int rc = 0;
        json_t *vcpu = json_object_get(req, "vcpu");
        if (strcmp(nodes, "auto") != 0)
            rc = hostd_parse_nodes(h->topo, nodes, &mask, &err);
        if (rc == 0 && vcpu) {
            s = move_vcpu(h, name, vcpu, mask, &err);
            goto out;
        }
        if (rc == 0 && !hostd_find(h, name))
            rc = xpv_error_set(&err, -ENOENT, "no domain named '%.64s' (xpv domains lists them)",
                               name);
        if (rc == 0 && h->dry_run && mask)
            rc = xpv_error_set(&err, -EPERM, "the daemon runs with --dry-run: nothing is moved");
        if (rc == 0)
            rc = hostd_move(h, name, mask, &err);
        if (rc < 0) {
            s = reply_error("%s", xpv_error_str(&err, rc));
            goto out;
        }
        struct hostd_domain *d = hostd_find(h, name);
        char now[128];
        hostd_format_nodes(h->topo, d->nodes, now, sizeof(now));
        rep = json_pack("{s:b, s:s, s:s, s:I}", "ok", 1, "domain", name, "nodes", now, "generation",
                        (json_int_t)d->generation);
    } else if (!strcmp(cmd, "metrics")) {
        char *text = hostd_metrics_text(h); /* the endpoint's text (hostd_metrics.c) */
        rep = text ? json_pack("{s:b, s:s}", "ok", 1, "text", text) : NULL;
        if (!text)
            s = reply_error("out of memory");
        free(text);
    } else if (!strcmp(cmd, "vcpu-add")) {
        struct xpv_error err = {0};
        unsigned vnode, index = 0;
        struct hostd_domain *d = vm_args(h, req, cmd, "vnode", &vnode, &s);
        int rc;
        if (d && (rc = hostd_vm_add_vcpu(h, d, (int)vnode, &index, &err)) < 0)
            s = reply_error("%s", xpv_error_str(&err, rc));
        else if (d)
            rep = json_pack("{s:b, s:s, s:i, s:I}", "ok", 1, "domain", d->conf.name, "vcpu",
                            (int)index, "generation", (json_int_t)d->generation);
    } else if (!strcmp(cmd, "vcpu-del")) {
        struct xpv_error err = {0};
        unsigned vcpu;
        struct hostd_domain *d = vm_args(h, req, cmd, "vcpu", &vcpu, &s);
        int rc;
        if (d && (rc = hostd_vm_del_vcpu(h, d, vcpu, &err)) < 0)
            s = reply_error("%s", xpv_error_str(&err, rc));
        else if (d)
            rep = json_pack("{s:b, s:s, s:i}", "ok", 1, "domain", d->conf.name, "vcpu", (int)vcpu);
    } else {
        s = reply_error(
                "unknown command \"%.64s\" (known: domains, move, vcpu-add, vcpu-del, metrics)",
                cmd);
    }
out:
    if (rep) {
        s = json_dumps(rep, JSON_COMPACT);
        json_decref(rep);
    }
    json_decref(req);
    if (s) {
        size_t n = strlen(s);
        char *t = realloc(s, n + 2);
        if (t) {
            t[n] = '\n';
            t[n + 1] = 0;
            s = t;
        }
    }
    *out = s;
}

static int fill_addr(struct sockaddr_un *a, const char *path, struct xpv_error *err)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return xpv_error_set(err, -ENAMETOOLONG, "socket path %s is too long (%zu bytes max)", path,
                             sizeof(a->sun_path) - 1);
    snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
    return 0;
}

int hostd_control_listen(const char *path, struct xpv_error *err)
{
    struct sockaddr_un a;
    int rc = fill_addr(&a, path, err);
    if (rc)
        return rc;
    char dir[sizeof(a.sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *dn = dirname(dir);
    struct stat st;
    if (stat(dn, &st) < 0 && (mkdir(dn, 0700) < 0 || stat(dn, &st) < 0))
        return xpv_error_set(err, -errno,
                             "cannot create %s for the control socket: %s (create it, mode "
                             "0700, or give --socket)",
                             dn, strerror(errno));
    /* a directory another user can write lets them swap the socket for their own */
    if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
        (st.st_mode & (S_IWGRP | S_IWOTH)))
        return xpv_error_set(err, -EPERM,
                             "%s may not hold the control socket: it must be a directory owned "
                             "by root or uid %d that no one else can write (mode 0700; it is "
                             "uid %d, mode %04o)",
                             dn, (int)geteuid(), (int)st.st_uid, (unsigned)(st.st_mode & 07777));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return xpv_error_set(err, -errno, "socket: %s", strerror(errno));
    /* A socket file left by a daemon that died: nobody answers it, so it can go. */
    if (stat(path, &st) == 0) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            close(fd);
            return xpv_error_set(err, -EADDRINUSE,
                                 "another daemon answers on %s (stop it, or give --socket)", path);
        }
        unlink(path);
    }
    mode_t old = umask(0177);
    rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "cannot listen on %s: %s", path, strerror(e));
    }
    return fd;
}

/* ---- the daemon's side: clients served from the loop ---- */

struct ctl_client {
    int fd;               /* -1: a free slot */
    pid_t pid;            /* the peer process (SO_PEERCRED) */
    uint64_t since_ns;    /* accepted (CLOCK_MONOTONIC) */
    uint64_t deadline_ns; /* the request complete by, then the reply read by */
    size_t len;           /* request bytes in `in` */
    char *out;            /* the reply being written; NULL while the request comes in */
    size_t out_len, out_off;
    char in[HOSTD_CTL_REQ_MAX];
};

struct hostd_ctl {
    int lfd;
    struct ctl_client c[HOSTD_CTL_MAX_CLIENTS];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct hostd_ctl *hostd_ctl_new(int lfd)
{
    struct hostd_ctl *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->lfd = lfd;
    for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++)
        c->c[i].fd = -1;
    return c;
}

static void client_close(struct ctl_client *k)
{
    if (k->fd >= 0)
        close(k->fd);
    free(k->out);
    k->fd = -1;
    k->out = NULL;
    k->len = k->out_len = k->out_off = 0;
}

/* A client the daemon gives up on: counted, and said at debug level only (a client that
 * misbehaves on purpose must not fill the log). */
static void client_drop(struct hostd *h, struct ctl_client *k, const char *why)
{
    h->stats.control_dropped++;
    hostd_log(h, HOSTD_LOG_DEBUG, NULL, "control: dropped a client: %s", why);
    client_close(k);
}

void hostd_ctl_free(struct hostd_ctl *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++)
        client_close(&c->c[i]);
    free(c);
}

int hostd_ctl_pollfds(const struct hostd_ctl *c, struct pollfd *p)
{
    p[0] = (struct pollfd){.fd = c->lfd, .events = POLLIN};
    uint64_t next = 0;
    for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++) {
        const struct ctl_client *k = &c->c[i];
        p[1 + i] = (struct pollfd){.fd = k->fd, .events = k->out ? POLLOUT : POLLIN};
        if (k->fd >= 0 && (!next || k->deadline_ns < next))
            next = k->deadline_ns;
    }
    if (!next)
        return -1;
    uint64_t now = mono_ns();
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/* Write what the socket takes of the reply; closed once it is all out. */
static void client_write(struct hostd *h, struct ctl_client *k)
{
    while (k->out_off < k->out_len) {
        ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            k->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;      /* the rest when poll says it can go */
        client_close(k); /* a client that left does not concern the daemon */
        return;
    }
    (void)h;
    client_close(k);
}

/* The request is in k->in[0..n): handle it, start the reply. */
static void client_request(struct hostd *h, struct ctl_client *k, size_t n)
{
    char *reply = NULL;
    hostd_control_handle(h, k->in, n, &reply);
    if (!reply) {
        client_drop(h, k, "out of memory for the reply");
        return;
    }
    k->out = reply;
    k->out_len = strlen(reply);
    k->out_off = 0;
    k->deadline_ns = mono_ns() + HOSTD_CTL_DEADLINE_MS * UINT64_C(1000000);
    client_write(h, k);
}

static void client_read(struct hostd *h, struct ctl_client *k)
{
    for (;;) {
        ssize_t n = recv(k->fd, k->in + k->len, sizeof(k->in) - k->len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* the client closed its side: what it sent is its request, if anything */
            if (n == 0 && k->len) {
                shutdown(k->fd, SHUT_RD);
                client_request(h, k, k->len);
            } else {
                client_close(k);
            }
            return;
        }
        char *nl = memchr(k->in + k->len, '\n', (size_t)n);
        k->len += (size_t)n;
        if (nl) {
            client_request(h, k, (size_t)(nl - k->in));
            return;
        }
        if (k->len == sizeof(k->in)) {
            /* an error reply, then the connection goes */
            char *e = reply_error("a request is one line of at most %d bytes", HOSTD_CTL_REQ_MAX);
            size_t el = e ? strlen(e) : 0;
            char *t = e ? realloc(e, el + 2) : NULL;
            if (!t) {
                free(e);
                client_drop(h, k, "request too long");
                return;
            }
            memcpy(t + el, "\n", 2);
            h->stats.control_dropped++;
            k->out = t;
            k->out_len = el + 1;
            k->out_off = 0;
            k->deadline_ns = mono_ns() + HOSTD_CTL_DEADLINE_MS * UINT64_C(1000000);
            client_write(h, k);
            return;
        }
    }
}

/* A free slot; when full, the oldest client still sending its request gives its slot up.
 * NULL when every client is being answered. */
static struct ctl_client *free_slot(struct hostd *h, struct hostd_ctl *c)
{
    struct ctl_client *old = NULL;
    for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++) {
        struct ctl_client *k = &c->c[i];
        if (k->fd < 0)
            return k;
        if (!k->out && (!old || k->since_ns < old->since_ns))
            old = k;
    }
    if (old)
        client_drop(h, old, "the table is full and it had not sent its request");
    return old;
}

static void accept_clients(struct hostd *h, struct hostd_ctl *c)
{
    for (unsigned n = 0; n < HOSTD_CTL_MAX_CLIENTS; n++) {
        int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct ucred cr;
        socklen_t cl = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
            (cr.uid != 0 && cr.uid != geteuid())) {
            hostd_log(h, HOSTD_LOG_WARN, NULL, "control: refused a peer with uid %d", (int)cr.uid);
            close(fd);
            continue;
        }
        unsigned mine = 0;
        for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++)
            mine += c->c[i].fd >= 0 && c->c[i].pid == cr.pid;
        if (mine >= HOSTD_CTL_PER_PEER) { /* one process cannot take every slot */
            h->stats.control_dropped++;
            close(fd);
            continue;
        }
        struct ctl_client *k = free_slot(h, c);
        if (!k) {
            h->stats.control_dropped++;
            close(fd);
            continue;
        }
        uint64_t now = mono_ns();
        *k = (struct ctl_client){.fd = fd,
                                 .pid = cr.pid,
                                 .since_ns = now,
                                 .deadline_ns = now + HOSTD_CTL_DEADLINE_MS * UINT64_C(1000000)};
        /* a client sends its request as soon as it is connected, before the daemon gets to
         * accept it: served now, it cannot be dropped for a newcomer (only unfinished
         * clients give way), however fast others connect */
        client_read(h, k);
    }
}

void hostd_ctl_serve(struct hostd *h, struct hostd_ctl *c, const struct pollfd *p)
{
    for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++) {
        struct ctl_client *k = &c->c[i];
        if (k->fd < 0 || p[1 + i].fd != k->fd || !p[1 + i].revents)
            continue;
        if (k->out)
            client_write(h, k);
        else
            client_read(h, k);
    }
    if (p[0].revents)
        accept_clients(h, c);
    uint64_t now = mono_ns();
    for (unsigned i = 0; i < HOSTD_CTL_MAX_CLIENTS; i++) {
        struct ctl_client *k = &c->c[i];
        if (k->fd >= 0 && now >= k->deadline_ns)
            client_drop(h, k,
                        k->out ? "it did not read its reply in time"
                               : "no complete request within the deadline");
    }
}

int hostd_control_request(const char *path, const char *request, char **reply,
                          struct xpv_error *err)
{
    struct sockaddr_un a;
    int rc = fill_addr(&a, path, err);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return xpv_error_set(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e,
                             "no daemon answers on %s: %s (is `xpv hostd` running? "
                             "--socket or $XPV_HOSTD_SOCKET name another socket)",
                             path, strerror(e));
    }
    /* Who answers? Before a byte goes out: whoever could put a socket there must not be
     * able to read our requests or answer them. */
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cl != sizeof(cr)) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "%s: cannot tell who serves it (SO_PEERCRED: %s)", path,
                             strerror(e));
    }
    if (cr.uid != 0 && cr.uid != geteuid()) {
        close(fd);
        return xpv_error_set(err, -EPERM,
                             "%s is served by uid %d (pid %d), neither root nor you (uid %d): not "
                             "the host daemon; nothing was sent",
                             path, (int)cr.uid, (int)cr.pid, (int)geteuid());
    }
    size_t n = strlen(request);
    if (send(fd, request, n, MSG_NOSIGNAL) != (ssize_t)n || send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "sending to %s: %s", path, strerror(e));
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    rc = 0;
    while (buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0) {
            rc = xpv_error_set(err, -ETIMEDOUT, "the daemon on %s did not answer in 10 s", path);
            break;
        }
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0) {
            rc = xpv_error_set(err, -ECONNRESET, "the daemon on %s closed the connection", path);
            break;
        }
        len += (size_t)got;
        buf[len] = 0;
        if (memchr(buf, '\n', len))
            break;
        if (len + 1 == cap) {
            char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rc = xpv_error_set(err, -EMSGSIZE, "reply from %s too long", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    if (!buf)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    if (rc) {
        free(buf);
        return rc;
    }
    *reply = buf;
    return 0;
}
