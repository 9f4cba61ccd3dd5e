/*
 * t_ops.c — the kernel's ops table (xpv_ops_linux) on a real multi-node kernel: pages move
 * between nodes by move_pages, mbind and migrate_pages, and each move is verified three ways:
 * move_pages' status query, the kernel's own account in /proc/self/numa_maps, and the data.
 * init turns numa_balancing off first, so only the test moves pages.
 */
#define _GNU_SOURCE
#include "lab.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 64

/* NPAGES anonymous pages between two PROT_NONE guard pages, so the region is a VMA of its own
 * (numa_maps reports per VMA) and never merges with a neighbour. */
struct region {
    unsigned char *base; /* first guard page */
    unsigned char *mem;  /* the NPAGES pages */
    size_t page;
    void *pages[NPAGES];
    int status[NPAGES];
};

static unsigned char pattern(unsigned i, size_t k)
{
    return (unsigned char)(i * 131u + k * 7u + 1u);
}

static int region_new(struct region *r)
{
    r->page = (size_t)sysconf(_SC_PAGESIZE);
    r->base = mmap(NULL, (NPAGES + 2) * r->page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r->base == MAP_FAILED)
        return -errno;
    mprotect(r->base, r->page, PROT_NONE);
    mprotect(r->base + (NPAGES + 1) * r->page, r->page, PROT_NONE);
    r->mem = r->base + r->page;
    for (unsigned i = 0; i < NPAGES; i++) {
        r->pages[i] = r->mem + i * r->page;
        for (size_t k = 0; k < r->page; k++)
            r->mem[i * r->page + k] = pattern(i, k);
    }
    return 0;
}

static void region_free(struct region *r)
{
    munmap(r->base, (NPAGES + 2) * r->page);
}

static int region_intact(const struct region *r)
{
    for (unsigned i = 0; i < NPAGES; i++)
        for (size_t k = 0; k < r->page; k++)
            if (r->mem[i * r->page + k] != pattern(i, k))
                return 0;
    return 1;
}

/* How many of the region's pages move_pages' query places on `node` (-1: first error). */
static int count_on(const struct lab_env *env, struct region *r, int node)
{
    long rc = env->ops->move_pages(env->ops->ctx, 0, NPAGES, r->pages, NULL, r->status, 0);
    if (rc < 0)
        return (int)rc;
    int n = 0;
    for (unsigned i = 0; i < NPAGES; i++)
        n += r->status[i] == node;
    return n;
}

/*
 * The kernel's line for the region in /proc/self/numa_maps: "<start> <policy> ... N<node>=<pages>".
 * Returns the page count it gives `node` (0 when absent, -1 when the line is missing) and
 * copies the policy word.
 */
static long numa_maps_on(const struct region *r, int node, char *policy, size_t policy_len)
{
    FILE *f = fopen("/proc/self/numa_maps", "re");
    if (!f)
        return -1;
    char line[4096], key[32];
    long found = -1;
    snprintf(key, sizeof(key), "N%d=", node);
    while (fgets(line, sizeof(line), f)) {
        if (strtoul(line, NULL, 16) != (uintptr_t)r->mem)
            continue;
        printf("  numa_maps: %s", line);
        const char *sp = strchr(line, ' ');
        if (policy && sp) {
            snprintf(policy, policy_len, "%.*s", (int)strcspn(sp + 1, " \n"), sp + 1);
        }
        const char *p = strstr(line, key);
        /* make sure we matched a whole token, not the tail of N12= when looking for N2= */
        while (p && p[-1] != ' ')
            p = strstr(p + 1, key);
        found = p ? strtol(p + strlen(key), NULL, 10) : 0;
        break;
    }
    fclose(f);
    return found;
}

static int pin_to_node(const struct lab_env *env, int node)
{
    const struct xpv_node *n = &env->topo->nodes[xpv_topo_node_index(env->topo, node)];
    return env->ops->set_affinity(env->ops->ctx, 0, &n->cpus);
}

static enum lab_result move_pages_test(const struct lab_env *env)
{
    struct region r;
    LAB_CHECK(env->nodes >= 2, "needs 2 nodes");
    LAB_CHECK(pin_to_node(env, 0) == 0, "cannot pin to node 0");
    LAB_CHECK(region_new(&r) == 0, "mmap failed");
    LAB_CHECK(count_on(env, &r, 0) == NPAGES, "first touch on node 0 left %d/%d pages there",
              count_on(env, &r, 0), NPAGES);

    int targets[] = {(int)env->nodes - 1, 1};
    for (unsigned t = 0; t < 2; t++) {
        int to[NPAGES];
        for (unsigned i = 0; i < NPAGES; i++)
            to[i] = targets[t];
        long rc = env->ops->move_pages(env->ops->ctx, 0, NPAGES, r.pages, to, r.status,
                                       XPV_MPOL_MF_MOVE);
        LAB_CHECK(rc == 0, "move_pages to node %d returned %ld", targets[t], rc);
        for (unsigned i = 0; i < NPAGES; i++)
            LAB_CHECK(r.status[i] == targets[t], "page %u status %d after the move", i,
                      r.status[i]);
        LAB_CHECK(count_on(env, &r, targets[t]) == NPAGES, "query does not place all pages on %d",
                  targets[t]);
        long nm = numa_maps_on(&r, targets[t], NULL, 0);
        LAB_CHECK(nm == NPAGES, "numa_maps says N%d=%ld, want %d", targets[t], nm, NPAGES);
        LAB_CHECK(region_intact(&r), "data changed by the move to node %d", targets[t]);
        printf("  64 pages on node %d: status, numa_maps and data agree\n", targets[t]);
    }
    region_free(&r);
    return LAB_PASS;
}

static enum lab_result mbind_test(const struct lab_env *env)
{
    struct region r;
    struct xpv_bitmap nodes;
    char policy[64] = "";
    int node = env->nodes > 2 ? 2 : 1;
    LAB_CHECK(pin_to_node(env, 0) == 0, "cannot pin to node 0");
    LAB_CHECK(region_new(&r) == 0, "mmap failed");
    xpv_bitmap_zero(&nodes);
    xpv_bitmap_set(&nodes, (unsigned)node);
    int rc = env->ops->mbind(env->ops->ctx, r.mem, NPAGES * r.page, XPV_MPOL_BIND, &nodes,
                             XPV_MPOL_MF_MOVE | XPV_MPOL_MF_STRICT);
    LAB_CHECK(rc == 0, "mbind returned %d", rc);
    LAB_CHECK(count_on(env, &r, node) == NPAGES, "after mbind only %d pages on node %d",
              count_on(env, &r, node), node);
    long nm = numa_maps_on(&r, node, policy, sizeof(policy));
    LAB_CHECK(nm == NPAGES, "numa_maps says N%d=%ld", node, nm);
    char want[32];
    snprintf(want, sizeof(want), "bind:%d", node);
    LAB_CHECK(strcmp(policy, want) == 0, "numa_maps policy '%s', want '%s'", policy, want);
    int where = -1;
    rc = env->ops->get_mempolicy(env->ops->ctx, &where, NULL, r.mem + 5 * r.page,
                                 XPV_MPOL_F_NODE | XPV_MPOL_F_ADDR);
    LAB_CHECK(rc == 0 && where == node, "get_mempolicy says node %d (rc %d)", where, rc);
    LAB_CHECK(region_intact(&r), "data changed by mbind");
    region_free(&r);
    return LAB_PASS;
}

static enum lab_result migrate_pages_test(const struct lab_env *env)
{
    struct region r;
    struct xpv_bitmap from, to;
    int dst = (int)env->nodes - 1;
    LAB_CHECK(pin_to_node(env, 0) == 0, "cannot pin to node 0");
    LAB_CHECK(region_new(&r) == 0, "mmap failed");
    LAB_CHECK(count_on(env, &r, 0) == NPAGES, "first touch did not use node 0");
    xpv_bitmap_zero(&from);
    xpv_bitmap_zero(&to);
    xpv_bitmap_set(&from, 0);
    xpv_bitmap_set(&to, (unsigned)dst);
    long rc = env->ops->migrate_pages(env->ops->ctx, getpid(), &from, &to);
    LAB_CHECK(rc >= 0, "migrate_pages returned %ld", rc);
    LAB_CHECK(count_on(env, &r, dst) == NPAGES, "after migrate_pages %d pages on node %d",
              count_on(env, &r, dst), dst);
    long nm = numa_maps_on(&r, dst, NULL, 0);
    LAB_CHECK(nm == NPAGES, "numa_maps says N%d=%ld", dst, nm);
    LAB_CHECK(region_intact(&r), "data changed by migrate_pages");
    region_free(&r);
    return LAB_PASS;
}

static enum lab_result affinity_test(const struct lab_env *env)
{
    for (unsigned i = 0; i < env->topo->nr_nodes; i++) {
        const struct xpv_node *n = &env->topo->nodes[i];
        struct xpv_bitmap got;
        LAB_CHECK(env->ops->set_affinity(env->ops->ctx, 0, &n->cpus) == 0, "pin to node %d", n->id);
        LAB_CHECK(env->ops->get_affinity(env->ops->ctx, 0, &got) == 0, "get_affinity");
        LAB_CHECK(xpv_bitmap_equal(&got, &n->cpus), "affinity did not stick on node %d", n->id);
        sched_yield();
        int cpu = sched_getcpu();
        LAB_CHECK(cpu >= 0 && xpv_bitmap_isset(&n->cpus, (unsigned)cpu),
                  "running on CPU %d, pinned to node %d", cpu, n->id);
    }
    printf("  pinned to each of %u nodes in turn\n", env->topo->nr_nodes);
    return LAB_PASS;
}

static enum lab_result enodev_test(const struct lab_env *env)
{
    struct region r;
    struct xpv_bitmap nodes;
    int missing = (int)env->nodes; /* one past the last node */
    LAB_CHECK(pin_to_node(env, 0) == 0, "cannot pin to node 0");
    LAB_CHECK(region_new(&r) == 0, "mmap failed");
    int to[NPAGES];
    for (unsigned i = 0; i < NPAGES; i++)
        to[i] = missing;
    long rc =
            env->ops->move_pages(env->ops->ctx, 0, NPAGES, r.pages, to, r.status, XPV_MPOL_MF_MOVE);
    LAB_CHECK(rc == -ENODEV, "move_pages to node %d returned %ld, want -ENODEV", missing, rc);
    xpv_bitmap_zero(&nodes);
    xpv_bitmap_set(&nodes, (unsigned)missing);
    int mrc = env->ops->mbind(env->ops->ctx, r.mem, NPAGES * r.page, XPV_MPOL_BIND, &nodes,
                              XPV_MPOL_MF_MOVE);
    LAB_CHECK(mrc == -ENODEV, "mbind to node %d returned %d, want -ENODEV", missing, mrc);
    LAB_CHECK(count_on(env, &r, 0) == NPAGES, "a refused call moved pages");
    LAB_CHECK(region_intact(&r), "data changed");
    region_free(&r);
    return LAB_PASS;
}

const struct lab_test lab_ops_tests[] = {
        {"ops.move_pages", move_pages_test},
        {"ops.mbind", mbind_test},
        {"ops.migrate_pages", migrate_pages_test},
        {"ops.affinity", affinity_test},
        {"ops.enodev", enodev_test},
        {NULL, NULL},
};
