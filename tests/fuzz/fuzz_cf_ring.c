/*
 * fuzz_cf_ring.c — libFuzzer target for the reader of the sampler's ring (the bytes another
 * process wrote to /dev/shm): the header is refused with a message or accepted, and popping
 * from an accepted ring never reads outside it and only returns checked samples.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/cf_ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reader writes back sequence words and the tail: give it its own aligned copy */
    uint64_t *mem = malloc(size ? (size + 7) / 8 * 8 : 8);
    if (!mem)
        return 0;
    memcpy(mem, data, size);
    struct xpv_cf_ring_reader rd;
    struct xpv_error err = {0};
    if (xpv_cf_ring_open(&rd, mem, size, &err) < 0) {
        if (strncmp(err.msg, "sampler ring", 12) != 0)
            abort();
        free(mem);
        return 0;
    }
    if (xpv_cf_ring_size(rd.capacity) > size)
        abort();
    struct xpv_cf_ring_sample out[64];
    for (int k = 0; k < 4; k++) {
        size_t n = xpv_cf_ring_pop(&rd, out, 64);
        if (n > 64)
            abort();
        for (size_t i = 0; i < n; i++)
            if (out[i].cpu >= XPV_CF_RING_MAX_CPU || out[i].write > 1 ||
                out[i].vcpu > XPV_CF_RING_MAX_VCPU ||
                (!(rd.flags & XPV_CF_RING_F_VCPU) && out[i].vcpu))
                abort();
    }
    struct xpv_cf_ring_hdr st;
    xpv_cf_ring_stats(&rd, &st);
    /* the stop message: terminated within its field, printable */
    if (!memchr(st.stop_msg, 0, sizeof(st.stop_msg)))
        abort();
    for (const char *c = st.stop_msg; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            abort();
    free(mem);
    return 0;
}
