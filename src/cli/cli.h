/*
 * cli.h — what the `xpv` subcommands share: the command table entry and exit codes.
 * Exit status: 0 success, 1 failure (with a message saying what was wrong), 2 bad usage.
 */
#ifndef XPV_CLI_H
#define XPV_CLI_H

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

/* Print "xpv NAME: message" to stderr. */
void xpv_cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
