/*
 * effective_all.h — internal to libxpv (not exported, not in libxpv.map): the XPV
 * effective-node rule (xpv/effective.h) for every CPU of a decoded record at once, at a cost
 * bounded by the ABI's limits whatever the record says. channel.c computes it once per
 * snapshot; tests compare it with xpv_effective_record() and count its steps.
 */
#ifndef XPV_CHANNEL_EFFECTIVE_ALL_H
#define XPV_CHANNEL_EFFECTIVE_ALL_H

#include <stdbool.h>
#include <stdint.h>

#include "xpv/record.h"

/* Working memory (~9 KiB): what the backing entries say, reduced per (vNode, node). */
struct xpv__effective_scratch {
    uint8_t has[XPV_RECORD_MAX_VNODES][XPV_RECORD_MAX_PNODES / 8]; /* vNode v has memory on j */
    uint16_t min_v[XPV_RECORD_MAX_PNODES]; /* lowest vNode with memory on j; NONE: none */
    uint32_t dmin[XPV_RECORD_MAX_PNODES];  /* from p: the nearest other node with memory */
};

/*
 * eff[c] := the effective physical node index of CPU c (XPV_RECORD_NONE when the record does
 * not place it), the same answer as xpv_effective_record() for every c < v->nr_cpus. Returns
 * the steps taken (loop iterations), at most nr_backing + nr_pnodes² + nr_cpus × nr_pnodes
 * + the scratch's size: 4096 + 65536 + 1048576 + 8192 at the ABI's limits.
 */
uint64_t xpv__effective_cpus(const struct xpv_record_view *v, struct xpv__effective_scratch *sc,
                             uint16_t *eff);

/* The steps xpv__effective_cpus took for snapshot s (channel.c). */
struct xpv_snapshot;
uint64_t xpv__snapshot_ops(const struct xpv_snapshot *s);

/* How many times handle ch has fstat()ed its file to check its size (channel.c): the
 * watcher's wake-up path makes one check per notification, not one per step. */
struct xpv_channel;
uint64_t xpv__channel_size_checks(const struct xpv_channel *ch);

/* How many copies handle ch has made with pread() (channel.c): a record within the first
 * page of the mapping is copied with memcpy, a longer one with pread. */
uint64_t xpv__channel_preads(const struct xpv_channel *ch);

/* xpv_channel_snapshot as the watcher takes it, trusting a size check made an instant before
 * (channel.c, copy_once): for tests, a truncation that lands between the check and the copy. */
struct xpv_snapshot;
struct xpv_error;
int xpv__channel_snapshot_trusting(struct xpv_channel *ch, struct xpv_snapshot **out,
                                   struct xpv_error *err);

#endif
