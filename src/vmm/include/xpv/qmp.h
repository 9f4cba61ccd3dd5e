/*
 * xpv/qmp.h — a client of QEMU's machine protocol (QMP) over its unix socket (docs/vm-attach.md).
 *
 * One handle per connection, used by one thread at a time. Messages are JSON objects (jansson)
 * framed by newlines, as QEMU sends them. Every command carries an increasing "id", so a reply
 * that arrives after its command timed out is recognised as stale and dropped, never taken for
 * the reply to a later command. Asynchronous events that arrive while a command waits are
 * counted, kept (the names of the last XPV_QMP_EVENT_RING) and handed to an optional callback.
 *
 * Errors (negative errno; the optional struct xpv_error says more):
 *   -ENOENT, -ECONNREFUSED  no QEMU listens at the path
 *   -ETIMEDOUT              a wait exceeded the handle's timeout (the connection stays usable)
 *   -EPROTO                 the peer does not speak QMP, or sent a malformed message
 *   -EREMOTEIO              QEMU answered with an error (its class and desc in err)
 *   -ECONNRESET             the connection is closed (QEMU died); every later call says so too
 */
#ifndef XPV_QMP_H
#define XPV_QMP_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xpv_qmp;

#define XPV_QMP_EVENT_RING  8           /* names of the most recent events kept */
#define XPV_QMP_MAX_MESSAGE (16u << 20) /* a longer line is a protocol error */

/* Counters, for a daemon to log: nothing here is fatal to the connection. */
struct xpv_qmp_stats {
    uint64_t calls;     /* commands sent */
    uint64_t errors;    /* QMP error replies (-EREMOTEIO) */
    uint64_t events;    /* asynchronous events received */
    uint64_t stale;     /* replies to earlier (timed-out) commands, dropped */
    uint64_t malformed; /* lines that were not a QMP message, dropped */
};

/* Called for each event, in arrival order, from inside xpv_qmp_call/xpv_qmp_pump. `data` and
 * `timestamp` (may be NULL) are borrowed for the duration of the call. */
typedef void (*xpv_qmp_event_fn)(void *arg, const char *event, json_t *data, json_t *timestamp);

/* Connect to QEMU's QMP unix socket, read the greeting, send qmp_capabilities.
 * timeout_ms bounds every wait (connect, greeting, each call as a whole). */
int xpv_qmp_open(const char *socket_path, int timeout_ms, struct xpv_qmp **out,
                 struct xpv_error *err);
/* The same over an already connected stream socket (tests, fuzzing, a passed fd); takes `fd`
 * whatever the result. */
int xpv_qmp_open_fd(int fd, int timeout_ms, struct xpv_qmp **out, struct xpv_error *err);

/* Execute `command` with `args` (a JSON object, reference stolen, may be NULL); on success
 * *ret (may be NULL) gets the "return" value (a new reference). */
int xpv_qmp_call(struct xpv_qmp *q, const char *command, json_t *args, json_t **ret,
                 struct xpv_error *err);
/* human-monitor-command: *out gets the HMP output (malloc'd, caller frees). */
int xpv_qmp_hmp(struct xpv_qmp *q, const char *command_line, char **out, struct xpv_error *err);

/* Read whatever is available without blocking (after poll() said xpv_qmp_fd is readable) and
 * dispatch the events in it. Returns the number of events handled, or -ECONNRESET/-EPROTO. */
int xpv_qmp_pump(struct xpv_qmp *q, struct xpv_error *err);

void xpv_qmp_set_event_cb(struct xpv_qmp *q, xpv_qmp_event_fn fn, void *arg);
/* Up to max names of the most recent events, newest first; returns how many. The strings
 * live until the next call on q. */
unsigned xpv_qmp_recent_events(const struct xpv_qmp *q, const char **names, unsigned max);
void xpv_qmp_get_stats(const struct xpv_qmp *q, struct xpv_qmp_stats *st);
/* QEMU's version from the greeting: {major, minor, micro}. */
void xpv_qmp_version(const struct xpv_qmp *q, unsigned v[3]);
void xpv_qmp_set_timeout(struct xpv_qmp *q, int timeout_ms);

pid_t xpv_qmp_peer_pid(const struct xpv_qmp *q); /* QEMU's pid, from SO_PEERCRED (0: unknown) */
int xpv_qmp_fd(const struct xpv_qmp *q);         /* for poll() */
void xpv_qmp_close(struct xpv_qmp *q);           /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
