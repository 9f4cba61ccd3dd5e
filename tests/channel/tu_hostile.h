/*
 * tu_hostile.h — test helper: the most expensive valid record the ABI allows for a reader
 * (docs/record-abi.md limits): 256 physical nodes, 256 vNodes, 4096 CPUs, 4096 backing
 * entries. Memory sits only on nodes 128..255, the CPUs only on nodes 0..127, every distance
 * between two nodes is 20: each CPU's effective node is a tie between 128 nodes, decided by
 * its own vNode, which has memory on 16 of them. A reader that walks the backing entries per
 * CPU does 4096 × 4096 steps on it.
 */
#ifndef XPV_TU_HOSTILE_H
#define XPV_TU_HOSTILE_H

#include <stdint.h>
#include <string.h>

#include "xpv/record.h"

#define TU_HP XPV_RECORD_MAX_PNODES
#define TU_HC XPV_RECORD_MAX_CPUS
#define TU_HB XPV_RECORD_MAX_BACKING

struct tu_hostile {
    struct xpv_record_desc d;
    uint32_t ids[TU_HP];
    uint16_t cpu_p[TU_HC], cpu_v[TU_HC], dist[TU_HP * TU_HP];
    struct xpv_record_backing bk[TU_HB];
};

static inline void tu_hostile_make(struct tu_hostile *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < TU_HP; i++) {
        t->ids[i] = i;
        for (unsigned j = 0; j < TU_HP; j++)
            t->dist[i * TU_HP + j] = (uint16_t)(i == j ? 10 : 20);
    }
    for (unsigned k = 0; k < TU_HB; k++)
        t->bk[k] = (struct xpv_record_backing){
                .vnode = (uint16_t)(k / 16), .pnode = (uint16_t)(128 + k % 128), .bytes = 1};
    for (unsigned c = 0; c < TU_HC; c++) {
        t->cpu_p[c] = (uint16_t)(c % 128);
        t->cpu_v[c] = (uint16_t)(c % 256);
    }
    t->d = (struct xpv_record_desc){.nr_pnodes = TU_HP,
                                    .nr_vnodes = 256,
                                    .nr_cpus = TU_HC,
                                    .nr_backing = TU_HB,
                                    .pnode_ids = t->ids,
                                    .cpu_pnode = t->cpu_p,
                                    .cpu_vnode = t->cpu_v,
                                    .backing = t->bk,
                                    .distance = t->dist};
}

#endif
