/*
 * tu_record.h — test helper: a record desc whose every field is a function of one number,
 * so a test (or the stress test's reader) can tell from a decoded record's generation
 * whether any byte came from another record.
 */
#ifndef XPV_TU_RECORD_H
#define XPV_TU_RECORD_H

#include <stdint.h>
#include <string.h>

#include "xpv/record.h"

#define TU_MAX_P 8
#define TU_MAX_C 64

struct tu_desc {
    struct xpv_record_desc d;
    uint32_t ids[TU_MAX_P];
    uint16_t cpu_p[TU_MAX_C], cpu_v[TU_MAX_C], dist[TU_MAX_P * TU_MAX_P];
    struct xpv_record_backing bk[TU_MAX_P];
};

/* The domain of "version k": 2..8 nodes with sparse ids, 1..64 CPUs, all derived from k. */
static inline void tu_desc_make(struct tu_desc *t, uint64_t k)
{
    memset(t, 0, sizeof(*t));
    unsigned p = 2 + (unsigned)(k % 7), c = 1 + (unsigned)(k * 7 % TU_MAX_C);
    for (unsigned i = 0; i < p; i++) {
        t->ids[i] = 3 * i + (unsigned)(k % 3);
        t->bk[i] = (struct xpv_record_backing){
                .vnode = (uint16_t)(i % 2), .pnode = (uint16_t)i, .bytes = (k + i) << 20};
        for (unsigned j = 0; j < p; j++)
            t->dist[i * p + j] = (uint16_t)(i == j ? 10 : 10 + (i + j + k) % 30);
    }
    for (unsigned i = 0; i < c; i++) {
        t->cpu_p[i] = (uint16_t)((i + k) % p);
        t->cpu_v[i] = (uint16_t)(i % 2);
    }
    t->d = (struct xpv_record_desc){.nr_pnodes = p,
                                    .nr_vnodes = 2,
                                    .nr_cpus = c,
                                    .nr_backing = p,
                                    .pnode_ids = t->ids,
                                    .cpu_pnode = t->cpu_p,
                                    .cpu_vnode = t->cpu_v,
                                    .backing = t->bk,
                                    .distance = t->dist};
}

/* 0 when view says exactly what tu_desc_make(k) says; else the first field that differs. */
static inline int tu_view_matches(const struct xpv_record_view *v, uint64_t k)
{
    struct tu_desc t;
    tu_desc_make(&t, k);
    if (v->nr_pnodes != t.d.nr_pnodes || v->nr_vnodes != t.d.nr_vnodes ||
        v->nr_cpus != t.d.nr_cpus || v->nr_backing != t.d.nr_backing)
        return 1;
    for (unsigned i = 0; i < t.d.nr_pnodes; i++) {
        struct xpv_record_backing b = xpv_record_backing_at(v, i);
        if (xpv_record_pnode_id(v, i) != t.ids[i] || b.vnode != t.bk[i].vnode ||
            b.pnode != t.bk[i].pnode || b.bytes != t.bk[i].bytes)
            return 2;
        for (unsigned j = 0; j < t.d.nr_pnodes; j++)
            if (xpv_record_distance(v, i, j) != t.dist[i * t.d.nr_pnodes + j])
                return 3;
    }
    for (unsigned i = 0; i < t.d.nr_cpus; i++)
        if (xpv_record_cpu_pnode(v, i) != t.cpu_p[i] || xpv_record_cpu_vnode(v, i) != t.cpu_v[i])
            return 4;
    return 0;
}

#endif
