/*
 * xpv/channel.h — libxpv, the runtime side of the channel: how a memory allocator, a GC or
 * any program learns where it runs now and when that changes.
 *
 *   struct xpv_channel *ch;
 *   xpv_channel_open(NULL, &ch, &err);              // $XPV_RECORD or /dev/shm/xpv-topology
 *   uint64_t seen = xpv_channel_generation(ch);     // fast path: one relaxed atomic load
 *   ...
 *   if (xpv_channel_generation(ch) != seen) {       // topology changed: re-read, rebind
 *       struct xpv_snapshot *s;
 *       xpv_channel_snapshot(ch, &s, &err);         // consistent, validated copy
 *       ... xpv_snapshot_effective_node(s, cpu) ...
 *       xpv_snapshot_put(s);
 *   }
 *
 * Every byte of the mapping is untrusted (another process or a guest may write it): a
 * snapshot is copied under the seqlock, retried when torn, and validated (xpv_record_decode)
 * before use. On failure the caller gets the error and the last good snapshot.
 *
 * Thread-safe: any number of threads may use one handle. No global state outside handles.
 */
#ifndef XPV_CHANNEL_H
#define XPV_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "xpv/bitmap.h"
#include "xpv/error.h"
#include "xpv/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_CHANNEL_DEFAULT_PATH "/dev/shm/xpv-topology"

struct xpv_channel;
struct xpv_snapshot;

/* $XPV_RECORD when set and non-empty (read with secure_getenv: a set-user-ID process ignores
 * it), else XPV_CHANNEL_DEFAULT_PATH. */
const char *xpv_channel_default_path(void);

/* Open a record file read-only (path NULL: the default). -ENOENT when no publisher ever
 * created it; the message says which path and how to start one. -EPERM when the file is not
 * one this process may trust: a symbolic link, owned by neither root nor the caller's
 * effective uid, or writable by its group or others (the message names the owner or mode and
 * the fix; docs/security.md, "Readers"). */
int xpv_channel_open(const char *path, struct xpv_channel **out, struct xpv_error *err);

/* Read a record from memory the caller mapped (an ivshmem region), of size bytes. */
int xpv_channel_open_mem(const void *mem, size_t size, struct xpv_channel **out,
                         struct xpv_error *err);

/* Stop any subscription, unmap, close. NULL is fine. */
void xpv_channel_close(struct xpv_channel *ch);

/* The public prefix of a handle, so the generation check inlines. Not for direct use. */
struct xpv_channel_fast {
    const uint64_t *generation_word;
};

/*
 * The address of the mapped record's generation word (little-endian u64), valid while ch is
 * open: for a caller that keeps its own copy of the pointer to load it with the ordering it
 * needs (xpv-malloc publishes it to its threads with release ordering).
 */
static inline const uint64_t *xpv_channel_generation_word(const struct xpv_channel *ch)
{
    return ((const struct xpv_channel_fast *)(const void *)ch)->generation_word;
}

/* The published generation: one relaxed atomic load, no syscall, no lock. 0: none yet. */
static inline uint64_t xpv_channel_generation(const struct xpv_channel *ch)
{
    uint64_t g = __atomic_load_n(xpv_channel_generation_word(ch), __ATOMIC_RELAXED);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    g = __builtin_bswap64(g); /* the record is little-endian */
#endif
    return g;
}

/*
 * A consistent, validated copy of the current record. Returns 0 with *out new (release it with
 * xpv_snapshot_put). On failure returns -ENODATA (nothing published yet), -EAGAIN (the writer
 * kept the record busy through every retry) or a decode error (-EBADMSG, -EPROTO, -EILSEQ;
 * err says what was wrong; -EBADMSG also when the file was truncated under the mapping), with *out the last good snapshot (a reference) or NULL.
 */
int xpv_channel_snapshot(struct xpv_channel *ch, struct xpv_snapshot **out, struct xpv_error *err);

/* The effective node (xpv_snapshot_effective_node) of the CPU the caller runs on now. */
int xpv_channel_current_node(struct xpv_channel *ch, int *node, struct xpv_error *err);

/* Block until the generation differs from since, or timeout_ms passes (-1: forever).
 * 0 on change, -ETIMEDOUT. Uses a futex on the record's sequence word (same kernel only;
 * over ivshmem it polls every millisecond). */
int xpv_channel_wait(struct xpv_channel *ch, uint64_t since, int timeout_ms);

/*
 * Run cb(snapshot, arg) from a watcher thread after every change (one subscription per handle;
 * -EBUSY for a second). The snapshot is valid during the call; take a reference to keep it.
 * A record that fails validation is reported as cb(NULL, arg) once per bad generation.
 */
typedef void (*xpv_channel_cb)(const struct xpv_snapshot *s, void *arg);
int xpv_channel_subscribe(struct xpv_channel *ch, xpv_channel_cb cb, void *arg,
                          struct xpv_error *err);
/* Stop the watcher; when this returns no callback is running or will run. */
void xpv_channel_unsubscribe(struct xpv_channel *ch);

/* --- snapshots: immutable, reference-counted --- */
struct xpv_snapshot *xpv_snapshot_get(const struct xpv_snapshot *s);
void xpv_snapshot_put(const struct xpv_snapshot *s);

const struct xpv_record_view *xpv_snapshot_view(const struct xpv_snapshot *s);
uint64_t xpv_snapshot_generation(const struct xpv_snapshot *s);
uint64_t xpv_snapshot_timestamp_ns(const struct xpv_snapshot *s);
unsigned xpv_snapshot_nr_nodes(const struct xpv_snapshot *s); /* physical nodes */
int xpv_snapshot_node_id(const struct xpv_snapshot *s, unsigned index);
unsigned xpv_snapshot_nr_cpus(const struct xpv_snapshot *s);
/* Physical node id CPU cpu runs on now; -ENOENT (no such CPU, or not placed). */
int xpv_snapshot_cpu_node(const struct xpv_snapshot *s, unsigned cpu);
/*
 * Where memory for CPU cpu should come from: the node id of the XPV effective-node rule
 * (xpv/effective.h, the one implementation; in short: its physical node if that node holds
 * some of the domain's memory, else the nearest node that does, ties to one holding the CPU's
 * own vNode, then the lowest id). With no memory information, its physical node. -ENOENT as
 * above.
 */
int xpv_snapshot_effective_node(const struct xpv_snapshot *s, unsigned cpu);
/* CPUs running on physical node id `node` now; -ENODEV if the record has no such node. */
int xpv_snapshot_node_cpus(const struct xpv_snapshot *s, int node, struct xpv_bitmap *cpus);
/* Distance between node ids a and b; -ENODEV for an unknown id. */
int xpv_snapshot_distance(const struct xpv_snapshot *s, int a, int b);
/* Bytes of memory physical node id `node` holds for the domain (sum over virtual nodes). */
uint64_t xpv_snapshot_node_memory(const struct xpv_snapshot *s, int node);

/* --- in a VM: following the vNode (the guest agent, docs/guestd.md) --- */
#define XPV_FOLLOW_DEFAULT_DIR "/run/xpv/follow"

/*
 * Opt process pid (0: the caller) in to the guest agent's re-binding: threads bound to one
 * vNode's CPUs are re-bound to the CPUs now effectively in that vNode after each change. dir
 * NULL: $XPV_FOLLOW_DIR, else XPV_FOLLOW_DEFAULT_DIR (created if missing). The opt-in lasts
 * until the process exits (the agent removes it then) or xpv_follow_unregister.
 * Never follows a symlink: the directory (opened O_NOFOLLOW) must be root's or the caller's
 * and writable by others only when sticky (-EPERM otherwise); the entry is created
 * O_EXCL|O_NOFOLLOW, an existing one that is not the caller's regular file is removed first.
 */
int xpv_follow_register(const char *dir, int pid, struct xpv_error *err);
/* Create the follow directory (and its parent) if missing: sticky and world-writable like
 * /tmp, so any process may opt itself in (the agent only follows a file's owner's
 * processes). Both the agent and xpv_follow_register call it; an existing one is left as is. */
void xpv_follow_dir_create(const char *dir);
int xpv_follow_unregister(const char *dir, int pid, struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
