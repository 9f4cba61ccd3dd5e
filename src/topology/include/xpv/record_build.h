/*
 * xpv/record_build.h — topology records built from this machine's model (xpv/topo.h). The
 * codec (xpv/record.h) knows bytes only; these builders know the machine, so libxpv stays free
 * of the topology library. Each fills a struct xpv_record_desc with allocated arrays that
 * xpv_record_desc_free() releases.
 */
#ifndef XPV_RECORD_BUILD_H
#define XPV_RECORD_BUILD_H

#include "xpv/bitmap.h"
#include "xpv/error.h"
#include "xpv/record.h"
#include "xpv/topo.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A desc for a process domain on this machine: every node of t is both a physical and a
 * virtual node (identity), each online CPU sits on its node, each node backs itself with its
 * memory.
 */
int xpv_record_desc_from_topo(const struct xpv_topo *t, struct xpv_record_desc *desc,
                              struct xpv_error *err);
/*
 * The same for a process domain confined to some nodes (node_ids: OS ids; NULL = all): only
 * those nodes are physical (and virtual) nodes of the record, only their CPUs have a node;
 * the others read XPV_RECORD_NONE. -EINVAL when no node of t is in the set.
 */
int xpv_record_desc_from_nodes(const struct xpv_topo *t, const struct xpv_bitmap *node_ids,
                               struct xpv_record_desc *desc, struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
