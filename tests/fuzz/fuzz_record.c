/*
 * fuzz_record.c — libFuzzer target for the topology record decoder and for libxpv's reader
 * over hostile shared memory (what a guest or another process can write).
 *
 * For any input: xpv_record_decode must return cleanly; when it accepts, every accessor over
 * every index the view admits must stay in bounds (ASan watches), re-encoding the view must
 * give a record that decodes to the same content; and a channel opened on the bytes as its
 * "shared memory" must give either an error or a snapshot whose queries stay in bounds, whose
 * node ids are never negative and whose effective nodes (computed once per snapshot) are the
 * rule's (xpv_effective_record, CPU by CPU).
 *
 * Two modes. Plain: libFuzzer's own mutations; most land in the CRC-covered body and stop at
 * the checksum. CRC-repairing (XPV_FUZZ_CRC=1, ctest fuzz.record_crc): a custom mutator
 * mutates, then makes the sequence even, copies the header's generation into the body and
 * recomputes the body's CRC-32C, so mutations reach the decoder's bounds and index checks
 * and the reader behind them (docs/fuzzing.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/channel.h"
#include "xpv/crc32c.h"
#include "xpv/effective.h"
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
            const struct xpv_record_view *v = xpv_snapshot_view(s);
            for (unsigned c = 0; c < v->nr_cpus; c++) {
                struct xpv_effective e;
                int rc = xpv_effective_record(v, c, &e);
                check(xpv_snapshot_effective_node(s, c) ==
                      (rc < 0 ? rc : (int)xpv_record_pnode_id(v, e.pnode)));
            }
            for (unsigned i = 0; i < xpv_snapshot_nr_nodes(s); i++) {
                int id = xpv_snapshot_node_id(s, i);
                check(id >= 0);
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

#if defined(__clang__) /* libFuzzer; the gcc replay main has no mutator to call */
#include <stdlib.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed);

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Make a mutated record pass the checks a bit flip would fail: even sequence, the body's
 * generation copy, the body's CRC (header offsets 20, 24, 40; body offset 40). */
static void repair(uint8_t *d, size_t n)
{
    if (n < XPV_RECORD_HEADER_SIZE)
        return;
    uint32_t header_len = get32(d + 12), total = get32(d + 16);
    d[20] &= (uint8_t)~1u;
    if (header_len < XPV_RECORD_HEADER_SIZE || header_len > total || total > n)
        return;
    if (total - header_len >= XPV_RECORD_FIXED_SIZE)
        memcpy(d + header_len + 40, d + 24, 8);
    put32(d + 40, xpv_crc32c(d + header_len, total - header_len));
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
    (void)seed;
    static int crc_mode = -1;
    if (crc_mode < 0) {
        const char *e = getenv("XPV_FUZZ_CRC");
        crc_mode = e && *e && strcmp(e, "0") != 0;
    }
    size_t n = LLVMFuzzerMutate(data, size, max_size);
    if (crc_mode)
        repair(data, n);
    return n;
}
#endif
