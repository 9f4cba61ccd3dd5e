/*
 * workload.c — workload presets: the classes of application of the Carrefour and XPV papers,
 * as memory behaviour the engine can run. They are models, not traces: each preset states
 * the property of the real program that its parameters encode, and docs/sim-calibration.md
 * ("Programs") gives, per parameter, its value and its source or why it is assumed.
 *
 * Parameters per phase: work (memory accesses per thread that miss the caches), compute_ns
 * between two of them, mlp (misses a thread keeps in flight), write share, and how accesses
 * split over regions. compute_ns is what a last-level-cache miss rate and a core speed imply:
 * compute_ns = (1000 / MPKI) instructions x CPI_core / clock, at the stated clock (2.2 GHz,
 * the Opteron 6174 of the Carrefour and XPV papers) and a core CPI without memory stalls of
 * 1 unless said otherwise — see miss_gap(). Region sizes are per thread for private regions,
 * the whole region for shared and sliced ones. Who first touches a region decides where
 * first-touch puts it: the master thread (serial initialisation: input read by one thread,
 * arrays initialised before the parallel section) or every thread its own part (OpenMP
 * parallel initialisation). Lifetime: loaded once (never moves by itself) or turned over
 * (freed and allocated again at the rate the scenario gives, `churn_per_s`).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xpv/sim.h"

#define MB (UINT64_C(1) << 20)
#define M  1e6

#define CLOCK_GHZ 2.2 /* the clock the per-miss compute times are stated at */

/* Compute time between two LLC misses of one thread: `mpki` misses per 1000 instructions at
 * `cpi` cycles per instruction without memory stalls. */
static double miss_gap(double mpki, double cpi)
{
    return 1000 / mpki * cpi / CLOCK_GHZ;
}

static struct xpv_sim_region_spec *region(struct xpv_sim_workload_spec *w, const char *name,
                                          enum xpv_sim_region_kind kind, uint64_t bytes,
                                          enum xpv_sim_init init, enum xpv_sim_lifetime life)
{
    struct xpv_sim_region_spec *r = &w->regions[w->nr_regions++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->kind = kind;
    r->bytes = bytes;
    r->init = init;
    r->page_shift = 12;
    r->lifetime = life;
    r->own_frac = 1;
    return r;
}

/* A sliced region: each thread reads its own slice for `own` of its accesses to it. */
static void sliced(struct xpv_sim_workload_spec *w, const char *name, uint64_t bytes,
                   enum xpv_sim_init init, double own)
{
    region(w, name, XPV_SIM_SLICED, bytes, init, XPV_SIM_LOADED)->own_frac = own;
}

/* weights: one per region, in region order */
static void phase(struct xpv_sim_workload_spec *w, double work, double compute_ns, double mlp,
                  double write_frac, const double *weights)
{
    struct xpv_sim_phase_spec *p = &w->phases[w->nr_phases++];
    p->work = work;
    p->compute_ns = compute_ns;
    p->mlp = mlp;
    p->write_frac = write_frac;
    for (unsigned i = 0; i < w->nr_regions; i++)
        p->weight[i] = weights[i];
}

/*
 * NAS CG (conjugate gradient, class D): sparse matrix-vector products. Each thread multiplies
 * its own block of rows (the matrix: sliced, initialised in parallel, read only by its owner),
 * but the vector x (1.5 M doubles, larger than a node's L3) is read at random columns by
 * every thread: shared, read uniformly, set up by the master. Irregular indirect loads: a few
 * misses in flight. Everything is allocated once (Fortran arrays): no region turns over.
 */
static void nas_cg(struct xpv_sim_workload_spec *w)
{
    sliced(w, "matrix", 8192 * MB, XPV_SIM_INIT_PARALLEL, 1);
    region(w, "x", XPV_SIM_SHARED, 12 * MB, XPV_SIM_INIT_MASTER, XPV_SIM_LOADED);
    phase(w, 60 * M, miss_gap(25, 1), 4, 0.05, (double[]){0.3, 0.7});
}

/*
 * NAS LU (SSOR solver): each thread sweeps its own block of the grid (sliced), with
 * wavefront exchanges at block borders (the rest of its accesses, spread). Blocked loops
 * reuse the caches: few misses per instruction; regular strides: more misses in flight.
 */
static void nas_lu(struct xpv_sim_workload_spec *w)
{
    sliced(w, "grid", 768 * MB, XPV_SIM_INIT_PARALLEL, 0.9);
    phase(w, 40 * M, miss_gap(6, 1), 6, 0.3, (double[]){1});
}

/*
 * NAS UA (unstructured adaptive mesh): the mesh is built by the master and refined
 * adaptively, so most data sits where the master put it and is read by all threads with
 * little locality; two phases (refinement reads the mesh, the solve updates it).
 */
static void nas_ua(struct xpv_sim_workload_spec *w)
{
    region(w, "mesh", XPV_SIM_SHARED, 1024 * MB, XPV_SIM_INIT_MASTER, XPV_SIM_LOADED);
    region(w, "local", XPV_SIM_PRIVATE, 16 * MB, XPV_SIM_INIT_PARALLEL, XPV_SIM_LOADED);
    phase(w, 15 * M, miss_gap(10, 1), 3, 0.1, (double[]){0.8, 0.2});
    phase(w, 25 * M, miss_gap(10, 1), 3, 0.35, (double[]){0.6, 0.4});
}

/*
 * PARSEC streamcluster (native input: 128 dimensions, chunks of 200 000 points): online
 * clustering of a stream of points read chunk by chunk into one buffer by the master (104 MiB:
 * 200 000 x 128 floats + the point records; loaded once, refilled per chunk); every thread
 * computes distances from all points to the centres (~4 instructions per dimension, 64 per
 * line of a point: MPKI ~16). The array lands on one node under first-touch and its controller saturates:
 * Carrefour's motivating case. The per-thread working arrays of each local search are
 * allocated and freed per chunk: turned over.
 */
static void streamcluster(struct xpv_sim_workload_spec *w)
{
    region(w, "points", XPV_SIM_SHARED, 104 * MB, XPV_SIM_INIT_MASTER, XPV_SIM_LOADED);
    region(w, "centres", XPV_SIM_PRIVATE, 4 * MB, XPV_SIM_INIT_PARALLEL, XPV_SIM_TURNOVER);
    phase(w, 50 * M, miss_gap(16, 1), 5, 0.02, (double[]){0.9, 0.1});
}

/*
 * Metis map-reduce (wc, wr, wrmem): a map phase over an input, then a reduce phase over
 * per-thread intermediate tables. The input is loaded once (read from a file by the master;
 * wrmem generates it in memory, also the master); the intermediate tables are built and
 * freed by every job: turned over. wr and wrmem write more (an inverted index). Parsing
 * text is instruction-heavy per line of input.
 */
static void metis(struct xpv_sim_workload_spec *w, double input_mb, double write_frac,
                  double map_work, double reduce_work)
{
    region(w, "input", XPV_SIM_SHARED, (uint64_t)(input_mb * (double)MB), XPV_SIM_INIT_MASTER,
           XPV_SIM_LOADED);
    region(w, "tables", XPV_SIM_PRIVATE, 48 * MB, XPV_SIM_INIT_PARALLEL, XPV_SIM_TURNOVER);
    phase(w, map_work, miss_gap(8, 1), 4, write_frac, (double[]){0.7, 0.3});
    phase(w, reduce_work, miss_gap(8, 1), 4, write_frac, (double[]){0.1, 0.9});
}
static void wc(struct xpv_sim_workload_spec *w)
{
    metis(w, 1024, 0.2, 30 * M, 10 * M);
}
static void wr(struct xpv_sim_workload_spec *w)
{
    metis(w, 1024, 0.45, 30 * M, 15 * M);
}
static void wrmem(struct xpv_sim_workload_spec *w)
{
    metis(w, 2048, 0.45, 40 * M, 15 * M);
}

/*
 * Metis kmeans: iterations over points generated in parallel (each thread its slice, which
 * the map tasks mostly read back: sliced) against small shared means set up by the master;
 * per-iteration cluster sums are per-thread temporaries (turned over).
 */
static void kmeans(struct xpv_sim_workload_spec *w)
{
    sliced(w, "points", 1024 * MB, XPV_SIM_INIT_PARALLEL, 0.9);
    region(w, "means", XPV_SIM_SHARED, 1 * MB, XPV_SIM_INIT_MASTER, XPV_SIM_LOADED);
    region(w, "sums", XPV_SIM_PRIVATE, 1 * MB, XPV_SIM_INIT_PARALLEL, XPV_SIM_TURNOVER);
    phase(w, 50 * M, miss_gap(10, 1), 4, 0.05, (double[]){0.85, 0.1, 0.05});
}

/*
 * memcached-like key-value store: a large hash table filled by worker threads on demand
 * (parallel first touch) and read at uniformly random keys by every worker: no placement
 * can make it local, but a balanced one avoids hot controllers. Items are recycled inside
 * the slab allocator's memory, which stays allocated (loaded once); per-connection buffers
 * come and go with requests (turned over). Network processing makes it compute-heavy per
 * miss; one miss in flight (pointer chasing: bucket, then item).
 */
static void memcached(struct xpv_sim_workload_spec *w)
{
    region(w, "table", XPV_SIM_SHARED, 4096 * MB, XPV_SIM_INIT_PARALLEL, XPV_SIM_LOADED);
    region(w, "conn", XPV_SIM_PRIVATE, 8 * MB, XPV_SIM_INIT_PARALLEL, XPV_SIM_TURNOVER);
    phase(w, 20 * M, miss_gap(2, 1), 1, 0.2, (double[]){0.85, 0.15});
}

static const struct {
    const char *name;
    void (*make)(struct xpv_sim_workload_spec *);
} presets[] = {
        {"nas-cg", nas_cg},
        {"nas-lu", nas_lu},
        {"nas-ua", nas_ua},
        {"streamcluster", streamcluster},
        {"wc", wc},
        {"wr", wr},
        {"wrmem", wrmem},
        {"kmeans", kmeans},
        {"memcached", memcached},
};
#define NR_PRESETS (sizeof(presets) / sizeof(presets[0]))

const char *const *xpv_sim_workload_presets(void)
{
    static const char *names[NR_PRESETS + 1];
    for (size_t i = 0; i < NR_PRESETS; i++)
        names[i] = presets[i].name;
    return names;
}

int xpv_sim_workload_preset(const char *name, unsigned threads, struct xpv_sim_workload_spec *w,
                            struct xpv_error *err)
{
    if (threads < 1 || threads > XPV_SIM_MAX_THREADS)
        return xpv_error_set(err, -EINVAL, "workload %s: %u threads (1..%d)", name, threads,
                             XPV_SIM_MAX_THREADS);
    for (size_t i = 0; i < NR_PRESETS; i++)
        if (!strcmp(name, presets[i].name)) {
            memset(w, 0, sizeof(*w));
            snprintf(w->name, sizeof(w->name), "%s", name);
            w->nr_threads = threads;
            w->placement = XPV_SIM_SPREAD;
            presets[i].make(w);
            return 0;
        }
    char list[256];
    return xpv_error_set(err, -ENOENT, "unknown workload preset '%s' (presets: %s)", name,
                         xpv_names_join(xpv_sim_workload_presets(), list, sizeof(list)));
}
