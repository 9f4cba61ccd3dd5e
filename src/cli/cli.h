/*
 * cli.h — what the `xpv` subcommands share: the command table entry, exit codes, and the
 * parsing of option values (args.c), durations included.
 * Exit status: 0 success, 1 failure (with a message saying what was wrong), 2 bad usage.
 */
#ifndef XPV_CLI_H
#define XPV_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { XPV_EXIT_OK = 0, XPV_EXIT_FAIL = 1, XPV_EXIT_USAGE = 2 };

struct xpv_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

int xpv_cmd_topo(int argc, char **argv);
int xpv_cmd_publish(int argc, char **argv);
int xpv_cmd_watch(int argc, char **argv);
int xpv_cmd_sim(int argc, char **argv);
int xpv_cmd_carrefour(int argc, char **argv);
int xpv_cmd_hostd(int argc, char **argv);
int xpv_cmd_domains(int argc, char **argv);
int xpv_cmd_metrics(int argc, char **argv);
int xpv_cmd_move(int argc, char **argv);
int xpv_cmd_vcpu_add(int argc, char **argv);
int xpv_cmd_vcpu_del(int argc, char **argv);
int xpv_cmd_vm(int argc, char **argv);
int xpv_cmd_guestd(int argc, char **argv);
int xpv_cmd_qemu_args(int argc, char **argv);
int xpv_cmd_libvirt_xml(int argc, char **argv);

/* Option values: on a bad one, print "xpv CMD: OPT wants WHAT, got 'ARG'" and return
 * XPV_EXIT_USAGE; else store it and return 0. */
int xpv_cli_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
                const char *what, uint64_t *out);
int xpv_cli_num(const char *cmd, const char *opt, const char *arg, double min, double max,
                const char *what, double *out);
/*
 * A duration (docs/cli.md, "Options common to all subcommands"): a decimal number with an
 * optional unit, us, ms or s ("1.5", "1.5s", "250ms", "100us"). A number without a unit
 * counts bare_s seconds each: 1 for seconds, the vocabulary's unit; 1e-3 or 1e-6 where an old
 * spelling (--poll-ms) or an old meaning (xpv vm --timeout) says milliseconds or microseconds.
 * Out of [min_s, max_s] or malformed: "xpv CMD: OPT wants a duration from MIN to MAX (...),
 * got 'ARG'" and XPV_EXIT_USAGE. Else *out_s in seconds, *bare (may be NULL): no unit given.
 */
int xpv_cli_duration(const char *cmd, const char *opt, const char *arg, double bare_s, double min_s,
                     double max_s, double *out_s, bool *bare);
/* An old spelling, still accepted for one release: "xpv CMD: OLD is deprecated, use USE". */
void xpv_cli_deprecated(const char *cmd, const char *old, const char *use);
/* After getopt: more than max positional arguments is a usage error (message, usage). */
int xpv_cli_positional(const char *cmd, int argc, char **argv, int max, void (*usage)(FILE *));

/* Print "xpv NAME: message" to stderr. */
void xpv_cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
