/*
 * fuzz_cf_pe.c — libFuzzer target for the perf ring record parser of Carrefour's perf_event
 * backend (src/carrefour/cf_perf_event_record.c): the bytes of a ring's data area as the kernel would
 * leave them, read between a tail and a head the input chooses.
 *
 * Input: u64 sample_type (reduced to the known fields), u64 tail, u32 head - tail, u8 ring CPU,
 * then the data area (its largest power-of-two prefix, at least 8 bytes).
 * Invariants (abort on violation): nothing read outside the area (ASan); the tail ends between
 * where it started and head; samples returned <= the output's room, each with a user address,
 * a CPU in range and a 0/1 write flag; kept <= samples <= records; and reading with room for
 * one sample at a time gives the same samples, tail and statistics as reading all at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/cf_perf_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 21 + 8)
        return 0;
    uint64_t st, tail0;
    uint32_t span;
    memcpy(&st, data, 8);
    memcpy(&tail0, data + 8, 8);
    memcpy(&span, data + 16, 4);
    int cpu = data[20] == 0xff ? -1 : data[20];
    st &= XPV_CF_PE_SAMPLE_KNOWN;
    const uint8_t *area = data + 21;
    uint64_t len = 8;
    while (len * 2 <= size - 21)
        len *= 2;
    /* an aligned copy, as the kernel's mapping is */
    uint8_t *ring = malloc(len);
    if (!ring)
        return 0;
    memcpy(ring, area, len);
    uint64_t head = tail0 + (span % (2 * len + 1));

    static struct xpv_cf_ring_sample all[CAP], one[CAP];
    struct xpv_cf_pe_stats s1 = {0}, s2 = {0};
    uint64_t t1 = tail0;
    size_t n1 = xpv_cf_pe_parse(ring, len, head, &t1, st, cpu, all, CAP, &s1);
    if (n1 > CAP || t1 - tail0 > head - tail0 || s1.kept != n1 || s1.kept > s1.samples ||
        s1.samples > s1.records)
        abort();
    for (size_t i = 0; i < n1; i++)
        if (!all[i].addr || (all[i].addr >> 63) || all[i].cpu >= XPV_CF_RING_MAX_CPU ||
            all[i].write > 1)
            abort();
    /* the same bytes, one sample of room at a time */
    uint64_t t2 = tail0;
    size_t n2 = 0;
    for (int guard = 0; n2 < CAP && guard < CAP + 2; guard++) {
        size_t k = xpv_cf_pe_parse(ring, len, head, &t2, st, cpu, one + n2, 1, &s2);
        n2 += k;
        if (t2 == head || (k == 0 && t2 == head))
            break;
    }
    if (n1 < CAP && (n2 != n1 || t2 != t1 || memcmp(&s1, &s2, sizeof(s1)) != 0))
        abort();
    /* field by field: the struct has padding, which the parser need not write (a memcmp
     * compared bytes left by earlier inputs in these static arrays and aborted at random) */
    for (size_t i = 0; n1 < CAP && i < n1; i++)
        if (all[i].addr != one[i].addr || all[i].cpu != one[i].cpu || all[i].tid != one[i].tid ||
            all[i].write != one[i].write)
            abort();
    free(ring);
    return 0;
}
