/*
 * test_qmp.c — the QMP client (xpv/qmp.h) against a scripted fake QEMU on the other end of a
 * socketpair (or a listening unix socket): greeting, capabilities, replies matched by id,
 * events interleaved with replies, QMP errors, malformed lines, stale replies after a
 * timeout, EOF in the middle of a reply, a peer that is not QMP at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "xpv/qmp.h"

#define GREETING                                                                                   \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "             \
    "\"package\": \"test\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": @0}\r\n"
/* What every session starts with: the greeting, qmp_capabilities and its reply. */
#define HANDSHAKE                                                                                  \
    {SEND, GREETING}, {RECV, NULL},                                                                \
    {                                                                                              \
        SEND, CAPS_OK                                                                              \
    }

/* A step of the fake server: RECV reads one command line and stores its id (ids[k] for the
 * k-th RECV); SEND writes text with "@K" replaced by ids[K]; CLOSE ends the conversation;
 * WAIT_PEER_CLOSE waits until the client closes; KICK waits for any line (the test writes one
 * to order the server's next step after something the client did). */
enum op { END, RECV, SEND, CLOSE, WAIT_PEER_CLOSE, KICK };
struct step {
    enum op op;
    const char *text;
};

struct server {
    int fd;
    const struct step *script;
    long long ids[16];
    char commands[16][64]; /* the "execute" of each RECV */
    char args[16][256];    /* its "arguments", as JSON text */
    unsigned nr_recv;
    int failed; /* the client sent something that is not a QMP command */
};

static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0)
            return -1;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

static void send_text(struct server *s, const char *t)
{
    char out[4096];
    size_t o = 0;
    for (const char *p = t; *p && o + 32 < sizeof(out); p++) {
        if (*p == '@' && p[1] >= '0' && p[1] <= '9') {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%lld", s->ids[p[1] - '0']);
            p++;
        } else {
            out[o++] = *p;
        }
    }
    ssize_t w = write(s->fd, out, o);
    (void)w;
}

static void *serve(void *arg)
{
    struct server *s = arg;
    char line[4096];
    for (const struct step *st = s->script; st->op != END; st++) {
        if (st->op == SEND) {
            send_text(s, st->text);
        } else if (st->op == RECV) {
            if (read_line(s->fd, line, sizeof(line)) < 0)
                break;
            json_t *m = json_loads(line, 0, NULL);
            const char *ex = json_string_value(json_object_get(m, "execute"));
            json_t *id = json_object_get(m, "id");
            if (!ex || !json_is_integer(id))
                s->failed = 1;
            unsigned k = s->nr_recv++;
            snprintf(s->commands[k], sizeof(s->commands[k]), "%s", ex ? ex : "");
            s->ids[k] = json_integer_value(id);
            char *a = json_object_get(m, "arguments") ? json_dumps(json_object_get(m, "arguments"),
                                                                   JSON_COMPACT | JSON_SORT_KEYS)
                                                      : NULL;
            snprintf(s->args[k], sizeof(s->args[k]), "%s", a ? a : "");
            free(a);
            json_decref(m);
        } else if (st->op == KICK) {
            if (read_line(s->fd, line, sizeof(line)) < 0)
                break;
        } else if (st->op == WAIT_PEER_CLOSE) {
            while (read(s->fd, line, sizeof(line)) > 0)
                ;
        } else {
            break;
        }
    }
    close(s->fd);
    return NULL;
}

struct fake {
    struct server s;
    pthread_t t;
    int client_fd;
};

static void fake_start(struct fake *f, const struct step *script)
{
    int sv[2];
    memset(f, 0, sizeof(*f));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->s.fd = sv[1];
    f->s.script = script;
    f->client_fd = sv[0];
    assert_int_equal(pthread_create(&f->t, NULL, serve, &f->s), 0);
}

static void fake_join(struct fake *f)
{
    pthread_join(f->t, NULL);
    assert_false(f->s.failed);
}

static struct xpv_qmp *open_ok(struct fake *f, const struct step *script, int timeout_ms)
{
    struct xpv_qmp *q = NULL;
    struct xpv_error err = {0};
    fake_start(f, script);
    int rc = xpv_qmp_open_fd(f->client_fd, timeout_ms, &q, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", xpv_error_str(&err, rc));
    assert_int_equal(rc, 0);
    return q;
}

static void test_call_roundtrip(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {RECV, NULL},
            {SEND, "{\"return\": {\"name\": \"vm-a\"}, \"id\": @1}\r\n"},
            {RECV, NULL},
            {SEND, "{\"return\": [1, 2, 3], \"id\": @2}\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    unsigned v[3];
    xpv_qmp_version(q, v);
    assert_int_equal(v[0], 7);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 22);
    /* a socketpair's peer is this process */
    assert_int_equal(xpv_qmp_peer_pid(q), getpid());
    assert_true(xpv_qmp_fd(q) >= 0);

    json_t *ret = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_qmp_call(q, "query-name", NULL, &ret, &err), 0);
    assert_string_equal(json_string_value(json_object_get(ret, "name")), "vm-a");
    json_decref(ret);
    assert_int_equal(
            xpv_qmp_call(q, "qom-list", json_pack("{s:s}", "path", "/objects"), &ret, &err), 0);
    assert_int_equal(json_array_size(ret), 3);
    json_decref(ret);
    struct xpv_qmp_stats st;
    xpv_qmp_get_stats(q, &st);
    assert_int_equal(st.calls, 3);
    assert_int_equal(st.events + st.stale + st.malformed + st.errors, 0);
    xpv_qmp_close(q);
    fake_join(&f);
    assert_int_equal(f.s.nr_recv, 3);
    assert_string_equal(f.s.commands[0], "qmp_capabilities");
    assert_string_equal(f.s.commands[1], "query-name");
    assert_string_equal(f.s.commands[2], "qom-list");
    assert_string_equal(f.s.args[2], "{\"path\":\"/objects\"}");
    /* ids increase */
    assert_true(f.s.ids[0] < f.s.ids[1] && f.s.ids[1] < f.s.ids[2]);
}

struct seen {
    unsigned n;
    char names[8][32];
    long long last_data;
};

static void on_event(void *arg, const char *event, json_t *data, json_t *timestamp)
{
    struct seen *s = arg;
    (void)timestamp;
    if (s->n < 8)
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", event);
    s->n++;
    s->last_data = json_integer_value(json_object_get(data, "x"));
}

static void test_events_interleaved(void **state)
{
    (void)state;
    static const struct step script[] = {
            {SEND, GREETING},
            {RECV, NULL},
            {SEND, "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}"
                   "\r\n" CAPS_OK},
            {RECV, NULL},
            /* two events, then the reply split over two writes */
            {SEND, "{\"event\": \"STOP\"}\r\n{\"event\": \"DEVICE_DELETED\", \"data\": {\"x\": 7}}"
                   "\r\n{\"return\": "},
            {SEND, "42, \"id\": @1}\r\n"},
            /* an event outside any call, once the call is over: for pump() */
            {KICK, NULL},
            {SEND, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"x\": 9}}\r\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct seen seen = {0};
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    xpv_qmp_set_event_cb(q, on_event, &seen);
    json_t *ret = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_qmp_call(q, "query-status", NULL, &ret, &err), 0);
    assert_int_equal(json_integer_value(ret), 42);
    json_decref(ret);
    /* RESUME came before the callback was set: counted and kept, not handed over */
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.names[0], "STOP");
    assert_string_equal(seen.names[1], "DEVICE_DELETED");
    assert_int_equal(seen.last_data, 7);

    assert_int_equal(write(xpv_qmp_fd(q), "kick\n", 5), 5);
    struct pollfd p = {.fd = xpv_qmp_fd(q), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    int n = 0;
    while (n == 0) /* the event may arrive in pieces */
        n = xpv_qmp_pump(q, &err);
    assert_int_equal(n, 1);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.last_data, 9);

    const char *names[8];
    assert_int_equal(xpv_qmp_recent_events(q, names, 8), 4);
    assert_string_equal(names[0], "BALLOON_CHANGE");
    assert_string_equal(names[3], "RESUME");
    struct xpv_qmp_stats st;
    xpv_qmp_get_stats(q, &st);
    assert_int_equal(st.events, 4);
    xpv_qmp_close(q);
    fake_join(&f);
}

static void test_error_reply(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {RECV, NULL},
            {SEND, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nosuch "
                   "has not been found\"}, \"id\": @1}\r\n"},
            {RECV, NULL},
            {SEND, "{\"return\": {}, \"id\": @2}\r\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    json_t *ret = (json_t *)1;
    struct xpv_error err = {0};
    assert_int_equal(xpv_qmp_call(q, "nosuch", json_pack("{s:i}", "a", 1), &ret, &err), -EREMOTEIO);
    assert_null(ret);
    assert_int_equal(err.code, -EREMOTEIO);
    assert_non_null(strstr(err.msg, "CommandNotFound"));
    assert_non_null(strstr(err.msg, "has not been found"));
    /* the connection is still good */
    assert_int_equal(xpv_qmp_call(q, "cont", NULL, NULL, &err), 0);
    struct xpv_qmp_stats st;
    xpv_qmp_get_stats(q, &st);
    assert_int_equal(st.errors, 1);
    xpv_qmp_close(q);
    fake_join(&f);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {RECV, NULL},
            {SEND, "{\"return\": {\"a\": tru\r\n"}, /* broken JSON */
            {RECV, NULL},
            {SEND, "[1, 2]\r\n"}, /* JSON, but not an object */
            {RECV, NULL},
            {SEND, "{\"hello\": 1}\r\n"}, /* an object, but no QMP message */
            {RECV, NULL},
            {SEND, "\r\n   \r\n{\"return\": \"fine\", \"id\": @4}\r\n"}, /* blank lines skipped */
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    json_t *ret;
    struct xpv_error err = {0};
    assert_int_equal(xpv_qmp_call(q, "a", NULL, &ret, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "malformed"));
    assert_int_equal(xpv_qmp_call(q, "b", NULL, &ret, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "not a JSON object"));
    assert_int_equal(xpv_qmp_call(q, "c", NULL, &ret, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "unexpected"));
    assert_int_equal(xpv_qmp_call(q, "d", NULL, &ret, &err), 0);
    assert_string_equal(json_string_value(ret), "fine");
    json_decref(ret);
    struct xpv_qmp_stats st;
    xpv_qmp_get_stats(q, &st);
    assert_int_equal(st.malformed, 3);
    xpv_qmp_close(q);
    fake_join(&f);
}

static void test_stale_reply_after_timeout(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {RECV, NULL}, /* no answer: the client times out */
            {RECV, NULL}, /* the next command; then the late reply, then its own */
            {SEND, "{\"return\": \"late\", \"id\": @1}\r\n{\"return\": \"mine\", \"id\": @2}\r\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    json_t *ret;
    struct xpv_error err = {0};
    xpv_qmp_set_timeout(q, 100);
    assert_int_equal(xpv_qmp_call(q, "slow", NULL, &ret, &err), -ETIMEDOUT);
    xpv_qmp_set_timeout(q, 5000);
    assert_int_equal(xpv_qmp_call(q, "next", NULL, &ret, &err), 0);
    assert_string_equal(json_string_value(ret), "mine");
    json_decref(ret);
    struct xpv_qmp_stats st;
    xpv_qmp_get_stats(q, &st);
    assert_int_equal(st.stale, 1);
    xpv_qmp_close(q);
    fake_join(&f);
}

static void test_eof_mid_reply(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {RECV, NULL},
            {SEND, "{\"event\": \"SHUTDOWN\"}\r\n{\"return\": {\"status\": \"runn"},
            {CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    json_t *ret;
    struct xpv_error err = {0};
    assert_int_equal(xpv_qmp_call(q, "query-status", NULL, &ret, &err), -ECONNRESET);
    assert_non_null(strstr(err.msg, "middle of a message"));
    fake_join(&f);
    /* every later call fails the same way, without touching the socket */
    memset(&err, 0, sizeof(err));
    assert_int_equal(xpv_qmp_call(q, "query-status", json_object(), &ret, &err), -ECONNRESET);
    assert_int_equal(xpv_qmp_pump(q, &err), -ECONNRESET);
    xpv_qmp_close(q);
}

static void test_eof_before_reply_then_send(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {CLOSE, NULL},
            {END, NULL},
    };
    struct fake f;
    struct xpv_qmp *q = open_ok(&f, script, 5000);
    fake_join(&f);
    json_t *ret;
    struct xpv_error err = {0};
    /* the send may succeed (the peer's buffer) or fail with EPIPE: -ECONNRESET either way */
    assert_int_equal(xpv_qmp_call(q, "query-status", NULL, &ret, &err), -ECONNRESET);
    xpv_qmp_close(q);
}

static void expect_open_fails(const struct step *script, int timeout_ms, int code,
                              const char *in_msg)
{
    struct fake f;
    struct xpv_qmp *q = (struct xpv_qmp *)1;
    struct xpv_error err = {0};
    fake_start(&f, script);
    int rc = xpv_qmp_open_fd(f.client_fd, timeout_ms, &q, &err);
    assert_int_equal(rc, code);
    assert_null(q);
    if (in_msg && !strstr(err.msg, in_msg)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, in_msg);
        fail();
    }
    fake_join(&f);
}

static void test_not_qmp(void **state)
{
    (void)state;
    /* an HMP monitor: text and a prompt, no newline after it */
    static const struct step hmp[] = {
            {SEND, "QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    expect_open_fails(hmp, 5000, -EPROTO, "QEMU 7.2.22 monitor");
    /* JSON, but not a greeting */
    static const struct step json[] = {
            {SEND, "{\"return\": {}}\r\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    expect_open_fails(json, 5000, -EPROTO, "greeting");
    /* broken JSON as the greeting */
    static const struct step broken[] = {
            {SEND, "{\"QMP\": \r\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    expect_open_fails(broken, 5000, -EPROTO, "greeting");
    /* closed before anything */
    static const struct step closed[] = {{CLOSE, NULL}, {END, NULL}};
    expect_open_fails(closed, 5000, -EPROTO, "without a greeting");
    /* qmp_capabilities refused */
    static const struct step refused[] = {
            {SEND, GREETING},
            {RECV, NULL},
            {SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": @0}\r\n"},
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    expect_open_fails(refused, 5000, -EREMOTEIO, "GenericError");
}

static void test_silent_peer_times_out(void **state)
{
    (void)state;
    static const struct step silent[] = {{WAIT_PEER_CLOSE, NULL}, {END, NULL}};
    expect_open_fails(silent, 100, -ETIMEDOUT, "greeting");
}

/* ---- xpv_qmp_open on a path ---- */

struct listener {
    int lfd;
    struct fake f;
};

static void *accept_one(void *arg)
{
    struct listener *l = arg;
    int fd = accept(l->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    l->f.s.fd = fd;
    return serve(&l->f.s);
}

static void test_open_path(void **state)
{
    (void)state;
    static const struct step script[] = {
            HANDSHAKE,
            {WAIT_PEER_CLOSE, NULL},
            {END, NULL},
    };
    char dir[] = "/tmp/xpv-test-qmp-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    struct xpv_qmp *q;
    struct xpv_error err = {0};
    /* nothing there */
    assert_int_equal(xpv_qmp_open(path, 1000, &q, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    struct listener l;
    memset(&l, 0, sizeof(l));
    l.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(l.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* bound but not listening: a dead QEMU's leftover socket file */
    assert_int_equal(xpv_qmp_open(path, 1000, &q, &err), -ECONNREFUSED);
    assert_int_equal(listen(l.lfd, 1), 0);
    l.f.s.script = script;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, accept_one, &l), 0);
    int rc = xpv_qmp_open(path, 5000, &q, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(xpv_qmp_peer_pid(q), getpid());
    xpv_qmp_close(q);
    pthread_join(t, NULL);
    close(l.lfd);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_call_roundtrip),
            cmocka_unit_test(test_events_interleaved),
            cmocka_unit_test(test_error_reply),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_stale_reply_after_timeout),
            cmocka_unit_test(test_eof_mid_reply),
            cmocka_unit_test(test_eof_before_reply_then_send),
            cmocka_unit_test(test_not_qmp),
            cmocka_unit_test(test_silent_peer_times_out),
            cmocka_unit_test(test_open_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
