/*
 * cmd_vm.c — `xpv vm --qmp SOCKET`: attach to a running QEMU over QMP and print what the host
 * daemon would know about it (xpv_vm_describe: vCPU threads, vNUMA layout, guest RAM ranges,
 * channel devices), as a table or JSON. Read-only: it changes nothing in the VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "xpv/qmp.h"
#include "xpv/vmdesc.h"

#define CMD "vm"

static void usage(FILE *f)
{
    fprintf(f, "usage: xpv vm --qmp SOCKET [--json] [--serial-name NAME] [--timeout DURATION]\n"
               "       xpv vm --qmp SOCKET --execute COMMAND [--args JSON]\n\n"
               "Attach to a running QEMU through its QMP socket (-qmp unix:SOCKET,server=on)\n"
               "and describe it: vCPU threads and their guest nodes, vNUMA nodes and distances,\n"
               "memory backends with their guest node and host address range in QEMU, the\n"
               "ivshmem device's file and the XPV virtio-serial port (docs/vm-attach.md).\n"
               "Nothing in the VM is changed.\n\n"
               "With --execute, run one QMP command instead (e.g. device_add, object-add,\n"
               "query-hotpluggable-cpus) with the arguments object JSON, and print its return\n"
               "value as JSON; exit 1 with QEMU's error class and message when it refuses.\n\n"
               "  --qmp SOCKET        QEMU's QMP unix socket\n"
               "  --json              one JSON object on stdout instead of tables\n"
               "  --serial-name NAME  the virtserialport to report (default: the first org.xpv.*)\n"
               "  --timeout DURATION  bound on every wait for QEMU (default 5s; 500ms, 2.5s; a\n"
               "                      bare number is still milliseconds here, deprecated)\n"
               "  --proc-root DIR     read DIR/proc/PID/... instead of /proc (fixtures)\n"
               "  --execute COMMAND   run this QMP command (see above)\n"
               "  --args JSON         its arguments, a JSON object\n"
               "  -h, --help          show this help\n");
}

static const char *mib(uint64_t bytes, char *buf, size_t len)
{
    if (bytes % (1u << 20) == 0)
        snprintf(buf, len, "%" PRIu64 " MiB", bytes >> 20);
    else
        snprintf(buf, len, "%" PRIu64 " B", bytes);
    return buf;
}

static void print_table(const struct xpv_vm_desc *d)
{
    char b1[32];
    printf("VM '%s': QEMU pid %d, QEMU %u.%u.%u\n", d->name, (int)d->pid, d->version[0],
           d->version[1], d->version[2]);
    printf("\nvCPUs (%u)\n  %-6s %-8s %s\n", d->nr_vcpus, "vcpu", "thread", "vnode");
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        char node[16] = "-";
        if (d->vcpu[i].vnode >= 0)
            snprintf(node, sizeof(node), "%d", d->vcpu[i].vnode);
        printf("  %-6u %-8d %s%s\n", d->vcpu[i].index, (int)d->vcpu[i].tid, node,
               d->vcpu[i].flags & XPV_VM_VCPU_TID_MISSING ? "  (thread not found)" : "");
    }
    printf("\nvNUMA nodes (%u)\n", d->nr_vnodes);
    if (d->nr_vnodes) {
        printf("  %-5s %-10s %s\n", "node", "memory", "distances");
        for (unsigned n = 0; n < d->nr_vnodes; n++) {
            printf("  %-5u %-10s", n, mib(d->vnode_mem[n], b1, sizeof(b1)));
            if (!d->vdist[n][n])
                printf(" (not set: no SLIT)");
            else
                for (unsigned k = 0; k < d->nr_vnodes; k++)
                    printf(" %u", d->vdist[n][k]);
            printf("\n");
        }
    }
    printf("\nguest RAM backends (%u)\n  %-12s %-22s %-5s %-10s %-18s %s\n", d->nr_ram, "id",
           "type", "vnode", "size", "host address", "found by");
    for (unsigned i = 0; i < d->nr_ram; i++) {
        const struct xpv_vm_ram *m = &d->ram[i];
        char node[16] = "-", hva[24] = "-", how[80];
        if (m->vnode >= 0)
            snprintf(node, sizeof(node), "%d", m->vnode);
        if (m->hva)
            snprintf(hva, sizeof(hva), "0x%" PRIx64, m->hva);
        if (m->flags & XPV_VM_RAM_HVA_BY_NAME)
            snprintf(how, sizeof(how), "mem-path %s", m->mem_path);
        else if (m->flags & XPV_VM_RAM_HVA_BY_SIZE)
            snprintf(how, sizeof(how), "size (the only unnamed RAM mapping that fits)");
        else if (m->flags & XPV_VM_RAM_HVA_AMBIGUOUS)
            snprintf(how, sizeof(how), "ambiguous: %u mappings fit", m->candidates);
        else
            snprintf(how, sizeof(how), "not found");
        printf("  %-12s %-22s %-5s %-10s %-18s %s%s\n", m->id, m->type, node,
               mib(m->size, b1, sizeof(b1)), hva, how,
               m->flags & XPV_VM_RAM_DIMM ? " [memory device]" : "");
    }
    printf("\nchannels\n");
    if (d->ivshmem_id[0])
        printf("  ivshmem-plain  backend %s, %s, file %s\n", d->ivshmem_id,
               mib(d->ivshmem_size, b1, sizeof(b1)), d->ivshmem_path[0] ? d->ivshmem_path : "-");
    else
        printf("  ivshmem-plain  none\n");
    if (d->serial_name[0])
        printf("  virtserialport %s on chardev %s, socket %s\n", d->serial_name, d->serial_chardev,
               d->serial_socket[0] ? d->serial_socket : "-");
    else
        printf("  virtserialport none named org.xpv.*\n");
    if (d->nr_notes) {
        printf("\nnotes\n");
        for (const char *p = d->notes; *p;) {
            const char *nl = strchr(p, '\n');
            int n = nl ? (int)(nl - p) : (int)strlen(p);
            printf("  %.*s\n", n, p);
            p += n + (nl ? 1 : 0);
        }
    }
}

int xpv_cmd_vm(int argc, char **argv)
{
    static const struct option opts[] = {
            {"qmp", required_argument, NULL, 'q'},
            {"json", no_argument, NULL, 'j'},
            {"serial-name", required_argument, NULL, 's'},
            {"timeout", required_argument, NULL, 't'},
            {"proc-root", required_argument, NULL, 'r'},
            {"execute", required_argument, NULL, 'e'},
            {"args", required_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *sock = NULL, *execute = NULL, *args = NULL;
    struct xpv_vm_describe_opts dopts = {0};
    double timeout = 5; /* seconds */
    bool bare;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq:j", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            sock = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            dopts.serial_name = optarg;
            break;
        case 'r':
            dopts.procroot = optarg;
            break;
        case 'e':
            execute = optarg;
            break;
        case 'a':
            args = optarg;
            break;
        case 't':
            /* bare: milliseconds, its old meaning, for one more release (docs/cli.md) */
            if (xpv_cli_duration(CMD, "--timeout", optarg, 1e-3, 1e-3, INT_MAX / 1e3, &timeout,
                                 &bare))
                return XPV_EXIT_USAGE;
            if (bare)
                xpv_cli_err(CMD,
                            "--timeout %s: a number without a unit means milliseconds here, "
                            "for now (deprecated: write %sms, or give seconds as in 5s)",
                            optarg, optarg);
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (xpv_cli_positional(CMD, argc, argv, 0, usage))
        return XPV_EXIT_USAGE;
    if (!sock) {
        xpv_cli_err(CMD, "give --qmp SOCKET (see --help)");
        return XPV_EXIT_USAGE;
    }
    json_t *jargs = NULL;
    if (args) {
        json_error_t je;
        if (!execute || !(jargs = json_loads(args, 0, &je)) || !json_is_object(jargs)) {
            xpv_cli_err(CMD, "--args wants a JSON object and --execute%s%s",
                        jargs || !execute ? "" : ": ", jargs || !execute ? "" : je.text);
            json_decref(jargs);
            return XPV_EXIT_USAGE;
        }
    }
    struct xpv_error err = {0};
    struct xpv_qmp *q;
    double ms = ceil(timeout * 1e3 - 1e-6); /* >= 1: the duration's minimum */
    int timeout_ms = ms > INT_MAX ? INT_MAX : (int)ms;
    int rc = xpv_qmp_open(sock, timeout_ms, &q, &err);
    if (rc < 0) {
        json_decref(jargs);
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    if (execute) {
        json_t *ret = NULL;
        rc = xpv_qmp_call(q, execute, jargs, &ret, &err); /* takes jargs */
        xpv_qmp_close(q);
        if (rc < 0) {
            xpv_cli_err(CMD, "%s: %s", execute, xpv_error_str(&err, rc));
            return XPV_EXIT_FAIL;
        }
        if (ret)
            json_dumpf(ret, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', stdout);
        json_decref(ret);
        return fflush(stdout) == 0 ? XPV_EXIT_OK : XPV_EXIT_FAIL;
    }
    struct xpv_vm_desc *d = malloc(sizeof(*d));
    if (!d) {
        xpv_qmp_close(q);
        xpv_cli_err(CMD, "out of memory");
        return XPV_EXIT_FAIL;
    }
    rc = xpv_vm_describe_ex(q, &dopts, d, &err);
    xpv_qmp_close(q);
    int status = XPV_EXIT_OK;
    if (rc < 0) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        status = XPV_EXIT_FAIL;
    } else if (json) {
        json_t *o = xpv_vm_desc_json(d);
        if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            xpv_cli_err(CMD, "could not render JSON");
            status = XPV_EXIT_FAIL;
        }
        fputc('\n', stdout);
        json_decref(o);
    } else {
        print_table(d);
    }
    free(d);
    if (fflush(stdout) != 0) {
        xpv_cli_err(CMD, "could not write the output");
        return XPV_EXIT_FAIL;
    }
    return status;
}
