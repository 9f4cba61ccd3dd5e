/* main.c — `xpv`: dispatch to subcommands (one file per subcommand, cmd_*.c). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xpv_version.h"

static const struct xpv_cmd commands[] = {
        {"topo", "show this machine's (or a saved tree's) NUMA topology", xpv_cmd_topo},
        {"publish", "publish the topology as an XPV record, and keep it current", xpv_cmd_publish},
        {"watch", "print a topology record and every change to it", xpv_cmd_watch},
        {"carrefour", "run Carrefour's page-placement engine on recordings or a live process",
         xpv_cmd_carrefour},
        {"vm", "attach to a QEMU VM over QMP and describe its vCPUs, vNUMA, RAM, channels",
         xpv_cmd_vm},
        {"hostd", "the host daemon: place domains over nodes, publish their topology",
         xpv_cmd_hostd},
        {"domains", "list the running host daemon's domains", xpv_cmd_domains},
        {"metrics", "print the running host daemon's metrics (Prometheus text)", xpv_cmd_metrics},
        {"move", "re-place a domain of the running host daemon", xpv_cmd_move},
        {"vcpu-add", "hot-add a vCPU to a VM of the running host daemon", xpv_cmd_vcpu_add},
        {"vcpu-del", "unplug a vCPU of a VM of the running host daemon", xpv_cmd_vcpu_del},
        {"qemu-args", "print the QEMU options that give a VM the XPV channel", xpv_cmd_qemu_args},
        {"libvirt-xml", "print a libvirt domain XML with the XPV channel and vNUMA",
         xpv_cmd_libvirt_xml},
        {"guestd", "the guest agent: follow the host's record, republish it in the guest",
         xpv_cmd_guestd},
        {"sim",
         "simulate NUMA policies on a machine model (default: VMs re-placed, XPV vs vNUMA...)",
         xpv_cmd_sim},
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

void xpv_cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "xpv %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xpv COMMAND [ARGS...]\n"
               "       xpv --version\n\n"
               "NUMA topology that follows the virtual machine.\n\ncommands:\n");
    for (size_t i = 0; i < NR_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'xpv COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return XPV_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return XPV_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("xpv %s\n", XPV_VERSION);
        return XPV_EXIT_OK;
    }
    for (size_t i = 0; i < NR_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "xpv: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return XPV_EXIT_USAGE;
}
