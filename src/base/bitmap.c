/*
 * bitmap.c — set operations and the kernel's cpulist / hex-mask text formats for
 * struct xpv_bitmap. Parsers are decoders of external bytes (sysfs, cgroup files, records,
 * command lines): they reject anything out of range and leave the output untouched on error.
 */
#include "xpv/bitmap.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

unsigned xpv_bitmap_weight(const struct xpv_bitmap *b)
{
    unsigned n = 0;
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        n += (unsigned)__builtin_popcountll(b->w[i]);
    return n;
}

bool xpv_bitmap_empty(const struct xpv_bitmap *b)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        if (b->w[i])
            return false;
    return true;
}

bool xpv_bitmap_equal(const struct xpv_bitmap *a, const struct xpv_bitmap *b)
{
    return memcmp(a->w, b->w, sizeof(a->w)) == 0;
}

bool xpv_bitmap_subset(const struct xpv_bitmap *sub, const struct xpv_bitmap *super)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        if (sub->w[i] & ~super->w[i])
            return false;
    return true;
}

bool xpv_bitmap_intersects(const struct xpv_bitmap *a, const struct xpv_bitmap *b)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        if (a->w[i] & b->w[i])
            return true;
    return false;
}

void xpv_bitmap_and(struct xpv_bitmap *dst, const struct xpv_bitmap *a, const struct xpv_bitmap *b)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        dst->w[i] = a->w[i] & b->w[i];
}

void xpv_bitmap_or(struct xpv_bitmap *dst, const struct xpv_bitmap *a, const struct xpv_bitmap *b)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        dst->w[i] = a->w[i] | b->w[i];
}

void xpv_bitmap_andnot(struct xpv_bitmap *dst, const struct xpv_bitmap *a,
                       const struct xpv_bitmap *b)
{
    for (size_t i = 0; i < XPV_BITMAP_WORDS; i++)
        dst->w[i] = a->w[i] & ~b->w[i];
}

int xpv_bitmap_next(const struct xpv_bitmap *b, unsigned from)
{
    if (from >= XPV_MAX_CPUS)
        return -1;
    size_t i = from / 64;
    uint64_t word = b->w[i] & (~UINT64_C(0) << (from % 64));
    for (;;) {
        if (word)
            return (int)(i * 64 + (unsigned)__builtin_ctzll(word));
        if (++i == XPV_BITMAP_WORDS)
            return -1;
        word = b->w[i];
    }
}

int xpv_bitmap_last(const struct xpv_bitmap *b)
{
    for (size_t i = XPV_BITMAP_WORDS; i-- > 0;)
        if (b->w[i])
            return (int)(i * 64 + 63 - (unsigned)__builtin_clzll(b->w[i]));
    return -1;
}

/* Reads a decimal number of at most 9 digits; returns -1 when there is none. */
static long read_uint(const char **p)
{
    const char *s = *p;
    long v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s)) {
        if (++digits > 9)
            return -2;
        v = v * 10 + (*s++ - '0');
    }
    if (!digits)
        return -1;
    *p = s;
    return v;
}

int xpv_bitmap_parse_list(struct xpv_bitmap *out, const char *s)
{
    struct xpv_bitmap b;
    xpv_bitmap_zero(&b);
    while (isspace((unsigned char)*s))
        s++;
    while (*s && !isspace((unsigned char)*s)) {
        long lo = read_uint(&s), hi;
        if (lo == -2)
            return -ERANGE;
        if (lo < 0)
            return -EINVAL;
        hi = lo;
        if (*s == '-') {
            s++;
            hi = read_uint(&s);
            if (hi == -2)
                return -ERANGE;
            if (hi < 0 || hi < lo)
                return -EINVAL;
        }
        if (hi >= XPV_MAX_CPUS)
            return -ERANGE;
        for (long c = lo; c <= hi; c++)
            xpv_bitmap_set(&b, (unsigned)c);
        if (*s == ',') {
            s++;
            if (!isdigit((unsigned char)*s))
                return -EINVAL;
        } else if (*s && !isspace((unsigned char)*s)) {
            return -EINVAL;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return -EINVAL;
    *out = b;
    return 0;
}

int xpv_bitmap_parse_mask(struct xpv_bitmap *out, const char *s)
{
    struct xpv_bitmap b;
    xpv_bitmap_zero(&b);
    while (isspace((unsigned char)*s))
        s++;
    const char *end = s;
    while (isxdigit((unsigned char)*end) || *end == ',')
        end++;
    const char *tail = end;
    while (isspace((unsigned char)*tail))
        tail++;
    if (*tail || end == s)
        return -EINVAL;
    /* Walk hex digits from the least significant end; commas only separate 32-bit groups. */
    unsigned bit = 0;
    for (const char *p = end; p-- > s;) {
        if (*p == ',')
            continue;
        int v = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
        for (int k = 0; k < 4; k++, bit++) {
            if (!(v >> k & 1))
                continue;
            if (bit >= XPV_MAX_CPUS)
                return -ERANGE;
            xpv_bitmap_set(&b, bit);
        }
    }
    *out = b;
    return 0;
}

size_t xpv_bitmap_format_list(const struct xpv_bitmap *b, char *buf, size_t len)
{
    size_t need = 0;
    if (len)
        buf[0] = '\0';
    for (int c = xpv_bitmap_next(b, 0); c >= 0;) {
        int end = c;
        while (end + 1 < XPV_MAX_CPUS && xpv_bitmap_isset(b, (unsigned)end + 1))
            end++;
        char item[32];
        int n = end > c ? snprintf(item, sizeof(item), "%s%d-%d", need ? "," : "", c, end)
                        : snprintf(item, sizeof(item), "%s%d", need ? "," : "", c);
        if (need + (size_t)n < len)
            memcpy(buf + need, item, (size_t)n + 1);
        else if (len)
            buf[len - 1] = '\0';
        need += (size_t)n;
        c = xpv_bitmap_next(b, (unsigned)end + 1);
    }
    return need;
}
