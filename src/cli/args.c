/* args.c — argument checks every `xpv` subcommand shares (cli.h): numbers and positionals. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "cli.h"

int xpv_cli_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
                const char *what, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (!*arg || *end || errno || *arg == '-' || v < min || v > max) {
        xpv_cli_err(cmd, "%s wants %s, got '%s'", opt, what, arg);
        return XPV_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int xpv_cli_num(const char *cmd, const char *opt, const char *arg, double min, double max,
                const char *what, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (!*arg || *end || !isfinite(v) || v < min || v > max) {
        xpv_cli_err(cmd, "%s wants %s, got '%s'", opt, what, arg);
        return XPV_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int xpv_cli_positional(const char *cmd, int argc, char **argv, int max, void (*usage)(FILE *))
{
    if (argc - optind <= max)
        return 0;
    xpv_cli_err(cmd, "unexpected argument '%s'", argv[optind + max]);
    usage(stderr);
    return XPV_EXIT_USAGE;
}
