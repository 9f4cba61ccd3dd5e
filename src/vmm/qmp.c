/*
 * qmp.c — the QMP client (xpv/qmp.h): connection, greeting, capabilities negotiation, commands
 * with ids, events kept aside.
 *
 * Framing: QEMU writes every message as one line of JSON ending in "\r\n" and escapes newlines
 * inside strings, so a line is a message. A line longer than XPV_QMP_MAX_MESSAGE breaks the
 * framing: the handle is then marked broken (-EPROTO from then on). A line that does not parse
 * is dropped and counted; the command waiting gets -EPROTO (it cannot know whether that line
 * was its reply); its real reply, should it come later, is dropped as stale by its id.
 *
 * Invariants: buf[0..len) holds received bytes not yet consumed; `broken` is 0 or the negative
 * errno every later call returns (-ECONNRESET once the peer closed). No global state.
 */
#define _GNU_SOURCE
#include "xpv/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct xpv_qmp {
    int fd;
    int timeout_ms;
    pid_t peer;
    int broken;
    char *buf;
    size_t len, cap;
    uint64_t next_id;
    unsigned version[3];
    struct xpv_qmp_stats st;
    char events[XPV_QMP_EVENT_RING][48];
    unsigned ev_next; /* ring slot the next event name goes to */
    xpv_qmp_event_fn cb;
    void *cb_arg;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
    int64_t r = deadline - now_ms();
    return r < 0 ? 0 : r > INT32_MAX ? INT32_MAX : (int)r;
}

/* A printable excerpt of untrusted bytes, for messages. */
static const char *excerpt(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    for (; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static int mark_closed(struct xpv_qmp *q, struct xpv_error *err, const char *how)
{
    q->broken = -ECONNRESET;
    return xpv_error_set(err, -ECONNRESET, "QMP connection closed by QEMU (%s)%s", how,
                         q->len ? ", in the middle of a message" : "");
}

/* Wait up to the deadline for more bytes. 0: got some; negative errno otherwise. */
static int fill(struct xpv_qmp *q, int64_t deadline, int block, struct xpv_error *err)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4096;
        char *b = realloc(q->buf, cap);
        if (!b)
            return xpv_error_set(err, -ENOMEM, "QMP: out of memory for a %zu-byte buffer", cap);
        q->buf = b;
        q->cap = cap;
    }
    for (;;) {
        struct pollfd p = {.fd = q->fd, .events = POLLIN};
        int r = poll(&p, 1, block ? remaining(deadline) : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return xpv_error_set(err, -errno, "QMP: poll: %s", strerror(errno));
        if (r == 0)
            return block ? xpv_error_set(err, -ETIMEDOUT, "QMP: no answer from QEMU within %d ms",
                                         q->timeout_ms)
                         : -EAGAIN;
        ssize_t n = recv(q->fd, q->buf + q->len, q->cap - q->len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
            return mark_closed(q, err, strerror(errno));
        if (n < 0)
            return xpv_error_set(err, -errno, "QMP: recv: %s", strerror(errno));
        if (n == 0)
            return mark_closed(q, err, "end of stream");
        q->len += (size_t)n;
        return 0;
    }
}

/* Take the next complete line out of buf: 1 with *msg (NULL for a blank or malformed line,
 * counted), 0 when no complete line is buffered, negative when framing is lost. */
static int next_line(struct xpv_qmp *q, json_t **msg, struct xpv_error *err)
{
    *msg = NULL;
    char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
    if (!nl) {
        if (q->len > XPV_QMP_MAX_MESSAGE) {
            q->broken = -EPROTO;
            return xpv_error_set(err, -EPROTO, "QMP: a message longer than %u bytes",
                                 XPV_QMP_MAX_MESSAGE);
        }
        return 0;
    }
    size_t n = (size_t)(nl - q->buf), used = n + 1;
    while (n && (q->buf[n - 1] == '\r' || q->buf[n - 1] == ' ' || q->buf[n - 1] == '\t'))
        n--;
    size_t s = 0;
    while (s < n && (q->buf[s] == ' ' || q->buf[s] == '\t'))
        s++;
    int rc = 1;
    if (s < n) {
        json_error_t je;
        json_t *m = json_loadb(q->buf + s, n - s, 0, &je);
        if (!m || !json_is_object(m)) {
            char ex[100];
            q->st.malformed++;
            xpv_error_set(err, -EPROTO, "QMP: malformed message (%s): '%s'",
                          m ? "not a JSON object" : je.text,
                          excerpt(q->buf + s, n - s, ex, sizeof(ex)));
            json_decref(m);
            rc = -EPROTO; /* the line is consumed; framing is intact */
        } else {
            *msg = m;
        }
    }
    memmove(q->buf, q->buf + used, q->len - used);
    q->len -= used;
    return rc;
}

static void handle_event(struct xpv_qmp *q, json_t *m)
{
    const char *name = json_string_value(json_object_get(m, "event"));
    q->st.events++;
    snprintf(q->events[q->ev_next], sizeof(q->events[0]), "%s", name ? name : "?");
    q->ev_next = (q->ev_next + 1) % XPV_QMP_EVENT_RING;
    if (q->cb && name)
        q->cb(q->cb_arg, name, json_object_get(m, "data"), json_object_get(m, "timestamp"));
}

enum kind { K_OTHER, K_EVENT, K_REPLY, K_GREETING };

static enum kind classify(json_t *m)
{
    if (json_is_string(json_object_get(m, "event")))
        return K_EVENT;
    if (json_object_get(m, "return") || json_is_object(json_object_get(m, "error")))
        return K_REPLY;
    if (json_is_object(json_object_get(m, "QMP")))
        return K_GREETING;
    return K_OTHER;
}

/* Read messages until the reply with id `id` (any id when id == 0: the greeting phase uses
 * want == K_GREETING instead). Returns 0 with *reply, or negative errno. */
static int wait_message(struct xpv_qmp *q, enum kind want, uint64_t id, int64_t deadline,
                        json_t **reply, struct xpv_error *err)
{
    for (;;) {
        json_t *m;
        int rc = next_line(q, &m, err);
        if (rc < 0 && q->broken)
            return rc;
        if (rc < 0) /* a malformed line: in the greeting phase it means "not QMP" */
            return rc;
        if (rc == 0) {
            if ((rc = fill(q, deadline, 1, err)) < 0)
                return rc;
            continue;
        }
        if (!m)
            continue;
        enum kind k = classify(m);
        if (k == K_EVENT && want != K_GREETING) {
            handle_event(q, m);
            json_decref(m);
            continue;
        }
        if (k == want && want == K_GREETING) {
            *reply = m;
            return 0;
        }
        if (k == K_REPLY && want == K_REPLY) {
            json_t *jid = json_object_get(m, "id");
            /* We always send an id and QEMU echoes it; a reply without one is an error QEMU
             * raised before it could read ours (a parse error), hence to this command. */
            if (!jid || (json_is_integer(jid) && (uint64_t)json_integer_value(jid) == id)) {
                *reply = m;
                return 0;
            }
            q->st.stale++;
            json_decref(m);
            continue;
        }
        char ex[100];
        char *s = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        q->st.malformed++;
        xpv_error_set(err, -EPROTO, "QMP: unexpected message: '%s'",
                      s ? excerpt(s, strlen(s), ex, sizeof(ex)) : "?");
        free(s);
        return -EPROTO;
    }
}

static int send_all(struct xpv_qmp *q, const char *p, size_t n, int64_t deadline,
                    struct xpv_error *err)
{
    while (n) {
        ssize_t w = send(q->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
            return mark_closed(q, err, strerror(errno));
        if (w < 0 && errno != EAGAIN)
            return xpv_error_set(err, -errno, "QMP: send: %s", strerror(errno));
        struct pollfd pf = {.fd = q->fd, .events = POLLOUT};
        int r = poll(&pf, 1, remaining(deadline));
        if (r == 0)
            return xpv_error_set(err, -ETIMEDOUT, "QMP: QEMU does not read its socket (%d ms)",
                                 q->timeout_ms);
        if (r < 0 && errno != EINTR)
            return xpv_error_set(err, -errno, "QMP: poll: %s", strerror(errno));
    }
    return 0;
}

/* Dispatch the complete messages already buffered behind a reply: after a call returns, no
 * event may wait in the buffer, where poll() on the fd cannot see it. */
static void drain_buffered(struct xpv_qmp *q)
{
    for (;;) {
        json_t *m;
        int rc = next_line(q, &m, NULL);
        if (rc == 0 || (rc < 0 && q->broken))
            return;
        if (!m)
            continue;
        enum kind k = classify(m);
        if (k == K_EVENT)
            handle_event(q, m);
        else if (k == K_REPLY)
            q->st.stale++;
        else
            q->st.malformed++;
        json_decref(m);
    }
}

int xpv_qmp_call(struct xpv_qmp *q, const char *command, json_t *args, json_t **ret,
                 struct xpv_error *err)
{
    if (ret)
        *ret = NULL;
    if (q->broken) {
        json_decref(args);
        return xpv_error_set(err, q->broken, "QMP: %s: the connection is %s", command,
                             q->broken == -ECONNRESET ? "closed (QEMU died?)" : "unusable");
    }
    if (args && !json_is_object(args)) {
        json_decref(args);
        return xpv_error_set(err, -EINVAL, "QMP: %s: arguments must be a JSON object", command);
    }
    uint64_t id = ++q->next_id;
    json_t *cmd = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
    if (!cmd || (args && json_object_set_new(cmd, "arguments", args) < 0)) {
        json_decref(cmd);
        return xpv_error_set(err, -ENOMEM, "QMP: %s: out of memory", command);
    }
    char *text = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    if (!text)
        return xpv_error_set(err, -ENOMEM, "QMP: %s: out of memory", command);
    size_t n = strlen(text);
    int64_t deadline = now_ms() + q->timeout_ms;
    text[n] = '\n'; /* json_dumps' terminator becomes the line end */
    q->st.calls++;
    int rc = send_all(q, text, n + 1, deadline, err);
    free(text);
    json_t *reply = NULL;
    if (rc == 0)
        rc = wait_message(q, K_REPLY, id, deadline, &reply, err);
    if (!q->broken)
        drain_buffered(q);
    if (rc < 0) {
        if (err && err->code == rc && !strstr(err->msg, command)) {
            char m[XPV_ERROR_MSG_MAX];
            snprintf(m, sizeof(m), "%s", err->msg);
            xpv_error_set(err, rc, "%s: %s", command, m);
        }
        return rc;
    }
    json_t *e = json_object_get(reply, "error");
    if (e) {
        const char *cls = json_string_value(json_object_get(e, "class"));
        const char *desc = json_string_value(json_object_get(e, "desc"));
        q->st.errors++;
        xpv_error_set(err, -EREMOTEIO, "QMP %s: QEMU says %s: %s", command, cls ? cls : "?",
                      desc ? desc : "(no description)");
        json_decref(reply);
        return -EREMOTEIO;
    }
    if (ret)
        *ret = json_incref(json_object_get(reply, "return"));
    json_decref(reply);
    return 0;
}

int xpv_qmp_hmp(struct xpv_qmp *q, const char *command_line, char **out, struct xpv_error *err)
{
    json_t *r;
    *out = NULL;
    int rc = xpv_qmp_call(q, "human-monitor-command",
                          json_pack("{s:s}", "command-line", command_line), &r, err);
    if (rc < 0)
        return rc;
    const char *s = json_string_value(r);
    if (!s) {
        json_decref(r);
        q->st.malformed++;
        return xpv_error_set(err, -EPROTO, "QMP human-monitor-command: the return is not a string");
    }
    *out = strdup(s);
    json_decref(r);
    return *out ? 0 : xpv_error_set(err, -ENOMEM, "QMP: out of memory");
}

int xpv_qmp_pump(struct xpv_qmp *q, struct xpv_error *err)
{
    if (q->broken)
        return xpv_error_set(err, q->broken, "QMP: the connection is %s",
                             q->broken == -ECONNRESET ? "closed" : "unusable");
    int handled = 0;
    for (;;) {
        json_t *m;
        int rc = next_line(q, &m, err);
        if (rc < 0 && q->broken)
            return rc;
        if (rc < 0)
            continue; /* a malformed line: counted, dropped */
        if (rc == 0) {
            rc = fill(q, 0, 0, err);
            if (rc == -EAGAIN)
                return handled;
            if (rc < 0)
                return rc;
            continue;
        }
        if (!m)
            continue;
        enum kind k = classify(m);
        if (k == K_EVENT) {
            handle_event(q, m);
            handled++;
        } else if (k == K_REPLY) {
            q->st.stale++; /* no command waits: a late reply */
        } else {
            q->st.malformed++;
        }
        json_decref(m);
    }
}

static int greet(struct xpv_qmp *q, struct xpv_error *err)
{
    int64_t deadline = now_ms() + q->timeout_ms;
    /* Something that is not QMP (an HMP monitor, a serial console) may send text without a
     * newline and then wait: decide on the first bytes instead of waiting for a line. */
    while (q->len == 0) {
        int rc = fill(q, deadline, 1, err);
        if (rc == -ECONNRESET)
            return xpv_error_set(err, -EPROTO,
                                 "not a QMP socket: the peer closed without a greeting");
        if (rc < 0)
            return rc == -ETIMEDOUT ? xpv_error_set(err, rc,
                                                    "no QMP greeting within %d ms (is this a "
                                                    "QMP socket? is QEMU busy?)",
                                                    q->timeout_ms)
                                    : rc;
    }
    char ex[100];
    size_t s = 0;
    while (s < q->len && (q->buf[s] == ' ' || q->buf[s] == '\r' || q->buf[s] == '\n'))
        s++;
    if (s < q->len && q->buf[s] != '{')
        return xpv_error_set(err, -EPROTO, "not a QMP socket: received '%s'",
                             excerpt(q->buf, q->len < 60 ? q->len : 60, ex, sizeof(ex)));
    json_t *g = NULL;
    int rc = wait_message(q, K_GREETING, 0, deadline, &g, err);
    if (rc == -ECONNRESET)
        return xpv_error_set(err, -EPROTO, "not a QMP socket: closed before a complete greeting");
    if (rc < 0)
        return rc == -EPROTO && err ? xpv_error_set(err, rc, "not a QMP greeting: %s", err->msg)
                                    : rc;
    json_t *v = json_object_get(json_object_get(json_object_get(g, "QMP"), "version"), "qemu");
    const char *keys[3] = {"major", "minor", "micro"};
    for (int i = 0; i < 3; i++) {
        json_t *x = json_object_get(v, keys[i]);
        q->version[i] = json_is_integer(x) && json_integer_value(x) >= 0
                                ? (unsigned)json_integer_value(x)
                                : 0;
    }
    json_decref(g);
    return xpv_qmp_call(q, "qmp_capabilities", NULL, NULL, err);
}

int xpv_qmp_open_fd(int fd, int timeout_ms, struct xpv_qmp **out, struct xpv_error *err)
{
    *out = NULL;
    struct xpv_qmp *q = calloc(1, sizeof(*q));
    if (!q) {
        close(fd);
        return xpv_error_set(err, -ENOMEM, "QMP: out of memory");
    }
    q->fd = fd;
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cl == sizeof(cred))
        q->peer = cred.pid;
    int rc = greet(q, err);
    if (rc < 0) {
        xpv_qmp_close(q);
        return rc;
    }
    *out = q;
    return 0;
}

int xpv_qmp_open(const char *socket_path, int timeout_ms, struct xpv_qmp **out,
                 struct xpv_error *err)
{
    *out = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return xpv_error_set(err, -ENAMETOOLONG, "QMP socket path too long: %s", socket_path);
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return xpv_error_set(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EINPROGRESS) {
            /* A full listen backlog: wait for the connection within the timeout. */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : 1);
            socklen_t l = sizeof(e);
            if (r == 0)
                e = ETIMEDOUT;
            else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                e = errno;
        }
        if (e) {
            close(fd);
            return xpv_error_set(err, -e, "cannot connect to QMP socket %s: %s", socket_path,
                                 strerror(e));
        }
    }
    int rc = xpv_qmp_open_fd(fd, timeout_ms, out, err);
    if (rc < 0 && err && err->code == rc) {
        char m[XPV_ERROR_MSG_MAX];
        snprintf(m, sizeof(m), "%s", err->msg);
        xpv_error_set(err, rc, "%s: %s", socket_path, m);
    }
    return rc;
}

void xpv_qmp_set_event_cb(struct xpv_qmp *q, xpv_qmp_event_fn fn, void *arg)
{
    q->cb = fn;
    q->cb_arg = arg;
}

unsigned xpv_qmp_recent_events(const struct xpv_qmp *q, const char **names, unsigned max)
{
    unsigned have = q->st.events < XPV_QMP_EVENT_RING ? (unsigned)q->st.events : XPV_QMP_EVENT_RING;
    unsigned n = 0;
    for (; n < have && n < max; n++)
        names[n] = q->events[(q->ev_next + XPV_QMP_EVENT_RING - 1 - n) % XPV_QMP_EVENT_RING];
    return n;
}

void xpv_qmp_get_stats(const struct xpv_qmp *q, struct xpv_qmp_stats *st)
{
    *st = q->st;
}

void xpv_qmp_version(const struct xpv_qmp *q, unsigned v[3])
{
    memcpy(v, q->version, sizeof(q->version));
}

void xpv_qmp_set_timeout(struct xpv_qmp *q, int timeout_ms)
{
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
}

pid_t xpv_qmp_peer_pid(const struct xpv_qmp *q)
{
    return q->peer;
}

int xpv_qmp_fd(const struct xpv_qmp *q)
{
    return q->fd;
}

void xpv_qmp_close(struct xpv_qmp *q)
{
    if (!q)
        return;
    close(q->fd);
    free(q->buf);
    free(q);
}
