/* sim_internal.h — internal: what the validation tests probe inside the engine. */
#ifndef XPV_SIM_INTERNAL_H
#define XPV_SIM_INTERNAL_H

/* The queueing delay (ns) of a resource with per-line service time svc_ns at utilisation u
 * (M/M/1 waiting time, utilisation capped at 0.99). */
double xpv__sim_queue_delay(double svc_ns, double u);

#endif
