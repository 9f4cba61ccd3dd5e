/*
 * xpv/topo.h — the machine model every other part of xpv reads: NUMA nodes, their CPUs and
 * memory, the distance matrix, and what the calling process may use.
 *
 * Invariants (checked by xpv_topo_check(), relied on everywhere):
 *  - nodes[] is sorted by strictly increasing OS node id; ids may be sparse (0,1,2,33,...),
 *    so code indexes nodes by position (0..nr_nodes-1) and maps ids with xpv_topo_node_index().
 *  - node CPU sets (cpus) are disjoint and contained in cpus_online; a node may have no CPU
 *    (memory-only, e.g. CXL/HBM) or no memory (CPU-only, mem_total == 0).
 *  - dist is nr_nodes × nr_nodes, row-major by node position, dist[i][i] is the smallest
 *    value in row i (10 on ACPI SLIT machines). When the firmware gave none,
 *    has_distances is false and dist holds 10 local / 20 remote (Linux's own default).
 *  - cpus_allowed ⊆ cpus_online and nodes_allowed ⊆ {node ids}: the cpuset (cgroup)
 *    restriction of the process that discovered the topology; everything else is the
 *    whole machine, allowed or not.
 */
#ifndef XPV_TOPO_H
#define XPV_TOPO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "xpv/bitmap.h"
#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_DISTANCE_LOCAL  10
#define XPV_DISTANCE_REMOTE 20

struct xpv_node {
    int id;                       /* OS node id (sysfs nodeN) */
    uint64_t mem_total;           /* bytes of normal memory (hwloc's local_memory) */
    uint64_t mem_free;            /* bytes free at discovery time (nodeN/meminfo), 0 if unknown */
    struct xpv_bitmap cpus;       /* online CPUs whose local memory is this node (the kernel's
                                     nodeN/cpulist); empty for a CPU-less memory node */
    struct xpv_bitmap local_cpus; /* online CPUs close to this node (hwloc's locality):
                                     for a CPU-less node, the CPUs of its package */
};

struct xpv_topo {
    unsigned nr_nodes;
    bool has_distances;              /* false: dist is the 10/20 default, not firmware data */
    struct xpv_bitmap cpus_online;   /* CPUs the OS runs on */
    struct xpv_bitmap cpus_offline;  /* present in the machine but offline */
    struct xpv_bitmap cpus_allowed;  /* cpuset restriction of the discovering process */
    struct xpv_bitmap nodes_allowed; /* node ids (not positions) the cpuset allows */
    uint32_t *dist;                  /* points into this allocation: nr_nodes * nr_nodes */
    struct xpv_node nodes[];         /* nr_nodes, sorted by id */
};

/* Allocate a topology for nr_nodes nodes (1..XPV_MAX_NODES), all fields zeroed except
 * nr_nodes and dist (set to the 10/20 default). Returns NULL on a bad count or no memory. */
struct xpv_topo *xpv_topo_alloc(unsigned nr_nodes);
struct xpv_topo *xpv_topo_dup(const struct xpv_topo *t);
void xpv_topo_free(struct xpv_topo *t);

/* Check the invariants above; on failure says which one in err. */
int xpv_topo_check(const struct xpv_topo *t, struct xpv_error *err);

/* Position of node `id`, or -ENODEV when the machine has no such node. */
int xpv_topo_node_index(const struct xpv_topo *t, int id);
/* Node id of `cpu`, or -ENOENT when no node holds it (offline or nonexistent CPU). */
int xpv_topo_cpu_node(const struct xpv_topo *t, unsigned cpu);

static inline uint32_t xpv_topo_dist(const struct xpv_topo *t, unsigned i, unsigned j)
{
    return t->dist[(size_t)i * t->nr_nodes + j];
}
static inline void xpv_topo_set_dist(struct xpv_topo *t, unsigned i, unsigned j, uint32_t d)
{
    t->dist[(size_t)i * t->nr_nodes + j] = d;
}

/* Node ids as a set. */
void xpv_topo_nodeset(const struct xpv_topo *t, struct xpv_bitmap *out);
uint64_t xpv_topo_mem_total(const struct xpv_topo *t);

/*
 * Discovery (hwloc). root == NULL or "/" reads the live system; otherwise root is a directory
 * holding a saved /sys + /proc tree (hwloc's fsroot). Failures say what was wrong in err:
 * a missing or unreadable root, a tree hwloc cannot make sense of, more nodes or CPUs than
 * xpv's bounds.
 */
int xpv_topo_discover(const char *root, struct xpv_topo **out, struct xpv_error *err);

/* Human-readable report (nodes, CPUs, memory, distance matrix) — what `xpv topo` prints. */
void xpv_topo_print(FILE *f, const struct xpv_topo *t);
/* JSON document, newline-terminated, as documented in docs/cli.md. 0 or -errno. */
int xpv_topo_print_json(FILE *f, const struct xpv_topo *t);

#ifdef __cplusplus
}
#endif
#endif
