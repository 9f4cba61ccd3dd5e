/* tu_probe.h — the probe scenario the model and calibration tests run (sim.sim_model,
 * sim.calibration): one workload of `threads` threads on the nodes of `nodes` (a mask), a
 * private 64 MB region each (its memory only on `membind`, 0: first touch), `work` accesses
 * of one phase, no writes, on machine preset `machine`. */
#ifndef XPV_TU_PROBE_H
#define XPV_TU_PROBE_H

#include <stdio.h>
#include <string.h>

#include "tu_cmocka.h"
#include "xpv/sim.h"

static inline void tu_probe_scenario(struct xpv_sim_scenario *sc, const char *machine,
                                     unsigned threads, uint64_t nodes, uint64_t membind,
                                     double compute_ns, double mlp, double work)
{
    struct xpv_error err = {0};
    xpv_sim_scenario_defaults(sc);
    if (xpv_sim_machine_preset(machine, &sc->machine, &err) < 0)
        fail_msg("%s", err.msg);
    sc->max_seconds = 100;
    sc->nr_workloads = 1;
    struct xpv_sim_workload_spec *w = &sc->workloads[0];
    memset(w, 0, sizeof(*w));
    snprintf(w->name, sizeof(w->name), "probe");
    w->nr_threads = threads;
    w->placement = XPV_SIM_NODES;
    w->nodes_mask = nodes;
    w->membind_mask = membind;
    w->nr_regions = 1;
    w->regions[0] = (struct xpv_sim_region_spec){.name = "data",
                                                 .kind = XPV_SIM_PRIVATE,
                                                 .bytes = UINT64_C(64) << 20,
                                                 .init = XPV_SIM_INIT_PARALLEL,
                                                 .page_shift = 12,
                                                 .own_frac = 1};
    w->nr_phases = 1;
    w->phases[0] = (struct xpv_sim_phase_spec){
            .work = work, .compute_ns = compute_ns, .mlp = mlp, .write_frac = 0, .weight = {1}};
}

#endif
