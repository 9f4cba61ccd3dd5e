/*
 * cmd_publish.c — `xpv publish`: publish this machine's (or a saved tree's) topology as a
 * process-domain record, and keep it current: re-discover every --period (and on
 * SIGHUP) and publish a new generation when anything changed (CPUs on- or offlined, a node's
 * CPUs, memory, distances). The record file stays when the command exits, so readers keep the
 * last topology and the next publisher continues its generation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "xpv/channel.h"
#include "xpv/publisher.h"
#include "xpv/record.h"
#include "xpv/record_build.h"
#include "xpv/topo.h"

static volatile sig_atomic_t got_stop, got_hup;
static void on_stop(int sig)
{
    got_stop = sig;
}
static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv publish [--path FILE] [--root DIR] [--once] [--period DURATION]\n\n"
            "Publish the NUMA topology as an XPV topology record (docs/record-abi.md) that\n"
            "libxpv readers and `xpv watch` follow; republish when it changes.\n\n"
            "  --path FILE       record file (default: $XPV_RECORD, else %s)\n"
            "  --root DIR        describe a saved /sys + /proc tree instead of this machine\n"
            "  --once            publish once and exit\n"
            "  --period DURATION re-discover this often (default 1s; 500ms, 2.5s; a bare\n"
            "                    number is seconds; SIGHUP: now; old spelling: --interval)\n"
            "  -h, --help        show this help\n",
            XPV_CHANNEL_DEFAULT_PATH);
}

int xpv_cmd_publish(int argc, char **argv)
{
    static const struct option opts[] = {
            {"path", required_argument, NULL, 'p'},     {"root", required_argument, NULL, 'r'},
            {"once", no_argument, NULL, 'o'},           {"period", required_argument, NULL, 'P'},
            {"interval", required_argument, NULL, 'I'}, /* the old spelling of --period */
            {"help", no_argument, NULL, 'h'},           {0},
    };
    const char *path = NULL, *root = NULL;
    int once = 0, c;
    double period = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hp:r:oi:", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            path = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'o':
            once = 1;
            break;
        case 'I': /* --interval and -i: the old spellings */
        case 'i':
            xpv_cli_deprecated("publish", c == 'I' ? "--interval" : "-i", "--period");
            /* fall through */
        case 'P':
            if (xpv_cli_duration("publish", "--period", optarg, 1, 0.01, 86400, &period, NULL))
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
    int rc = xpv_cli_positional("publish", argc, argv, 0, usage);
    if (rc)
        return rc;
    if (!path)
        path = xpv_channel_default_path();

    struct xpv_error err = {0};
    struct xpv_publisher *pub = NULL;
    rc = xpv_publisher_open(path, &pub, &err);
    if (rc < 0) {
        xpv_cli_err("publish", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);

    static uint8_t prev[XPV_RECORD_MAP_SIZE], cur[XPV_RECORD_MAP_SIZE];
    long prev_len = -1;
    int status = XPV_EXIT_OK;
    while (!got_stop) {
        struct xpv_topo *t = NULL;
        struct xpv_record_desc d;
        rc = xpv_topo_discover(root, &t, &err);
        if (rc == 0)
            rc = xpv_record_desc_from_topo(t, &d, &err);
        if (rc < 0) {
            xpv_cli_err("publish", "%s", xpv_error_str(&err, rc));
            xpv_topo_free(t);
            status = XPV_EXIT_FAIL;
            break;
        }
        /* generation and time 0, so two encodings differ only if the topology does */
        long len = xpv_record_encode(&d, 0, 0, cur, sizeof(cur), NULL);
        if (len > 0 &&
            (len != prev_len || memcmp(prev + 64, cur + 64, (size_t)len - 64) != 0 || got_hup)) {
            uint64_t gen;
            rc = xpv_publisher_publish(pub, &d, &gen, &err);
            if (rc < 0) {
                xpv_cli_err("publish", "%s", xpv_error_str(&err, rc));
                status = XPV_EXIT_FAIL;
            } else {
                printf("published generation %llu to %s: %u nodes, %u CPUs\n",
                       (unsigned long long)gen, path, d.nr_pnodes, d.nr_cpus);
                fflush(stdout);
                memcpy(prev, cur, (size_t)len);
                prev_len = len;
            }
        }
        got_hup = 0;
        xpv_record_desc_free(&d);
        xpv_topo_free(t);
        if (once || status != XPV_EXIT_OK)
            break;
        struct timespec ts = {.tv_sec = (time_t)period,
                              .tv_nsec = (long)((period - (double)(time_t)period) * 1e9)};
        nanosleep(&ts, NULL); /* a signal cuts it short */
    }
    xpv_publisher_close(pub);
    return status;
}
