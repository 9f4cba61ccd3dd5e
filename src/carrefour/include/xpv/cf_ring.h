/*
 * xpv/cf_ring.h — the shared-memory sample ring of Carrefour's software sampler
 * (docs/carrefour.md, "The sampler's ring").
 *
 * The sampler library (libxpv-cfsampler.so, preloaded into the target) creates
 * /dev/shm/xpv-cfsampler.<pid>.<random> and pushes one slot per protection fault it takes, from the
 * faulting thread's signal handler: several producers, lock-free (a bounded queue with a
 * sequence word per slot), never blocking; a full ring drops the sample and counts it.
 * `xpv carrefour` (one consumer) maps the file and pops the slots.
 *
 * The reader treats the file as untrusted bytes another process wrote: xpv_cf_ring_open
 * checks the header once and keeps its own copy of the geometry, and every slot it pops is
 * checked (CPU in range, write flag 0/1) before it is returned; the producer's words are only
 * ever used modulo the capacity the reader checked.
 *
 * Layout (native byte order, x86-64 little-endian; all fields naturally aligned):
 *   0    u64 magic "XPVCFRG1"         8   u32 version (1)       12  u32 header size (256)
 *   16   u32 slot size (32)           20  u32 capacity (power of two, 16..2^20)
 *   24   i32 pid of the sampled process 28  u32 page size
 *   32   u32 flags (bit 0: write flags are known)  36 u32 state (enum xpv_cf_ring_state)
 *   40   u64 head (producers)         48  u64 tail (consumer)
 *   56.. u64 statistics, see struct xpv_cf_ring_hdr
 *   256  capacity slots: u64 seq, u64 addr, u32 cpu, u32 tid, u32 write, u32 reserved
 */
#ifndef XPV_CF_RING_H
#define XPV_CF_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_CF_RING_MAGIC   0x3147524643565058ull /* "XPVCFRG1" little-endian */
#define XPV_CF_RING_VERSION 1
#define XPV_CF_RING_HDR     256
#define XPV_CF_RING_MIN_CAP 16u
#define XPV_CF_RING_MAX_CAP (1u << 20)
#define XPV_CF_RING_MAX_CPU 4096u
#define XPV_CF_RING_F_WRITE 1u /* the write flag of each slot is meaningful */
/* the guest-memory sampler (libxpv-gmsampler.so): each slot's `reserved` word is the QEMU
 * vCPU index of the faulting thread + 1 (0: not a vCPU thread), its address a host address
 * in QEMU's guest RAM (xpv/gm_layout.h turns it into a guest-physical one) */
#define XPV_CF_RING_F_VCPU   2u
#define XPV_CF_RING_MAX_VCPU 65536u

/*
 * The ring's file: XPV_CF_RING_DIR/xpv-cfsampler.<pid>.<16 hex digits>. The suffix is random
 * (getrandom), so nobody can plant the file ahead of the target, and the sampler creates it
 * O_CREAT|O_EXCL|O_NOFOLLOW (shm_open) mode 0600: it is always the target's own new file.
 * The reader finds it by its prefix and takes only a regular file owned by the target's
 * owner (or root) with no access for others (cf_ring_file.c). docs/carrefour.md.
 */
#define XPV_CF_RING_DIR        "/dev/shm"
#define XPV_CF_RING_PREFIX_FMT "xpv-cfsampler.%d."

enum xpv_cf_ring_state {
    XPV_CF_RING_RUNNING = 1,
    XPV_CF_RING_STOPPED = 2, /* sampling stopped (see stop_reason); the process runs on */
    XPV_CF_RING_EXITED = 3,  /* the process exited normally */
};

enum xpv_cf_ring_stop {
    XPV_CF_STOP_NONE = 0,
    XPV_CF_STOP_HANDLER = 1, /* the program replaced the sampler's SIGSEGV handler */
    XPV_CF_STOP_ERROR = 2,   /* the sampler could not continue (e.g. /proc/self/maps) */
    XPV_CF_STOP_UFFD = 3,    /* gmsampler: QEMU registered its own userfaultfd on guest RAM
                              * (post-copy migration, background snapshot): stepped back */
    XPV_CF_STOP_REFUSED = 4, /* gmsampler: this VM cannot be sampled (stop_msg says why) */
};

struct xpv_cf_ring_hdr {
    uint64_t magic;
    uint32_t version, hdr_size, slot_size, capacity;
    int32_t pid;
    uint32_t page_size, flags, state;
    uint64_t head, tail;
    /* Monotonic statistics, written by the sampler only. */
    uint64_t windows;         /* protection windows opened */
    uint64_t protected_pages; /* pages protected, over all windows */
    uint64_t samples;         /* faults recorded (pushed or dropped) */
    uint64_t dropped;         /* samples lost to a full ring */
    uint64_t untouched;       /* protected pages nobody touched before the window closed */
    uint64_t unmatched;       /* SEGV_ACCERR faults on no protected page (retried once) */
    uint64_t sampler_ns;      /* time the sampler thread worked (protect, restore, scan) */
    uint64_t handler_ns;      /* time spent in the fault handler */
    uint64_t eligible_pages;  /* pages of the regions the sampler may protect, last scan */
    uint32_t pages_per_window, period_us, stop_reason, reserved;
    /* why sampling stopped, in words (gmsampler; "" otherwise): untrusted on the reader side,
     * xpv_cf_ring_stats copies it terminated and printable */
    char stop_msg[96];
    uint8_t pad[XPV_CF_RING_HDR - 144 - 96];
};

struct xpv_cf_ring_slot {
    uint64_t seq;
    uint64_t addr;
    uint32_t cpu, tid, write, reserved;
};

/* Bytes needed for a ring of `capacity` slots. */
static inline size_t xpv_cf_ring_size(uint32_t capacity)
{
    return XPV_CF_RING_HDR + (size_t)capacity * sizeof(struct xpv_cf_ring_slot);
}

/* Producer side (the sampler library). Lay out an empty ring in mem[0..len). */
int xpv_cf_ring_init(void *mem, size_t len, uint32_t capacity, pid_t pid, uint32_t page_size,
                     uint32_t flags);
/* A new ring for pid in /dev/shm (the samplers' constructors): a file under a name nobody can
 * guess (XPV_CF_RING_PREFIX_FMT, then 64 random bits; seed stands in while getrandom cannot
 * answer yet), created O_EXCL|O_NOFOLLOW, mode 0600 whatever the umask, allocated now (a full
 * tmpfs fails here, not as a SIGBUS in a fault handler), mapped and laid out empty. Its
 * shm_open name into name (for shm_unlink), its size into *len; the mapping, or NULL with
 * name "" (no ring: the sampler does not sample). */
void *xpv_cf_ring_create(uint32_t capacity, pid_t pid, uint32_t page_size, uint32_t flags,
                         uint64_t seed, char *name, size_t name_len, size_t *len);
/* Push one sample; async-signal-safe and lock-free. 0, or -ENOSPC (counted as dropped). */
int xpv_cf_ring_push(void *mem, uint64_t addr, uint32_t cpu, uint32_t tid, uint32_t write);
/* The same with a vCPU word (index + 1, 0: none; the ring's flags have XPV_CF_RING_F_VCPU). */
int xpv_cf_ring_push_vcpu(void *mem, uint64_t addr, uint32_t cpu, uint32_t tid, uint32_t write,
                          uint32_t vcpu);

/* Consumer side. The ring file of pid in dir (XPV_CF_RING_DIR), opened O_RDWR|O_NOFOLLOW
 * relative to the directory and checked on the fd (regular, owned by uid or root, no group or
 * other permission, a ring's size or still empty); its path into name. The fd, -ENOENT when
 * there is none, -EPERM when only refused ones were found (err says why). cf_ring_file.c;
 * not in the sampler library. */
int xpv_cf_ring_file_open(const char *dir, pid_t pid, uid_t uid, char *name, size_t len,
                          struct xpv_error *err);
/* Remove pid's ring files in dir owned by uid (a target killed before its destructor); others'
 * files are left alone. */
void xpv_cf_ring_file_remove(const char *dir, pid_t pid, uid_t uid);

/* Consumer side. */
struct xpv_cf_ring_reader {
    void *mem;
    size_t len;
    uint32_t capacity, page_size, flags;
    int32_t pid;
    uint64_t bad; /* slots refused (CPU out of range, write flag not 0/1) */
};

struct xpv_cf_ring_sample {
    uint64_t addr;
    uint32_t cpu, tid, write;
    uint32_t vcpu; /* XPV_CF_RING_F_VCPU rings: QEMU vCPU index + 1, 0 for other threads */
};

/* Check the header of mem[0..len) (another process wrote it) and fill rd. -EINVAL with err
 * saying which field is wrong. */
int xpv_cf_ring_open(struct xpv_cf_ring_reader *rd, void *mem, size_t len, struct xpv_error *err);
/* Pop up to cap samples; returns how many. Stops at the first slot not yet published. */
size_t xpv_cf_ring_pop(struct xpv_cf_ring_reader *rd, struct xpv_cf_ring_sample *out, size_t cap);
/* A consistent-enough copy of the header's statistics (each word read atomically). */
void xpv_cf_ring_stats(const struct xpv_cf_ring_reader *rd, struct xpv_cf_ring_hdr *out);

#ifdef __cplusplus
}
#endif
#endif
