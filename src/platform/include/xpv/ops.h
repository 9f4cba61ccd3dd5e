/*
 * xpv/ops.h — the mechanism ops table: every OS write a policy makes (page moves, memory
 * policies, CPU affinity) goes through one of these function pointers, so the same caller
 * runs against the kernel (xpv_ops_linux) or against a recorder that tests inspect
 * (xpv_ops_record, see xpv/ops_record.h).
 *
 * Conventions: return 0 or a non-negative count on success, a negative errno on failure.
 * Nodes and CPUs are OS ids. A node the machine does not have is -ENODEV, checked before
 * the kernel is asked, so the error names the real problem rather than the kernel's EINVAL.
 * Mode and flag values equal the kernel's (<numaif.h>) so they pass through unchanged.
 */
#ifndef XPV_OPS_H
#define XPV_OPS_H

#include <sys/types.h>

#include "xpv/bitmap.h"
#include "xpv/error.h"
#include "xpv/topo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory policy modes (set_mempolicy(2)). */
enum {
    XPV_MPOL_DEFAULT = 0,
    XPV_MPOL_PREFERRED = 1,
    XPV_MPOL_BIND = 2,
    XPV_MPOL_INTERLEAVE = 3,
    XPV_MPOL_LOCAL = 4,
};
/* mbind(2) / move_pages(2) flags. */
#define XPV_MPOL_MF_STRICT   (1u << 0)
#define XPV_MPOL_MF_MOVE     (1u << 1)
#define XPV_MPOL_MF_MOVE_ALL (1u << 2)
/* get_mempolicy(2) flags. */
#define XPV_MPOL_F_NODE (1u << 0)
#define XPV_MPOL_F_ADDR (1u << 1)

struct xpv_ops {
    const char *name; /* "linux", "record", ... for logs */
    void *ctx;

    /* move_pages(2) on process pid (0 = self). nodes == NULL only queries: status[i] gets
     * each page's node or a negative errno (-ENOENT: not present). Returns the number of
     * pages that could not be moved (>= 0) or a negative errno for the whole call. */
    long (*move_pages)(void *ctx, pid_t pid, unsigned long count, void *const *pages,
                       const int *nodes, int *status, unsigned flags);
    /* mbind(2) on [addr, addr+len) of the calling process. */
    int (*mbind)(void *ctx, void *addr, unsigned long len, int mode, const struct xpv_bitmap *nodes,
                 unsigned flags);
    /* migrate_pages(2): move pid's pages on `from` nodes to `to` nodes. Returns the number of
     * pages that could not be moved, or a negative errno. */
    long (*migrate_pages)(void *ctx, pid_t pid, const struct xpv_bitmap *from,
                          const struct xpv_bitmap *to);
    /* sched_setaffinity(2) / sched_getaffinity(2) on a thread id (0 = caller). */
    int (*set_affinity)(void *ctx, pid_t tid, const struct xpv_bitmap *cpus);
    int (*get_affinity)(void *ctx, pid_t tid, struct xpv_bitmap *cpus);
    /* get_mempolicy(2): with XPV_MPOL_F_NODE|XPV_MPOL_F_ADDR, *mode gets addr's node. */
    int (*get_mempolicy)(void *ctx, int *mode, struct xpv_bitmap *nodes, void *addr,
                         unsigned flags);

    void (*destroy)(void *ctx);
};

/*
 * The kernel's ops. Node ids are checked against the topology `t` (copied: the caller may
 * free it), which is normally the live one from xpv_topo_discover(NULL, ...).
 * Returns NULL with err set when out of memory.
 */
struct xpv_ops *xpv_ops_linux_new(const struct xpv_topo *t, struct xpv_error *err);

/* Destroy any ops table made by an xpv_ops_*_new() call. NULL is fine. */
void xpv_ops_free(struct xpv_ops *ops);

#ifdef __cplusplus
}
#endif
#endif
