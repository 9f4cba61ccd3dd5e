/*
 * hostd_metrics.c — the daemon's metrics in the Prometheus text exposition format (version
 * 0.0.4; docs/hostd.md, "Metrics"), and the HTTP endpoint that serves them from the loop.
 *
 * Names follow Prometheus's conventions: an `xpv_` prefix, `xpv_hostd_` for the daemon and
 * `xpv_domain_` per domain (label `domain`, and `kind`), base units in the name (`_seconds`,
 * `_bytes`, `_ratio`), counters ending in `_total`, every family with its `# HELP` and
 * `# TYPE` before its samples, label values escaped (backslash, double quote, newline).
 *
 * The endpoint (off unless metrics_listen / --metrics gives an address) faces whoever can
 * reach the port; the daemon is root. So, as the control socket (hostd_control.c): every
 * client is non-blocking and served from the loop; its request head must arrive whole within
 * HOSTD_MET_DEADLINE_MS and HOSTD_MET_REQ_MAX bytes (larger: 431, then closed), its answer be
 * read within as long again, or it is dropped; HOSTD_MET_MAX_CLIENTS at a time, the oldest
 * dropped for a newcomer when full. Only `GET /metrics` (and HEAD) is answered; the answer
 * closes the connection. Nothing is read but the request head, nothing changes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostd.h"

/* ---- the text ---- */

struct buf {
    char *p;
    size_t n, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)w;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value as the format wants it: \ " and newline escaped. */
static const char *esc(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
    return out;
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist(struct buf *b, const char *name, const char *labels, const struct hostd_hist *hh)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (unsigned i = 0; i < HOSTD_HIST_BUCKETS; i++) {
        cum += hh->bucket[i];
        bprintf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, hostd_hist_le[i],
                (unsigned long long)cum);
    }
    bprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
            (unsigned long long)hh->count);
    bprintf(b, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            hh->sum);
    bprintf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
            (unsigned long long)hh->count);
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    bprintf(b, "%s %llu\n", name, (unsigned long long)v);
}

static const char *kind_name(enum hostd_kind k)
{
    static const char *const names[] = {"pids", "cgroup", "command", "vm"};
    return (unsigned)k < 4 ? names[k] : "?";
}

/* {domain="...",kind="..."} without the braces */
static void dlabels(const struct hostd_domain *d, char *out, size_t cap)
{
    char e[2 * HOSTD_NAME_MAX + 4];
    snprintf(out, cap, "domain=\"%s\",kind=\"%s\"", esc(d->conf.name, e, sizeof(e)),
             kind_name(d->conf.kind));
}

char *hostd_metrics_text(struct hostd *h)
{
    struct buf b = {.cap = 16384};
    if (!(b.p = malloc(b.cap)))
        return NULL;
    b.p[0] = 0;
    const struct hostd_stats *s = &h->stats;
    struct hostd_ops_state zero = {0}, *os = hostd_ops_state_get(h);
    if (!os)
        os = &zero;
    os->metrics_requests++;

    family(&b, "xpv_hostd_domains", "gauge", "Domains the daemon follows.");
    bprintf(&b, "xpv_hostd_domains %u\n", h->nr_domains);
    counter(&b, "xpv_hostd_rounds_total", "Placement rounds run.", s->rounds);
    family(&b, "xpv_hostd_round_duration_seconds", "histogram",
           "Time one round took: refresh, place, apply, publish, move pages.");
    hist(&b, "xpv_hostd_round_duration_seconds", "", &os->round_seconds);
    family(&b, "xpv_hostd_round_decisions", "gauge", "Moves the last round decided and applied.");
    bprintf(&b, "xpv_hostd_round_decisions %llu\n", (unsigned long long)os->last_round_decisions);
    family(&b, "xpv_hostd_decisions_total", "counter",
           "Placement moves applied, by the rounds (the policy, fixed placements) or by an "
           "operator's request on the control socket.");
    bprintf(&b, "xpv_hostd_decisions_total{source=\"round\"} %llu\n", (unsigned long long)s->moves);
    bprintf(&b, "xpv_hostd_decisions_total{source=\"operator\"} %llu\n",
            (unsigned long long)s->manual_moves);
    counter(&b, "xpv_hostd_pages_moved_total", "Pages the page mover moved.", s->pages_moved);
    counter(&b, "xpv_hostd_page_moves_failed_total", "Pages the kernel did not move.",
            s->pages_failed);
    counter(&b, "xpv_hostd_records_published_total", "Topology records published.", s->publishes);
    counter(&b, "xpv_hostd_errors_total", "Operations that failed and were logged.", s->errors);
    counter(&b, "xpv_hostd_vanished_total", "Threads or processes that exited mid-operation.",
            s->vanished);
    counter(&b, "xpv_hostd_control_dropped_total",
            "Control socket clients dropped (too slow, too long, evicted).", s->control_dropped);
    counter(&b, "xpv_hostd_qmp_timeouts_total", "QMP calls a QEMU did not answer in time.",
            s->qmp_timeouts);
    family(&b, "xpv_hostd_reloads_total", "counter",
           "Configurations read again on SIGHUP, applied or rejected.");
    bprintf(&b, "xpv_hostd_reloads_total{result=\"applied\"} %llu\n",
            (unsigned long long)os->reloads);
    bprintf(&b, "xpv_hostd_reloads_total{result=\"rejected\"} %llu\n",
            (unsigned long long)os->reloads_rejected);
    counter(&b, "xpv_hostd_metrics_requests_total", "Metrics texts produced (this one included).",
            os->metrics_requests);
    counter(&b, "xpv_hostd_metrics_dropped_total",
            "Metrics endpoint clients dropped (too slow, too long, evicted).", os->metrics_dropped);

    char l[256], e[32];
    family(&b, "xpv_domain_alive", "gauge", "1 when the domain has live processes.");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        dlabels(&h->domains[k], l, sizeof(l));
        bprintf(&b, "xpv_domain_alive{%s} %d\n", l, h->domains[k].alive ? 1 : 0);
    }
    family(&b, "xpv_domain_threads", "gauge", "Threads (vCPUs for a VM) seen in the last round.");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        dlabels(&h->domains[k], l, sizeof(l));
        bprintf(&b, "xpv_domain_threads{%s} %u\n", l, h->domains[k].threads);
    }
    family(&b, "xpv_domain_nodes", "gauge",
           "Number of NUMA nodes the domain is bound to (0: not bound).");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        dlabels(&h->domains[k], l, sizeof(l));
        bprintf(&b, "xpv_domain_nodes{%s} %d\n", l, __builtin_popcountll(h->domains[k].nodes));
    }
    family(&b, "xpv_domain_node_bound", "gauge",
           "1 for each NUMA node (OS id) the domain is bound to.");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        const struct hostd_domain *d = &h->domains[k];
        dlabels(d, l, sizeof(l));
        for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++)
            if (d->nodes >> i & 1)
                bprintf(&b, "xpv_domain_node_bound{%s,node=\"%d\"} 1\n", l, h->topo->nodes[i].id);
    }
    family(&b, "xpv_domain_memory_bytes", "gauge",
           "The domain's memory per NUMA node (OS id), from numa_maps.");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        const struct hostd_domain *d = &h->domains[k];
        dlabels(d, l, sizeof(l));
        for (unsigned i = 0; i < h->topo->nr_nodes && i < XPV_PLACE_MAX_NODES; i++)
            if (d->mem[i])
                bprintf(&b, "xpv_domain_memory_bytes{%s,node=\"%s\"} %llu\n", l,
                        (snprintf(e, sizeof(e), "%d", h->topo->nodes[i].id), e),
                        (unsigned long long)d->mem[i]);
    }
    family(&b, "xpv_domain_local_access_ratio", "gauge",
           "Estimated share of the domain's memory accesses that are local: the share of its "
           "memory on the nodes its threads are bound to (1 when unbound or without memory).");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        dlabels(&h->domains[k], l, sizeof(l));
        bprintf(&b, "xpv_domain_local_access_ratio{%s} %.6g\n", l,
                hostd_locality(h, &h->domains[k]));
    }
    family(&b, "xpv_domain_pages_moved_total", "counter",
           "Pages of the domain the page mover moved.");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        dlabels(&h->domains[k], l, sizeof(l));
        bprintf(&b, "xpv_domain_pages_moved_total{%s} %llu\n", l,
                (unsigned long long)h->domains[k].pages_moved);
    }
    family(&b, "xpv_domain_record_generation", "gauge",
           "Generation of the domain's topology record (0: not published).");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        dlabels(&h->domains[k], l, sizeof(l));
        bprintf(&b, "xpv_domain_record_generation{%s} %llu\n", l,
                (unsigned long long)h->domains[k].generation);
    }
    family(&b, "xpv_domain_ack_latency_seconds", "histogram",
           "VMs: time from publishing a record to the guest agent's ACK of it (since the VM "
           "was attached).");
    for (unsigned k = 0; k < h->nr_domains; k++) {
        const struct hostd_hist *hh = hostd_vm_ack_hist(&h->domains[k]);
        if (!hh)
            continue;
        dlabels(&h->domains[k], l, sizeof(l));
        hist(&b, "xpv_domain_ack_latency_seconds", l, hh);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the request parser (untrusted bytes) ---- */

static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int hostd_http_parse(const char *buf, size_t len)
{
    if (len > HOSTD_MET_REQ_MAX)
        len = HOSTD_MET_REQ_MAX;
    /* the head ends at a blank line (CRLF CRLF, or bare LFs) */
    size_t end = 0;
    bool done = false;
    for (size_t i = 0; i < len && !done; i++)
        if (buf[i] == '\n') {
            if (i + 1 < len && buf[i + 1] == '\n')
                end = i + 2, done = true;
            else if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
                end = i + 3, done = true;
        }
    if (!done)
        return len >= HOSTD_MET_REQ_MAX ? 431 : 0;
    /* request line: METHOD SP TARGET SP HTTP/1.x */
    size_t i = 0, m0 = 0;
    while (i < end && tchar(buf[i]))
        i++;
    size_t mlen = i - m0;
    if (!mlen || i >= end || buf[i] != ' ')
        return 400;
    size_t t0 = ++i;
    while (i < end && buf[i] > ' ' && buf[i] < 0x7f)
        i++;
    size_t tlen = i - t0;
    if (!tlen || i >= end || buf[i] != ' ')
        return 400;
    i++;
    if (end - i < 8 || memcmp(buf + i, "HTTP/1.", 7) || (buf[i + 7] != '0' && buf[i + 7] != '1'))
        return 400;
    i += 8;
    if (i < end && buf[i] == '\r')
        i++;
    if (i >= end || buf[i] != '\n')
        return 400;
    i++;
    /* header fields: NAME ":" value, no control characters but tab */
    while (i < end) {
        size_t l0 = i;
        while (i < end && buf[i] != '\n')
            i++;
        size_t llen = i - l0;
        if (llen && buf[l0 + llen - 1] == '\r')
            llen--;
        i++;
        if (!llen)
            break; /* the blank line */
        size_t k = l0;
        while (k < l0 + llen && tchar(buf[k]))
            k++;
        if (k == l0 || k >= l0 + llen || buf[k] != ':')
            return 400;
        for (; k < l0 + llen; k++)
            if ((unsigned char)buf[k] < ' ' && buf[k] != '\t')
                return 400;
    }
    bool get = (mlen == 3 && !memcmp(buf, "GET", 3)) || (mlen == 4 && !memcmp(buf, "HEAD", 4));
    if (!get)
        return 405;
    size_t plen = 0;
    while (plen < tlen && buf[t0 + plen] != '?')
        plen++;
    if (plen == 8 && !memcmp(buf + t0, "/metrics", 8))
        return 200;
    return 404;
}

int hostd_metrics_addr(const char *text, struct sockaddr_storage *sa, unsigned *salen,
                       struct xpv_error *err)
{
    char host[64];
    const char *colon;
    memset(sa, 0, sizeof(*sa));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return xpv_error_set(err, -EINVAL, "'%s' is not [IPv6]:PORT", text);
        snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return xpv_error_set(err, -EINVAL,
                                 "'%s' is not IP:PORT (like 127.0.0.1:9464 or [::1]:9464)", text);
        snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535)
        return xpv_error_set(err, -EINVAL, "'%s': the port wants 1..65535", text);
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
    if (text[0] != '[' && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *salen = sizeof(*a4);
    } else if (text[0] == '[' && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *salen = sizeof(*a6);
    } else {
        return xpv_error_set(err, -EINVAL,
                             "'%s': '%s' is not a numeric IPv4 address or a bracketed IPv6 one "
                             "(no host names)",
                             text, host);
    }
    return 0;
}

/* ---- the endpoint ---- */

struct met_client {
    int fd; /* -1: free slot */
    uint64_t since_ns, deadline_ns;
    char in[HOSTD_MET_REQ_MAX];
    size_t n;
    char *out; /* the answer being written; NULL while the request comes in */
    size_t out_len, out_off;
};

struct hostd_met {
    int lfd;
    struct met_client c[HOSTD_MET_MAX_CLIENTS];
};

static void drop(struct hostd *h, struct met_client *k, bool counted)
{
    if (counted) {
        struct hostd_ops_state *os = hostd_ops_state_get(h);
        if (os)
            os->metrics_dropped++;
    }
    close(k->fd);
    free(k->out);
    k->fd = -1;
    k->out = NULL;
    k->n = k->out_len = k->out_off = 0;
}

struct hostd_met *hostd_met_new(const char *addr, struct xpv_error *err)
{
    struct sockaddr_storage sa;
    unsigned salen;
    int rc = hostd_metrics_addr(addr, &sa, &salen, err);
    if (rc < 0)
        return NULL;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) {
        xpv_error_set(err, -errno, "%s: socket: %s", addr, strerror(errno));
        return NULL;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 16) < 0) {
        xpv_error_set(err, -errno, "%s: %s", addr, strerror(errno));
        close(fd);
        return NULL;
    }
    struct hostd_met *m = calloc(1, sizeof(*m));
    if (!m) {
        xpv_error_set(err, -ENOMEM, "out of memory");
        close(fd);
        return NULL;
    }
    m->lfd = fd;
    for (unsigned i = 0; i < HOSTD_MET_MAX_CLIENTS; i++)
        m->c[i].fd = -1;
    return m;
}

void hostd_met_free(struct hostd_met *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < HOSTD_MET_MAX_CLIENTS; i++)
        if (m->c[i].fd >= 0) {
            close(m->c[i].fd);
            free(m->c[i].out);
        }
    close(m->lfd);
    free(m);
}

int hostd_met_pollfds(const struct hostd_met *m, struct pollfd *p)
{
    p[0] = (struct pollfd){.fd = m->lfd, .events = POLLIN};
    uint64_t now = hostd_now_ns(), next = 0;
    for (unsigned i = 0; i < HOSTD_MET_MAX_CLIENTS; i++) {
        const struct met_client *k = &m->c[i];
        p[1 + i] = (struct pollfd){.fd = k->fd, .events = k->out ? POLLOUT : POLLIN};
        if (k->fd >= 0 && (!next || k->deadline_ns < next))
            next = k->deadline_ns;
    }
    if (!next)
        return -1;
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static void answer(struct hostd *h, struct met_client *k, int status)
{
    static const char *const reason[] = {[200] = "OK",
                                         [400] = "Bad Request",
                                         [404] = "Not Found",
                                         [405] = "Method Not Allowed",
                                         [431] = "Request Header Fields Too Large"};
    char *body = NULL;
    if (status == 200 && !(body = hostd_metrics_text(h)))
        status = 500;
    const char *why = status == 500 ? "Internal Server Error" : reason[status];
    const char *type = status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain";
    char err[96];
    if (!body)
        snprintf(err, sizeof(err), "%d %s: the endpoint serves GET /metrics\n", status, why);
    const char *b = body ? body : err;
    bool head = k->n >= 5 && !memcmp(k->in, "HEAD ", 5);
    size_t blen = strlen(b);
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, why, type, blen);
    k->out_len = (size_t)hl + (head ? 0 : blen);
    k->out = malloc(k->out_len + 1);
    if (k->out) {
        memcpy(k->out, hdr, (size_t)hl);
        if (!head)
            memcpy(k->out + hl, b, blen);
    }
    free(body);
    k->out_off = 0;
    k->deadline_ns = hostd_now_ns() + HOSTD_MET_DEADLINE_MS * 1000000ull;
    if (!k->out)
        drop(h, k, true);
}

void hostd_met_serve(struct hostd *h, struct hostd_met *m, const struct pollfd *p)
{
    for (unsigned i = 0; i < HOSTD_MET_MAX_CLIENTS; i++) {
        struct met_client *k = &m->c[i];
        if (k->fd < 0 || p[1 + i].fd != k->fd || !p[1 + i].revents)
            continue;
        if (!k->out) {
            ssize_t r = recv(k->fd, k->in + k->n, sizeof(k->in) - k->n, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                drop(h, k, false);
                continue;
            }
            k->n += (size_t)r;
            int status = hostd_http_parse(k->in, k->n);
            if (status)
                answer(h, k, status);
            if (k->fd < 0 || !k->out)
                continue;
        }
        /* write what the socket takes */
        ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w < 0) {
            drop(h, k, false);
            continue;
        }
        k->out_off += (size_t)w;
        if (k->out_off == k->out_len)
            drop(h, k, false);
    }
    /* newcomers: a bounded number per pass */
    for (unsigned a = 0; (p[0].revents & POLLIN) && a < HOSTD_MET_MAX_CLIENTS; a++) {
        int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        struct met_client *slot = NULL, *oldest = NULL;
        for (unsigned i = 0; i < HOSTD_MET_MAX_CLIENTS && !slot; i++) {
            if (m->c[i].fd < 0)
                slot = &m->c[i];
            else if (!oldest || m->c[i].since_ns < oldest->since_ns)
                oldest = &m->c[i];
        }
        if (!slot) {
            drop(h, oldest, true);
            slot = oldest;
        }
        slot->fd = fd;
        slot->since_ns = hostd_now_ns();
        slot->deadline_ns = slot->since_ns + HOSTD_MET_DEADLINE_MS * 1000000ull;
    }
    /* the deadlines */
    uint64_t now = hostd_now_ns();
    for (unsigned i = 0; i < HOSTD_MET_MAX_CLIENTS; i++)
        if (m->c[i].fd >= 0 && now >= m->c[i].deadline_ns)
            drop(h, &m->c[i], true);
}
