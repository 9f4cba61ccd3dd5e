/*
 * xpv/gm_layout.h — where a QEMU VM's guest RAM is, for the guest-memory sampler
 * (libxpv-gmsampler.so, preloaded into QEMU) and for `xpv carrefour --vm` (docs/carrefour.md,
 * "Guest memory: the userfaultfd sampler").
 *
 * Both sides read the same two texts — QEMU's command line (/proc/PID/cmdline, NUL-separated)
 * and its mappings (/proc/PID/maps) — and find the guest RAM backends as the host daemon does
 * (xpv/vmdesc.h: xpv_vm_cmdline_parse, xpv_vm_ram_locate): the backends named by `-numa
 * node,memdev=` (in guest node order) or `-machine memory-backend=`, each located in the maps
 * by its mem-path (memory-backend-file) or as the unique memfd mapping of its size
 * (memory-backend-memfd). Only shared mappings can be sampled (userfaultfd minor faults work
 * on shared memory, and dropping a page's PTE keeps it in the page cache); anonymous RAM
 * (memory-backend-ram, or plain -m) and share=off backends are refused with a message saying
 * how to start QEMU instead.
 *
 * Guest-physical addresses: the backends make up the machine's RAM in that order, from RAM
 * offset 0; on x86 the RAM below the PCI hole is mapped from guest-physical 0 and the rest
 * from 4 GiB. The low part is QEMU's default for the machine (q35: all of it below 2.75 GiB
 * of RAM, else 2 GiB; pc/i440fx: all of it below 3.5 GiB, else 3 GiB), or `lowmem` when
 * given (max-ram-below-4g is not read). Every input is untrusted; fuzzed by fuzz-gm_layout.
 */
#ifndef XPV_GM_LAYOUT_H
#define XPV_GM_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_GM_MAX_BACKENDS 64

struct xpv_gm_backend {
    char id[64];
    char type[40];    /* memory-backend-memfd or memory-backend-file */
    int vnode;        /* guest node it backs (-numa node order), -1 for -machine memory-backend */
    uint64_t hva;     /* start in QEMU's address space */
    uint64_t size;    /* bytes */
    uint64_t ram_off; /* offset in the machine's RAM (sum of the backends before it) */
};

struct xpv_gm_layout {
    unsigned nr;
    struct xpv_gm_backend b[XPV_GM_MAX_BACKENDS];
    uint64_t ram_size; /* sum of the backends */
    uint64_t lowmem;   /* RAM mapped below 4 GiB */
    bool q35;
    bool incoming;     /* -incoming on the command line: QEMU waits for a migration (post-copy
                        * registers its own userfaultfd on guest RAM) */
    bool thread_names; /* -name ...,debug-threads=on: QEMU names its vCPU threads "CPU K/..."
                        * (without it they all carry the process's name) */
};

/*
 * Build the layout from cmdline[0..clen) and maps[0..mlen). lowmem: 0 for QEMU's default.
 * 0 when every backend is located and shared; -EAGAIN when some backend has no mapping yet
 * (QEMU has not allocated its RAM: retry); -EINVAL (bad text), -ENOTSUP (anonymous RAM, a
 * private mapping, no backend at all, an ambiguous mapping) with err saying what and how to
 * start QEMU instead.
 */
int xpv_gm_layout_parse(const char *cmdline, size_t clen, const char *maps, size_t mlen,
                        uint64_t lowmem, struct xpv_gm_layout *out, struct xpv_error *err);

/* The guest-physical address of host address hva, or UINT64_MAX when it is not guest RAM.
 * *backend (when not NULL) gets the backend's index. */
uint64_t xpv_gm_gpa(const struct xpv_gm_layout *l, uint64_t hva, unsigned *backend);

/* QEMU's name of a vCPU thread, "CPU K/ACCEL" (TCG, KVM, HVF, WHPX...), as read from
 * /proc/PID/task/TID/comm (a trailing newline is allowed): K, or -1 for any other thread. */
int xpv_gm_vcpu_from_comm(const char *comm, size_t len);

/* The VM's name on QEMU's command line: `-name NAME`, `-name guest=NAME,...` or
 * `-name NAME,process=...` (",," is a comma). 0 with the name in buf, -ENOENT when there is
 * no -name, -EINVAL when it is empty or does not fit. */
int xpv_gm_vm_name(const char *cmdline, size_t clen, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
