/* cmd_topo.c — `xpv topo`: discover and print a NUMA topology. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "xpv/topo.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xpv topo [--root DIR] [--json]\n\n"
               "Show the NUMA nodes, their CPUs and memory, and the distance matrix.\n\n"
               "  --root DIR  read a saved /sys + /proc tree under DIR instead of this machine\n"
               "              (DIR contains sys/ and proc/, as hwloc's HWLOC_FSROOT)\n"
               "  --json      print one JSON object: "
               "{\"nodes\":[{\"id\",\"cpus\",\"memory_mb\",...}],\n"
               "              \"distances\":[[...]], ...} (schema in docs/cli.md)\n"
               "  -h, --help  show this help\n");
}

int xpv_cmd_topo(int argc, char **argv)
{
    static const struct option opts[] = {
            {"root", required_argument, NULL, 'r'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *root = NULL;
    int json = 0, c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hr:j", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            root = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if ((rc = xpv_cli_positional("topo", argc, argv, 0, usage)))
        return rc;
    struct xpv_topo *t;
    struct xpv_error err = {0};
    rc = xpv_topo_discover(root, &t, &err);
    if (rc < 0) {
        xpv_cli_err("topo", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    if (json)
        rc = xpv_topo_print_json(stdout, t);
    else
        xpv_topo_print(stdout, t);
    xpv_topo_free(t);
    if (rc < 0 || fflush(stdout) != 0) {
        xpv_cli_err("topo", "could not write the output");
        return XPV_EXIT_FAIL;
    }
    return XPV_EXIT_OK;
}
