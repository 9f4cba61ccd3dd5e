/*
 * xpv/cf_perf_script.h — import `perf script` text of a precise memory-sampling run (AMD IBS op,
 * Intel PEBS mem-loads / mem-stores) as Carrefour samples (docs/carrefour.md, "perf
 * recordings"). The importer translates to the replay format (xpv/cf_replay.h) and parses
 * that, so both share one set of checks.
 *
 * Expected input, one sample per line, as printed by
 *     perf script -F cpu,time,event,addr,data_src,data_page_size
 * (data_src and data_page_size optional; data_page_size needs `perf record --data-page-size`,
 * Linux 5.11+)
 *   [003] 12345.678901: cpu/mem-loads,ldlat=30/P:      7f0123456780  68100142 |OP LOAD|... 2M
 * i.e. "[CPU] SECONDS: EVENT: HEXADDR [rest]". Read or write: "|OP STORE" / "|OP LOAD" in
 * the rest when present, else "store" / "load" in the event name, else read (counted).
 * The page size is the rest's last word when it is one (perf prints a number and B, K, M or
 * G): 2M marks the sample huge (a 2 MiB page, for the 2 MB rules), 4K does not, nor N/A (perf
 * could not tell: grouped by 4 KiB page, as without the field); any other size (1024M for
 * 1 GiB, 64K, ...) is refused with NAME:LINE, as neither Carrefour's 4 KB nor its 2 MB rules
 * describe such a page. Samples with address 0 (IBS ops that touched no memory) are skipped.
 * Blank lines and lines starting with '#' are ignored; anything else malformed is refused
 * with NAME:LINE.
 *
 * The node of each CPU comes from a map (--cpu-nodes or this machine's topology). The node
 * of each page comes from a page map (lines "HEXADDR NODE") when given; a page it does not
 * list is assumed to live where it was first sampled (first touch, Linux's default policy).
 * For a 2M sample both work by 2 MiB page: the first listed address inside it, else the node
 * of its first sample.
 */
#ifndef XPV_CF_PERF_H
#define XPV_CF_PERF_H

#include <stddef.h>
#include <stdint.h>

#include "xpv/cf_replay.h"
#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xpv_cf_perf_page_node {
    uint64_t page; /* address >> 12 */
    unsigned node;
};

struct xpv_cf_perf_opts {
    unsigned nr_nodes;                        /* node ids are below this */
    int cpu_node[XPV_CF_REPLAY_MAX_CPUS];     /* -1: the CPU has no node */
    double round_ns;                          /* round length (> 0) */
    double sample_every;                      /* accesses per sample (perf -c); 0 means 1 */
    struct xpv_cf_perf_page_node *page_nodes; /* sorted by page, owned by the caller (free) */
    size_t nr_page_nodes;
    /* filled by the conversion */
    size_t skipped_no_addr, unknown_kind;
};

/* "0-7:0,8-15:1" (ranges or single CPUs, colon, node; commas or spaces between) into o. */
int xpv_cf_perf_cpu_map(const char *spec, struct xpv_cf_perf_opts *o, struct xpv_error *err);
/* Page map text ("HEXADDR NODE" lines, '#' comments) into o->page_nodes (malloc'ed). */
int xpv_cf_perf_page_nodes_parse(const char *text, size_t len, const char *name,
                                 struct xpv_cf_perf_opts *o, struct xpv_error *err);
int xpv_cf_perf_page_nodes_load(const char *path, struct xpv_cf_perf_opts *o,
                                struct xpv_error *err);

/* perf script text -> replay text (malloc'ed, *out_len bytes, NUL-terminated). */
int xpv_cf_perf_convert(const char *text, size_t len, const char *name, struct xpv_cf_perf_opts *o,
                        char **out, size_t *out_len, struct xpv_error *err);
/* perf script text -> a replay ready for the engine. */
int xpv_cf_perf_parse(const char *text, size_t len, const char *name, struct xpv_cf_perf_opts *o,
                      struct xpv_cf_replay **out, struct xpv_error *err);
int xpv_cf_perf_load(const char *path, struct xpv_cf_perf_opts *o, struct xpv_cf_replay **out,
                     struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
