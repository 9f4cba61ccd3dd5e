/*
 * fuzz_gm_layout.c — libFuzzer target for what the guest-memory sampler and `xpv carrefour
 * --vm` read from QEMU (src/carrefour/gm_layout.c): a command line and a maps text (the input
 * is split at its first "\n@@\n": command line before, maps after), a thread name, a -name.
 * A layout either fails with a message or has located, non-overlapping backends laid end to
 * end whose addresses translate back; names are bounded.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/gm_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data, *sep = memmem(d, size, "\n@@\n", 4);
    size_t clen = sep ? (size_t)(sep - d) : size;
    const char *maps = sep ? sep + 4 : "";
    size_t mlen = sep ? size - clen - 4 : 0;
    static struct xpv_gm_layout l;
    struct xpv_error err = {0};
    int rc =
            xpv_gm_layout_parse(d, clen, maps, mlen, size & 1 ? (uint64_t)size << 20 : 0, &l, &err);
    if (rc < 0) {
        if (!err.msg[0])
            abort();
    } else {
        uint64_t off = 0;
        if (!l.nr || l.nr > XPV_GM_MAX_BACKENDS || l.lowmem > l.ram_size)
            abort();
        for (unsigned i = 0; i < l.nr; i++) {
            if (l.b[i].ram_off != off || !l.b[i].hva || !l.b[i].size)
                abort();
            off += l.b[i].size;
            unsigned b = ~0u;
            uint64_t g = xpv_gm_gpa(&l, l.b[i].hva, &b);
            if (g == UINT64_MAX || b > i) /* an earlier backend may overlap only if mapped so */
                abort();
        }
        if (off != l.ram_size)
            abort();
    }
    int v = xpv_gm_vcpu_from_comm(d, size < 64 ? size : 64);
    if (v < -1 || v > 65535)
        abort();
    char name[16];
    rc = xpv_gm_vm_name(d, clen, name, sizeof(name));
    if (rc == 0 && (!name[0] || strlen(name) >= sizeof(name)))
        abort();
    return 0;
}
