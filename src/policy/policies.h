/* policies.h — internal: constructors of the policies that decide at run time. */
#ifndef XPV_POLICIES_H
#define XPV_POLICIES_H

#include "xpv/policy.h"

int xpv__autonuma_make(struct xpv_policy *p);
int xpv__numad_make(struct xpv_policy *p);
int xpv__hostd_make(struct xpv_policy *p);
/* The same placement over VMs whose guests are stock (static vNUMA): hostd-vnuma. */
int xpv__hostd_vnuma_make(struct xpv_policy *p);
int xpv__carrefour_make(struct xpv_policy *p);
int xpv__carrefour_hold_make(struct xpv_policy *p);
int xpv__carrefour_hv_make(struct xpv_policy *p);
int xpv__carrefour_lp_make(struct xpv_policy *p);
int xpv__carrefour_xpv_make(struct xpv_policy *p);

#endif
