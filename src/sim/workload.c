/*
 * workload.c — workload presets: the classes of application of the Carrefour and XPV papers,
 * as memory behaviour the engine can run. They are models, not traces: each preset states
 * the property of the real program that its parameters encode (docs/sim.md, "Workloads").
 *
 * Parameters per phase: work (memory accesses per thread that miss the caches), compute_ns
 * between two of them, mlp (misses a thread keeps in flight), write share, and how accesses
 * split over regions. Region sizes are per thread for private regions. Who first touches a
 * shared region decides where first-touch puts it: the master thread (serial initialisation:
 * input read by one thread, arrays initialised before the parallel section) or every thread
 * its own slice (OpenMP parallel initialisation).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xpv/sim.h"

#define MB (UINT64_C(1) << 20)
#define M  1e6

static void region(struct xpv_sim_workload_spec *w, const char *name, enum xpv_sim_region_kind kind,
                   uint64_t bytes, enum xpv_sim_init init)
{
    struct xpv_sim_region_spec *r = &w->regions[w->nr_regions++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->kind = kind;
    r->bytes = bytes;
    r->init = init;
    r->page_shift = 12;
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
 * NAS CG (conjugate gradient, class C/D): sparse matrix-vector products. The matrix is
 * initialised in parallel (each thread its rows), but the vector x is read at random
 * columns by every thread and was initialised by the master: a hot, shared, remote region.
 * Memory-bound (little compute per miss), irregular accesses keep a few misses in flight.
 */
static void nas_cg(struct xpv_sim_workload_spec *w)
{
    region(w, "rows", XPV_SIM_PRIVATE, 96 * MB, XPV_SIM_INIT_PARALLEL);
    region(w, "x", XPV_SIM_SHARED, 256 * MB, XPV_SIM_INIT_MASTER);
    phase(w, 60 * M, 1.5, 4, 0.05, (double[]){0.6, 0.4});
}

/*
 * NAS LU (SSOR solver): each thread sweeps its own block of the grid with wavefront
 * exchanges at block borders. Mostly private data, more compute per miss, regular accesses
 * (prefetch-friendly: more misses in flight).
 */
static void nas_lu(struct xpv_sim_workload_spec *w)
{
    region(w, "block", XPV_SIM_PRIVATE, 64 * MB, XPV_SIM_INIT_PARALLEL);
    region(w, "borders", XPV_SIM_SHARED, 128 * MB, XPV_SIM_INIT_PARALLEL);
    phase(w, 40 * M, 6, 6, 0.3, (double[]){0.85, 0.15});
}

/*
 * NAS UA (unstructured adaptive mesh): the mesh is built by the master and refined
 * adaptively, so most data sits where the master put it and is read by all threads with
 * little locality; two phases (refinement reads the mesh, the solve updates it).
 */
static void nas_ua(struct xpv_sim_workload_spec *w)
{
    region(w, "mesh", XPV_SIM_SHARED, 1024 * MB, XPV_SIM_INIT_MASTER);
    region(w, "local", XPV_SIM_PRIVATE, 16 * MB, XPV_SIM_INIT_PARALLEL);
    phase(w, 15 * M, 3, 3, 0.1, (double[]){0.8, 0.2});
    phase(w, 25 * M, 3, 3, 0.35, (double[]){0.6, 0.4});
}

/*
 * PARSEC streamcluster: online clustering of a stream of points read into one array by the
 * master; every thread scans all points against the centres. The array lands on one node
 * under first-touch and its controller saturates: Carrefour's motivating case.
 */
static void streamcluster(struct xpv_sim_workload_spec *w)
{
    region(w, "points", XPV_SIM_SHARED, 512 * MB, XPV_SIM_INIT_MASTER);
    region(w, "centres", XPV_SIM_PRIVATE, 4 * MB, XPV_SIM_INIT_PARALLEL);
    phase(w, 50 * M, 2, 5, 0.02, (double[]){0.9, 0.1});
}

/*
 * Metis map-reduce (wc, wr, wrmem, kmeans): a map phase over an input, then a reduce phase
 * over per-thread intermediate tables. wc and wr read an input file loaded by the master;
 * wrmem generates its input in memory (also the master); wr and wrmem write more (inverted
 * index); kmeans iterates over points initialised in parallel against small shared means.
 */
static void metis(struct xpv_sim_workload_spec *w, double input_mb, double write_frac,
                  double map_work, double reduce_work)
{
    region(w, "input", XPV_SIM_SHARED, (uint64_t)(input_mb * (double)MB), XPV_SIM_INIT_MASTER);
    region(w, "tables", XPV_SIM_PRIVATE, 48 * MB, XPV_SIM_INIT_PARALLEL);
    phase(w, map_work, 2.5, 4, write_frac, (double[]){0.7, 0.3});
    phase(w, reduce_work, 2.5, 4, write_frac, (double[]){0.1, 0.9});
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
static void kmeans(struct xpv_sim_workload_spec *w)
{
    region(w, "points", XPV_SIM_SHARED, 1024 * MB, XPV_SIM_INIT_PARALLEL);
    region(w, "means", XPV_SIM_SHARED, 1 * MB, XPV_SIM_INIT_MASTER);
    phase(w, 50 * M, 4, 4, 0.05, (double[]){0.85, 0.15});
}

/*
 * memcached-like key-value store: a large hash table filled by worker threads on demand
 * (parallel first touch) and read at uniformly random keys by every worker: no placement
 * can make it local, but a balanced one avoids hot controllers. Network processing makes
 * it compute-heavy per miss, one miss in flight (pointer chasing).
 */
static void memcached(struct xpv_sim_workload_spec *w)
{
    region(w, "table", XPV_SIM_SHARED, 4096 * MB, XPV_SIM_INIT_PARALLEL);
    region(w, "conn", XPV_SIM_PRIVATE, 8 * MB, XPV_SIM_INIT_PARALLEL);
    phase(w, 20 * M, 40, 1, 0.2, (double[]){0.85, 0.15});
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
