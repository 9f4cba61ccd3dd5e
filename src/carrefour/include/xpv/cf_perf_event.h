/*
 * xpv/cf_perf_event.h — Carrefour's perf_event sampler backend (docs/carrefour.md, "The
 * perf_event backend"): where the kernel offers precise memory sampling (AMD IBS op, Intel PEBS
 * mem-loads / mem-stores), open it on the target with perf_event_open(2), read the mmap ring
 * buffers and turn PERF_RECORD_SAMPLE records into the engine's samples (data address, CPU,
 * thread, read or write from data_src's mem_op).
 *
 * Three layers, each usable alone:
 *   - xpv_cf_pe_parse: a pure function over ring bytes (the perf ABI of
 *     include/uapi/linux/perf_event.h: records of a header and sample_type-ordered fields),
 *     which the unit tests and the fuzz target drive with hand-built rings;
 *   - xpv_cf_pe_probe: which precise event this machine has, from sysfs under a root;
 *   - xpv_cf_pe_open / _drain: the events on a process, one ring per CPU.
 *
 * Events are opened per CPU (pid = each thread of the target, cpu = c, inherit): the kernel
 * refuses to mmap an inherited per-task event (cpu = -1), and per-CPU rings are what lets
 * threads the target creates later be followed (inherit) without one buffer shared by all
 * CPUs. Every thread's event on CPU c writes to CPU c's ring (PERF_EVENT_IOC_SET_OUTPUT).
 */
#ifndef XPV_CF_PERF_EVENT_H
#define XPV_CF_PERF_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xpv/cf_ring.h"
#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sample fields the parser knows: the fixed-size ones (bits of perf_event_attr's
 * sample_type: IDENTIFIER, IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, WEIGHT,
 * DATA_SRC, TRANSACTION, PHYS_ADDR, DATA_PAGE_SIZE, CODE_PAGE_SIZE, WEIGHT_STRUCT). A
 * sample_type with any other bit (variable-size fields: callchain, raw, registers...) is
 * refused. */
#define XPV_CF_PE_SAMPLE_KNOWN 0x1cbc3cfULL

/* One decoded PERF_RECORD_SAMPLE (fields absent from sample_type are 0). */
struct xpv_cf_pe_sample {
    uint16_t misc; /* the header's misc: cpumode in bits 0-2 */
    uint32_t pid, tid, cpu;
    uint64_t ip, time, addr, data_src, period, phys_addr;
};

/* Bytes of a PERF_RECORD_SAMPLE with this sample_type (header included), or -ENOTSUP when
 * sample_type holds a field the parser does not know. */
int xpv_cf_pe_sample_size(uint64_t sample_type);

/* Decode one PERF_RECORD_SAMPLE rec[0..len) (header included). -EINVAL: shorter than its
 * fields; -ENOTSUP: unknown sample_type bits. Longer records are accepted (extra ignored). */
int xpv_cf_pe_decode(const void *rec, size_t len, uint64_t sample_type,
                     struct xpv_cf_pe_sample *out);

/* data_src's mem_op: 1 store, 0 load, -1 neither (not available, prefetch, exec). */
int xpv_cf_pe_mem_op(uint64_t data_src);

struct xpv_cf_pe_stats {
    uint64_t records;      /* records read (complete ones) */
    uint64_t samples;      /* PERF_RECORD_SAMPLE among them */
    uint64_t kept;         /* samples returned */
    uint64_t no_addr;      /* samples without a user data address (0, kernel half, kernel mode) */
    uint64_t op_unknown;   /* kept samples whose data_src says neither load nor store (reads) */
    uint64_t lost;         /* samples the kernel says it lost (LOST, LOST_SAMPLES records) */
    uint64_t lost_records; /* LOST and LOST_SAMPLES records */
    uint64_t throttled;    /* THROTTLE records (the kernel slowed the sampling) */
    uint64_t other;        /* records of other types, skipped */
    uint64_t bad;          /* malformed: size not a multiple of 8 or below the header, sample
                              shorter than its fields, CPU out of range, more bytes than the
                              ring holds, a record running past head; the rest is skipped */
};

/*
 * Read the records of a perf ring's data area data[0..size) (size a power of two) from *tail
 * to head (the kernel's free-running byte counters: position = counter & (size - 1); records
 * may wrap around the end). Kept samples go to out[0..cap) as sampler samples (address, CPU,
 * thread, write: 1 for a store, else 0). ring_cpu is the CPU of a sample whose sample_type has
 * no PERF_SAMPLE_CPU (-1: unknown, such samples are bad). *tail advances past every record
 * consumed; reading stops early only when out is full (the rest waits for the next call).
 * Malformed bytes skip everything up to head (counted in bad). Returns the samples written.
 */
size_t xpv_cf_pe_parse(const uint8_t *data, uint64_t size, uint64_t head, uint64_t *tail,
                       uint64_t sample_type, int ring_cpu, struct xpv_cf_ring_sample *out,
                       size_t cap, struct xpv_cf_pe_stats *st);

/* One event to open (the probe's answer, or a caller's own, e.g. a software event). */
struct xpv_cf_pe_event {
    char name[80]; /* for messages: "ibs_op", "cpu/mem-loads/", ... */
    uint32_t type;
    uint64_t config, config1, config2;
    uint64_t period;      /* sample_period */
    unsigned precise_ip;  /* tried first; lower values are tried if the kernel refuses */
    uint64_t sample_type; /* within XPV_CF_PE_SAMPLE_KNOWN */
    bool exclude_kernel;  /* tried first; without it if the kernel refuses (filtered here) */
};

#define XPV_CF_PE_MAX_EVENTS 4
struct xpv_cf_pe_spec {
    unsigned nr;
    struct xpv_cf_pe_event ev[XPV_CF_PE_MAX_EVENTS]; /* same sample_type for all */
};

/*
 * Find the precise memory sampling events of this machine under root (NULL or "" for /):
 * AMD IBS op (sys/bus/event_source/devices/ibs_op/type: one event, cycles mode), else Intel
 * PEBS (each PMU under sys/bus/event_source/devices with events/mem-loads: mem-loads with
 * ldlat, and mem-stores when present; config encoded through the PMU's format/ files).
 * period: sampling period (0: 65536 for IBS, the ASPLOS module's accurate rate; 10007 for
 * PEBS). -ENODEV when there is none, err naming what was looked for and what to use instead.
 */
int xpv_cf_pe_probe(const char *root, uint64_t period, struct xpv_cf_pe_spec *out,
                    struct xpv_error *err);

/* Parse a sysfs event string ("event=0xcd,umask=0x1,ldlat=3") through the PMU's format
 * directory fmt_dir (files "config:0-7", "config1:0-15", ...) into config words. */
int xpv_cf_pe_encode(const char *fmt_dir, const char *terms, uint64_t config[3],
                     struct xpv_error *err);

struct xpv_cf_pe;

/*
 * Open spec's events on every thread of pid (/proc/PID/task), one ring of ring_pages data
 * pages (a power of two) per online CPU, inherit on (threads created later are followed).
 * enable_on_exec: start disabled and count from the target's next execve (a launched child
 * waiting to exec), else enabled at once. -ENOENT/-EACCES/... with err naming the event.
 */
int xpv_cf_pe_open(pid_t pid, const struct xpv_cf_pe_spec *spec, unsigned ring_pages,
                   bool enable_on_exec, struct xpv_cf_pe **out, struct xpv_error *err);
/* Drain every ring into out[0..cap); statistics accumulate in the handle. */
size_t xpv_cf_pe_drain(struct xpv_cf_pe *pe, struct xpv_cf_ring_sample *out, size_t cap);
void xpv_cf_pe_stats(const struct xpv_cf_pe *pe, struct xpv_cf_pe_stats *out);
/* Rings and events opened (for messages). */
void xpv_cf_pe_counts(const struct xpv_cf_pe *pe, unsigned *rings, unsigned *events);
const char *xpv_cf_pe_name(const struct xpv_cf_pe *pe);
void xpv_cf_pe_free(struct xpv_cf_pe *pe);

#ifdef __cplusplus
}
#endif
#endif
