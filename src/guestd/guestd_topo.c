/*
 * guestd_topo.c — the guest's own view of its nodes and CPUs (sysfs), and the effective guest
 * topology the agent republishes: each vCPU's effective vNode, from the host's record.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestd.h"
#include "xpv/effective.h"
#include "xpv/file.h"

/* A small sysfs file under root into buf (NUL-terminated, cut to cap); its length, or -errno. */
static int read_small(const char *root, const char *rel, char *buf, size_t cap)
{
    char path[512], *text;
    size_t n;
    snprintf(path, sizeof(path), "%s%s", root, rel);
    int rc = xpv_read_file(path, 1u << 20, &text, &n, NULL);
    if (rc < 0)
        return rc;
    snprintf(buf, cap, "%s", text);
    free(text);
    return (int)(n < cap ? n : cap - 1);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

int guestd_local_read(const char *root, struct guestd_local *l, struct xpv_error *err)
{
    memset(l, 0, sizeof(*l));
    for (unsigned c = 0; c < GUESTD_MAX_CPUS; c++)
        l->cpu_node[c] = -1;
    char dir[512], buf[4096];
    snprintf(dir, sizeof(dir), "%s/sys/devices/system/node", root);
    DIR *d = opendir(dir);
    if (!d)
        return xpv_error_set(err, -errno, "cannot list %s: %s (is sysfs mounted?)", dir,
                             strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        if (strncmp(de->d_name, "node", 4) || !de->d_name[4])
            continue;
        long id = strtol(de->d_name + 4, &end, 10);
        if (*end || id < 0 || id > 65535)
            continue;
        if (l->nr_nodes == GUESTD_MAX_NODES) {
            closedir(d);
            return xpv_error_set(err, -E2BIG, "more than %d nodes under %s", GUESTD_MAX_NODES, dir);
        }
        l->node_id[l->nr_nodes++] = (int)id;
    }
    closedir(d);
    if (!l->nr_nodes)
        return xpv_error_set(err, -ENOENT, "no node under %s", dir);
    qsort(l->node_id, l->nr_nodes, sizeof(int), cmp_int);

    for (unsigned i = 0; i < l->nr_nodes; i++) {
        char rel[128];
        /* CPUs: cpulist has the online ones; the cpuN links also the present, offline ones */
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%d/cpulist", l->node_id[i]);
        struct xpv_bitmap cpus;
        xpv_bitmap_zero(&cpus);
        if (read_small(root, rel, buf, sizeof(buf)) >= 0 && xpv_bitmap_parse_list(&cpus, buf) < 0)
            return xpv_error_set(err, -EBADMSG, "%s%s: not a CPU list: '%.40s'", root, rel, buf);
        snprintf(dir, sizeof(dir), "%s/sys/devices/system/node/node%d", root, l->node_id[i]);
        if ((d = opendir(dir))) {
            while ((de = readdir(d))) {
                char *end;
                long c = strncmp(de->d_name, "cpu", 3) ? -1 : strtol(de->d_name + 3, &end, 10);
                if (c >= 0 && c < XPV_MAX_CPUS && de->d_name[3] && !*end)
                    xpv_bitmap_set(&cpus, (unsigned)c);
            }
            closedir(d);
        }
        for (int c = xpv_bitmap_next(&cpus, 0); c >= 0;
             c = xpv_bitmap_next(&cpus, (unsigned)c + 1)) {
            if (c >= GUESTD_MAX_CPUS)
                return xpv_error_set(err, -E2BIG, "CPU %d beyond the agent's %d", c,
                                     GUESTD_MAX_CPUS);
            l->cpu_node[c] = l->node_id[i];
            if ((unsigned)c + 1 > l->nr_cpus)
                l->nr_cpus = (unsigned)c + 1;
        }
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%d/meminfo", l->node_id[i]);
        if (read_small(root, rel, buf, sizeof(buf)) > 0) {
            const char *p = strstr(buf, "MemTotal:");
            unsigned long long kb;
            if (p && sscanf(p, "MemTotal: %llu kB", &kb) == 1)
                l->node_mem[i] = (uint64_t)kb * 1024;
        }
        snprintf(rel, sizeof(rel), "/sys/devices/system/node/node%d/distance", l->node_id[i]);
        if (read_small(root, rel, buf, sizeof(buf)) > 0) {
            char *p = buf;
            for (unsigned j = 0; j < l->nr_nodes; j++) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p || v < 1 || v > 65535)
                    break;
                l->node_dist[i][j] = (uint16_t)v;
                p = end;
            }
        }
    }
    /* online CPUs; cpu0 often has no `online` file (it cannot go offline) */
    for (unsigned c = 0; c < l->nr_cpus; c++) {
        if (l->cpu_node[c] < 0)
            continue;
        char rel[96];
        snprintf(rel, sizeof(rel), "/sys/devices/system/cpu/cpu%u/online", c);
        int n = read_small(root, rel, buf, sizeof(buf));
        if (n < 0 || buf[0] == '1')
            xpv_bitmap_set(&l->online, c);
    }
    return 0;
}

/* Index of node id in the local view, -1. */
static int node_index(const struct guestd_local *l, int id)
{
    for (unsigned i = 0; i < l->nr_nodes; i++)
        if (l->node_id[i] == id)
            return (int)i;
    return -1;
}

/* The host's memory entries as the effective-node rule reads them: only vNodes the guest has
 * count (memory of a vNode the guest does not know cannot be allocated from). */
struct guest_mem {
    const struct xpv_record_view *host;
    const struct guestd_local *l;
};

static uint32_t host_distance(const void *ctx, unsigned i, unsigned j)
{
    return xpv_record_distance(((const struct guest_mem *)ctx)->host, i, j);
}

static struct xpv_record_backing guest_mem_at(const void *ctx, unsigned k)
{
    const struct guest_mem *gm = ctx;
    struct xpv_record_backing e = xpv_record_backing_at(gm->host, k);
    if (node_index(gm->l, e.vnode) < 0)
        e.bytes = 0;
    return e;
}

int guestd_effective(const struct xpv_record_view *host, const struct guestd_local *l,
                     struct guestd_topo *out, struct xpv_error *err)
{
    memset(out, 0, sizeof(*out));
    unsigned nn = l->nr_nodes, nc = l->nr_cpus;
    if (!nn)
        return xpv_error_set(err, -EINVAL, "the guest has no node");
    if (host && host->nr_cpus > nc)
        nc = host->nr_cpus < GUESTD_MAX_CPUS ? host->nr_cpus : GUESTD_MAX_CPUS;

    /* each guest node's main backing physical node (index in the host record), -1 */
    int back[GUESTD_MAX_NODES];
    for (unsigned g = 0; g < nn; g++) {
        back[g] = -1;
        out->vnode_pnode_id[g] = -1;
        uint64_t best = 0;
        for (unsigned b = 0; host && b < host->nr_backing; b++) {
            struct xpv_record_backing e = xpv_record_backing_at(host, b);
            if ((int)e.vnode == l->node_id[g] && (back[g] < 0 || e.bytes > best)) {
                back[g] = e.pnode;
                best = e.bytes;
            }
        }
        if (back[g] >= 0)
            out->vnode_pnode_id[g] = (int)xpv_record_pnode_id(host, (unsigned)back[g]);
    }

    struct guest_mem gm = {host, l};
    struct xpv_effective_src src = {0};
    if (host)
        src = (struct xpv_effective_src){.nr_pnodes = host->nr_pnodes,
                                         .nr_mem = host->nr_backing,
                                         .ctx = &gm,
                                         .distance = host_distance,
                                         .mem = guest_mem_at};
    for (unsigned c = 0; c < nc; c++) {
        out->cpu_pnode_id[c] = -1;
        /* the guest kernel's node for it, else the host's vNode */
        int sv = c < l->nr_cpus && l->cpu_node[c] >= 0 ? node_index(l, l->cpu_node[c]) : -1;
        if (sv < 0 && host && c < host->nr_cpus && xpv_record_cpu_vnode(host, c) != XPV_RECORD_NONE)
            sv = node_index(l, xpv_record_cpu_vnode(host, c));
        out->cpu_static[c] = sv < 0 ? XPV_RECORD_NONE : (uint16_t)sv;
        out->cpu_eff[c] = out->cpu_static[c];
        if (c >= l->nr_cpus || !xpv_bitmap_isset(&l->online, c)) {
            out->cpu_eff[c] = XPV_RECORD_NONE; /* nothing runs there */
            continue;
        }
        unsigned p = host && c < host->nr_cpus ? xpv_record_cpu_pnode(host, c) : XPV_RECORD_NONE;
        if (p == XPV_RECORD_NONE)
            continue;
        out->cpu_pnode_id[c] = (int)xpv_record_pnode_id(host, p);
        /* the one rule (xpv/effective.h), over the host's memory entries of the vNodes this
         * guest has; its own vNode is the one the guest kernel puts it in */
        struct xpv_effective e;
        int rc = xpv_effective_pick(&src, p, sv < 0 ? XPV_RECORD_NONE : (unsigned)l->node_id[sv],
                                    &e);
        int g = rc > 0 ? node_index(l, e.vnode) : -1;
        if (g >= 0)
            out->cpu_eff[c] = (uint16_t)g;
    }

    unsigned nb = 0;
    for (unsigned g = 0; g < nn; g++) {
        out->ids[g] = (uint32_t)l->node_id[g];
        uint64_t bytes = l->node_mem[g];
        if (!bytes) /* no meminfo: what the host says the vNode has */
            for (unsigned b = 0; host && b < host->nr_backing; b++) {
                struct xpv_record_backing e = xpv_record_backing_at(host, b);
                if ((int)e.vnode == l->node_id[g])
                    bytes += e.bytes;
            }
        if (bytes)
            out->backing[nb++] = (struct xpv_record_backing){
                    .vnode = (uint16_t)g, .pnode = (uint16_t)g, .bytes = bytes};
        for (unsigned h = 0; h < nn; h++) {
            uint16_t d;
            if (g == h)
                d = 10;
            else if (back[g] >= 0 && back[h] >= 0)
                d = back[g] == back[h]
                            ? 10
                            : xpv_record_distance(host, (unsigned)back[g], (unsigned)back[h]);
            else
                d = l->node_dist[g][h] ? l->node_dist[g][h] : 20;
            out->dist[g * nn + h] = d;
        }
    }
    out->desc = (struct xpv_record_desc){.nr_pnodes = nn,
                                         .nr_vnodes = nn,
                                         .nr_cpus = nc,
                                         .nr_backing = nb,
                                         .pnode_ids = out->ids,
                                         .cpu_pnode = out->cpu_eff,
                                         .cpu_vnode = out->cpu_static,
                                         .backing = out->backing,
                                         .distance = out->dist};
    return 0;
}
