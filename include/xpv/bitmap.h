/*
 * xpv/bitmap.h — fixed-size sets of CPUs or NUMA node ids.
 *
 * One type serves both: a plain, copyable value of XPV_MAX_CPUS bits (node ids are
 * bounded by XPV_MAX_NODES < XPV_MAX_CPUS). It is a value, not a handle, so topology
 * structs, policy actions and decoded records can hold it without allocation or
 * ownership rules. hwloc's hwloc_bitmap_t is the opposite trade (heap, unbounded) and
 * is used only inside discovery.
 *
 * List syntax is the kernel's cpulist format: "0-3,8,10-11"; the empty set is "".
 */
#ifndef XPV_BITMAP_H
#define XPV_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_MAX_CPUS     4096
#define XPV_MAX_NODES    256
#define XPV_BITMAP_WORDS (XPV_MAX_CPUS / 64)

struct xpv_bitmap {
    uint64_t w[XPV_BITMAP_WORDS];
};

static inline void xpv_bitmap_zero(struct xpv_bitmap *b)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        b->w[i] = 0;
}

/* Out-of-range bits are ignored on set/clear and read as unset: callers bound-check ids. */
static inline void xpv_bitmap_set(struct xpv_bitmap *b, unsigned bit)
{
    if (bit < XPV_MAX_CPUS)
        b->w[bit / 64] |= UINT64_C(1) << (bit % 64);
}

static inline void xpv_bitmap_clr(struct xpv_bitmap *b, unsigned bit)
{
    if (bit < XPV_MAX_CPUS)
        b->w[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
}

static inline bool xpv_bitmap_isset(const struct xpv_bitmap *b, unsigned bit)
{
    return bit < XPV_MAX_CPUS && (b->w[bit / 64] >> (bit % 64)) & 1;
}

unsigned xpv_bitmap_weight(const struct xpv_bitmap *b);
bool xpv_bitmap_empty(const struct xpv_bitmap *b);
bool xpv_bitmap_equal(const struct xpv_bitmap *a, const struct xpv_bitmap *b);
bool xpv_bitmap_subset(const struct xpv_bitmap *sub, const struct xpv_bitmap *super);
bool xpv_bitmap_intersects(const struct xpv_bitmap *a, const struct xpv_bitmap *b);
void xpv_bitmap_and(struct xpv_bitmap *dst, const struct xpv_bitmap *a, const struct xpv_bitmap *b);
void xpv_bitmap_or(struct xpv_bitmap *dst, const struct xpv_bitmap *a, const struct xpv_bitmap *b);
void xpv_bitmap_andnot(struct xpv_bitmap *dst, const struct xpv_bitmap *a,
                       const struct xpv_bitmap *b);

/* First set bit at or after `from`, or -1. Iterate with:
 *   for (int c = xpv_bitmap_next(b, 0); c >= 0; c = xpv_bitmap_next(b, c + 1)) */
int xpv_bitmap_next(const struct xpv_bitmap *b, unsigned from);
/* Highest set bit, or -1. */
int xpv_bitmap_last(const struct xpv_bitmap *b);

/* Parse a cpulist ("0-3,8"); surrounding whitespace and a trailing newline are accepted.
 * Returns 0, or -EINVAL (syntax) / -ERANGE (a bit >= XPV_MAX_CPUS); *b is untouched on error. */
int xpv_bitmap_parse_list(struct xpv_bitmap *b, const char *s);
/* Parse a kernel hex mask ("00000000,0000000f" as in cpumap); same errors. */
int xpv_bitmap_parse_mask(struct xpv_bitmap *b, const char *s);
/* Format as a cpulist. Returns the length it needs (like snprintf); always NUL-terminates
 * when len > 0. */
size_t xpv_bitmap_format_list(const struct xpv_bitmap *b, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
