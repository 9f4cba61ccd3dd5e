/*
 * payload.c — the nested lab's second-level guest (lab/payload/README.md): no operating
 * system, a multiboot (v1) image in 32-bit protected mode, paging off. The boot CPU reads its
 * orders from the multiboot command line, starts the other vCPUs (INIT-SIPI-SIPI to all but
 * itself, a real-mode trampoline below 1 MiB), and each vCPU k then touches only the region the
 * pattern gives it, page by page: word 0 of every page := NEST_TAG_MAGIC | k, word 1 := the pass
 * number. It reports on COM1 and ends QEMU through isa-debug-exit.
 *
 * Command line (key=value, other words ignored; sizes take K, M or G):
 *   regions=N   regions (and vCPUs) taking part, 1..NEST_MAX_CPUS          (default 4)
 *   base=B      guest-physical address of region 0                        (default 8M)
 *   stride=S    distance from region k to region k+1                       (default 32M)
 *   size=Z      bytes a region, a multiple of 4 KiB                        (default 4M)
 *   pattern=P   one character a vCPU: vCPU k touches region P[k] (a digit, 0-9 then a-f), '-'
 *               nothing                                           (default 0123...: its own)
 *   passes=N    sweeps of its region every vCPU makes at least              (default 2)
 *   seconds=T   and it keeps sweeping until T seconds have passed (RTC)   (default 0)
 *   wait=1      print "NEST ready" once every vCPU is up, and start touching only when
 *               NEST_GO_BYTE arrives on COM1 (the runner pins vCPU threads meanwhile)
 * Output: "NEST ready cpus=N", then "NEST done passes=a,b,..." (exit NEST_EXIT_OK) or
 * "NEST error <what>" (exit NEST_EXIT_ERROR).
 */
#include <stddef.h>
#include <stdint.h>

#include "payload.h"

#define LAPIC_BASE 0xFEE00000u
#define COM1       0x3F8

extern char tramp_start[], tramp_end[], _end[];

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

static struct {
    uint32_t regions, base, stride, size, passes, seconds, wait;
    char pattern[NEST_MAX_CPUS + 1];
} P = {4, 8u << 20, 32u << 20, 4u << 20, 2, 0, 0, ""};

static volatile uint32_t checked_in, go, stop, finished; /* checked_in, finished: a bit a vCPU */
static volatile uint32_t passes_done[NEST_MAX_CPUS];

/* clang may call these for loops and struct copies. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline void pause(void)
{
    __asm__ volatile("pause" ::: "memory");
}
static inline uint32_t lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(LAPIC_BASE + reg);
}
static inline void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

static void putc_(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}
static void puts_(const char *s)
{
    while (*s)
        putc_(*s++);
}
static void putu(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_(b + i);
}

static __attribute__((noreturn)) void finish(uint8_t code)
{
    outb(NEST_EXIT_PORT, code); /* QEMU exits here with isa-debug-exit */
    for (;;)
        __asm__ volatile("cli; hlt");
}
static __attribute__((noreturn)) void fail(const char *what, uint32_t v)
{
    puts_("NEST error ");
    puts_(what);
    putc_(' ');
    putu(v);
    putc_('\n');
    finish(NEST_EXIT_ERROR);
}

/* The RTC's seconds register: the payload's only clock (it needs whole seconds only). */
static uint32_t rtc_seconds(void)
{
    while (1) {
        outb(0x70, 0x0A);
        if (inb(0x71) & 0x80) /* update in progress */
            continue;
        outb(0x70, 0x00);
        return inb(0x71);
    }
}

/* Seconds since the first call, from the RTC's seconds (BCD unless status B says binary):
 * the seconds passed since the last call, which must come at least once a minute (touch()
 * calls it once a sweep; a sweep takes ~10 s under the sampler, TCG in TCG). Counting only
 * the changes, a sweep slower than a second made seconds=12 last 138 s. */
static uint32_t elapsed_s(void)
{
    static uint32_t last = 0xFFFFFFFF, n;
    uint32_t s = rtc_seconds();
    outb(0x70, 0x0B);
    if (!(inb(0x71) & 0x04))
        s = (s >> 4) * 10 + (s & 0x0F);
    if (last != 0xFFFFFFFF)
        n += (s + 60 - last) % 60;
    last = s;
    return n;
}

static int parse_size(const char *s, const char *e, uint32_t *out)
{
    uint64_t v = 0;
    if (s == e)
        return -1;
    for (; s < e && *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint32_t)(*s - '0');
        if (v > 0xFFFFFFFFu)
            return -1;
    }
    if (s < e) {
        unsigned sh = *s == 'K' ? 10 : *s == 'M' ? 20 : *s == 'G' ? 30 : 99;
        if (sh == 99 || s + 1 != e || v > (0xFFFFFFFFu >> sh))
            return -1;
        v <<= sh;
    }
    *out = (uint32_t)v;
    return 0;
}

static int key_is(const char *s, const char *e, const char *key)
{
    while (s < e && *key && *s == *key)
        s++, key++;
    return !*key && s < e && *s == '=';
}

static void parse_cmdline(const char *c)
{
    static const struct {
        const char *key;
        uint32_t *val;
    } nums[] = {{"regions", &P.regions}, {"base", &P.base},     {"stride", &P.stride},
                {"size", &P.size},       {"passes", &P.passes}, {"seconds", &P.seconds},
                {"wait", &P.wait}};
    while (c && *c) {
        while (*c == ' ')
            c++;
        const char *s = c, *e = c;
        while (*e && *e != ' ')
            e++;
        c = e;
        if (key_is(s, e, "pattern")) {
            s += 8;
            if (e - s > NEST_MAX_CPUS || e == s)
                fail("pattern= wants 1 to NEST_MAX_CPUS characters, got", (uint32_t)(e - s));
            memcpy(P.pattern, s, (size_t)(e - s));
            P.pattern[e - s] = 0;
            continue;
        }
        for (unsigned i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            if (!key_is(s, e, nums[i].key))
                continue;
            const char *v = s;
            while (*v != '=')
                v++;
            if (parse_size(v + 1, e, nums[i].val) < 0) {
                puts_("NEST error bad number in ");
                while (s < e)
                    putc_(*s++);
                putc_('\n');
                finish(NEST_EXIT_ERROR);
            }
        }
    }
}

static int region_of(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* '-': none */
}

/* vCPU k's work: sweep its region until it has made P.passes sweeps and stop is set. */
static void touch(uint32_t k)
{
    int r = region_of(P.pattern[k]);
    uint32_t pass = 0;
    if (r >= 0) {
        uint32_t start = P.base + (uint32_t)r * P.stride;
        while (pass < P.passes || !stop) {
            pass++;
            for (uint32_t off = 0; off < P.size; off += 4096) {
                volatile uint32_t *page = (volatile uint32_t *)(uintptr_t)(start + off);
                page[0] = NEST_TAG_MAGIC | k;
                page[1] = pass;
            }
            passes_done[k] = pass;
            if (k == 0 && pass >= P.passes && elapsed_s() >= P.seconds)
                stop = 1;
        }
    }
    passes_done[k] = pass;
}

void ap_main(uint32_t id);
void ap_main(uint32_t id)
{
    /* a vCPU beyond regions= (QEMU has more than the payload was told) only parks */
    if (id < P.regions) {
        __atomic_fetch_or(&checked_in, 1u << id, __ATOMIC_SEQ_CST);
        while (!go)
            pause();
        touch(id);
        __atomic_fetch_or(&finished, 1u << id, __ATOMIC_SEQ_CST);
    }
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void delay(unsigned n)
{
    while (n--)
        inb(0x80);
}

void bsp_main(uint32_t magic, const struct mb_info *mbi);
void bsp_main(uint32_t magic, const struct mb_info *mbi)
{
    if (magic != 0x2BADB002)
        fail("not started by a multiboot loader: eax", magic);
    parse_cmdline((mbi->flags & 4) ? (const char *)(uintptr_t)mbi->cmdline : NULL);
    if (P.regions < 1 || P.regions > NEST_MAX_CPUS)
        fail("regions= wants 1..16, got", P.regions);
    if (!P.pattern[0]) {
        for (uint32_t k = 0; k < P.regions; k++)
            P.pattern[k] = "0123456789abcdef"[k];
        P.pattern[P.regions] = 0;
    }
    uint32_t n = 0;
    for (; P.pattern[n]; n++) {
        int r = region_of(P.pattern[n]);
        if (P.pattern[n] != '-' && (r < 0 || (uint32_t)r >= P.regions))
            fail("pattern= names a region that is not there, at vCPU", n);
    }
    if (n != P.regions)
        fail("pattern= wants one character per region (regions=), got", n);
    if (!P.size || P.size % 4096 || P.base % 4096 || P.stride < P.size)
        fail("base= and size= want multiples of 4K, size > 0, stride >= size; size", P.size);
    if (P.base < (uint32_t)(uintptr_t)_end)
        fail("base= overlaps the payload, which ends at", (uint32_t)(uintptr_t)_end);
    uint64_t top = (uint64_t)P.base + (uint64_t)(P.regions - 1) * P.stride + P.size;
    if ((mbi->flags & 1) && top > (1u << 20) + (uint64_t)mbi->mem_upper * 1024)
        fail("the regions end above RAM (KiB above 1 MiB):", mbi->mem_upper);

    uint32_t me = lapic_read(0x20) >> 24;
    if (me != 0)
        fail("the boot CPU's APIC id is not 0 but", me);
    lapic_write(0xF0, 0x1FF); /* software-enable the local APIC */
    memcpy((void *)NEST_TRAMPOLINE, tramp_start, (size_t)(tramp_end - tramp_start));
    const uint32_t others = (P.regions == 32 ? 0xFFFFFFFFu : (1u << P.regions) - 1) & ~1u;
    if (P.regions > 1) {
        lapic_write(0x310, 0);
        lapic_write(0x300, 0x000C4500); /* INIT, all excluding self */
        delay(10000);
        for (int i = 0; i < 2; i++) {
            lapic_write(0x310, 0);
            lapic_write(0x300, 0x000C4600 | (NEST_TRAMPOLINE >> 12)); /* start-up */
            delay(1000);
        }
        elapsed_s();
        while (checked_in != others) {
            if (elapsed_s() > 20)
                fail("vCPUs up after 20 s, as a bit mask (did QEMU get -smp regions=?):",
                     checked_in);
            pause();
        }
    }
    puts_("NEST ready cpus=");
    putu(P.regions);
    putc_('\n');
    if (P.wait) {
        while (!(inb(COM1 + 5) & 1) || inb(COM1) != NEST_GO_BYTE)
            pause();
    }
    (void)elapsed_s(); /* the clock starts now */
    go = 1;
    touch(0);
    while (finished != others)
        pause();
    puts_("NEST done passes=");
    for (uint32_t k = 0; k < P.regions; k++) {
        if (k)
            putc_(',');
        putu(passes_done[k]);
    }
    putc_('\n');
    finish(NEST_EXIT_OK);
}
