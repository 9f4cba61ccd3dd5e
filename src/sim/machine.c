/*
 * machine.c — simulated machines: the presets (with the published figures they come from),
 * machines read from hwloc XML, and validation + routing (xpv_sim_machine_finish).
 *
 * Latency model of the presets: the idle latency from CPU node c to memory node m is the
 * local latency scaled by the firmware's SLIT ratio, distance[c][m] / 10. SLIT values are
 * defined as relative latencies (ACPI 6.x, 5.2.17), so this is the firmware's own claim,
 * calibrated by one measured local latency.
 */
#include <errno.h>
#include <hwloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/policy.h"
#include "xpv/sim.h"
#include "xpv/topo.h"

#define GIB (UINT64_C(1) << 30)

static void set_slit(struct xpv_sim_machine *m, const unsigned *slit, double local_ns)
{
    unsigned n = m->nr_nodes;
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++)
            m->lat_ns[i * n + j] = local_ns * slit[i * n + j] / 10.0;
}

static void add_link(struct xpv_sim_machine *m, unsigned a, unsigned b, double gbps)
{
    m->links[m->nr_links++] = (struct xpv_sim_link){a, b, gbps};
}

/*
 * 4-socket AMD Opteron 6174 (Magny-Cours): 4 packages × 2 dies, each die a NUMA node with 6
 * cores and 2 DDR3-1333 channels — the machine class of Carrefour (ASPLOS'13) and of the Xen
 * work (EuroSys'17).
 *  - SLIT: the real 4-socket Opteron tree in ../shared/fixtures/hwloc-linux
 *    (48amd64-4pa2n6c-sparse): 10 local, 16 one HyperTransport hop, 22 two hops.
 *  - Local latency 98 ns: AnandTech, "AMD's 12-core Magny-Cours Opteron 6174 vs. Intel's
 *    6-core Xeon" (2010), SiSoft Sandra memory latency of the Opteron 6174.
 *  - Controller 12.5 GB/s per node: AMD quoted ~100 GB/s STREAM for four Opteron 6100
 *    (tecchannel.de, "AMD Opteron 6100 mit 12 Cores und DDR3"), i.e. ~12.5 GB/s per die;
 *    the die's northbridge caps it at 14.4 GB/s (AnandTech, same article: 28.8 GB/s per
 *    package).
 *  - Links: HT3 at 6.4 GT/s; a 16-bit link carries 12.8 GB/s per direction (the in-package
 *    link between the two dies), an 8-bit link 6.4 GB/s (chipsandcheese.com, "AMD's
 *    Magny-Cours and HyperTransport"). Topology: every die reaches the nodes at distance 16
 *    in one hop.
 *  - Loaded latency at peak bandwidth 1.59 x idle: assumed (no loaded-latency curve of this
 *    part found); the published Intel MLC curve of docs/sim-calibration.md.
 */
static const unsigned opteron_slit[64] = {
        10, 16, 16, 22, 16, 22, 16, 22, 16, 10, 22, 16, 16, 22, 22, 16, 16, 22, 10, 16, 16, 16,
        16, 16, 22, 16, 16, 10, 16, 16, 22, 22, 16, 16, 16, 16, 10, 16, 16, 22, 22, 22, 16, 16,
        16, 10, 22, 16, 16, 22, 16, 22, 16, 22, 10, 16, 22, 16, 16, 22, 22, 16, 16, 10,
};

static void opteron(struct xpv_sim_machine *m)
{
    snprintf(m->name, sizeof(m->name), "opteron-8n");
    snprintf(
            m->source, sizeof(m->source),
            "4x AMD Opteron 6174, 8 nodes x 6 cores. SLIT of the real tree 48amd64-4pa2n6c-sparse; "
            "local latency 98 ns (AnandTech 2010, Sandra); 12.5 GB/s per controller (AMD: ~100 "
            "GB/s STREAM for 4 sockets); HT3 links 12.8 GB/s (16-bit, in package) and 6.4 GB/s "
            "(8-bit) per direction (chipsandcheese, Magny-Cours and HyperTransport); loaded "
            "latency at peak 1.59x idle (assumed: the published MLC curve of a Xeon)");
    m->sat_ratio = XPV_SIM_SAT_RATIO;
    m->nr_nodes = 8;
    for (unsigned i = 0; i < 8; i++) {
        m->cores[i] = 6;
        m->mem_bytes[i] = 8 * GIB;
        m->mc_gbps[i] = 12.5;
    }
    set_slit(m, opteron_slit, 98);
    for (unsigned i = 0; i < 8; i++)
        for (unsigned j = i + 1; j < 8; j++)
            if (opteron_slit[i * 8 + j] == 16)
                add_link(m, i, j, j == i + 1 && i % 2 == 0 ? 12.8 : 6.4);
}

/*
 * 2-socket Intel Xeon (Broadwell-EP class, E5-2600 v4): 2 nodes × 12 cores, 4 DDR4-2400
 * channels per socket, 2 QPI links at 9.6 GT/s between the sockets.
 *  - SLIT 10/21: what the firmware of such machines reports (Linux prints it in
 *    `numactl -H`).
 *  - Local latency 85 ns: an assumption of this preset, typical of DDR4 two-socket servers,
 *    not a measurement of this part; remote follows the SLIT (~179 ns).
 *  - Controller 64 GB/s: Intel's STREAM Triad figure for two Xeon E5-2699 v4 with DDR4-2400,
 *    128 GB/s (quoted by AnandTech, "Sizing Up Servers: Intel's Skylake-SP Xeon versus AMD's
 *    EPYC 7000", 2017, memory subsystem page), per socket; 83% of the 76.8 GB/s peak.
 *  - Inter-socket 38.4 GB/s per direction: 2 QPI links × 19.2 GB/s (9.6 GT/s × 2 bytes).
 *  - Loaded latency at peak bandwidth 1.59 x idle: the published Intel MLC --loaded_latency
 *    curve of a 2-socket Xeon (Silver 4110, Skylake-SP; docs/sim-calibration.md), one
 *    generation later than this preset: assumed to carry over.
 */
static void xeon(struct xpv_sim_machine *m)
{
    static const unsigned slit[4] = {10, 21, 21, 10};
    snprintf(m->name, sizeof(m->name), "xeon-2s");
    snprintf(m->source, sizeof(m->source),
             "2-socket Intel Xeon E5-2600 v4 class, 2 nodes x 12 cores. SLIT 10/21; local latency "
             "85 ns (assumed, typical DDR4 2-socket); 64 GB/s per controller (Intel: 128 GB/s "
             "STREAM Triad for 2x E5-2699 v4, DDR4-2400, quoted by AnandTech 2017); 2 QPI links "
             "at 9.6 GT/s = 38.4 GB/s per direction; loaded latency at peak 1.59x idle (MLC "
             "loaded-latency curve of a 2-socket Skylake-SP Xeon, assumed to carry over)");
    m->sat_ratio = XPV_SIM_SAT_RATIO;
    m->nr_nodes = 2;
    for (unsigned i = 0; i < 2; i++) {
        m->cores[i] = 12;
        m->mem_bytes[i] = 64 * GIB;
        m->mc_gbps[i] = 64;
    }
    set_slit(m, slit, 85);
    add_link(m, 0, 1, 38.4);
}

/*
 * 2-socket AMD EPYC 7601 (Naples): 2 packages × 4 dies, each die a NUMA node with 8 cores and
 * 2 DDR4-2666 channels (42.7 GB/s peak).
 *  - SLIT 10 / 16 (other die, same package) / 32 (other package): what Naples firmware
 *    reports.
 *  - Local latency 90 ns: an assumption of this preset (typical DDR4), not a measurement.
 *  - Controller 31.25 GB/s: AMD's STREAM Triad figure for two EPYC 7601, 250 GB/s (quoted by
 *    AnandTech, "Sizing Up Servers", 2017, measured on DDR4-2400), over 8 dies; 73% of the
 *    42.7 GB/s DDR4-2666 peak.
 *  - Loaded latency at peak bandwidth 1.59 x idle: assumed (no loaded-latency curve of this
 *    part found); the published Intel MLC curve of docs/sim-calibration.md.
 *  - Links: dies of a package are fully connected by Infinity Fabric links of 42.6 GB/s
 *    bidirectional, 21.3 per direction (AnandTech, "AMD's Future in Servers: New 7000-Series
 *    CPUs Launched and EPYC Analysis", 2017); each die has one inter-socket link to its
 *    counterpart die, modelled at the same 21.3 GB/s per direction (an assumption).
 */
static void epyc(struct xpv_sim_machine *m)
{
    snprintf(m->name, sizeof(m->name), "epyc-2s-8n");
    snprintf(m->source, sizeof(m->source),
             "2-socket AMD EPYC 7601, 8 nodes x 8 cores. SLIT 10/16/32; local latency 90 ns "
             "(assumed); 31.25 GB/s per controller (AMD: 250 GB/s STREAM Triad for 2x EPYC 7601, "
             "quoted by AnandTech 2017); Infinity Fabric 42.6 GB/s bidirectional per die-to-die "
             "link (AnandTech 2017); loaded latency at peak 1.59x idle (assumed: the published MLC "
             "curve of a Xeon)");
    m->sat_ratio = XPV_SIM_SAT_RATIO;
    m->nr_nodes = 8;
    unsigned slit[64];
    for (unsigned i = 0; i < 8; i++) {
        m->cores[i] = 8;
        m->mem_bytes[i] = 16 * GIB;
        m->mc_gbps[i] = 31.25;
        for (unsigned j = 0; j < 8; j++)
            slit[i * 8 + j] = i == j ? 10 : i / 4 == j / 4 ? 16 : 32;
    }
    set_slit(m, slit, 90);
    for (unsigned i = 0; i < 8; i++)
        for (unsigned j = i + 1; j < 8; j++)
            if (i / 4 == j / 4 || j == i + 4)
                add_link(m, i, j, 21.3);
}

/*
 * 32 nodes of an SGI Altix 4700 (Itanium 2, NUMAlink 4 fat tree): the large machine of
 * bench-sim and sim/examples/altix-32n.yaml (1024 threads, every native policy in one run).
 *  - SLIT: the real 64-node machine in ../shared/fixtures/hwloc-linux (256ia64-64n2s2c:
 *    256 Itanium 2 cores, CPU family 32, 2 sockets x 2 cores and ~8 GB per node), its nodes
 *    0-31 as captured — a 32-node partition of the same fabric: 10 local, 22 in the node's
 *    group of 4 (one router), 26 / 30 / 34 between groups (two / three / four routers). The
 *    vendor is inferred: the only 64-node ia64 Linux systems with this router tree were
 *    SGI's Altix.
 *  - Cores: 32 per node, so that 1024 threads run one per core (the captured machine has 4
 *    per node: an assumption of this preset, which models the memory system, not the cores).
 *  - Memory 8 GiB per node: the capture's MemTotal (8077312 kB on 27 of the 32 nodes).
 *  - Local latency 132 ns (each NUMAlink 4 router crossing adds ~50 ns): qeeebo.com, "How
 *    does Itanium's NUMAlink4 link impact system performance?" (a secondary source). Remote
 *    latencies from the SLIT, as for every preset.
 *  - Controller 8.5 GB/s per node: the 2-processor ("density") blade's front-side bus at
 *    533 MT/s x 16 bytes (euroben.nl and top500.org ORSC 2006, "The SGI Altix 4000 series"),
 *    which carries both sockets' memory traffic; SGI's STREAM Triad record on a 1024-processor
 *    Altix 4700, 4.35 TB/s (Tom's Hardware, 2007), is 4.25 GB/s per processor, 8.5 per
 *    2-processor node.
 *  - Links: NUMAlink 4, 3.2 GB/s per direction (same two reports). The routers are not
 *    nodes of the model: each group of 4 nodes is a full mesh of such links, and each pair of
 *    groups is joined by one, between node 4g + h mod 4 of group g and node 4h + g mod 4 of
 *    group h (assumed: the fat tree's bisection is not published per link).
 *  - Loaded latency at peak bandwidth 1.59 x idle: assumed (no loaded-latency curve of this
 *    part found); the published Intel MLC curve of docs/sim-calibration.md.
 */
static const unsigned altix_group_slit[64] = {
        10, 26, 26, 30, 30, 34, 30, 34, 26, 10, 30, 26, 34, 30, 34, 30, 26, 30, 10, 26, 30, 34,
        30, 34, 30, 26, 26, 10, 34, 30, 34, 30, 30, 34, 30, 34, 10, 26, 26, 30, 34, 30, 34, 30,
        26, 10, 30, 26, 30, 34, 30, 34, 26, 30, 10, 26, 34, 30, 34, 30, 30, 26, 26, 10,
};

static void altix(struct xpv_sim_machine *m)
{
    snprintf(m->name, sizeof(m->name), "altix-32n");
    snprintf(m->source, sizeof(m->source),
             "32 nodes of an SGI Altix 4700 (Itanium 2, NUMAlink 4), 32 cores per node "
             "(assumed: 1024 threads; the real node has 4). SLIT of nodes 0-31 of the captured "
             "64-node machine (hwloc fixture 256ia64-64n2s2c): 10/22 in a 4-node group/26/30/34 "
             "across 1-3 more routers; local latency 132 ns (qeeebo.com on NUMAlink 4, a "
             "secondary source); 8.5 GB/s per controller (the density blade's 533 MT/s FSB, "
             "euroben.nl / top500.org ORSC 2006; SGI's STREAM Triad record, 4.35 TB/s on 1024 "
             "processors, Tom's Hardware 2007); NUMAlink 4 links 3.2 GB/s per direction "
             "(same reports), a full mesh in each 4-node group and one link per pair of groups "
             "(assumed); loaded latency at peak 1.59x idle (assumed: the published MLC curve "
             "of a Xeon)");
    m->sat_ratio = XPV_SIM_SAT_RATIO;
    m->nr_nodes = 32;
    unsigned slit[32 * 32];
    for (unsigned i = 0; i < 32; i++) {
        m->cores[i] = 32;
        m->mem_bytes[i] = 8 * GIB;
        m->mc_gbps[i] = 8.5;
        for (unsigned j = 0; j < 32; j++)
            slit[i * 32 + j] = i == j           ? 10
                               : i / 4 == j / 4 ? 22
                                                : altix_group_slit[(i / 4) * 8 + j / 4];
    }
    set_slit(m, slit, 132);
    for (unsigned g = 0; g < 8; g++)
        for (unsigned a = 0; a < 4; a++)
            for (unsigned b = a + 1; b < 4; b++)
                add_link(m, 4 * g + a, 4 * g + b, 3.2);
    for (unsigned g = 0; g < 8; g++)
        for (unsigned h = g + 1; h < 8; h++)
            add_link(m, 4 * g + h % 4, 4 * h + g % 4, 3.2);
}

/* A single node: the baseline of NUMA effects (and the simplest machine for tests). */
static void uma(struct xpv_sim_machine *m)
{
    snprintf(m->name, sizeof(m->name), "uma-1n");
    snprintf(m->source, sizeof(m->source),
             "one node, 8 cores, 90 ns, 30 GB/s, loaded latency at peak 1.59x idle (synthetic)");
    m->sat_ratio = XPV_SIM_SAT_RATIO;
    m->nr_nodes = 1;
    m->cores[0] = 8;
    m->mem_bytes[0] = 32 * GIB;
    m->mc_gbps[0] = 30;
    m->lat_ns[0] = 90;
}

static const struct {
    const char *name;
    void (*make)(struct xpv_sim_machine *);
} presets[] = {
        {"opteron-8n", opteron}, {"xeon-2s", xeon},    {"epyc-2s-8n", epyc},
        {"uma-1n", uma},         {"altix-32n", altix},
};
#define NR_PRESETS (sizeof(presets) / sizeof(presets[0]))

const char *const *xpv_sim_machine_presets(void)
{
    static const char *names[NR_PRESETS + 1];
    for (size_t i = 0; i < NR_PRESETS; i++)
        names[i] = presets[i].name;
    return names;
}

int xpv_sim_machine_preset(const char *name, struct xpv_sim_machine *m, struct xpv_error *err)
{
    for (size_t i = 0; i < NR_PRESETS; i++)
        if (!strcmp(name, presets[i].name)) {
            memset(m, 0, sizeof(*m));
            presets[i].make(m);
            return xpv_sim_machine_finish(m, err);
        }
    char list[256];
    return xpv_error_set(err, -ENOENT, "unknown machine preset '%s' (presets: %s)", name,
                         xpv_names_join(xpv_sim_machine_presets(), list, sizeof(list)));
}

/* Breadth-first routes over the link graph: fewest hops, ties to the lowest link index. */
static int compute_routes(struct xpv_sim_machine *m, struct xpv_error *err)
{
    unsigned n = m->nr_nodes;
    for (unsigned src = 0; src < n; src++) { /* src: memory node; data flows to the CPU */
        int prev_link[XPV_SIM_MAX_NODES], prev_node[XPV_SIM_MAX_NODES];
        unsigned queue[XPV_SIM_MAX_NODES], head = 0, tail = 0;
        for (unsigned i = 0; i < n; i++)
            prev_link[i] = prev_node[i] = -1;
        prev_node[src] = (int)src;
        queue[tail++] = src;
        while (head < tail) {
            unsigned u = queue[head++];
            for (unsigned l = 0; l < m->nr_links; l++) {
                const struct xpv_sim_link *k = &m->links[l];
                unsigned v = k->a == u ? k->b : k->b == u ? k->a : n;
                if (v >= n || prev_node[v] >= 0)
                    continue;
                prev_node[v] = (int)u;
                prev_link[v] = (int)l;
                queue[tail++] = v;
            }
        }
        for (unsigned dst = 0; dst < n; dst++) {
            unsigned idx = dst * n + src, len = 0;
            if (prev_node[dst] < 0)
                return xpv_error_set(err, -EINVAL,
                                     "machine %s: no link path from node %u to node %u", m->name,
                                     src, dst);
            for (unsigned v = dst; v != src; v = (unsigned)prev_node[v]) {
                if (len == XPV_SIM_MAX_HOPS)
                    return xpv_error_set(err, -EINVAL,
                                         "machine %s: node %u to %u takes more than %d hops",
                                         m->name, src, dst, XPV_SIM_MAX_HOPS);
                m->route[idx][len++] = (uint16_t)prev_link[v];
            }
            m->route_len[idx] = (uint8_t)len;
        }
    }
    return 0;
}

int xpv_sim_machine_finish(struct xpv_sim_machine *m, struct xpv_error *err)
{
    unsigned n = m->nr_nodes;
    if (n < 1 || n > XPV_SIM_MAX_NODES)
        return xpv_error_set(err, -EINVAL, "machine %s: %u nodes (1..%d)", m->name, n,
                             XPV_SIM_MAX_NODES);
    for (unsigned i = 0; i < n; i++) {
        if (!(m->mc_gbps[i] > 0) || !isfinite(m->mc_gbps[i]))
            return xpv_error_set(err, -EINVAL, "machine %s: node %u has no controller bandwidth",
                                 m->name, i);
        for (unsigned j = 0; j < n; j++)
            if (!(m->lat_ns[i * n + j] > 0) || !isfinite(m->lat_ns[i * n + j]))
                return xpv_error_set(err, -EINVAL, "machine %s: no latency from node %u to %u",
                                     m->name, i, j);
    }
    if (m->sat_ratio != 0 && !(m->sat_ratio >= 1 && isfinite(m->sat_ratio)))
        return xpv_error_set(err, -EINVAL,
                             "machine %s: loaded/idle latency ratio %g (at least 1, or 0: default)",
                             m->name, m->sat_ratio);
    for (unsigned l = 0; l < m->nr_links; l++)
        if (m->links[l].a >= n || m->links[l].b >= n || m->links[l].a == m->links[l].b ||
            !(m->links[l].gbps > 0))
            return xpv_error_set(err, -EINVAL, "machine %s: link %u (%u-%u, %g GB/s) is invalid",
                                 m->name, l, m->links[l].a, m->links[l].b, m->links[l].gbps);
    return compute_routes(m, err);
}

/* "0-1:12.8,1-2:6.4" -> links. */
static int parse_links(const char *s, struct xpv_sim_machine *m)
{
    while (*s) {
        unsigned a, b;
        double g;
        int used;
        if (sscanf(s, "%u-%u:%lf%n", &a, &b, &g, &used) != 3 || m->nr_links >= XPV_SIM_MAX_LINKS)
            return -EINVAL;
        add_link(m, a, b, g);
        s += used;
        if (*s == ',')
            s++;
        else if (*s)
            return -EINVAL;
    }
    return 0;
}

int xpv_sim_machine_from_hwloc_xml(const char *path, double local_ns, double mc_gbps,
                                   double link_gbps, struct xpv_sim_machine *m,
                                   struct xpv_error *err)
{
    memset(m, 0, sizeof(*m));
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) < 0)
        return xpv_error_set(err, -ENOMEM, "hwloc_topology_init failed");
    int rc = 0;
    if (hwloc_topology_set_xml(topo, path) < 0 || hwloc_topology_load(topo) < 0) {
        hwloc_topology_destroy(topo);
        return xpv_error_set(err, -EINVAL, "%s: hwloc cannot read it as topology XML", path);
    }
    int nr = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    if (nr < 1 || nr > XPV_SIM_MAX_NODES) {
        rc = xpv_error_set(err, -EINVAL, "%s: %d NUMA nodes (1..%d supported)", path, nr,
                           XPV_SIM_MAX_NODES);
        goto out;
    }
    snprintf(m->name, sizeof(m->name), "%.50s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    m->nr_nodes = (unsigned)nr;
    for (int i = 0; i < nr; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        m->mem_bytes[i] = o->attr->numanode.local_memory;
        m->cores[i] = o->cpuset ? (unsigned)hwloc_get_nbobjs_inside_cpuset_by_type(topo, o->cpuset,
                                                                                   HWLOC_OBJ_CORE)
                                : 0;
        const char *bw = hwloc_obj_get_info_by_name(o, "xpv.mc_gbps");
        m->mc_gbps[i] = bw ? atof(bw) : mc_gbps;
    }
    /* Latencies: hwloc's OS-provided NUMALatency matrix (SLIT values), scaled to ns. */
    unsigned nd = 1;
    struct hwloc_distances_s *d = NULL;
    if (hwloc_distances_get_by_name(topo, "NUMALatency", &nd, &d, 0) == 0 && nd >= 1 &&
        d->nbobjs == (unsigned)nr) {
        for (int i = 0; i < nr; i++)
            for (int j = 0; j < nr; j++) {
                unsigned a = d->objs[i]->logical_index, b = d->objs[j]->logical_index;
                m->lat_ns[a * (unsigned)nr + b] =
                        local_ns * (double)d->values[(unsigned)i * (unsigned)nr + (unsigned)j] /
                        10.0;
            }
        hwloc_distances_release(topo, d);
    } else {
        if (nd >= 1 && d)
            hwloc_distances_release(topo, d);
        if (nr > 1) {
            rc = xpv_error_set(err, -EINVAL,
                               "%s: no NUMALatency distance matrix for its %d nodes (capture "
                               "with lstopo --of xml on the machine itself)",
                               path, nr);
            goto out;
        }
        m->lat_ns[0] = local_ns;
    }
    const char *links = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "xpv.links");
    if (links) {
        if (parse_links(links, m) < 0) {
            rc = xpv_error_set(err, -EINVAL, "%s: xpv.links '%s' is not 'a-b:GBps,...'", path,
                               links);
            goto out;
        }
    } else {
        for (int i = 0; i < nr; i++)
            for (int j = i + 1; j < nr; j++)
                add_link(m, (unsigned)i, (unsigned)j, link_gbps);
    }
    snprintf(m->source, sizeof(m->source),
             "hwloc XML %s: latencies = SLIT/10 x %g ns local; controllers %s; links %s", path,
             local_ns, "from xpv.mc_gbps or the default", links ? "from xpv.links" : "full mesh");
    rc = xpv_sim_machine_finish(m, err);
out:
    hwloc_topology_destroy(topo);
    return rc;
}

int xpv_sim_machine_topo(const struct xpv_sim_machine *m, struct xpv_topo **out,
                         struct xpv_error *err)
{
    *out = NULL;
    unsigned n = m->nr_nodes, cpu = 0;
    for (unsigned i = 0; i < n; i++)
        cpu += m->cores[i];
    if (n < 1 || n > XPV_SIM_MAX_NODES || cpu > XPV_MAX_CPUS)
        return xpv_error_set(err, -EINVAL, "machine %s: %u nodes, %u cores (at most %d, %d)",
                             m->name, n, cpu, XPV_SIM_MAX_NODES, XPV_MAX_CPUS);
    struct xpv_topo *t = xpv_topo_alloc(n);
    if (!t)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    t->has_distances = true;
    cpu = 0;
    for (unsigned i = 0; i < n; i++) {
        struct xpv_node *node = &t->nodes[i];
        node->id = (int)i;
        node->mem_total = node->mem_free = m->mem_bytes[i];
        for (unsigned c = 0; c < m->cores[i]; c++)
            xpv_bitmap_set(&node->cpus, cpu++);
        node->local_cpus = node->cpus;
        xpv_bitmap_or(&t->cpus_online, &t->cpus_online, &node->cpus);
        xpv_bitmap_set(&t->nodes_allowed, i);
        for (unsigned j = 0; j < n; j++)
            xpv_topo_set_dist(t, i, j, xpv_pol_slit(m->lat_ns, n, i, j));
    }
    t->cpus_allowed = t->cpus_online;
    *out = t;
    return 0;
}
