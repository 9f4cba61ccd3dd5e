/*
 * fuzz_record.c — libFuzzer target for the topology record decoder and for libxpv's reader
 * over hostile shared memory (what a guest or another process can write).
 *
 * For any input: xpv_record_decode must return cleanly; when it accepts, every accessor over
 * every index the view admits must stay in bounds (ASan watches), re-encoding the view must
 * give a record that decodes to the same content; and a channel opened on the bytes as its
 * "shared memory" must give either an error or a snapshot whose queries stay in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/channel.h"
#include "xpv/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static void reencode(const struct xpv_record_view *v)
{
    static uint32_t ids[XPV_RECORD_MAX_PNODES];
    static uint16_t cp[XPV_RECORD_MAX_CPUS], cv[XPV_RECORD_MAX_CPUS];
    static uint16_t dist[XPV_RECORD_MAX_PNODES * XPV_RECORD_MAX_PNODES];
    static struct xpv_record_backing bk[XPV_RECORD_MAX_BACKING];
    static uint8_t out[XPV_RECORD_MAP_SIZE];
    for (unsigned i = 0; i < v->nr_pnodes; i++) {
        ids[i] = xpv_record_pnode_id(v, i);
        for (unsigned j = 0; j < v->nr_pnodes; j++)
            dist[i * v->nr_pnodes + j] = xpv_record_distance(v, i, j);
    }
    for (unsigned c = 0; c < v->nr_cpus; c++) {
        cp[c] = xpv_record_cpu_pnode(v, c);
        cv[c] = xpv_record_cpu_vnode(v, c);
    }
    for (unsigned i = 0; i < v->nr_backing; i++)
        bk[i] = xpv_record_backing_at(v, i);
    struct xpv_record_desc d = {v->nr_pnodes, v->nr_vnodes, v->nr_cpus, v->nr_backing, ids,
                                cp,           cv,           bk,         dist};
    long n = xpv_record_encode(&d, v->generation, v->timestamp_ns, out, sizeof(out), NULL);
    check(n > 0); /* whatever the decoder accepts, the encoder must be able to write */
    struct xpv_record_view w;
    check(xpv_record_decode(out, (size_t)n, &w, NULL) == 0);
    check(w.nr_pnodes == v->nr_pnodes && w.nr_cpus == v->nr_cpus && w.nr_backing == v->nr_backing &&
          w.generation == v->generation);
    for (unsigned c = 0; c < v->nr_cpus; c++)
        check(xpv_record_cpu_pnode(&w, c) == cp[c]);
}

static void through_channel(const uint8_t *data, size_t size)
{
    /* the bytes as the shared mapping (8-byte aligned, like a page) */
    size_t cap = size < 64 ? 64 : size;
    uint64_t *mem = calloc(1, (cap + 7) & ~(size_t)7);
    if (!mem)
        return;
    memcpy(mem, data, size);
    struct xpv_channel *ch = NULL;
    if (xpv_channel_open_mem(mem, cap, &ch, NULL) == 0) {
        struct xpv_snapshot *s = NULL;
        (void)xpv_channel_generation(ch);
        if (xpv_channel_snapshot(ch, &s, NULL) == 0) {
            struct xpv_bitmap cpus;
            for (unsigned c = 0; c <= xpv_snapshot_nr_cpus(s); c++) {
                (void)xpv_snapshot_effective_node(s, c);
                (void)xpv_snapshot_cpu_node(s, c);
            }
            for (unsigned i = 0; i < xpv_snapshot_nr_nodes(s); i++) {
                int id = xpv_snapshot_node_id(s, i);
                (void)xpv_snapshot_node_cpus(s, id, &cpus);
                (void)xpv_snapshot_distance(s, id, xpv_snapshot_node_id(s, 0));
                (void)xpv_snapshot_node_memory(s, id);
            }
        }
        xpv_snapshot_put(s);
        xpv_channel_close(ch);
    }
    free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xpv_record_view v;
    if (xpv_record_decode(data, size, &v, NULL) == 0) {
        check(v.total_len <= size);
        reencode(&v);
    }
    through_channel(data, size);
    return 0;
}
