/*
 * test_cf_perf_event.c — Carrefour's perf_event backend (src/carrefour/cf_perf_event_record.c,
 * cf_perf_event.c).
 *
 * The record parser on hand-built rings laid out as include/uapi/linux/perf_event.h says
 * (header, then the sample_type-ordered fields): samples (load, store, no mem_op, kernel
 * addresses), lost records counted, unknown types skipped, records wrapped around the end of
 * the area (header included), truncated and misaligned records, a full output. The probe on
 * fake sysfs trees (IBS op, PEBS with its format files, nothing: the error says what was looked
 * for and what to use). Live, with a software event this host has (page faults carry the data
 * address): the same ring reader on a child touching known pages through a ring small enough
 * to wrap many times, then one engine round on those samples (xpv_cf_live_attach_perf).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tu_cmocka.h"
#include "xpv/cf_live.h"
#include "xpv/cf_perf_event.h"
#include "xpv/ops.h"
#include "xpv/topo.h"

#define ST                                                                                         \
    (PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU | PERF_SAMPLE_DATA_SRC)
#define LOAD  ((uint64_t)PERF_MEM_OP_LOAD << PERF_MEM_OP_SHIFT)
#define STORE ((uint64_t)PERF_MEM_OP_STORE << PERF_MEM_OP_SHIFT)

/* A ring being written: free-running head over data[0..size). */
struct ring {
    uint8_t data[4096];
    uint64_t size, head;
};

static void put(struct ring *r, const void *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->data[(r->head + i) & (r->size - 1)] = ((const uint8_t *)src)[i];
    r->head += n;
}

static void put_hdr(struct ring *r, uint32_t type, uint16_t misc, uint16_t size)
{
    struct perf_event_header h = {.type = type, .misc = misc, .size = size};
    put(r, &h, sizeof(h));
}

static void put64(struct ring *r, uint64_t v)
{
    put(r, &v, 8);
}

static void put32x2(struct ring *r, uint32_t a, uint32_t b)
{
    put(r, &a, 4);
    put(r, &b, 4);
}

/* A sample of sample_type ST: pid/tid, time, addr, cpu/res, data_src. */
static void put_sample(struct ring *r, uint32_t tid, uint64_t addr, uint32_t cpu, uint64_t dsrc,
                       uint16_t misc)
{
    put_hdr(r, PERF_RECORD_SAMPLE, misc, 48);
    put32x2(r, 100, tid);
    put64(r, 123456789);
    put64(r, addr);
    put32x2(r, cpu, 0);
    put64(r, dsrc);
}

static void test_sizes_and_decode(void **state)
{
    (void)state;
    assert_int_equal(xpv_cf_pe_sample_size(ST), 48);
    assert_int_equal(xpv_cf_pe_sample_size(0), 8);
    assert_int_equal(xpv_cf_pe_sample_size(XPV_CF_PE_SAMPLE_KNOWN), 8 + 8 * 15);
    assert_int_equal(xpv_cf_pe_sample_size(PERF_SAMPLE_CALLCHAIN), -ENOTSUP);
    assert_int_equal(xpv_cf_pe_sample_size(PERF_SAMPLE_RAW | PERF_SAMPLE_ADDR), -ENOTSUP);
    assert_int_equal(xpv_cf_pe_mem_op(LOAD), 0);
    assert_int_equal(xpv_cf_pe_mem_op(STORE), 1);
    assert_int_equal(xpv_cf_pe_mem_op(PERF_MEM_OP_NA), -1);
    assert_int_equal(xpv_cf_pe_mem_op(PERF_MEM_OP_PFETCH), -1);

    /* every known field, in the ABI's order, each with a distinct value */
    struct ring r = {.size = 4096};
    put_hdr(&r, PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, 8 + 8 * 15);
    put64(&r, 1);              /* IDENTIFIER */
    put64(&r, 0x401000);       /* IP */
    put32x2(&r, 7, 8);         /* TID */
    put64(&r, 99);             /* TIME */
    put64(&r, 0x7f0000001234); /* ADDR */
    put64(&r, 2);              /* ID */
    put64(&r, 3);              /* STREAM_ID */
    put32x2(&r, 5, 0);         /* CPU */
    put64(&r, 65536);          /* PERIOD */
    put64(&r, 40);             /* WEIGHT */
    put64(&r, STORE);          /* DATA_SRC */
    put64(&r, 0);              /* TRANSACTION */
    put64(&r, 0x12345000);     /* PHYS_ADDR */
    put64(&r, 4096);           /* DATA_PAGE_SIZE */
    put64(&r, 4096);           /* CODE_PAGE_SIZE */
    struct xpv_cf_pe_sample s;
    uint64_t all = XPV_CF_PE_SAMPLE_KNOWN & ~(uint64_t)PERF_SAMPLE_WEIGHT_STRUCT;
    assert_int_equal(xpv_cf_pe_decode(r.data, r.head, all, &s), 0);
    assert_int_equal(s.ip, 0x401000);
    assert_int_equal(s.pid, 7);
    assert_int_equal(s.tid, 8);
    assert_int_equal(s.time, 99);
    assert_int_equal(s.addr, 0x7f0000001234);
    assert_int_equal(s.cpu, 5);
    assert_int_equal(s.period, 65536);
    assert_int_equal(s.data_src, STORE);
    assert_int_equal(s.phys_addr, 0x12345000);
    assert_int_equal(s.misc, PERF_RECORD_MISC_USER);
    assert_int_equal(xpv_cf_pe_decode(r.data, r.head - 8, all, &s), -EINVAL);
}

static void test_parse_records(void **state)
{
    (void)state;
    struct ring r = {.size = 1024};
    put_sample(&r, 11, 0x7f0000001000, 1, LOAD, PERF_RECORD_MISC_USER);
    put_sample(&r, 12, 0x7f0000002008, 3, STORE, PERF_RECORD_MISC_USER);
    put_hdr(&r, PERF_RECORD_LOST, 0, 24); /* id, lost */
    put64(&r, 1);
    put64(&r, 17);
    put_hdr(&r, PERF_RECORD_MMAP, 0, 40); /* unknown to us: skipped whole */
    for (int i = 0; i < 4; i++)
        put64(&r, 0xdeadbeef);
    put_hdr(&r, PERF_RECORD_LOST_SAMPLES, 0, 16);
    put64(&r, 3);
    put_hdr(&r, PERF_RECORD_THROTTLE, 0, 32);
    put64(&r, 0), put64(&r, 0), put64(&r, 0);
    put_hdr(&r, 0x7777, 0, 8); /* a type no kernel has yet */
    put_sample(&r, 13, 0x7f0000003000, 0, PERF_MEM_OP_NA, PERF_RECORD_MISC_USER);
    put_sample(&r, 14, 0, 0, LOAD, PERF_RECORD_MISC_USER);                     /* no address */
    put_sample(&r, 15, 0xffff888000001000ull, 0, LOAD, PERF_RECORD_MISC_USER); /* kernel half */
    put_sample(&r, 16, 0x7f0000004000, 0, LOAD, PERF_RECORD_MISC_KERNEL);      /* kernel mode */
    put_sample(&r, 17, 0x7f0000005000, 9999, LOAD, PERF_RECORD_MISC_USER);     /* bad CPU */
    struct xpv_cf_ring_sample out[16];
    struct xpv_cf_pe_stats st = {0};
    uint64_t tail = 0;
    size_t n = xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out, 16, &st);
    assert_int_equal(tail, r.head);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].addr, 0x7f0000001000);
    assert_int_equal(out[0].cpu, 1);
    assert_int_equal(out[0].tid, 11);
    assert_int_equal(out[0].write, 0);
    assert_int_equal(out[1].addr, 0x7f0000002008);
    assert_int_equal(out[1].cpu, 3);
    assert_int_equal(out[1].write, 1);
    assert_int_equal(out[2].write, 0); /* no mem_op: a read, counted */
    assert_int_equal(st.records, 12);
    assert_int_equal(st.samples, 7);
    assert_int_equal(st.kept, 3);
    assert_int_equal(st.op_unknown, 1);
    assert_int_equal(st.no_addr, 3);
    assert_int_equal(st.bad, 1);
    assert_int_equal(st.lost, 20);
    assert_int_equal(st.lost_records, 2);
    assert_int_equal(st.throttled, 1);
    assert_int_equal(st.other, 2);

    /* without PERF_SAMPLE_CPU the ring's CPU stands in */
    struct ring q = {.size = 64};
    put_hdr(&q, PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, 16);
    put64(&q, 0x7f0000009000);
    memset(&st, 0, sizeof(st));
    tail = 0;
    assert_int_equal(
            xpv_cf_pe_parse(q.data, q.size, q.head, &tail, PERF_SAMPLE_ADDR, 6, out, 16, &st), 1);
    assert_int_equal(out[0].cpu, 6);
    assert_int_equal(out[0].addr, 0x7f0000009000);
    tail = 0;
    assert_int_equal(
            xpv_cf_pe_parse(q.data, q.size, q.head, &tail, PERF_SAMPLE_ADDR, -1, out, 16, &st), 0);
    assert_int_equal(st.bad, 1);
}

/* Records wrapped around the end of the area, the body or the header itself; the output
 * filling up leaves the rest for the next call. */
static void test_parse_wrap(void **state)
{
    (void)state;
    for (uint64_t start = 0; start < 256; start += 8) {
        struct ring r = {.size = 256, .head = 1ull << 40 | start}; /* counters never reset */
        uint64_t tail = r.head;
        for (int i = 0; i < 5; i++) /* 5 x 48 = 240 bytes: wraps wherever it starts */
            put_sample(&r, (uint32_t)i, 0x7f0000000000 + (uint64_t)i * 4096, (uint32_t)i,
                       i & 1 ? STORE : LOAD, PERF_RECORD_MISC_USER);
        struct xpv_cf_ring_sample out[8];
        struct xpv_cf_pe_stats st = {0};
        size_t n = xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out, 2, &st);
        assert_int_equal(n, 2);
        assert_int_equal(tail, r.head - 3 * 48);
        n = xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out + 2, 6, &st);
        assert_int_equal(n, 3);
        assert_int_equal(tail, r.head);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(out[i].addr, 0x7f0000000000 + (uint64_t)i * 4096);
            assert_int_equal(out[i].cpu, i);
            assert_int_equal(out[i].tid, i);
            assert_int_equal(out[i].write, i & 1);
        }
        assert_int_equal(st.bad, 0);
        assert_int_equal(st.records, 5);
    }
}

static void test_parse_malformed(void **state)
{
    (void)state;
    struct xpv_cf_ring_sample out[8];
    struct xpv_cf_pe_stats st = {0};
    /* truncated: the header promises more than head holds; the good record before it stays */
    struct ring r = {.size = 256};
    put_sample(&r, 1, 0x7f0000001000, 0, LOAD, PERF_RECORD_MISC_USER);
    put_hdr(&r, PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, 48);
    put64(&r, 0);
    uint64_t tail = 0;
    assert_int_equal(xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out, 8, &st), 1);
    assert_int_equal(tail, r.head);
    assert_int_equal(st.bad, 1);
    /* a sample shorter than its fields */
    memset(&st, 0, sizeof(st));
    r = (struct ring){.size = 256};
    put_hdr(&r, PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, 16);
    put64(&r, 0x7f0000001000);
    put_sample(&r, 2, 0x7f0000002000, 0, LOAD, PERF_RECORD_MISC_USER);
    tail = 0;
    assert_int_equal(xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out, 8, &st), 1);
    assert_int_equal(out[0].addr, 0x7f0000002000);
    assert_int_equal(st.bad, 1);
    /* sizes 0, 12 (not a multiple of 8), 4 (below the header), and 4 stray bytes */
    static const uint16_t sizes[] = {0, 12, 4};
    for (int i = 0; i < 3; i++) {
        memset(&st, 0, sizeof(st));
        r = (struct ring){.size = 256};
        put_hdr(&r, PERF_RECORD_SAMPLE, 0, sizes[i]);
        put64(&r, 0), put64(&r, 0);
        tail = 0;
        assert_int_equal(xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out, 8, &st), 0);
        assert_int_equal(tail, r.head);
        assert_int_equal(st.bad, 1);
    }
    memset(&st, 0, sizeof(st));
    r = (struct ring){.size = 256};
    put_sample(&r, 3, 0x7f0000003000, 0, LOAD, PERF_RECORD_MISC_USER);
    put32x2(&r, 0, 0);
    r.head -= 4;
    tail = 0;
    assert_int_equal(xpv_cf_pe_parse(r.data, r.size, r.head, &tail, ST, -1, out, 8, &st), 1);
    assert_int_equal(tail, r.head);
    assert_int_equal(st.bad, 1);
    /* more bytes between tail and head than the ring holds; a ring size not a power of two;
     * a sample_type with variable-size fields */
    memset(&st, 0, sizeof(st));
    tail = 0;
    assert_int_equal(xpv_cf_pe_parse(r.data, 256, 4096, &tail, ST, -1, out, 8, &st), 0);
    assert_int_equal(tail, 4096);
    tail = 0;
    assert_int_equal(xpv_cf_pe_parse(r.data, 192, 48, &tail, ST, -1, out, 8, &st), 0);
    tail = 0;
    assert_int_equal(
            xpv_cf_pe_parse(r.data, 256, 48, &tail, ST | PERF_SAMPLE_CALLCHAIN, -1, out, 8, &st),
            0);
    assert_int_equal(st.bad, 3);
    assert_int_equal(st.kept, 0);
}

/* ---- probe on fake sysfs trees ------------------------------------------------------------ */

static void write_file(const char *root, const char *rel, const char *text)
{
    char path[512], cmd[600];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void rm_tree(const char *root)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

#define DEV "sys/bus/event_source/devices/"

static void test_probe(void **state)
{
    (void)state;
    char root[] = "/tmp/xpv-cfpe-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct xpv_cf_pe_spec spec;
    struct xpv_error err = {0};

    /* nothing but software events: -ENODEV, saying what was looked for and what to use */
    write_file(root, DEV "software/type", "1\n");
    assert_int_equal(xpv_cf_pe_probe(root, 0, &spec, &err), -ENODEV);
    assert_non_null(strstr(err.msg, "ibs_op/type"));
    assert_non_null(strstr(err.msg, "events/mem-loads"));
    assert_non_null(strstr(err.msg, "--sampler soft"));
    assert_non_null(strstr(err.msg, "--perf-script"));

    /* Intel: mem-loads with ldlat in config1, mem-stores */
    write_file(root, DEV "cpu/type", "4\n");
    write_file(root, DEV "cpu/format/event", "config:0-7\n");
    write_file(root, DEV "cpu/format/umask", "config:8-15\n");
    write_file(root, DEV "cpu/format/ldlat", "config1:0-15\n");
    write_file(root, DEV "cpu/format/split", "config:16-17,32-33\n");
    write_file(root, DEV "cpu/events/mem-loads", "event=0xcd,umask=0x1,ldlat=3\n");
    write_file(root, DEV "cpu/events/mem-stores", "event=0xd0,umask=0x82\n");
    assert_int_equal(xpv_cf_pe_probe(root, 0, &spec, &err), 0);
    assert_int_equal(spec.nr, 2);
    int ld = strstr(spec.ev[0].name, "mem-loads") ? 0 : 1;
    assert_string_equal(spec.ev[ld].name, "cpu/mem-loads/");
    assert_int_equal(spec.ev[ld].type, 4);
    assert_int_equal(spec.ev[ld].config, 0x1cd);
    assert_int_equal(spec.ev[ld].config1, 3);
    assert_int_equal(spec.ev[1 - ld].config, 0x82d0);
    assert_int_equal(spec.ev[ld].period, 10007);
    assert_true(spec.ev[ld].precise_ip > 0);
    assert_true(spec.ev[ld].sample_type & PERF_SAMPLE_DATA_SRC);
    uint64_t cfg[3];
    char fmt[300];
    snprintf(fmt, sizeof(fmt), "%s/" DEV "cpu/format", root);
    assert_int_equal(xpv_cf_pe_encode(fmt, "split=0xf,event=1", cfg, &err), 0);
    assert_int_equal(cfg[0], 0x300030001ull);
    assert_int_equal(xpv_cf_pe_encode(fmt, "split=0x10", cfg, &err), -ERANGE);
    assert_int_equal(xpv_cf_pe_encode(fmt, "nosuch=1", cfg, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "nosuch"));

    /* AMD: ibs_op wins, with the given period */
    write_file(root, DEV "ibs_op/type", "11\n");
    assert_int_equal(xpv_cf_pe_probe(root, 131072, &spec, &err), 0);
    assert_int_equal(spec.nr, 1);
    assert_string_equal(spec.ev[0].name, "ibs_op");
    assert_int_equal(spec.ev[0].type, 11);
    assert_int_equal(spec.ev[0].period, 131072);
    rm_tree(root);
}

/* ---- live: the ring reader on a software event ------------------------------------------- */

#define PAGES   1024
#define BATCHES 16 /* 64 pages, 2 KiB of records: half the ring */

/* The child maps PAGES pages and EXTRA more, says where, touches a batch of the first each time
 * it reads a byte, then the EXTRA pages, then waits for the pipe to close. */
#define EXTRA 64
static void child(int cmd, int rep)
{
    char *buf = mmap(NULL, (PAGES + EXTRA) * 4096ul, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        _exit(2);
    uintptr_t a = (uintptr_t)buf;
    if (write(rep, &a, sizeof(a)) != sizeof(a))
        _exit(3);
    char c;
    for (int b = 0; b <= BATCHES; b++) {
        if (read(cmd, &c, 1) != 1)
            _exit(4);
        int lo = b * PAGES / BATCHES, hi = b < BATCHES ? (b + 1) * PAGES / BATCHES : PAGES + EXTRA;
        for (int i = lo; i < hi; i++)
            buf[(size_t)i * 4096 + 8] = (char)i;
        if (write(rep, &c, 1) != 1)
            _exit(5);
    }
    if (read(cmd, &c, 1) != 0)
        _exit(6);
    _exit(0);
}

static void test_live_page_faults(void **state)
{
    (void)state;
    int cmd[2], rep[2];
    assert_int_equal(pipe(cmd), 0);
    assert_int_equal(pipe(rep), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(cmd[1]);
        close(rep[0]);
        child(cmd[0], rep[1]);
    }
    close(cmd[0]);
    close(rep[1]);
    uintptr_t buf;
    assert_int_equal(read(rep[0], &buf, sizeof(buf)), sizeof(buf));

    struct xpv_cf_pe_spec spec = {.nr = 1};
    snprintf(spec.ev[0].name, sizeof(spec.ev[0].name), "page-faults");
    spec.ev[0].type = PERF_TYPE_SOFTWARE;
    spec.ev[0].config = PERF_COUNT_SW_PAGE_FAULTS;
    spec.ev[0].period = 1;
    spec.ev[0].sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU;
    spec.ev[0].exclude_kernel = true;
    struct xpv_cf_pe *pe = NULL;
    struct xpv_error err = {0};
    /* one data page per CPU: 128 records of 32 bytes, so 1024 faults wrap it 8 times */
    int rc = xpv_cf_pe_open(pid, &spec, 1, false, &pe, &err);
    if (rc == -EACCES || rc == -EPERM || rc == -ENOSYS || rc == -ENODEV) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        xpv_skip("perf_event_open not available here: %s", err.msg);
    }
    assert_int_equal(rc, 0);

    static struct xpv_cf_ring_sample out[4 * PAGES];
    size_t n = 0;
    char c = 'x';
    for (int b = 0; b < BATCHES; b++) {
        assert_int_equal(write(cmd[1], &c, 1), 1);
        assert_int_equal(read(rep[0], &c, 1), 1);
        n += xpv_cf_pe_drain(pe, out + n, sizeof(out) / sizeof(out[0]) - n);
    }
    struct xpv_cf_pe_stats st;
    xpv_cf_pe_stats(pe, &st);
    static unsigned char seen[PAGES];
    size_t in = 0;
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].tid, pid);
        assert_true(out[i].cpu < (uint32_t)ncpu);
        assert_int_equal(out[i].write, 0); /* no data_src: unknown, counted as reads */
        if (out[i].addr >= buf && out[i].addr < buf + PAGES * 4096ul) {
            in++;
            seen[(out[i].addr - buf) / 4096] = 1;
        }
    }
    size_t distinct = 0;
    for (int i = 0; i < PAGES; i++)
        distinct += seen[i];
    print_message("%zu samples, %zu in the child's buffer, %zu of %d pages, lost %llu, "
                  "records %llu, bad %llu\n",
                  n, in, distinct, PAGES, (unsigned long long)st.lost,
                  (unsigned long long)st.records, (unsigned long long)st.bad);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.lost, 0);
    assert_int_equal(distinct, PAGES); /* every touched page faulted once, each one sampled */
    assert_true(in >= PAGES);
    assert_int_equal(st.op_unknown, n);

    /* the engine's round on the same backend (a second handle; the first is drained) */
    struct xpv_cf_pe *pe2 = NULL;
    assert_int_equal(xpv_cf_pe_open(pid, &spec, 8, false, &pe2, &err), 0);
    xpv_cf_pe_free(pe);
    struct xpv_topo *t = NULL;
    assert_int_equal(xpv_topo_discover(NULL, &t, &err), 0);
    struct xpv_ops *ops = xpv_ops_linux_new(t, &err);
    assert_non_null(ops);
    struct xpv_cf_params p;
    xpv_cf_params_lp(&p);
    p.maptu_min = 0;
    struct xpv_cf_live *l = NULL;
    assert_int_equal(xpv_cf_live_attach_perf(pid, pe2, t, ops, &p, 1, &l, &err), 0);
    /* the child touches its EXTRA pages: one round sees them, all present (dry run) */
    assert_int_equal(write(cmd[1], &c, 1), 1);
    assert_int_equal(read(rep[0], &c, 1), 1);
    struct xpv_cf_live_round lr;
    assert_int_equal(xpv_cf_live_round(l, true, &lr, &err), 0);
    print_message("live round: %u samples, %u pages, %u gone, LAR %.1f%%\n", lr.samples, lr.pages,
                  lr.gone, lr.m.lar);
    assert_true(lr.samples >= EXTRA);
    assert_true(lr.pages >= EXTRA);
    assert_int_equal(lr.dropped, 0);
    assert_int_equal(lr.bad, 0);
    assert_int_equal(lr.read_ratio, 100);

    /* the child ends; reap it */
    close(cmd[1]);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    close(rep[0]);
    xpv_cf_live_free(l);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sizes_and_decode),
            cmocka_unit_test(test_parse_records),
            cmocka_unit_test(test_parse_wrap),
            cmocka_unit_test(test_parse_malformed),
            cmocka_unit_test(test_probe),
            cmocka_unit_test(test_live_page_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
