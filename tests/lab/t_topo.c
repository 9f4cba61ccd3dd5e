/*
 * t_topo.c — discovery inside the lab guest: the nodes, CPUs, memory and SLIT distances that
 * lab/run-lab.sh gave QEMU (N nodes, 1 vCPU and 512 MiB each, distance 10 + 10·|i−j|) must be
 * what xpv_topo_discover(NULL) finds through hwloc on a real kernel.
 */
#include "lab.h"

#include <inttypes.h>

static enum lab_result nodes(const struct lab_env *env)
{
    const struct xpv_topo *t = env->topo;
    xpv_topo_print(stdout, t);
    LAB_CHECK(t->nr_nodes == env->nodes, "found %u nodes, QEMU made %u", t->nr_nodes, env->nodes);
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        const struct xpv_node *n = &t->nodes[i];
        LAB_CHECK(n->id == (int)i, "node at %u has id %d", i, n->id);
        LAB_CHECK(xpv_bitmap_weight(&n->cpus) == 1 && xpv_bitmap_isset(&n->cpus, i),
                  "node %u should hold exactly CPU %u", i, i);
        /* 512 MiB minus what the firmware and kernel keep for themselves. */
        LAB_CHECK(n->mem_total > (UINT64_C(384) << 20) && n->mem_total <= (UINT64_C(512) << 20),
                  "node %u has %" PRIu64 " bytes", i, n->mem_total);
        LAB_CHECK(n->mem_free > 0 && n->mem_free <= n->mem_total, "node %u free %" PRIu64, i,
                  n->mem_free);
    }
    LAB_CHECK(xpv_bitmap_weight(&t->cpus_online) == env->nodes, "%u CPUs online",
              xpv_bitmap_weight(&t->cpus_online));
    return LAB_PASS;
}

static enum lab_result distances(const struct lab_env *env)
{
    const struct xpv_topo *t = env->topo;
    LAB_CHECK(t->has_distances, "no SLIT distances found");
    for (unsigned i = 0; i < t->nr_nodes; i++)
        for (unsigned j = 0; j < t->nr_nodes; j++) {
            uint32_t want = 10 + 10 * (i > j ? i - j : j - i);
            LAB_CHECK(xpv_topo_dist(t, i, j) == want,
                      "distance %u->%u is %" PRIu32 ", want %" PRIu32, i, j, xpv_topo_dist(t, i, j),
                      want);
        }
    printf("  %ux%u matrix matches 10 + 10*|i-j|\n", t->nr_nodes, t->nr_nodes);
    return LAB_PASS;
}

const struct lab_test lab_topo_tests[] = {
        {"topo.nodes", nodes},
        {"topo.distances", distances},
        {NULL, NULL},
};
