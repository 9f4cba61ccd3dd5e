/*
 * bench_guestd.c — the CPU cost of one topology change inside a guest, for guests of 4, 64 and
 * 256 vCPUs (docs/guestd.md, "Cost of a change in the guest"): the guest agent taking the
 * host's record and republishing it, and a libxpv reader rebuilding its table, each next to a
 * baseline measured in the same loop.
 *
 * The agent is the real one (src/guestd: guestd_open, guestd_step) on a generated guest sysfs
 * of N vCPUs spread evenly over V vNodes (--vnodes, 4), its region a file and its kick port a
 * socketpair, as tests/guestd does. Per change, this process plays the host daemon: it moves
 * vCPU 1 between the physical nodes of vNodes 2 and 3 (so its effective vNode changes) and
 * publishes as hostd does, the record into the region, then a RECORD frame on the port. Then,
 * each timed on this thread's CPU clock (CLOCK_THREAD_CPUTIME_ID, the clock read's own cost
 * subtracted):
 *
 *   agent     guestd_step(g, 0): read the kick, decode and validate the host record, compute
 *             the effective topology, republish the local record (futex wake), send the ACK
 *   reader    xpv_channel_snapshot of the local record, then the table a runtime keeps (the
 *             effective node of every CPU, as xpv-malloc and libxpv-numa do), snapshot put
 *   (break-down) the agent's decode (xpv_record_decode of a copy of the host's record) and
 *             its effective-node rule (guestd_effective), each called alone
 *   baselines copy: a bare memcpy of the local record's bytes (what a change has to move at
 *             least, timed over 64 copies); publish: xpv_publisher_publish of the agent's own
 *             local description into another file (the republish alone, no decode, no rule)
 *
 * The reader's table is checked against the change every time (the bench stops if the agent
 * did not republish it); timings are never checked. Output: a line per size, then one JSON
 * object as the last line.
 *
 *   bench-guestd [--changes N] [--vnodes V] [--cpus A,B,C] [--help]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guestd.h"
#include "xpv/channel.h"
#include "xpv/frame.h"
#include "xpv/publisher.h"
#include "xpv/record.h"

#define MAX_SIZES  8
#define COPY_REPS  64
#define MAX_VNODES 16

static char root[64];

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-guestd: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (root[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd)) {
        }
    }
    exit(1);
}

__attribute__((format(printf, 2, 3))) static void put(const char *rel, const char *fmt, ...)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The guest: vCPU c in vNode c * V / N; vNode v backed by physical node v. */
static void make_sysfs(unsigned n, unsigned v)
{
    for (unsigned i = 0; i < v; i++) {
        char rel[128], dist[MAX_VNODES * 4 + 2] = "";
        snprintf(rel, sizeof(rel), "sys/devices/system/node/node%u/cpulist", i);
        put(rel, "%u-%u\n", i * n / v, (i + 1) * n / v - 1);
        snprintf(rel, sizeof(rel), "sys/devices/system/node/node%u/meminfo", i);
        put(rel, "Node %u MemTotal:       1048576 kB\n", i);
        size_t off = 0;
        for (unsigned j = 0; j < v; j++)
            off += (size_t)snprintf(dist + off, sizeof(dist) - off, "%s%u", j ? " " : "",
                                    10 + 10 * (i > j ? i - j : j - i));
        snprintf(rel, sizeof(rel), "sys/devices/system/node/node%u/distance", i);
        put(rel, "%s\n", dist);
    }
}

struct host {
    uint32_t ids[MAX_VNODES];
    uint16_t dist[MAX_VNODES * MAX_VNODES];
    struct xpv_record_backing bk[MAX_VNODES];
    uint16_t cpu_p[GUESTD_MAX_CPUS], cpu_v[GUESTD_MAX_CPUS];
    struct xpv_record_desc d;
};

static void host_make(struct host *h, unsigned n, unsigned v)
{
    memset(h, 0, sizeof(*h));
    for (unsigned i = 0; i < v; i++) {
        h->ids[i] = i;
        for (unsigned j = 0; j < v; j++)
            h->dist[i * v + j] = (uint16_t)(10 + 10 * (i > j ? i - j : j - i));
        h->bk[i] = (struct xpv_record_backing){
                .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = UINT64_C(1) << 30};
    }
    for (unsigned c = 0; c < n; c++)
        h->cpu_v[c] = h->cpu_p[c] = (uint16_t)(c * v / n);
    h->d = (struct xpv_record_desc){.nr_pnodes = v,
                                    .nr_vnodes = v,
                                    .nr_cpus = n,
                                    .nr_backing = v,
                                    .pnode_ids = h->ids,
                                    .cpu_pnode = h->cpu_p,
                                    .cpu_vnode = h->cpu_v,
                                    .backing = h->bk,
                                    .distance = h->dist};
}

struct result {
    unsigned cpus, changes;
    size_t host_bytes, local_bytes;
    double host_ns, agent_ns, reader_ns, copy_ns, publish_ns, decode_ns, rule_ns;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of the clock pair's own cost, subtracted from every timed part. */
static uint64_t clock_cost(void)
{
    uint64_t s[1001];
    for (int i = 0; i < 1001; i++) {
        uint64_t a = cpu_ns();
        s[i] = cpu_ns() - a;
    }
    qsort(s, 1001, sizeof(s[0]), cmp_u64);
    return s[500];
}

static double net(uint64_t sum, unsigned n, uint64_t overhead)
{
    double v = (double)sum / n - (double)overhead;
    return v > 0 ? v : 0;
}

static void run_size(unsigned n, unsigned v, unsigned changes, uint64_t clk, struct result *r)
{
    char cmd[160], region[128], local[128], other[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", root);
    if (system(cmd))
        die("cannot clean %s", root);
    make_sysfs(n, v);
    snprintf(region, sizeof(region), "%s/ivshmem", root);
    snprintf(local, sizeof(local), "%s/local-record", root);
    snprintf(other, sizeof(other), "%s/other-record", root);
    struct xpv_error err = {0};
    struct xpv_publisher *hostpub, *otherpub;
    int rc = xpv_publisher_open(region, &hostpub, &err);
    if (rc < 0)
        die("the region %s: %s", region, xpv_error_str(&err, rc));
    if ((rc = xpv_publisher_open(other, &otherpub, &err)) < 0)
        die("%s: %s", other, xpv_error_str(&err, rc));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        die("socketpair: %s", strerror(errno));
    static struct host h;
    host_make(&h, n, v);
    uint64_t gen;
    if ((rc = xpv_publisher_publish(hostpub, &h.d, &gen, &err)) < 0)
        die("host publish: %s", xpv_error_str(&err, rc));
    struct guestd_opts o = {.root = root,
                            .ivshmem = region,
                            .port_fd = sv[0],
                            .port_fd_set = true,
                            .record = local,
                            .poll_ms = 100};
    struct guestd *g;
    if ((rc = guestd_open(&o, &g, &err)) < 0)
        die("guestd_open (%u vCPUs): %s", n, xpv_error_str(&err, rc));
    struct xpv_channel *ch;
    if ((rc = xpv_channel_open(local, &ch, &err)) < 0)
        die("the local record: %s", xpv_error_str(&err, rc));
    size_t cap = xpv_record_size(&h.d) + 64;
    uint8_t *rec = malloc(cap), *frame = malloc(cap + 64), *copy_src = malloc(2 * cap),
            *copy_dst = malloc(2 * cap), ackbuf[4096];
    int *table = calloc(n, sizeof(int));
    /* the agent's steps again, one by one, on their own copies: for the break-down */
    static struct guestd_local loc;
    static struct guestd_topo topo2;
    uint8_t *rec2 = malloc(cap);
    if (!rec || !frame || !copy_src || !copy_dst || !table || !rec2)
        die("out of memory");
    if ((rc = guestd_local_read(root, &loc, &err)) < 0)
        die("guestd_local_read: %s", xpv_error_str(&err, rc));
    memset(copy_src, 0x5a, 2 * cap);
    uint64_t s_host = 0, s_agent = 0, s_reader = 0, s_copy = 0, s_pub = 0, s_dec = 0, s_rule = 0;
    unsigned warm = changes / 10;
    for (unsigned i = 0; i < warm + changes; i++) {
        int want = (int)(2 + (i % 2)); /* vCPU 1 to vNode 2's node, then 3's, ... */
        h.cpu_p[1] = (uint16_t)want;
        /* the host daemon: the region, then the kick */
        uint64_t t0 = cpu_ns();
        if ((rc = xpv_publisher_publish(hostpub, &h.d, &gen, &err)) < 0)
            die("host publish: %s", xpv_error_str(&err, rc));
        long len = xpv_record_encode(&h.d, gen, 0, rec, cap, &err);
        if (len < 0)
            die("encode: %s", xpv_error_str(&err, (int)len));
        long fl = xpv_frame_encode(XPV_FRAME_RECORD, rec, (size_t)len, frame, cap + 64);
        if (fl < 0 || write(sv[1], frame, (size_t)fl) != fl)
            die("the kick frame: %s", fl < 0 ? "encode" : strerror(errno));
        uint64_t t1 = cpu_ns();
        /* the agent */
        if ((rc = guestd_step(g, 0)) < 0)
            die("guestd_step: %s", strerror(-rc));
        uint64_t t2 = cpu_ns();
        /* a reader */
        struct xpv_snapshot *s = NULL;
        if ((rc = xpv_channel_snapshot(ch, &s, &err)) < 0)
            die("reader snapshot: %s", xpv_error_str(&err, rc));
        for (unsigned c = 0; c < n; c++)
            table[c] = xpv_snapshot_effective_node(s, c);
        uint64_t lgen = xpv_snapshot_generation(s);
        xpv_snapshot_put(s);
        uint64_t t3 = cpu_ns();
        /* baselines: the local record's bytes copied; the local record published alone */
        const struct guestd_topo *topo = guestd_topology(g);
        size_t lbytes = xpv_record_size(&topo->desc);
        uint64_t t4 = cpu_ns();
        for (int k = 0; k < COPY_REPS; k++) {
            memcpy(copy_dst + (k & 1) * cap, copy_src + (k & 1) * cap, lbytes);
            __asm__ volatile("" : : "r"(copy_dst) : "memory");
        }
        uint64_t t5 = cpu_ns();
        uint64_t ogen;
        if ((rc = xpv_publisher_publish(otherpub, &topo->desc, &ogen, &err)) < 0)
            die("publish alone: %s", xpv_error_str(&err, rc));
        uint64_t t6 = cpu_ns();
        /* break-down: decode of the host's record (a private copy, as the agent takes it from
         * a kick) and the effective-node rule, each alone */
        memcpy(rec2, rec, (size_t)len);
        uint64_t t7 = cpu_ns();
        struct xpv_record_view view;
        if ((rc = xpv_record_decode(rec2, (size_t)len, &view, &err)) < 0)
            die("decode: %s", xpv_error_str(&err, rc));
        uint64_t t8 = cpu_ns();
        if ((rc = guestd_effective(&view, &loc, &topo2, &err)) < 0)
            die("guestd_effective: %s", xpv_error_str(&err, rc));
        uint64_t t9 = cpu_ns();
        /* the host reads the ACK (not timed) */
        while (read(sv[1], ackbuf, sizeof(ackbuf)) > 0) {
        }
        if (table[1] != want)
            die("%u vCPUs, change %u: the reader sees CPU 1 on node %d, not %d (local generation "
                "%llu): the agent did not republish the change",
                n, i, table[1], want, (unsigned long long)lgen);
        if (i < warm)
            continue;
        s_host += t1 - t0;
        s_agent += t2 - t1;
        s_reader += t3 - t2;
        s_copy += t5 - t4;
        s_pub += t6 - t5;
        s_dec += t8 - t7;
        s_rule += t9 - t8;
        r->local_bytes = lbytes;
        r->host_bytes = (size_t)len;
    }
    r->cpus = n;
    r->changes = changes;
    r->host_ns = net(s_host, changes, clk);
    r->agent_ns = net(s_agent, changes, clk);
    r->reader_ns = net(s_reader, changes, clk);
    r->copy_ns = net(s_copy, changes, clk) / COPY_REPS;
    r->publish_ns = net(s_pub, changes, clk);
    r->decode_ns = net(s_dec, changes, clk);
    r->rule_ns = net(s_rule, changes, clk);
    free(rec);
    free(rec2);
    free(frame);
    free(copy_src);
    free(copy_dst);
    free(table);
    xpv_channel_close(ch);
    guestd_close(g);
    close(sv[0]);
    close(sv[1]);
    xpv_publisher_close(hostpub);
    xpv_publisher_close(otherpub);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-guestd [--changes N] [--vnodes V] [--cpus A,B,C]\n"
               "  the CPU cost of one topology change in a guest of A, B, C vCPUs (4,64,256)\n"
               "  over V vNodes (4): the agent (guestd), a libxpv reader, and two baselines\n"
               "  (a bare copy of the record, the republish alone); N changes each (2000)\n");
}

int main(int argc, char **argv)
{
    unsigned changes = 2000, vnodes = 4, sizes[MAX_SIZES] = {4, 64, 256}, nsizes = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--changes") && i + 1 < argc) {
            changes = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--vnodes") && i + 1 < argc) {
            vnodes = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--cpus") && i + 1 < argc) {
            nsizes = 0;
            for (char *p = argv[++i], *end; *p && nsizes < MAX_SIZES; p = *end ? end + 1 : end) {
                sizes[nsizes++] = (unsigned)strtoul(p, &end, 10);
                if (end == p)
                    break;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (changes < 10 || vnodes < 4 || vnodes > MAX_VNODES || !nsizes) {
        fprintf(stderr, "bench-guestd: --changes wants 10 or more, --vnodes 4 to %d\n", MAX_VNODES);
        return 2;
    }
    for (unsigned k = 0; k < nsizes; k++)
        if (sizes[k] < vnodes || sizes[k] > GUESTD_MAX_CPUS || sizes[k] % vnodes) {
            fprintf(stderr,
                    "bench-guestd: --cpus: %u is not a multiple of the %u vNodes "
                    "between %u and %d\n",
                    sizes[k], vnodes, vnodes, GUESTD_MAX_CPUS);
            return 2;
        }
    snprintf(root, sizeof(root), "/tmp/xpv-bench-guestd-XXXXXX");
    if (!mkdtemp(root))
        die("mkdtemp: %s", strerror(errno));
    uint64_t clk = clock_cost();
    struct result r[MAX_SIZES];
    printf("bench-guestd: one topology change in the guest, CPU time per change (%u changes, "
           "%u vNodes; the thread CPU clock's own %llu ns subtracted)\n",
           changes, vnodes, (unsigned long long)clk);
    for (unsigned k = 0; k < nsizes; k++) {
        run_size(sizes[k], vnodes, changes, clk, &r[k]);
        printf("  %4u vCPUs (host record %zu B, local %zu B): agent %.2f us (of which decode "
               "%.2f, rule %.2f), reader %.2f us | baselines: copy %.3f us, publish alone "
               "%.2f us | agent/publish %.2fx, reader/copy %.0fx, (agent+reader)/publish %.2fx "
               "| host publish+kick %.2f us\n",
               r[k].cpus, r[k].host_bytes, r[k].local_bytes, r[k].agent_ns / 1e3,
               r[k].decode_ns / 1e3, r[k].rule_ns / 1e3, r[k].reader_ns / 1e3, r[k].copy_ns / 1e3,
               r[k].publish_ns / 1e3, r[k].agent_ns / r[k].publish_ns,
               r[k].reader_ns / r[k].copy_ns, (r[k].agent_ns + r[k].reader_ns) / r[k].publish_ns,
               r[k].host_ns / 1e3);
    }
    if (nsizes > 1)
        printf("  growth from %u to %u vCPUs (x%.0f): agent x%.2f, reader x%.2f, copy x%.2f, "
               "publish alone x%.2f\n",
               r[0].cpus, r[nsizes - 1].cpus, (double)r[nsizes - 1].cpus / r[0].cpus,
               r[nsizes - 1].agent_ns / r[0].agent_ns, r[nsizes - 1].reader_ns / r[0].reader_ns,
               r[nsizes - 1].copy_ns / r[0].copy_ns, r[nsizes - 1].publish_ns / r[0].publish_ns);
    printf("{\"vnodes\": %u, \"changes\": %u, \"sizes\": [", vnodes, changes);
    for (unsigned k = 0; k < nsizes; k++)
        printf("%s{\"vcpus\": %u, \"agent_us\": %.2f, \"decode_us\": %.2f, \"rule_us\": %.2f, "
               "\"reader_us\": %.2f, \"copy_us\": %.3f, "
               "\"publish_us\": %.2f, \"host_us\": %.2f, \"agent_vs_publish\": %.2f, "
               "\"reader_vs_copy\": %.1f, \"guest_vs_publish\": %.2f}",
               k ? ", " : "", r[k].cpus, r[k].agent_ns / 1e3, r[k].decode_ns / 1e3,
               r[k].rule_ns / 1e3, r[k].reader_ns / 1e3, r[k].copy_ns / 1e3, r[k].publish_ns / 1e3,
               r[k].host_ns / 1e3, r[k].agent_ns / r[k].publish_ns, r[k].reader_ns / r[k].copy_ns,
               (r[k].agent_ns + r[k].reader_ns) / r[k].publish_ns);
    printf("]}\n");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd)) {
    }
    return 0;
}
