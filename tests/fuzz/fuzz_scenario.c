/*
 * fuzz_scenario.c — libFuzzer target for the scenario reader (src/sim/scenario.c): the input
 * is a scenario file's bytes (YAML or JSON), parsed as "fuzz.yaml". abort() on any violation:
 *   - an error that is not -EINVAL / -ENOMEM, or whose message is not "fuzz.yaml:LINE: ..."
 *     with LINE within the input;
 *   - a success whose scenario breaks what the reader promises (ranges, counts, baseline
 *     among the policies, phase weights summing to 1, node masks within the machine, the
 *     simulated work within XPV_SIM_MAX_EPOCHS and XPV_SIM_MAX_THREAD_EPOCHS, a runtime only
 *     on a workload in a VM, the guest scheduler's keys in range).
 * Leaks and out-of-bounds accesses are ASan's.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static bool terminated(const char *s, size_t size)
{
    return memchr(s, 0, size) != NULL && s[0];
}

static void check_workload(const struct xpv_sim_workload_spec *w, unsigned nr_nodes)
{
    uint64_t all = nr_nodes == 64 ? ~UINT64_C(0) : (UINT64_C(1) << nr_nodes) - 1;
    CHECK(terminated(w->name, sizeof(w->name)));
    CHECK(w->nr_threads >= 1 && w->nr_threads <= XPV_SIM_MAX_THREADS);
    CHECK(w->placement == XPV_SIM_SPREAD || w->placement == XPV_SIM_PACK ||
          w->placement == XPV_SIM_NODES);
    CHECK(w->placement != XPV_SIM_NODES || (w->nodes_mask && !(w->nodes_mask & ~all)));
    CHECK(!(w->membind_mask & ~all));
    CHECK(w->start_s >= 0 && isfinite(w->start_s));
    CHECK(w->nr_regions >= 1 && w->nr_regions <= XPV_SIM_MAX_REGIONS);
    CHECK(w->nr_phases >= 1 && w->nr_phases <= XPV_SIM_MAX_PHASES);
    /* a runtime only in a VM (the guest layers, src/sim/guest.c) */
    CHECK(w->runtime == XPV_SIM_RT_NONE || w->runtime == XPV_SIM_RT_ARENAS ||
          w->runtime == XPV_SIM_RT_JVM);
    CHECK(w->in_vm || w->runtime == XPV_SIM_RT_NONE);
    for (unsigned r = 0; r < w->nr_regions; r++) {
        const struct xpv_sim_region_spec *g = &w->regions[r];
        CHECK(terminated(g->name, sizeof(g->name)));
        CHECK(g->kind == XPV_SIM_PRIVATE || g->kind == XPV_SIM_SHARED || g->kind == XPV_SIM_SLICED);
        CHECK(g->lifetime == XPV_SIM_LOADED || g->lifetime == XPV_SIM_TURNOVER);
        CHECK(g->churn_per_s >= 0 && g->churn_per_s <= 100);
        CHECK(g->lifetime == XPV_SIM_TURNOVER || g->churn_per_s == 0);
        CHECK(g->own_frac >= 0 && g->own_frac <= 1);
        CHECK(g->init == XPV_SIM_INIT_MASTER || g->init == XPV_SIM_INIT_PARALLEL);
        CHECK(g->bytes > 0);
        CHECK(g->page_shift == 12 || g->page_shift == 21);
    }
    for (unsigned p = 0; p < w->nr_phases; p++) {
        const struct xpv_sim_phase_spec *ph = &w->phases[p];
        CHECK(ph->work > 0 && isfinite(ph->work));
        CHECK(ph->compute_ns >= 0 && isfinite(ph->compute_ns));
        CHECK(ph->mlp >= 1 && isfinite(ph->mlp));
        CHECK(ph->write_frac >= 0 && ph->write_frac <= 1);
        double sum = 0;
        for (unsigned r = 0; r < XPV_SIM_MAX_REGIONS; r++) {
            CHECK(ph->weight[r] >= 0 && (r < w->nr_regions || ph->weight[r] == 0));
            sum += ph->weight[r];
        }
        CHECK(fabs(sum - 1) < 1e-9);
    }
}

static void check_scenario(const struct xpv_sim_scenario *s)
{
    CHECK(terminated(s->name, sizeof(s->name)));
    CHECK(s->epoch_ms > 0 && s->epoch_ms <= 100);
    CHECK(s->max_seconds > 0 && isfinite(s->max_seconds));
    double epochs = s->max_seconds * 1e3 / s->epoch_ms, threads = 0; /* the work it may ask */
    for (unsigned i = 0; i < s->nr_workloads; i++)
        threads += s->workloads[i].nr_threads;
    CHECK(epochs <= XPV_SIM_MAX_EPOCHS && epochs * threads <= XPV_SIM_MAX_THREAD_EPOCHS);
    CHECK(s->migrate_gbps > 0 && isfinite(s->migrate_gbps));
    CHECK(s->guest_sched_per_s >= 0 && s->guest_sched_per_s <= 1000);
    CHECK(s->guest_sched_cross >= 0 && s->guest_sched_cross <= 1);
    CHECK(s->machine.nr_nodes >= 1 && s->machine.nr_nodes <= XPV_SIM_MAX_NODES);
    CHECK(s->nr_policies >= 1 && s->nr_policies <= XPV_SIM_MAX_POLICIES);
    bool baseline = false;
    for (unsigned i = 0; i < s->nr_policies; i++) {
        const char *p = s->policies[i];
        CHECK(terminated(p, sizeof(s->policies[i])));
        CHECK(strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(p));
        for (unsigned j = 0; j < i; j++)
            CHECK(strcmp(p, s->policies[j]) != 0);
        baseline |= !strcmp(p, s->baseline);
    }
    CHECK(baseline);
    CHECK(s->nr_workloads >= 1 && s->nr_workloads <= XPV_SIM_MAX_WORKLOADS);
    for (unsigned i = 0; i < s->nr_workloads; i++)
        check_workload(&s->workloads[i], s->machine.nr_nodes);
}

/* The same input as a suite (a file with `cases:`): every case a valid scenario, labelled
 * and distinct, its headline VM one of its VMs, its sweep scenarios valid too. */
static void fuzz_suite(const uint8_t *data, size_t size)
{
    static struct xpv_sim_scenario sw;
    struct xpv_sim_suite su;
    struct xpv_error err = {0};
    int rc = xpv_sim_suite_parse((const char *)data, size, "fuzz.yaml", &su, &err);
    if (rc < 0) {
        CHECK(rc == -EINVAL || rc == -ENOMEM);
        CHECK(strncmp(err.msg, "fuzz.yaml:", 10) == 0);
        return;
    }
    CHECK(su.nr_cases >= 1 && su.nr_cases <= XPV_SIM_MAX_CASES);
    CHECK(su.labelled || su.nr_cases == 1);
    for (unsigned i = 0; i < su.nr_cases; i++) {
        const struct xpv_sim_case *c = &su.cases[i];
        check_scenario(&c->s);
        CHECK(memchr(c->name, 0, sizeof(c->name)) != NULL);
        CHECK(su.labelled == (c->name[0] != 0));
        CHECK(!c->has_vm || c->vm < c->s.nr_vms);
        for (unsigned j = 0; j < i; j++)
            CHECK(strcmp(su.cases[j].name, c->name) != 0);
        for (unsigned a = 0; c->has_sweep && a < c->sweep.nr_churn; a++)
            for (unsigned b = 0; b < c->sweep.nr_residency; b++) {
                CHECK(xpv_sim_sweep_scenario(c, c->sweep.churn_per_s[a], c->sweep.residency_s[b],
                                             &sw, &err) == 0);
                CHECK(sw.nr_events >= 1 && sw.nr_events <= XPV_SIM_MAX_EVENTS);
                for (unsigned e = 1; e < sw.nr_events; e++)
                    CHECK(sw.events[e - 1].at_s <= sw.events[e].at_s);
            }
    }
    xpv_sim_suite_free(&su);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xpv_sim_scenario s;
    struct xpv_error err = {0};
    fuzz_suite(data, size);
    int rc = xpv_sim_scenario_parse((const char *)data, size, "fuzz.yaml", &s, &err);
    if (rc == 0) {
        check_scenario(&s);
        return 0;
    }
    CHECK(rc == -EINVAL || rc == -ENOMEM);
    CHECK(err.code == rc);
    if (rc == -EINVAL) {
        unsigned line = 0, lines = 1; /* an upper bound: libyaml also breaks at CR, NEL, LS, PS */
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xe2;
        CHECK(sscanf(err.msg, "fuzz.yaml:%u: ", &line) == 1);
        CHECK(line >= 1 && line <= lines + 1);
    }
    return 0;
}
