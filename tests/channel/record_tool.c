/*
 * record_tool.c — test helper (build/tests/record-tool) playing a hostile record owner for the
 * attack tests (tests/channel/attack_*.sh, docs/security.md "Readers"):
 *   record-tool worst PATH      write the most expensive valid record (tu_hostile.h) into
 *                               PATH, sized to the mapping like a publisher's file, with the
 *                               generation after the one already there
 *   record-tool shrink PATH N   truncate the file to N bytes and announce a new generation in
 *                               the header (the body stays the old one): readers that copy
 *                               the announced length from the mapping get SIGBUS
 *   record-tool cost PATH [N]   CPU time of N (default 20) snapshots + every CPU's effective
 *                               node (what xpv-malloc does per generation): the figure of
 *                               docs/malloc.md; prints, asserts nothing
 * Not a publisher: it writes without the seqlock (readers retry or reject what they see).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tu_hostile.h"
#include "xpv/channel.h"
#include "xpv/record.h"

static uint64_t old_generation(int fd)
{
    uint8_t h[32] = {0};
    uint64_t g = 0;
    if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h))
        memcpy(&g, h + 24, sizeof(g)); /* little-endian hosts only: a test helper */
    return g;
}

static int worst(const char *path)
{
    static struct tu_hostile t;
    tu_hostile_make(&t);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return perror(path), 1;
    uint8_t *buf = calloc(1, XPV_RECORD_MAP_SIZE);
    struct xpv_error err = {0};
    long n = xpv_record_encode(&t.d, old_generation(fd) + 1, 0, buf, XPV_RECORD_MAP_SIZE, &err);
    if (n < 0)
        return fprintf(stderr, "encode: %s\n", err.msg), 1;
    if (ftruncate(fd, XPV_RECORD_MAP_SIZE) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return perror(path), 1;
    free(buf);
    close(fd);
    printf("wrote %ld bytes\n", n);
    return 0;
}

static int shrink(const char *path, long size)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return perror(path), 1;
    uint64_t g = old_generation(fd) + 1;
    /* cut first: a reader that sees the new generation must find the file already cut */
    if (ftruncate(fd, size) < 0 ||
        (size >= 32 && pwrite(fd, &g, sizeof(g), 24) != (ssize_t)sizeof(g)))
        return perror(path), 1;
    close(fd);
    return 0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cost(const char *path, int rounds)
{
    struct xpv_channel *ch;
    struct xpv_error err = {0};
    int rc = xpv_channel_open(path, &ch, &err);
    if (rc < 0)
        return fprintf(stderr, "open: %s\n", xpv_error_str(&err, rc)), 1;
    double t0 = cpu_s();
    long sum = 0;
    for (int r = 0; r < rounds; r++) {
        struct xpv_snapshot *s;
        if ((rc = xpv_channel_snapshot(ch, &s, &err)) < 0)
            return fprintf(stderr, "snapshot: %s\n", xpv_error_str(&err, rc)), 1;
        for (unsigned c = 0; c < xpv_snapshot_nr_cpus(s); c++)
            sum += xpv_snapshot_effective_node(s, c);
        xpv_snapshot_put(s);
    }
    double t = (cpu_s() - t0) / rounds;
    printf("%.6f s CPU per snapshot + effective node of every CPU (%d rounds, checksum %ld)\n", t,
           rounds, sum);
    xpv_channel_close(ch);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "worst") == 0)
        return worst(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "shrink") == 0)
        return shrink(argv[2], atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "cost") == 0)
        return cost(argv[2], argc > 3 ? atoi(argv[3]) : 20);
    fprintf(stderr, "usage: record-tool worst PATH | shrink PATH SIZE | cost PATH [ROUNDS]\n");
    return 2;
}
