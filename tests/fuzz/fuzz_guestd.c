/*
 * fuzz_guestd.c — libFuzzer target for the guest agent's decoders of outside bytes: the first
 * byte picks one, the rest is its input.
 *   0: a uevent datagram (guestd_uevent_parse): NONE, or a CPU / memory block number;
 *   1: the kick port's byte stream: frames (resynchronised), RECORD payloads validated, and
 *      each valid record turned into the effective guest topology of a fixed 4-node, 8-CPU
 *      guest (guestd_effective), which must always encode as a valid record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guestd.h"
#include "xpv/frame.h"
#include "xpv/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guestd_local local;

static void local_once(void)
{
    if (local.nr_nodes)
        return;
    local.nr_nodes = 4;
    local.nr_cpus = 8;
    for (unsigned g = 0; g < 4; g++) {
        local.node_id[g] = (int)g;
        local.node_mem[g] = (uint64_t)1 << 29;
        for (unsigned h = 0; h < 4; h++)
            local.node_dist[g][h] = (uint16_t)(g == h ? 10 : 20);
    }
    for (unsigned c = 0; c < GUESTD_MAX_CPUS; c++)
        local.cpu_node[c] = c < 8 ? (int)c / 2 : -1;
    for (unsigned c = 0; c < 7; c++) /* CPU 7 offline */
        xpv_bitmap_set(&local.online, c);
}

static int on_frame(void *arg, unsigned type, const void *p, size_t n)
{
    (void)arg;
    if (type != XPV_FRAME_RECORD)
        return 0;
    void *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    memcpy(copy, p, n);
    struct xpv_record_view v;
    if (xpv_record_decode(copy, n, &v, NULL) == 0) {
        static struct guestd_topo t;
        if (guestd_effective(&v, &local, &t, NULL) != 0)
            abort();
        size_t len = xpv_record_size(&t.desc);
        void *out = malloc(len);
        struct xpv_error err = {0};
        if (!out || xpv_record_encode(&t.desc, 1, 0, out, len, &err) < 0)
            abort(); /* the agent would republish something readers reject */
        free(out);
    }
    free(copy);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    local_once();
    if (data[0] == 0) {
        unsigned id = 0;
        enum guestd_uevent_kind k = guestd_uevent_parse(data + 1, size - 1, &id);
        if (k != GUESTD_UEVENT_NONE && id > 9999999)
            abort();
        return 0;
    }
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    if (!d)
        return 0;
    xpv_frame_feed(d, data + 1, size - 1, on_frame, NULL);
    xpv_frame_decoder_free(d);
    return 0;
}
