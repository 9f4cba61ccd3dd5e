/*
 * xpv/sim.h — the NUMA machine simulator behind `xpv sim` (docs/sim.md).
 *
 * A machine (nodes, cores, memory, idle latency matrix, memory-controller and link
 * bandwidths), workloads (threads with private and shared regions, phases, a fixed amount of
 * work) and a policy run epoch by epoch: each epoch (1 ms simulated by default) the engine
 * aggregates every thread's accesses over the nodes holding its regions, and solves a fixed
 * point between access rates (closed loops: a thread issues its next miss when the previous
 * ones return) and latencies (idle latency + queueing delay at the destination controller
 * and on every link of the route, from their utilisation). Policies are the shared policy
 * core (xpv/policy.h) driven through a simulated platform.
 *
 * Units: time in ns inside the engine, seconds at the API; bandwidth in GB/s (= bytes/ns);
 * sizes in bytes.
 */
#ifndef XPV_SIM_H
#define XPV_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_SIM_MAX_NODES     64
#define XPV_SIM_MAX_LINKS     256
#define XPV_SIM_MAX_HOPS      8
#define XPV_SIM_MAX_REGIONS   8 /* region specs per workload */
#define XPV_SIM_MAX_PHASES    8
#define XPV_SIM_MAX_WORKLOADS 16
#define XPV_SIM_MAX_POLICIES  12
#define XPV_SIM_MAX_THREADS   1024 /* per workload */
#define XPV_SIM_LINE          64   /* bytes moved per memory access (a cache line) */
#define XPV_SIM_MAX_VMS       8
#define XPV_SIM_MAX_VNODES    8
#define XPV_SIM_MAX_EVENTS    32
/* Epochs a run may simulate (max_seconds x 1000 / epoch_ms): a scenario file is untrusted,
 * and max_seconds 1e9 with epoch_ms 1e-6 would never end. 1e7: 10 000 s at 1 ms, 1 000 s at
 * 0.1 ms (the examples use 120 000 to 400 000). */
#define XPV_SIM_MAX_EPOCHS 1e7
/* And epochs x threads (all workloads'), the engine's cost: about 60 ns each in an optimised
 * build (docs/sim.md, "Speed"), so at most ~60 s per policy; the examples use < 2e7. */
#define XPV_SIM_MAX_THREAD_EPOCHS 1e9

struct xpv_topo;
struct xpv_record_desc;

/* A bidirectional interconnect link; gbps is its bandwidth in each direction. */
struct xpv_sim_link {
    unsigned a, b;
    double gbps;
};

/* Loaded / idle latency of a memory controller at its peak bandwidth when a machine does not
 * say: 130.31 / 81.96 ns, the published Intel MLC --loaded_latency run of
 * docs/sim-calibration.md ("Loaded latency"). */
#define XPV_SIM_SAT_RATIO 1.59

struct xpv_sim_machine {
    char name[64];
    char source[1024]; /* where the figures come from (citations, calibration) */
    /* Loaded / idle latency at peak bandwidth (> 1; 0: XPV_SIM_SAT_RATIO): the queueing
     * delay a resource adds at peak is (sat_ratio - 1) x the local idle latency, shaped by
     * the published loaded-latency curve below peak (docs/sim.md, "Model"). */
    double sat_ratio;
    unsigned nr_nodes;
    unsigned cores[XPV_SIM_MAX_NODES];
    uint64_t mem_bytes[XPV_SIM_MAX_NODES];
    double mc_gbps[XPV_SIM_MAX_NODES];                    /* memory controller bandwidth */
    double lat_ns[XPV_SIM_MAX_NODES * XPV_SIM_MAX_NODES]; /* idle latency, [cpu node][mem node] */
    unsigned nr_links;
    struct xpv_sim_link links[XPV_SIM_MAX_LINKS];
    /* Filled by xpv_sim_machine_finish(): the links data crosses from memory node m to CPU
     * node c (fewest hops, then lowest link index), route_len[c * N + m] of them. */
    uint8_t route_len[XPV_SIM_MAX_NODES * XPV_SIM_MAX_NODES];
    uint16_t route[XPV_SIM_MAX_NODES * XPV_SIM_MAX_NODES][XPV_SIM_MAX_HOPS];
};

/* The presets' names, NULL-terminated. */
const char *const *xpv_sim_machine_presets(void);
/* Fill m with preset `name` (finished). -ENOENT (err lists the presets). */
int xpv_sim_machine_preset(const char *name, struct xpv_sim_machine *m, struct xpv_error *err);
/*
 * A machine from hwloc XML (`lstopo --of xml`): nodes, cores (PUs' cores per node), memory,
 * and latencies from hwloc's NUMALatency matrix scaled so that local = local_ns (hwloc keeps
 * SLIT values, not ns). Bandwidths: xpv's own info attributes on the NUMANode objects
 * (`xpv.mc_gbps`) and the Machine (`xpv.links` = "a-b:gbps,..."), else mc_gbps for every
 * controller and a full mesh of link_gbps links. Errors name the file and what was missing.
 */
int xpv_sim_machine_from_hwloc_xml(const char *path, double local_ns, double mc_gbps,
                                   double link_gbps, struct xpv_sim_machine *m,
                                   struct xpv_error *err);
/* Validate a machine and compute its routes. -EINVAL with err saying what is wrong. */
int xpv_sim_machine_finish(struct xpv_sim_machine *m, struct xpv_error *err);
/*
 * The machine as the topology model (xpv/topo.h), what a host daemon would discover on it:
 * node ids 0..N-1, cores[i] consecutive CPUs each, mem_bytes (all free), distances from the
 * latencies (xpv_pol_slit, xpv/policy.h). The simulator's VM records are built on it.
 * Release with xpv_topo_free(). -EINVAL beyond the model's CPU bound, -ENOMEM.
 */
int xpv_sim_machine_topo(const struct xpv_sim_machine *m, struct xpv_topo **out,
                         struct xpv_error *err);

/* A simulated VM as its topology record sees it. */
struct xpv_sim_vm_state {
    unsigned nr_vnodes;
    const unsigned *back; /* [nr_vnodes]: host node holding each vNode's memory */
    /* Or, when not NULL, [nr_vnodes * XPV_SIM_MAX_NODES]: the share of vNode k's frames each
     * host node backs (row k sums to 1); back is then ignored. */
    const double *frames;
    uint64_t vnode_bytes; /* each vNode's memory */
    unsigned nr_vcpus;
    const int *vcpu_node;       /* [nr_vcpus]: host node it runs on, -1 once it finished */
    const unsigned *vcpu_vnode; /* [nr_vcpus] */
};
/*
 * The record the simulator publishes for a VM in state st on host (a topology from
 * xpv_sim_machine_topo): built by xpv_record_desc_from_vm (xpv/record_build.h), the builder
 * the host daemon publishes its VMs' records with; it lists the nodes the VM runs on or has
 * memory on. Release desc with xpv_record_desc_free().
 */
int xpv_sim_vm_record(const struct xpv_topo *host, const struct xpv_sim_vm_state *st,
                      struct xpv_record_desc *desc, struct xpv_error *err);

/* How a workload's threads share a region (docs/sim.md, "Workloads"):
 *   PRIVATE: one region per thread of `bytes`, touched by its owner only;
 *   SHARED:  one region of `bytes`, every thread reads all of it uniformly (a hash table read
 *            at random keys, a vector read at random columns);
 *   SLICED:  one region of `bytes` cut into one slice per thread (bytes / threads each): a
 *            thread sends `own_frac` of its accesses to this region to its own slice and the
 *            rest uniformly over the whole region (kmeans points, NAS grids split by rows);
 *            with parallel init each thread first-touches its own slice. */
enum xpv_sim_region_kind { XPV_SIM_PRIVATE, XPV_SIM_SHARED, XPV_SIM_SLICED };
/* Who touches a region first (and so where first-touch puts it): every thread its part (for
 * a private region: its owner; sliced: its slice), or the master (first) thread for all of it. */
enum xpv_sim_init { XPV_SIM_INIT_PARALLEL, XPV_SIM_INIT_MASTER };
/* A region's lifetime: loaded once and reused for the whole run (inputs, tables, indexes; it
 * never churns), or turned over (temporaries, per-iteration buffers, young objects: freed and
 * allocated again at churn_per_s). */
enum xpv_sim_lifetime { XPV_SIM_LOADED, XPV_SIM_TURNOVER };

struct xpv_sim_region_spec {
    char name[32];
    enum xpv_sim_region_kind kind; /* private: one region per thread of this size */
    uint64_t bytes;
    enum xpv_sim_init init;
    unsigned page_shift; /* 12 (4 KiB) or 21 (2 MiB) */
    enum xpv_sim_lifetime lifetime;
    double churn_per_s; /* TURNOVER: share of the region freed and allocated again per second
                         * (0: none in this run); LOADED: always 0 */
    double own_frac;    /* SLICED: share of the accesses going to the thread's own slice */
};

struct xpv_sim_phase_spec {
    double work;       /* memory accesses per thread in this phase */
    double compute_ns; /* compute between two memory accesses of one thread */
    double mlp;        /* misses in flight per thread (memory-level parallelism) */
    double write_frac; /* share of accesses that dirty a line (written back: 2x traffic) */
    double weight[XPV_SIM_MAX_REGIONS]; /* share of accesses per region spec (sum 1) */
};

enum xpv_sim_placement { XPV_SIM_SPREAD, XPV_SIM_PACK, XPV_SIM_NODES };

/* The runtime a workload in a VM allocates through (docs/sim.md, "Runtimes in the guest"):
 *   NONE:   every re-allocation is a fresh page from the guest kernel (its first touch);
 *   ARENAS: per-node allocator arenas (jemalloc's, per node) bound at thread start; freed
 *           memory is reused from the arena in place; re-bound only under `xpv`;
 *   JVM:    a generational heap whose eden is laid out per believed node at start, refilled
 *           in place, collected every 1 / churn seconds; re-laid out at a collection only
 *           under `xpv` (HotSpot's os::numa_topology_changed()). */
enum xpv_sim_runtime { XPV_SIM_RT_NONE, XPV_SIM_RT_ARENAS, XPV_SIM_RT_JVM };

struct xpv_sim_workload_spec {
    char name[64];
    unsigned nr_threads;
    enum xpv_sim_placement placement;
    uint64_t nodes_mask;   /* XPV_SIM_NODES: the nodes to spread over */
    uint64_t membind_mask; /* nonzero: memory only on these nodes (numactl --membind) */
    double start_s;
    bool in_vm;                   /* runs inside VM vm: one thread per vCPU */
    unsigned vm;                  /* index into the scenario's vms */
    enum xpv_sim_runtime runtime; /* in a VM: the runtime its memory goes through */
    unsigned nr_regions;
    struct xpv_sim_region_spec regions[XPV_SIM_MAX_REGIONS];
    unsigned nr_phases;
    struct xpv_sim_phase_spec phases[XPV_SIM_MAX_PHASES];
};

/* A VM: its vCPUs (its workload's threads, spread evenly over its vNodes) and vNode v's memory
 * start on host node host_node[v]. */
struct xpv_sim_vm_spec {
    char name[32];
    unsigned nr_vnodes;
    unsigned host_node[XPV_SIM_MAX_VNODES];
    bool numa_balancing; /* the guest runs NUMA balancing on the topology it has */
    /* Where each vNode's frames are backed at boot, when not where its vCPUs run: a
     * preallocation that ignores vNodes (all on one node: "funnelled"). has_memory_node
     * false: memory_node[v] = host_node[v]. */
    bool has_memory_node;
    unsigned memory_node[XPV_SIM_MAX_VNODES];
    /* The hypervisor's per-vCPU scheduler (docs/sim.md, "Per-vCPU placement"): each vCPU is
     * moved alone to another node of the VM's soft affinity at this rate (moves per vCPU per
     * second; 0: never). soft_affinity: a node mask; 0: the nodes its vNodes run on now. */
    double vcpu_moves_per_s;
    uint64_t soft_affinity;
};

/* What a hypervisor event does (docs/sim.md, "Re-backing guest memory"). */
enum xpv_sim_event_kind {
    XPV_SIM_EV_MOVE,        /* vNode v's vCPUs to to[v]; memory along (share memory_frac) */
    XPV_SIM_EV_REBACK,      /* memory_frac of vNode `vnode`'s frames re-backed on `node`; the
                             * vCPUs and the guest's view stay (migration, ballooning) */
    XPV_SIM_EV_FUNNEL,      /* all of the VM's frames re-backed on `node` */
    XPV_SIM_EV_CONSOLIDATE, /* the VM's vCPUs packed onto `nodes`, vCPU i on the (i mod k)-th;
                             * memory along (share memory_frac) to xpv_place_vnode(nodes, v) */
};

/* The hypervisor re-places a VM at at_s: vNode v's vCPUs move to host node to[v]; with
 * move_memory its backing memory follows (migrated at migrate_gbps). Policies that pin
 * VMs ignore events. */
struct xpv_sim_event {
    double at_s;
    unsigned vm;
    unsigned to[XPV_SIM_MAX_VNODES];
    bool move_memory;
    enum xpv_sim_event_kind kind; /* 0: XPV_SIM_EV_MOVE */
    /* MOVE and CONSOLIDATE with move_memory, REBACK: the share of each vNode's frames
     * re-backed (0 means 1: the whole vNode) */
    double memory_frac;
    unsigned vnode; /* REBACK */
    unsigned node;  /* REBACK, FUNNEL: the host node the frames go to */
    uint64_t nodes; /* CONSOLIDATE */
};

struct xpv_sim_result;

struct xpv_sim_scenario {
    char name[64];
    uint64_t seed;
    struct xpv_sim_machine machine;
    double epoch_ms;     /* default 1 */
    double max_seconds;  /* simulated; runs stop there (apps marked unfinished); at most
                          * XPV_SIM_MAX_EPOCHS epochs */
    double migrate_gbps; /* page migration throughput (default 1) */
    unsigned nr_workloads;
    struct xpv_sim_workload_spec workloads[XPV_SIM_MAX_WORKLOADS];
    unsigned nr_policies;
    char policies[XPV_SIM_MAX_POLICIES][32];
    char baseline[32]; /* a policy name from policies[] */
    unsigned nr_vms;
    struct xpv_sim_vm_spec vms[XPV_SIM_MAX_VMS];
    unsigned nr_events;
    struct xpv_sim_event events[XPV_SIM_MAX_EVENTS];
    double xpv_update_us; /* guest time per vCPU to take a topology update (XPV); default 100 */
    double hv_fault_us;   /* hypervisor first-touch: cost of one fault; default 3 (docs/sim.md) */
    double hotplug_ms;    /* vnuma-hotplug: a vCPU's time lost to an unplug + plug; default 20 */
    double balance_s;     /* the hypervisor's load balancer runs every balance_s (0: off) */

    /* Hypervisor first-touch: at most this share of each vCPU's time goes to its faults (a
     * token bucket a second deep); past it, freed pages are left mapped and the guest reuses
     * them where they are. Default 0.03. */
    double hv_fault_budget;

    /* The guest scheduler (src/sim/guest.c): each running vCPU thread of a VM migrates to
     * another vCPU of its VM guest_sched_per_s times a second (0: never, the default);
     * guest_sched_cross of those cross the guest's scheduling domains (default 0), the rest
     * stay within the thread's domain. Domains: the believed vNodes (static vNUMA) or the
     * effective nodes (XPV). */
    double guest_sched_per_s, guest_sched_cross;
};

/* Defaults for every field a scenario may omit. */
void xpv_sim_scenario_defaults(struct xpv_sim_scenario *s);
/* A workload preset (xpv_sim_workload_presets(); docs/sim-calibration.md, "Programs") with
 * `threads` threads; -ENOENT with the list in err. Its turned-over regions have churn_per_s 0:
 * a scenario sets their rate (the workload's `churn_per_s`). */
int xpv_sim_workload_preset(const char *name, unsigned threads, struct xpv_sim_workload_spec *w,
                            struct xpv_error *err);
const char *const *xpv_sim_workload_presets(void);

/*
 * Read a scenario (YAML, or JSON, which libyaml reads as YAML; schema at the top of
 * src/sim/scenario.c). Errors: -EINVAL with err as "FILE:LINE: what was expected, found
 * what" (also for unknown presets and unreadable machine XML), -errno for an unreadable
 * file; *s is written only on success. For _parse, `name` is the file name the text came
 * from: the prefix of messages, the default scenario name, and the directory relative
 * `machine: {xml: PATH}` paths resolve against. struct xpv_sim_scenario is ~130 KB: do not
 * put it on a small stack.
 */
int xpv_sim_scenario_load(const char *path, struct xpv_sim_scenario *s, struct xpv_error *err);
int xpv_sim_scenario_parse(const char *text, size_t len, const char *name,
                           struct xpv_sim_scenario *s, struct xpv_error *err);

/*
 * A scenario file with `cases:` (docs/sim.md, "Cases"): labelled sub-scenarios sharing the
 * file's machine, policies and defaults, each one class of re-placement (its own VMs,
 * workloads and events; any scenario key in a case replaces the file's). A file without
 * `cases:` is a suite of one unlabelled case.
 */
#define XPV_SIM_MAX_CASES 16
#define XPV_SIM_MAX_SWEEP 8 /* values per sweep axis */

/* A sweep of one case (`sweep:` in it): its headline VM's turned-over regions churned at each
 * rate, and its first event repeated every residency_s seconds (the VM moved there, back,
 * there again...), each cell run under vnuma, vnuma-pinned and the headline policies. */
struct xpv_sim_sweep {
    unsigned nr_churn, nr_residency;
    double churn_per_s[XPV_SIM_MAX_SWEEP];
    double residency_s[XPV_SIM_MAX_SWEEP];
};

struct xpv_sim_case {
    char name[64]; /* the label ("swap across sockets"); empty in a file without cases */
    bool has_vm;   /* false: the case has no VM (no headline) */
    unsigned vm;   /* the VM its headline measures: `vm:`, else the first event's, else vms[0] */
    bool has_sweep;
    struct xpv_sim_sweep sweep;
    struct xpv_sim_scenario s; /* the complete sub-scenario xpv_sim_run takes */
};

struct xpv_sim_suite {
    unsigned nr_cases;          /* >= 1 */
    bool labelled;              /* the file has `cases:` */
    struct xpv_sim_case *cases; /* [nr_cases], malloc'd: release with xpv_sim_suite_free */
    /* The policies the headlines name (`headline:`); 0: every policy of a case whose name
     * starts with "xpv" */
    unsigned nr_headline;
    char headline[XPV_SIM_MAX_POLICIES][32];
};

/* Read a scenario file that may hold `cases:` (same errors as xpv_sim_scenario_parse, paths
 * of a case's keys prefixed "cases[I]."). xpv_sim_scenario_parse refuses such a file. */
int xpv_sim_suite_parse(const char *text, size_t len, const char *name, struct xpv_sim_suite *out,
                        struct xpv_error *err);
int xpv_sim_suite_load(const char *path, struct xpv_sim_suite *out, struct xpv_error *err);
void xpv_sim_suite_free(struct xpv_sim_suite *suite);
/* The scenario of sweep cell (churn, residency) of case c (its events repeated, the headline
 * VM's turned-over regions at `churn`). -EINVAL when the case has no event to repeat. */
int xpv_sim_sweep_scenario(const struct xpv_sim_case *c, double churn, double residency_s,
                           struct xpv_sim_scenario *out, struct xpv_error *err);

/*
 * A case's headline (headline.c, docs/sim.md "Cases"): what the re-placement cost static
 * vNUMA against pinned placement, cost = t_vnuma / t_pinned (completion times of the case's
 * VM), and the share of it each XPV policy recovered,
 *   recovered = (t_vnuma - t_policy) / (t_vnuma - t_pinned)
 * (1: as fast as pinned; 0: as slow as static vNUMA; < 0: slower than static vNUMA).
 */
#define XPV_SIM_COST_EPS 0.01 /* |cost - 1| below this: the re-placement costs nothing */
enum xpv_sim_cost_kind {
    XPV_SIM_COST,    /* static vNUMA is slower than pinned: recovery is defined */
    XPV_SIM_NO_COST, /* within XPV_SIM_COST_EPS: nothing to recover */
    XPV_SIM_GAIN,    /* static vNUMA is faster than pinned: nothing to recover */
    XPV_SIM_NO_DATA, /* a time is missing or not positive */
};
/* The kind of t_vnuma against t_pinned; *recovered (may be NULL) set for XPV_SIM_COST. */
enum xpv_sim_cost_kind xpv_sim_recovery(double t_vnuma, double t_pinned, double t_policy,
                                        double *recovered);

struct xpv_sim_headline_in {
    const char *vm, *label; /* label: NULL or "" in a file without cases */
    bool have_base;         /* vnuma and vnuma-pinned ran */
    bool capped;            /* one of the times is the time limit's (a lower bound) */
    double t_vnuma, t_pinned;
    unsigned nr; /* headline policies that ran */
    const char *names[XPV_SIM_MAX_POLICIES];
    double t[XPV_SIM_MAX_POLICIES];
};
/* The headline line (no newline), e.g. "vm-a, swap across sockets: re-placement costs 1.60x;
 * xpv-os recovers 40 %, xpv 86 %". Returns buf. */
char *xpv_sim_headline(char *buf, size_t size, const struct xpv_sim_headline_in *h);
/* The headline inputs of case c from its runs r[nr] (one per policy): its VM's completion
 * times under vnuma, vnuma-pinned and each headline policy (su->headline, else every policy
 * whose name starts with "xpv", in the order they ran); names point into r. */
void xpv_sim_headline_of(const struct xpv_sim_suite *su, const struct xpv_sim_case *c,
                         const struct xpv_sim_result *r, unsigned nr,
                         struct xpv_sim_headline_in *out);
/* The one-line summary over nr cases' headlines. Returns buf. */
char *xpv_sim_headline_summary(char *buf, size_t size, const struct xpv_sim_headline_in *h,
                               unsigned nr);

/* Per application (workload) results of one run. */
struct xpv_sim_app_result {
    char name[64];
    char vm[32]; /* empty: native */
    bool finished;
    double completion_s;   /* from its start to its last thread's end (or the limit) */
    double local_ratio;    /* accesses served by the accessing thread's node */
    double avg_latency_ns; /* access-weighted */
    double migrated_mb;    /* pages moved for it by the policy */
    double accesses;

    /* Moves of its threads (a VM's vCPU threads) to another node the policy ordered. */
    unsigned long thread_moves;
    /* In a VM: the guest scheduler's migrations of its threads among vCPUs, and of those the
     * ones that changed the host node the thread runs on; re-layouts of its runtime (an
     * arena re-bound or an eden moved at a collection, per thread). */
    unsigned long guest_moves, guest_node_moves, relayouts;
    /* A VM's single vCPUs moved by the hypervisor's per-vCPU scheduler (vcpu_moves_per_s). */
    unsigned long vcpu_moves;
};

struct xpv_sim_result {
    char policy[32];
    double sim_seconds;
    unsigned nr_apps;
    struct xpv_sim_app_result apps[XPV_SIM_MAX_WORKLOADS];
    unsigned nr_nodes;
    double mc_imbalance; /* stddev / mean of the controllers' traffic over the run */
    double mc_bytes[XPV_SIM_MAX_NODES];
    double traffic[XPV_SIM_MAX_NODES * XPV_SIM_MAX_NODES]; /* bytes, [cpu node][mem node] */
    unsigned long epochs;
    unsigned long solver_iterations; /* fixed-point iterations over all epochs */
};

/* Called now and then with the fraction of the run done (0..1). */
typedef void (*xpv_sim_progress)(void *arg, double done);

/* Run scenario s under policy `policy`. -ENOENT unknown policy; -EINVAL when s asks for more
 * than XPV_SIM_MAX_EPOCHS epochs, or the policy is not for s's kind: a native policy on a
 * scenario whose workloads run in VMs, or a VM policy on one without (xpv_policy_check, err
 * naming the policies that apply). */
int xpv_sim_run(const struct xpv_sim_scenario *s, const char *policy, struct xpv_sim_result *out,
                xpv_sim_progress progress, void *arg, struct xpv_error *err);

/* Reports (report.c). */
void xpv_sim_print_table(FILE *f, const struct xpv_sim_scenario *s, const struct xpv_sim_result *r,
                         unsigned nr);
int xpv_sim_write_json(const char *path, const struct xpv_sim_scenario *s,
                       const struct xpv_sim_result *r, unsigned nr, struct xpv_error *err);
/* The results of a suite as JSON: for a file without cases, xpv_sim_write_json's document;
 * with cases, {scenario, seed, headline_policies, summary, cases: [{case, vm, headline, cost,
 * recovered: {POLICY: share}, machine, baseline, runs}], results: [rows as
 * xpv_sim_write_json's, each with "case"]}. r[i]: case i's runs, one per its policy. */
int xpv_sim_write_json_suite(const char *path, const struct xpv_sim_suite *su,
                             const struct xpv_sim_result *const *r, struct xpv_error *err);
/* A time series as CSV and a gnuplot line plot, DIR/STEM.csv and DIR/STEM.gp (rendered to
 * STEM.png when gnuplot is installed): x[n], and for each of nr series its y[i * n + k]
 * (NaN: no point); vertical lines at marks[nmarks]. */
int xpv_sim_write_series(const char *dir, const char *stem, const char *title, const char *xlabel,
                         const char *ylabel, const double *x, unsigned n, const char *const *names,
                         const double *y, unsigned nr, const double *marks, unsigned nmarks,
                         struct xpv_error *err);
/* CSV files and, when gnuplot is installed, PNG plots under dir. */
int xpv_sim_write_dir(const char *dir, const struct xpv_sim_scenario *s,
                      const struct xpv_sim_result *r, unsigned nr, struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
