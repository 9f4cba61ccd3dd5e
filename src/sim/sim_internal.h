/* sim_internal.h — internal: what the validation tests probe inside the engine. */
#ifndef XPV_SIM_INTERNAL_H
#define XPV_SIM_INTERNAL_H

#include <stdbool.h>

/* The queueing delay (ns) at utilisation u of a resource whose delay at peak bandwidth is
 * sat_ns: the published loaded-latency curve (engine.c), bounded by sat_ns. */
double xpv__sim_queue_delay(double sat_ns, double u);

/* The engine's shortcuts off (dense) or on (the default): with them off every loop over a
 * thread's distribution visits all nodes, every per-route loop all routes, and no thread
 * takes its twin's results — the engine as it computed before the shortcuts, for the test
 * that they change no result bit (sim.sim_model). Not thread-safe: a test's switch. */
void xpv__sim_set_dense(bool dense);

#endif
