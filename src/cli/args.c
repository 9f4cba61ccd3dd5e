/* args.c — argument checks every `xpv` subcommand shares (cli.h): numbers, durations (the
 * one unit convention of docs/cli.md, "Options common to all subcommands"), positionals, and
 * the warning an old option spelling gets. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* A duration for messages: whole seconds, else milliseconds or microseconds ("10ms"). */
static void format_duration(double s, char *buf, size_t len)
{
    if (s >= 1)
        snprintf(buf, len, "%.15gs", s);
    else if (s >= 1e-3)
        snprintf(buf, len, "%.15gms", s * 1e3);
    else
        snprintf(buf, len, "%.15gus", s * 1e6);
}

int xpv_cli_duration(const char *cmd, const char *opt, const char *arg, double bare_s, double min_s,
                     double max_s, double *out_s, bool *bare)
{
    static const struct {
        const char *suffix;
        double s;
    } units[] = {{"", 0}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}};
    char *end = NULL;
    double v = (*arg >= '0' && *arg <= '9') || *arg == '.' ? strtod(arg, &end) : NAN;
    if (end && strspn(arg, "0123456789.eE+-") < (size_t)(end - arg))
        v = NAN; /* strtod's hexadecimal and other forms */
    double s = NAN;
    for (size_t i = 0; isfinite(v) && i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(end, units[i].suffix)) {
            s = v * (units[i].s ? units[i].s : bare_s);
            if (bare)
                *bare = !units[i].s;
            break;
        }
    /* a relative tolerance: "0.01" is 10ms even though 0.01 is not exactly representable */
    if (!isfinite(s) || s < min_s * (1 - 1e-9) || s > max_s * (1 + 1e-9)) {
        char lo[32], hi[32];
        format_duration(min_s, lo, sizeof(lo));
        format_duration(max_s, hi, sizeof(hi));
        xpv_cli_err(cmd,
                    "%s wants a duration from %s to %s (a number with an optional unit us, ms "
                    "or s; a bare number is %s), got '%s'",
                    opt, lo, hi,
                    bare_s == 1      ? "seconds"
                    : bare_s == 1e-3 ? "milliseconds"
                                     : "microseconds",
                    arg);
        return XPV_EXIT_USAGE;
    }
    *out_s = s;
    return 0;
}

void xpv_cli_deprecated(const char *cmd, const char *old, const char *use)
{
    xpv_cli_err(cmd, "%s is deprecated, use %s", old, use);
}
