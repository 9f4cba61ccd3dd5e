/*
 * discover.c — fill a struct xpv_topo from hwloc, on the live system or on a saved
 * /sys + /proc tree.
 *
 * hwloc 2 reads its Linux "fsroot" only from the HWLOC_FSROOT environment variable (the
 * hwloc_topology_set_fsroot() call of hwloc 1.x is gone), at hwloc_topology_load(). So a
 * discovery from a root sets the variable around the load, under a process-wide lock, and
 * restores what was there. getenv() from other threads during that window is the one
 * thread-safety caveat, stated in the header; daemons discover before starting threads.
 *
 * The topology is loaded with HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED so a process confined
 * by a cpuset still sees the whole machine, with the confinement in cpus_allowed and
 * nodes_allowed. Free memory is not in hwloc's model; it comes from nodeN/meminfo under the
 * same root.
 */
#include "xpv/topo.h"

#include <errno.h>
#include <hwloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t fsroot_lock = PTHREAD_MUTEX_INITIALIZER;

static int to_bitmap(hwloc_const_bitmap_t hb, struct xpv_bitmap *out, const char *what,
                     struct xpv_error *err)
{
    xpv_bitmap_zero(out);
    if (!hb)
        return 0;
    if (hwloc_bitmap_weight(hb) < 0 || hwloc_bitmap_last(hb) >= XPV_MAX_CPUS)
        return xpv_error_set(err, -ERANGE, "%s: index %d beyond xpv's limit of %d", what,
                             hwloc_bitmap_last(hb), XPV_MAX_CPUS - 1);
    unsigned i;
    hwloc_bitmap_foreach_begin(i, hb)
    {
        xpv_bitmap_set(out, i);
    }
    hwloc_bitmap_foreach_end();
    return 0;
}

/* "Node 3 MemFree:   123456 kB" from ROOT/sys/devices/system/node/nodeN/meminfo. */
static uint64_t read_mem_free(const char *root, int id)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/sys/devices/system/node/node%d/meminfo", root, id);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "MemFree:");
        if (p && sscanf(p + 8, "%" SCNu64, &kb) == 1)
            break;
    }
    fclose(f);
    return kb > UINT64_MAX / 1024 ? 0 : kb * 1024;
}

/*
 * The kernel's CPUs of node `id` (nodeN/cpulist, or the older cpumap). hwloc's node cpuset
 * is the node's *locality* instead: a CPU-less memory node (HBM, CXL, NVDIMM) gets the CPUs
 * of the package it hangs off, so several nodes can share it. Returns -ENOENT when the
 * tree has neither file (a machine without NUMA in sysfs).
 */
static int read_node_cpus(const char *root, int id, struct xpv_bitmap *out)
{
    static const char *const files[] = {"cpulist", "cpumap"};
    for (int k = 0; k < 2; k++) {
        char path[4096], buf[8192];
        snprintf(path, sizeof(path), "%s/sys/devices/system/node/node%d/%s", root, id, files[k]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        int rc = k == 0 ? xpv_bitmap_parse_list(out, buf) : xpv_bitmap_parse_mask(out, buf);
        if (rc == 0)
            return 0;
    }
    return -ENOENT;
}

static int load_hwloc(const char *root, hwloc_topology_t *out, struct xpv_error *err)
{
    hwloc_topology_t topo = NULL;
    if (hwloc_topology_init(&topo) < 0)
        return xpv_error_set(err, -ENOMEM, "hwloc_topology_init failed");
    hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    /* Only NUMA nodes, PUs and their grouping matter here; skip I/O and caches. */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    hwloc_topology_set_cache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (!root) {
        int rc = hwloc_topology_load(topo);
        if (rc < 0) {
            hwloc_topology_destroy(topo);
            return xpv_error_set(err, -errno ? -errno : -EIO,
                                 "hwloc could not read this machine's topology: %s",
                                 strerror(errno));
        }
        *out = topo;
        return 0;
    }
    /* The x86 backend would run CPUID on *this* CPU and mix it into the saved machine. */
    hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
    pthread_mutex_lock(&fsroot_lock);
    const char *prev = getenv("HWLOC_FSROOT");
    char *saved = prev ? strdup(prev) : NULL;
    setenv("HWLOC_FSROOT", root, 1);
    int rc = hwloc_topology_load(topo);
    int load_errno = errno;
    if (saved)
        setenv("HWLOC_FSROOT", saved, 1);
    else
        unsetenv("HWLOC_FSROOT");
    free(saved);
    pthread_mutex_unlock(&fsroot_lock);
    if (rc < 0) {
        hwloc_topology_destroy(topo);
        return xpv_error_set(err, -EIO, "hwloc could not read the tree under %s: %s", root,
                             strerror(load_errno));
    }
    *out = topo;
    return 0;
}

static int check_root(const char *root, struct xpv_error *err)
{
    struct stat st;
    char path[4096];
    if (stat(root, &st) < 0)
        return xpv_error_set(err, -errno, "cannot read topology root %s: %s", root,
                             strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return xpv_error_set(err, -ENOTDIR, "topology root %s is not a directory", root);
    snprintf(path, sizeof(path), "%s/sys/devices/system/cpu", root);
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return xpv_error_set(err, -ENOENT,
                             "%s does not hold a saved sysfs tree (no sys/devices/system/cpu); "
                             "give the directory that contains sys/ and proc/",
                             root);
    return 0;
}

static int node_cmp(const void *a, const void *b)
{
    const struct xpv_node *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int fill_distances(hwloc_topology_t topo, struct xpv_topo *t, struct xpv_error *err)
{
    unsigned nr = 0;
    unsigned long kind = HWLOC_DISTANCES_KIND_FROM_OS | HWLOC_DISTANCES_KIND_MEANS_LATENCY;
    if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, NULL, kind, 0) < 0 || !nr)
        return 0;
    struct hwloc_distances_s **d = calloc(nr, sizeof(*d));
    if (!d)
        return xpv_error_set(err, -ENOMEM, "out of memory reading distances");
    int rc = 0;
    if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, d, kind, 0) < 0) {
        free(d);
        return 0;
    }
    /* Use the first matrix hwloc has (the OS's SLIT); map its objects to our positions. */
    struct hwloc_distances_s *m = d[0];
    int pos[XPV_MAX_NODES];
    for (unsigned i = 0; i < m->nbobjs && i < XPV_MAX_NODES; i++)
        pos[i] = m->objs[i] ? xpv_topo_node_index(t, (int)m->objs[i]->os_index) : -ENODEV;
    if (m->nbobjs <= XPV_MAX_NODES) {
        for (unsigned i = 0; i < m->nbobjs; i++)
            for (unsigned j = 0; j < m->nbobjs; j++) {
                if (pos[i] < 0 || pos[j] < 0)
                    continue;
                hwloc_uint64_t v = m->values[i * m->nbobjs + j];
                if (v > UINT32_MAX) {
                    rc = xpv_error_set(err, -ERANGE, "distance %" PRIu64 " too large", (uint64_t)v);
                    goto out;
                }
                xpv_topo_set_dist(t, (unsigned)pos[i], (unsigned)pos[j], (uint32_t)v);
            }
        t->has_distances = true;
    }
out:
    for (unsigned i = 0; i < nr; i++)
        hwloc_distances_release(topo, d[i]);
    free(d);
    return rc;
}

static int convert(hwloc_topology_t topo, const char *root, struct xpv_topo **out,
                   struct xpv_error *err)
{
    int nr = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    if (nr <= 0)
        return xpv_error_set(err, -ENODEV, "hwloc found no NUMA node");
    if (nr > XPV_MAX_NODES)
        return xpv_error_set(err, -ERANGE, "%d NUMA nodes, beyond xpv's limit of %d", nr,
                             XPV_MAX_NODES);
    struct xpv_topo *t = xpv_topo_alloc((unsigned)nr);
    if (!t)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    int rc;
    struct xpv_bitmap complete;
    if ((rc = to_bitmap(hwloc_topology_get_topology_cpuset(topo), &t->cpus_online, "CPUs", err)) <
                0 ||
        (rc = to_bitmap(hwloc_topology_get_complete_cpuset(topo), &complete, "CPUs", err)) < 0 ||
        (rc = to_bitmap(hwloc_topology_get_allowed_cpuset(topo), &t->cpus_allowed, "allowed CPUs",
                        err)) < 0 ||
        (rc = to_bitmap(hwloc_topology_get_allowed_nodeset(topo), &t->nodes_allowed,
                        "allowed nodes", err)) < 0)
        goto fail;
    xpv_bitmap_andnot(&t->cpus_offline, &complete, &t->cpus_online);
    xpv_bitmap_and(&t->cpus_allowed, &t->cpus_allowed, &t->cpus_online);

    for (int i = 0; i < nr; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        struct xpv_node *n = &t->nodes[i];
        /* hwloc gives an unknown index only when the OS exposes no NUMA at all. */
        n->id = o->os_index == HWLOC_UNKNOWN_INDEX ? 0 : (int)o->os_index;
        if (n->id >= XPV_MAX_NODES) {
            rc = xpv_error_set(err, -ERANGE, "node id %d beyond xpv's limit of %d", n->id,
                               XPV_MAX_NODES - 1);
            goto fail;
        }
        if ((rc = to_bitmap(o->cpuset, &n->local_cpus, "node CPUs", err)) < 0)
            goto fail;
        xpv_bitmap_and(&n->local_cpus, &n->local_cpus, &t->cpus_online);
        if (read_node_cpus(root ? root : "", n->id, &n->cpus) < 0)
            n->cpus = n->local_cpus;
        xpv_bitmap_and(&n->cpus, &n->cpus, &t->cpus_online);
        n->mem_total = o->attr ? o->attr->numanode.local_memory : 0;
        n->mem_free = read_mem_free(root ? root : "", n->id);
        if (n->mem_free > n->mem_total)
            n->mem_free = n->mem_total;
    }
    qsort(t->nodes, (size_t)nr, sizeof(t->nodes[0]), node_cmp);
    if ((rc = fill_distances(topo, t, err)) < 0)
        goto fail;
    if ((rc = xpv_topo_check(t, err)) < 0)
        goto fail;
    *out = t;
    return 0;
fail:
    xpv_topo_free(t);
    return rc;
}

int xpv_topo_discover(const char *root, struct xpv_topo **out, struct xpv_error *err)
{
    hwloc_topology_t topo = NULL;
    int rc;
    if (root && strcmp(root, "/") == 0)
        root = NULL;
    if (root && (rc = check_root(root, err)) < 0)
        return rc;
    if ((rc = load_hwloc(root, &topo, err)) < 0)
        return rc;
    rc = convert(topo, root, out, err);
    hwloc_topology_destroy(topo);
    return rc;
}
