/*
 * headline.c — the one line each case of `xpv sim` prints before its table, and the summary
 * line over the cases (xpv/sim.h, docs/sim.md "Cases"): what a re-placement cost static vNUMA
 * against pinned placement, and how much of that cost each XPV policy recovered. Pure
 * arithmetic and formatting; the figures are whatever the runs gave.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xpv/sim.h"

enum xpv_sim_cost_kind xpv_sim_recovery(double t_vnuma, double t_pinned, double t_policy,
                                        double *recovered)
{
    if (!(t_vnuma > 0) || !(t_pinned > 0) || !isfinite(t_vnuma) || !isfinite(t_pinned))
        return XPV_SIM_NO_DATA;
    double cost = t_vnuma / t_pinned;
    if (fabs(cost - 1) < XPV_SIM_COST_EPS)
        return XPV_SIM_NO_COST;
    if (cost < 1)
        return XPV_SIM_GAIN;
    if (recovered)
        *recovered = (t_vnuma - t_policy) / (t_vnuma - t_pinned);
    return XPV_SIM_COST;
}

/* Append to buf[size] at *o, never past its end. */
static void put(char *buf, size_t size, size_t *o, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
    if (*o >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, size - *o, fmt, ap);
    va_end(ap);
    if (n > 0)
        *o = *o + (size_t)n < size ? *o + (size_t)n : size - 1;
}

/* A recovered share as words: "recovers 86 %", "loses 12 %". */
static void put_recovered(char *buf, size_t size, size_t *o, double r)
{
    long pct = lround(r * 100);
    if (pct < 0)
        put(buf, size, o, "loses %ld %%", -pct);
    else
        put(buf, size, o, "recovers %ld %%", pct);
}

char *xpv_sim_headline(char *buf, size_t size, const struct xpv_sim_headline_in *h)
{
    size_t o = 0;
    if (!size)
        return buf;
    buf[0] = 0;
    put(buf, size, &o, "%s%s%s: ", h->vm ? h->vm : "?", h->label && *h->label ? ", " : "",
        h->label ? h->label : "");
    if (!h->have_base) {
        put(buf, size, &o, "no headline (it needs vnuma and vnuma-pinned among the policies)");
        return buf;
    }
    double r = 0;
    enum xpv_sim_cost_kind k = xpv_sim_recovery(h->t_vnuma, h->t_pinned, 0, NULL);
    double cost = h->t_vnuma / h->t_pinned;
    switch (k) {
    case XPV_SIM_NO_DATA:
        put(buf, size, &o, "no headline (the VM did not run under vnuma and vnuma-pinned)");
        return buf;
    case XPV_SIM_NO_COST:
    case XPV_SIM_GAIN:
        if (k == XPV_SIM_NO_COST)
            put(buf, size, &o, "re-placement costs nothing (%.2fx); nothing to recover", cost);
        else
            put(buf, size, &o,
                "re-placement gains %.2fx (static vNUMA beats pinned); nothing to recover",
                1 / cost);
        /* the XPV policies against static vNUMA, where they differ */
        for (unsigned i = 0, first = 1; i < h->nr; i++) {
            double x = h->t[i] / h->t_vnuma;
            if (!(fabs(x - 1) >= XPV_SIM_COST_EPS))
                continue;
            put(buf, size, &o, "%s%s takes %.2fx static vNUMA's time", first ? "; " : ", ",
                h->names[i], x);
            first = 0;
        }
        break;
    case XPV_SIM_COST:
        put(buf, size, &o, "re-placement costs %.2fx", cost);
        if (!h->nr)
            put(buf, size, &o, "; no XPV policy ran");
        for (unsigned i = 0; i < h->nr; i++) {
            xpv_sim_recovery(h->t_vnuma, h->t_pinned, h->t[i], &r);
            put(buf, size, &o, "%s%s ", i ? ", " : "; ", h->names[i]);
            if (i && lround(r * 100) >= 0) /* "xpv-os recovers 40 %, xpv 86 %" */
                put(buf, size, &o, "%ld %%", lround(r * 100));
            else
                put_recovered(buf, size, &o, r);
        }
        break;
    }
    if (h->capped)
        put(buf, size, &o, " (a run stopped at the time limit: its time is a lower bound)");
    return buf;
}

char *xpv_sim_headline_summary(char *buf, size_t size, const struct xpv_sim_headline_in *h,
                               unsigned nr)
{
    size_t o = 0;
    if (!size)
        return buf;
    buf[0] = 0;
    unsigned costly = 0, none = 0, gain = 0;
    double lo = INFINITY, hi = 0;
    for (unsigned i = 0; i < nr; i++) {
        if (!h[i].have_base)
            continue;
        switch (xpv_sim_recovery(h[i].t_vnuma, h[i].t_pinned, 0, NULL)) {
        case XPV_SIM_COST:
            costly++;
            lo = fmin(lo, h[i].t_vnuma / h[i].t_pinned);
            hi = fmax(hi, h[i].t_vnuma / h[i].t_pinned);
            break;
        case XPV_SIM_NO_COST:
            none++;
            break;
        case XPV_SIM_GAIN:
            gain++;
            break;
        case XPV_SIM_NO_DATA:
            break;
        }
    }
    put(buf, size, &o, "summary over %u case%s: ", nr, nr == 1 ? "" : "s");
    if (!costly && !none && !gain) {
        put(buf, size, &o, "no headline (it needs vnuma and vnuma-pinned among the policies)");
        return buf;
    }
    if (!costly) {
        put(buf, size, &o, "re-placement costs static vNUMA nothing in any case");
    } else {
        if (lo < hi - 0.005)
            put(buf, size, &o, "re-placement costs static vNUMA %.2fx-%.2fx in %u", lo, hi, costly);
        else
            put(buf, size, &o, "re-placement costs static vNUMA %.2fx in %u", lo, costly);
    }
    if (none)
        put(buf, size, &o, ", nothing in %u", none);
    if (gain)
        put(buf, size, &o, ", gains in %u", gain);
    /* each headline policy, in the order it first appears */
    const char *seen[XPV_SIM_MAX_POLICIES * 2];
    unsigned nseen = 0;
    for (unsigned i = 0; i < nr; i++)
        for (unsigned j = 0; j < h[i].nr; j++) {
            unsigned k = 0;
            while (k < nseen && strcmp(seen[k], h[i].names[j]))
                k++;
            if (k == nseen && nseen < sizeof(seen) / sizeof(seen[0]))
                seen[nseen++] = h[i].names[j];
        }
    for (unsigned p = 0; p < nseen; p++) {
        double got = 0, cost = 0;
        unsigned loses = 0, ran = 0;
        for (unsigned i = 0; i < nr; i++)
            for (unsigned j = 0; h[i].have_base && j < h[i].nr; j++) {
                if (strcmp(h[i].names[j], seen[p]))
                    continue;
                ran++;
                if (h[i].t[j] > h[i].t_vnuma * (1 + XPV_SIM_COST_EPS))
                    loses++;
                if (xpv_sim_recovery(h[i].t_vnuma, h[i].t_pinned, 0, NULL) == XPV_SIM_COST) {
                    got += h[i].t_vnuma - h[i].t[j];
                    cost += h[i].t_vnuma - h[i].t_pinned;
                }
            }
        put(buf, size, &o, "; %s ", seen[p]);
        if (cost > 0)
            put_recovered(buf, size, &o, got / cost);
        else
            put(buf, size, &o, "has nothing to recover");
        if (cost > 0 && p == 0)
            put(buf, size, &o, " of the total cost");
        put(buf, size, &o, ", slower than static vNUMA in %u of %u", loses, ran);
    }
    return buf;
}

/* The app running in VM `vm` of run r, or NULL. */
static const struct xpv_sim_app_result *vm_app(const struct xpv_sim_result *r, const char *vm)
{
    unsigned n = r->nr_apps < XPV_SIM_MAX_WORKLOADS ? r->nr_apps : XPV_SIM_MAX_WORKLOADS;
    for (unsigned j = 0; j < n; j++)
        if (!strncmp(r->apps[j].vm, vm, sizeof(r->apps[j].vm)))
            return &r->apps[j];
    return NULL;
}

void xpv_sim_headline_of(const struct xpv_sim_suite *su, const struct xpv_sim_case *c,
                         const struct xpv_sim_result *r, unsigned nr,
                         struct xpv_sim_headline_in *out)
{
    memset(out, 0, sizeof(*out));
    out->label = c->name;
    if (!c->has_vm) {
        out->vm = "(no VM)";
        return;
    }
    const char *vm = c->s.vms[c->vm].name;
    out->vm = vm;
    const struct xpv_sim_app_result *v = NULL, *p = NULL;
    for (unsigned i = 0; i < nr; i++) {
        if (!strcmp(r[i].policy, "vnuma"))
            v = vm_app(&r[i], vm);
        else if (!strcmp(r[i].policy, "vnuma-pinned"))
            p = vm_app(&r[i], vm);
    }
    if (!v || !p)
        return;
    out->have_base = true;
    out->t_vnuma = v->completion_s;
    out->t_pinned = p->completion_s;
    out->capped = !v->finished || !p->finished;
    /* the headline policies: the suite's list in its order, else xpv* in the run's */
    unsigned n = su && su->nr_headline ? su->nr_headline : nr;
    for (unsigned k = 0; k < n; k++) {
        const struct xpv_sim_result *x = NULL;
        if (su && su->nr_headline) {
            for (unsigned i = 0; i < nr && !x; i++)
                if (!strcmp(r[i].policy, su->headline[k]))
                    x = &r[i];
        } else if (!strncmp(r[k].policy, "xpv", 3)) {
            x = &r[k];
        }
        const struct xpv_sim_app_result *a = x ? vm_app(x, vm) : NULL;
        if (!a || out->nr == XPV_SIM_MAX_POLICIES)
            continue;
        out->names[out->nr] = x->policy;
        out->t[out->nr++] = a->completion_s;
        out->capped |= !a->finished;
    }
}
