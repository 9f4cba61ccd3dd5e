/*
 * fuzz_cf_perf_script.c — libFuzzer target for the `perf script` importer and its maps: any input
 * is imported or refused with a message naming the input; an imported recording gives rounds
 * whose samples name known CPUs and nodes. The first byte picks the round length (1 us .. 1 s)
 * and whether the rest is a page map followed (after a NUL byte) by the perf text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/cf_perf_script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xpv_cf_perf_opts o;
    struct xpv_error err = {0};
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    data++;
    size--;
    memset(&o, 0, sizeof(o));
    if (xpv_cf_perf_cpu_map("0-1:0,2-3:1,4-5:2,6-7:3", &o, &err) < 0)
        abort();
    o.round_ns = 1e3 * (double)(1u << (sel % 20));
    const char *text = (const char *)data;
    size_t len = size;
    if (sel & 0x80) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t mlen = nul ? (size_t)(nul - data) : size;
        if (xpv_cf_perf_page_nodes_parse((const char *)data, mlen, "map", &o, &err) < 0 &&
            strncmp(err.msg, "map", 3) != 0 && strncmp(err.msg, "out of memory", 13) != 0)
            abort();
        text = nul ? (const char *)nul + 1 : "";
        len = nul ? size - mlen - 1 : 0;
    }
    struct xpv_cf_replay *r = NULL;
    int rc = xpv_cf_perf_parse(text, len, "perf", &o, &r, &err);
    free(o.page_nodes);
    if (rc < 0) {
        if (r || (strncmp(err.msg, "perf", 4) != 0 && strncmp(err.msg, "out of memory", 13) != 0))
            abort();
        return 0;
    }
    if (r->nr_nodes != 4)
        abort();
    for (size_t i = 0; i < r->nr_samples; i++)
        if (r->samples[i].cpu > 7 || r->samples[i].node >= 4 || r->samples[i].write > 1 ||
            !r->samples[i].addr || (r->huge && r->huge[i] > 1))
            abort();
    xpv_cf_replay_free(r);
    return 0;
}
