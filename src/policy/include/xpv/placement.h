/*
 * xpv/placement.h — where a host should run its domains (process groups, VMs): a numad-class
 * placement in the shared policy core, pure and explainable. Each round it scores every node
 * for every domain from free CPU, free memory and distance to the domain's memory, picks for
 * each domain the fewest nodes that fit its threads and memory, and proposes a move only when
 * the new placement scores clearly better than the current one (hysteresis) and within a move
 * budget (rate limit). Every decision carries a one-line reason a person can read.
 *
 * The host daemon applies the moves (affinity, optional page migration) and publishes the
 * domains' new topology records; the simulator runs the same function as its `hostd` policy
 * (policy/hostd_policy.c), with the same vNode rule for VMs (xpv_place_vnode).
 */
#ifndef XPV_PLACEMENT_H
#define XPV_PLACEMENT_H

#include <stdint.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_PLACE_MAX_NODES 64

struct xpv_place_node {
    unsigned cores;    /* CPUs the host lets domains use on this node */
    uint64_t mem_free; /* bytes free (not counting the domains' own memory) */
};

struct xpv_place_domain {
    const char *name;
    unsigned threads;                  /* runnable threads (vCPUs) */
    uint64_t mem[XPV_PLACE_MAX_NODES]; /* its memory on each node, bytes */
    uint64_t nodes;                    /* the nodes it is bound to now (0: none) */
    /* 1: counts for the loads the others see, but is not reconsidered this round (nothing
     * about it changed: the host daemon's change detectors, docs/hostd.md "Cost"); 0 (the
     * default): a candidate */
    unsigned char settled;
};

struct xpv_place_params {
    double hysteresis;  /* move only if the new score beats the current by this share (0.15) */
    unsigned max_moves; /* domains moved per round (2) */
    double w_cpu, w_mem, w_near; /* score weights (1, 1, 1) */
};

struct xpv_place_decision {
    unsigned domain;
    uint64_t from, to; /* node masks */
    double score_from, score_to;
    char reason[256];
};

void xpv_place_params_default(struct xpv_place_params *p);

/*
 * One round. nodes[nr_nodes], dist[nr_nodes²] (SLIT-like, 10 = local), domains[nr]. Writes
 * up to cap decisions (moves only; domains that stay are not listed) and returns their
 * number, or -EINVAL (err says what is wrong with the input), -ENOMEM. Only the domains not
 * `settled` are scored and visited (worst-placed first); the cost is linear in nr (the
 * loads) plus the candidates' scoring.
 */
int xpv_place_round(const struct xpv_place_params *p, const struct xpv_place_node *nodes,
                    unsigned nr_nodes, const uint32_t *dist, const struct xpv_place_domain *domains,
                    unsigned nr, struct xpv_place_decision *out, unsigned cap,
                    struct xpv_error *err);

/*
 * The host daemon's vNode rule: a VM placed on the node set `nodes` (bit i: node position i)
 * runs vNode v on the (v mod k)-th node of the set, k its size, counting from the lowest
 * position (a negative v counts as vNode 0); its vCPUs are bound there and its memory moves
 * there. Returns that node position, or -1 for an empty set. The daemon (hostd_vm.c) and the
 * simulator's `hostd` policy both place vNodes with it.
 */
int xpv_place_vnode(uint64_t nodes, int vnode);

#ifdef __cplusplus
}
#endif
#endif
