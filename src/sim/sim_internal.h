/* sim_internal.h — internal: what the validation tests probe inside the engine. */
#ifndef XPV_SIM_INTERNAL_H
#define XPV_SIM_INTERNAL_H

/* The queueing delay (ns) at utilisation u of a resource whose delay at peak bandwidth is
 * sat_ns: the published loaded-latency curve (engine.c), bounded by sat_ns. */
double xpv__sim_queue_delay(double sat_ns, double u);

#endif
