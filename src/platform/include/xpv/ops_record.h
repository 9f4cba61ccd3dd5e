/*
 * xpv/ops_record.h — a recording ops table for tests and dry runs.
 *
 * It executes nothing on the machine: it logs every call, keeps a model of where each
 * (pid, page) lives and of each thread's affinity so that queries answer consistently with
 * earlier moves, validates node ids and CPUs against the topology exactly as xpv_ops_linux
 * does, and lets a test inject failures (a call kind failing once, a pid that vanished).
 */
#ifndef XPV_OPS_RECORD_H
#define XPV_OPS_RECORD_H

#include "xpv/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

enum xpv_op_kind {
    XPV_OP_MOVE_PAGES,
    XPV_OP_MBIND,
    XPV_OP_MIGRATE_PAGES,
    XPV_OP_SET_AFFINITY,
    XPV_OP_GET_AFFINITY,
    XPV_OP_GET_MEMPOLICY,
    XPV_OP__COUNT
};

struct xpv_op_call {
    enum xpv_op_kind kind;
    pid_t pid;           /* pid or tid the call named (0 = the caller) */
    int rc;              /* what the call returned */
    unsigned long count; /* move_pages: pages; mbind: length in bytes */
    int node;            /* move_pages: first target node (-1 for a query) */
    int mode;            /* mbind mode */
    unsigned flags;
    void *addr;             /* mbind / get_mempolicy address, move_pages first page */
    struct xpv_bitmap set;  /* mbind/migrate "from"/affinity CPUs */
    struct xpv_bitmap set2; /* migrate_pages "to" */
};

struct xpv_ops *xpv_ops_record_new(const struct xpv_topo *t, struct xpv_error *err);

size_t xpv_ops_record_count(const struct xpv_ops *ops);
/* i-th call in order, or NULL past the end. */
const struct xpv_op_call *xpv_ops_record_call(const struct xpv_ops *ops, size_t i);
/* Number of recorded calls of one kind. */
size_t xpv_ops_record_count_kind(const struct xpv_ops *ops, enum xpv_op_kind kind);
void xpv_ops_record_clear(struct xpv_ops *ops);

/* The next call of `kind` fails with `code` (negative errno) and changes nothing. */
void xpv_ops_record_fail_next(struct xpv_ops *ops, enum xpv_op_kind kind, int code);
/* From now on, calls naming `pid` fail with -ESRCH, as for an exited process. */
void xpv_ops_record_kill(struct xpv_ops *ops, pid_t pid);

/* Where the model puts pages nobody moved yet: a node id, or -1 for "not present"
 * (queries then answer -ENOENT). Default: the first node with memory. */
void xpv_ops_record_set_default_node(struct xpv_ops *ops, int node);
/* Node of (pid, page) in the model, or -ENOENT. */
int xpv_ops_record_page_node(const struct xpv_ops *ops, pid_t pid, const void *page);
/* Affinity of tid in the model (all online CPUs until set). */
void xpv_ops_record_affinity(const struct xpv_ops *ops, pid_t tid, struct xpv_bitmap *out);

#ifdef __cplusplus
}
#endif
#endif
