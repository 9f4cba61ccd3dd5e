/*
 * cmd_watch.c — `xpv watch [PATH]`: follow a topology record and print every generation —
 * the one there now, then each change — as text (with what moved) or as JSON lines.
 * A record that fails validation is reported and skipped; watching goes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "xpv/channel.h"

static volatile sig_atomic_t got_stop;
static void on_stop(int sig)
{
    got_stop = sig;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv watch [PATH] [--json] [--count N] [--timeout DURATION]\n\n"
            "Print the topology record at PATH (default: $XPV_RECORD, else %s),\n"
            "then every new generation as it is published.\n\n"
            "  --json              one JSON object per line on stdout (schema in docs/cli.md)\n"
            "  --count N           exit after printing N generations\n"
            "  --timeout DURATION  exit with status 1 if no new generation comes within it\n"
            "                      (30, 30s, 500ms: a bare number is seconds)\n"
            "  -h, --help          show this help\n",
            XPV_CHANNEL_DEFAULT_PATH);
}

static void iso_time(uint64_t ns, char *buf, size_t len)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
}

static json_t *int_array_of_cpus(const struct xpv_bitmap *b)
{
    json_t *a = json_array();
    for (int c = xpv_bitmap_next(b, 0); c >= 0; c = xpv_bitmap_next(b, (unsigned)c + 1))
        json_array_append_new(a, json_integer(c));
    return a;
}

static void print_json(const struct xpv_snapshot *s)
{
    unsigned n = xpv_snapshot_nr_nodes(s), nc = xpv_snapshot_nr_cpus(s);
    json_t *root = json_object(), *nodes = json_array(), *dist = json_array(), *cpus = json_array();
    for (unsigned i = 0; i < n; i++) {
        int id = xpv_snapshot_node_id(s, i);
        struct xpv_bitmap b;
        xpv_snapshot_node_cpus(s, id, &b);
        json_array_append_new(nodes, json_pack("{s:i, s:o, s:I}", "id", id, "cpus",
                                               int_array_of_cpus(&b), "memory_bytes",
                                               (json_int_t)xpv_snapshot_node_memory(s, id)));
        json_t *row = json_array();
        for (unsigned j = 0; j < n; j++)
            json_array_append_new(
                    row, json_integer(xpv_snapshot_distance(s, id, xpv_snapshot_node_id(s, j))));
        json_array_append_new(dist, row);
    }
    for (unsigned c = 0; c < nc; c++) {
        int node = xpv_snapshot_cpu_node(s, c);
        json_array_append_new(cpus, node < 0 ? json_null() : json_integer(node));
    }
    json_object_set_new(root, "generation", json_integer((json_int_t)xpv_snapshot_generation(s)));
    json_object_set_new(root, "timestamp_ns",
                        json_integer((json_int_t)xpv_snapshot_timestamp_ns(s)));
    json_object_set_new(root, "nodes", nodes);
    json_object_set_new(root, "distances", dist);
    json_object_set_new(root, "cpu_node", cpus);
    json_dumpf(root, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(root);
}

static void print_text(const struct xpv_snapshot *s, const struct xpv_snapshot *prev)
{
    char when[64];
    unsigned n = xpv_snapshot_nr_nodes(s), nc = xpv_snapshot_nr_cpus(s);
    iso_time(xpv_snapshot_timestamp_ns(s), when, sizeof(when));
    printf("generation %" PRIu64 " (published %s): %u nodes, %u CPUs\n", xpv_snapshot_generation(s),
           when, n, nc);
    for (unsigned i = 0; i < n; i++) {
        int id = xpv_snapshot_node_id(s, i);
        struct xpv_bitmap b;
        char list[512];
        xpv_snapshot_node_cpus(s, id, &b);
        xpv_bitmap_format_list(&b, list, sizeof(list));
        printf("  node %3d  cpus %-20s memory %8.1f MiB\n", id, *list ? list : "-",
               (double)xpv_snapshot_node_memory(s, id) / (1 << 20));
    }
    if (!prev)
        return;
    unsigned moved = 0;
    for (unsigned c = 0; c < nc || c < xpv_snapshot_nr_cpus(prev); c++) {
        int a = xpv_snapshot_cpu_node(prev, c), b = xpv_snapshot_cpu_node(s, c);
        if (a == b)
            continue;
        char from[16], to[16];
        snprintf(from, sizeof(from), a < 0 ? "-" : "node %d", a);
        snprintf(to, sizeof(to), b < 0 ? "-" : "node %d", b);
        printf("  cpu %u: %s -> %s\n", c, from, to);
        moved++;
    }
    if (!moved)
        printf("  (no CPU changed node)\n");
}

int xpv_cmd_watch(int argc, char **argv)
{
    static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"count", required_argument, NULL, 'c'},
            {"timeout", required_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    int json = 0, c;
    long count = -1;
    uint64_t n;
    double timeout = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hjc:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'c':
            if (xpv_cli_u64("watch", "--count", optarg, 1, LONG_MAX, "a positive number", &n))
                return XPV_EXIT_USAGE;
            count = (long)n;
            break;
        case 't':
            if (xpv_cli_duration("watch", "--timeout", optarg, 1, 0.001, 1e6, &timeout, NULL))
                return XPV_EXIT_USAGE;
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (xpv_cli_positional("watch", argc, argv, 1, usage))
        return XPV_EXIT_USAGE;
    const char *path = optind < argc ? argv[optind] : NULL;
    struct xpv_error err = {0};
    struct xpv_channel *ch;
    int rc = xpv_channel_open(path, &ch, &err);
    if (rc < 0) {
        xpv_cli_err("watch", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct xpv_snapshot *prev = NULL;
    uint64_t seen = 0;
    long printed = 0;
    int status = XPV_EXIT_OK;
    while (!got_stop && (count < 0 || printed < count)) {
        /* wait in slices so a signal is noticed; the futex wakes us on a publish. The wait
         * returns at once when the generation already differs, and (unlike a bare
         * xpv_channel_generation) leaves a record truncated to nothing alone (docs/channel.md) */
        int slice = 200, waited = 0;
        while (!got_stop && (rc = xpv_channel_wait(ch, seen, slice)) == -ETIMEDOUT) {
            waited += slice;
            if (timeout > 0 && waited >= timeout * 1000)
                break;
        }
        if (got_stop)
            break;
        if (rc == -ETIMEDOUT) {
            xpv_cli_err("watch", "no new generation within %g s", timeout);
            status = XPV_EXIT_FAIL;
            break;
        }
        uint64_t gen = xpv_channel_generation(ch);
        struct xpv_snapshot *s = NULL;
        rc = xpv_channel_snapshot(ch, &s, &err);
        if (rc == -ENODATA) {
            seen = gen;
            continue;
        }
        if (rc < 0) {
            xpv_cli_err("watch", "generation %" PRIu64 " rejected: %s", gen,
                        xpv_error_str(&err, rc));
            xpv_snapshot_put(s);
            seen = gen;
            continue;
        }
        seen = xpv_snapshot_generation(s);
        if (json)
            print_json(s);
        else
            print_text(s, prev);
        printed++;
        xpv_snapshot_put(prev);
        prev = s;
    }
    xpv_snapshot_put(prev);
    xpv_channel_close(ch);
    return status;
}
