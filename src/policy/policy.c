/*
 * policy.c — the policy registry and the action list. The placement-only policies live here
 * (first-touch, interleave: nothing to decide at run time); the balancers have their files
 * (numad.c models numad(8), the external tool; hostd_policy.c is the host daemon's own
 * placement code).
 */
#include "xpv/policy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies.h"

int xpv_pol_actions_push(struct xpv_pol_actions *a, struct xpv_pol_action act)
{
    if (a->nr == a->cap) {
        unsigned cap = a->cap ? 2 * a->cap : 64;
        struct xpv_pol_action *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->nr++] = act;
    return 0;
}

void xpv_pol_actions_clear(struct xpv_pol_actions *a)
{
    a->nr = 0;
}

void xpv_pol_actions_free(struct xpv_pol_actions *a)
{
    free(a->v);
    memset(a, 0, sizeof(*a));
}

uint32_t xpv_pol_slit(const double *lat_ns, unsigned nr_nodes, unsigned i, unsigned j)
{
    double local = lat_ns[(size_t)i * nr_nodes + i], d = lat_ns[(size_t)i * nr_nodes + j];
    long v = local > 0 ? lround(10 * d / local) : 10;
    return v < 1 ? 1 : v > 0xfffe ? 0xfffe : (uint32_t)v;
}

static int make_placement(struct xpv_policy *p, enum xpv_place place)
{
    p->placement = place;
    return 0;
}
static int make_first_touch(struct xpv_policy *p)
{
    return make_placement(p, XPV_PLACE_FIRST_TOUCH);
}
static int make_interleave(struct xpv_policy *p)
{
    return make_placement(p, XPV_PLACE_INTERLEAVE);
}
static int vm_mode(struct xpv_policy *p, enum xpv_vm_mode m)
{
    p->vm_mode = m;
    return make_placement(p, XPV_PLACE_FIRST_TOUCH);
}
static int make_xen_default(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_XEN_DEFAULT);
}
static int make_vnuma(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_VNUMA);
}
static int make_vnuma_pinned(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_PINNED);
}
static int make_xpv(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_XPV);
}
/* XPV for the guest kernel only: its first touch follows the record, its runtimes (arenas,
 * a JVM's heap) are stock and keep their start-time layout (docs/sim.md, "Runtimes"). */
static int make_xpv_os(struct xpv_policy *p)
{
    p->stock_runtimes = true;
    return vm_mode(p, XPV_VM_XPV);
}
static int make_xpv_migrate(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_XPV_MIGRATE);
}
static int make_vnuma_hotplug(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_HOTPLUG);
}
static int make_hv_first_touch(struct xpv_policy *p)
{
    return vm_mode(p, XPV_VM_HV_FIRST_TOUCH);
}

/* Linux NUMA balancing on a KVM host: the autonuma policy, on QEMU's memory (guest frames)
 * and its vCPU threads, under a static vNUMA guest. */
static int make_kvm_numa_balancing(struct xpv_policy *p)
{
    int rc = xpv__autonuma_make(p);
    p->vm_mode = XPV_VM_HOST_BALANCING;
    return rc;
}

enum { NATIVE = 1, VM = 2, ANY = 3 };
static const struct {
    const char *name;
    int (*make)(struct xpv_policy *);
    int scope; /* the scenarios it applies to */
} registry[] = {
        {"first-touch", make_first_touch, NATIVE},
        {"interleave", make_interleave, NATIVE},
        {"autonuma", xpv__autonuma_make, NATIVE},
        {"numad", xpv__numad_make, NATIVE}, /* models numad(8), the external tool */
        /* the host daemon's own placement (xpv_place_round) and vNode rule, as it runs them */
        {"hostd", xpv__hostd_make, ANY},
        /* the same over stock guests (static vNUMA): what operators run without XPV guests */
        {"hostd-vnuma", xpv__hostd_vnuma_make, VM},
        {"carrefour", xpv__carrefour_make, NATIVE},
        {"carrefour-hold", xpv__carrefour_hold_make, NATIVE},
        {"carrefour-hv", xpv__carrefour_hv_make, VM},
        {"carrefour-lp", xpv__carrefour_lp_make, NATIVE},
        {"carrefour-xpv", xpv__carrefour_xpv_make, VM},
        /* VM policies: how guest memory is backed and whether the guest learns moves */
        {"xen-default", make_xen_default, VM},
        {"vnuma", make_vnuma, VM},
        {"vnuma-pinned", make_vnuma_pinned, VM},
        {"xpv-os", make_xpv_os, VM},
        {"xpv", make_xpv, VM},
        {"xpv-migrate", make_xpv_migrate, VM},
        {"vnuma-hotplug", make_vnuma_hotplug, VM},
        {"hv-first-touch", make_hv_first_touch, VM},
        {"kvm-numa-balancing", make_kvm_numa_balancing, VM},
};
#define NR (sizeof(registry) / sizeof(registry[0]))

const char *const *xpv_policy_names(void)
{
    static const char *names[NR + 1];
    for (size_t i = 0; i < NR; i++)
        names[i] = registry[i].name;
    return names;
}

int xpv_policy_new(const char *name, struct xpv_policy **out, struct xpv_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < NR; i++) {
        if (strcmp(name, registry[i].name))
            continue;
        struct xpv_policy *p = calloc(1, sizeof(*p));
        if (!p)
            return xpv_error_set(err, -ENOMEM, "out of memory");
        p->name = registry[i].name;
        int rc = registry[i].make(p);
        if (rc < 0) {
            free(p);
            return xpv_error_set(err, rc, "policy %s: cannot start", name);
        }
        *out = p;
        return 0;
    }
    char list[384];
    return xpv_error_set(err, -ENOENT, "unknown policy '%s' (policies: %s)", name,
                         xpv_names_join(xpv_policy_names(), list, sizeof(list)));
}

int xpv_policy_check(const char *name, bool vms, struct xpv_error *err)
{
    size_t i = 0;
    while (i < NR && strcmp(name, registry[i].name))
        i++;
    if (i == NR) {
        char list[384];
        return xpv_error_set(err, -ENOENT, "unknown policy '%s' (policies: %s)", name,
                             xpv_names_join(xpv_policy_names(), list, sizeof(list)));
    }
    int want = vms ? VM : NATIVE;
    if (registry[i].scope & want)
        return 0;
    char list[384];
    size_t o = 0;
    list[0] = 0;
    for (size_t j = 0; j < NR && o < sizeof(list); j++)
        if (registry[j].scope & want)
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "",
                                  registry[j].name);
    /* the counterpart, when there is one */
    const char *hint = !strcmp(name, "autonuma")             ? "kvm-numa-balancing"
                       : !strcmp(name, "kvm-numa-balancing") ? "autonuma"
                                                             : NULL;
    return xpv_error_set(err, -EINVAL,
                         "policy '%s' is a %s policy and the scenario runs %s; %s "
                         "policies: %s%s%s%s",
                         name, vms ? "native" : "VM", vms ? "VMs" : "no VM", vms ? "VM" : "native",
                         list, hint ? " (in its place: " : "", hint ? hint : "", hint ? ")" : "");
}

void xpv_policy_free(struct xpv_policy *p)
{
    if (!p)
        return;
    if (p->destroy)
        p->destroy(p);
    free(p);
}
