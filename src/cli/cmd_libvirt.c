/*
 * cmd_libvirt.c — `xpv libvirt-xml NAME`: a libvirt domain XML (or the fragment to merge into
 * one) that gives the VM the XPV channel as shipped: the ivshmem <shmem> of the record, the
 * virtio channel of the kicks (its socket left to libvirt, which the live XML names), NUMA
 * cells on file-backed shared memory (so hostd finds and moves each cell's RAM), ACPI (or the
 * guest sees one node) and the <xpv:vm> metadata element by which hostd's libvirt backend
 * adopts the domain. Nothing in it taints the domain (docs/libvirt.md).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LV_NS     "https://xpv.example/ns/1" /* = XPV_LV_NS, src/hostd/hostd_lvxml.h */
#define PORT_NAME "org.xpv.topology"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv libvirt-xml NAME [OPTIONS]\n\n"
            "Print a libvirt domain XML for VM NAME with the XPV channel, vNUMA cells on\n"
            "file-backed shared memory, ACPI and the <xpv:vm> metadata element that makes\n"
            "`xpv hostd --libvirt` place it (docs/libvirt.md). Define it with\n"
            "`virsh define FILE`. Nothing in it taints the domain.\n\n"
            "Options:\n"
            "  --vcpus N          vCPUs at start (default 2)\n"
            "  --max-vcpus M      vCPUs it may grow to with hotplug (default N + nodes)\n"
            "  --nodes K          guest NUMA nodes (cells; default 2); vCPU i is in cell i mod K\n"
            "  --memory MIB       guest RAM in MiB, split evenly over the cells (default 1024)\n"
            "  --type TYPE        kvm (default) or qemu (TCG, no KVM)\n"
            "  --kernel PATH      boot this kernel directly (with --initrd, --cmdline)\n"
            "  --initrd PATH\n"
            "  --cmdline TEXT\n"
            "  --serial-log PATH  the guest's serial console into this file\n"
            "  --fixed-nodes LIST <xpv:vm nodes='LIST'/>: hostd keeps it on these host nodes\n"
            "  --fragment         only the elements to merge into an existing domain\n"
            "  -h, --help         show this help\n");
}

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 47)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static bool list_ok(const char *s)
{
    if (!*s || strlen(s) > 60)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == ',' || *s == '-'))
            return false;
    return true;
}

int xpv_cmd_libvirt_xml(int argc, char **argv)
{
    static const struct option opts[] = {{"vcpus", required_argument, NULL, 'c'},
                                         {"max-vcpus", required_argument, NULL, 'm'},
                                         {"nodes", required_argument, NULL, 'n'},
                                         {"memory", required_argument, NULL, 'M'},
                                         {"type", required_argument, NULL, 't'},
                                         {"kernel", required_argument, NULL, 'k'},
                                         {"initrd", required_argument, NULL, 'i'},
                                         {"cmdline", required_argument, NULL, 'l'},
                                         {"serial-log", required_argument, NULL, 's'},
                                         {"fixed-nodes", required_argument, NULL, 'F'},
                                         {"fragment", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    uint64_t vcpus = 2, maxv = 0, nodes = 2, mem = 1024;
    const char *type = "kvm", *kernel = NULL, *initrd = NULL, *cmdline = NULL, *serial = NULL,
               *fixed = NULL;
    int c, fragment = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (xpv_cli_u64("libvirt-xml", "--vcpus", optarg, 1, 256, "a vCPU count 1..256",
                            &vcpus))
                return XPV_EXIT_USAGE;
            break;
        case 'm':
            if (xpv_cli_u64("libvirt-xml", "--max-vcpus", optarg, 1, 256, "a vCPU count 1..256",
                            &maxv))
                return XPV_EXIT_USAGE;
            break;
        case 'n':
            if (xpv_cli_u64("libvirt-xml", "--nodes", optarg, 1, 64, "a node count 1..64", &nodes))
                return XPV_EXIT_USAGE;
            break;
        case 'M':
            if (xpv_cli_u64("libvirt-xml", "--memory", optarg, 16, 1u << 24, "MiB, 16..16777216",
                            &mem))
                return XPV_EXIT_USAGE;
            break;
        case 't':
            type = optarg;
            if (strcmp(type, "kvm") && strcmp(type, "qemu")) {
                xpv_cli_err("libvirt-xml", "--type wants kvm or qemu, got '%s'", optarg);
                return XPV_EXIT_USAGE;
            }
            break;
        case 'k':
            kernel = optarg;
            break;
        case 'i':
            initrd = optarg;
            break;
        case 'l':
            cmdline = optarg;
            break;
        case 's':
            serial = optarg;
            break;
        case 'F':
            fixed = optarg;
            if (!list_ok(fixed)) {
                xpv_cli_err("libvirt-xml",
                            "--fixed-nodes wants a node list such as 0 or 0,2-3, "
                            "got '%s'",
                            optarg);
                return XPV_EXIT_USAGE;
            }
            break;
        case 'f':
            fragment = 1;
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        xpv_cli_err("libvirt-xml", "wants one VM name (see --help)");
        return XPV_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (!name_ok(name)) {
        xpv_cli_err("libvirt-xml", "VM name '%s' wants 1..47 letters, digits, '_', '-', '.'", name);
        return XPV_EXIT_USAGE;
    }
    if (!maxv)
        maxv = vcpus + nodes > 256 ? 256 : vcpus + nodes;
    if (maxv < vcpus) {
        xpv_cli_err("libvirt-xml", "--max-vcpus %llu is below --vcpus %llu",
                    (unsigned long long)maxv, (unsigned long long)vcpus);
        return XPV_EXIT_USAGE;
    }
    if (maxv < nodes || mem % nodes) {
        xpv_cli_err("libvirt-xml",
                    "%llu nodes want at least one vCPU each (--max-vcpus) and a --memory they "
                    "divide (%llu MiB does not)",
                    (unsigned long long)nodes, (unsigned long long)mem);
        return XPV_EXIT_USAGE;
    }
    if ((initrd || cmdline) && !kernel) {
        xpv_cli_err("libvirt-xml", "--initrd and --cmdline go with --kernel");
        return XPV_EXIT_USAGE;
    }
    FILE *f = stdout;
    const char *in = fragment ? "" : "  ";
    if (!fragment) {
        fprintf(f, "<domain type='%s'>\n  <name>%s</name>\n", type, name);
    } else {
        fprintf(f,
                "<!-- xpv libvirt-xml %s --fragment: merge each element into the domain's "
                "own (docs/libvirt.md) -->\n",
                name);
    }
    fprintf(f, "%s<metadata>\n%s  <xpv:vm xmlns:xpv=\"%s\"", in, in, LV_NS);
    if (fixed)
        fprintf(f, " nodes=\"%s\"", fixed);
    fprintf(f, "/>\n%s</metadata>\n", in);
    if (!fragment) {
        fprintf(f, "  <memory unit='MiB'>%llu</memory>\n", (unsigned long long)mem);
        fprintf(f, "  <vcpu placement='static' current='%llu'>%llu</vcpu>\n",
                (unsigned long long)vcpus, (unsigned long long)maxv);
        fprintf(f, "  <os>\n    <type arch='x86_64'>hvm</type>\n");
        if (kernel) {
            fputs("    <kernel>", f);
            esc(f, kernel);
            fputs("</kernel>\n", f);
        }
        if (initrd) {
            fputs("    <initrd>", f);
            esc(f, initrd);
            fputs("</initrd>\n", f);
        }
        if (cmdline) {
            fputs("    <cmdline>", f);
            esc(f, cmdline);
            fputs("</cmdline>\n", f);
        }
        fprintf(f, "  </os>\n");
    } else {
        fprintf(f, "<!-- <vcpu current='N'>M</vcpu>: M above N leaves room for hotplug; each "
                   "vCPU id 0..M-1 in one cell -->\n");
    }
    fprintf(f, "%s<features>\n%s  <acpi/>\n%s</features>\n", in, in, in);
    fprintf(f, "%s<cpu>\n%s  <numa>\n", in, in);
    for (uint64_t n = 0; n < nodes; n++) {
        char cpus[1024] = "";
        size_t len = 0;
        for (uint64_t v = n; v < maxv && len + 8 < sizeof(cpus); v += nodes)
            len += (size_t)snprintf(cpus + len, sizeof(cpus) - len, "%s%llu", len ? "," : "",
                                    (unsigned long long)v);
        fprintf(f,
                "%s    <cell id='%llu' cpus='%s' memory='%llu' unit='MiB' memAccess='shared'/>\n",
                in, (unsigned long long)n, cpus, (unsigned long long)(mem / nodes));
    }
    fprintf(f, "%s  </numa>\n%s</cpu>\n", in, in);
    fprintf(f,
            "%s<memoryBacking>\n%s  <source type='file'/>\n%s  <access mode='shared'/>\n"
            "%s</memoryBacking>\n",
            in, in, in, in);
    if (!fragment)
        fprintf(f, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
                   "  <on_crash>destroy</on_crash>\n");
    fprintf(f, "%s<devices>\n", in);
    fprintf(f,
            "%s  <channel type='unix'>\n%s    <target type='virtio' name='%s'/>\n"
            "%s  </channel>\n",
            in, in, PORT_NAME, in);
    fprintf(f,
            "%s  <shmem name='xpv-vm-%s'>\n%s    <model type='ivshmem-plain'/>\n"
            "%s    <size unit='M'>1</size>\n%s  </shmem>\n",
            in, name, in, in, in);
    if (serial) {
        fprintf(f, "%s  <serial type='file'>\n%s    <source path='", in, in);
        esc(f, serial);
        fprintf(f, "'/>\n%s    <target port='0'/>\n%s  </serial>\n", in, in);
    }
    if (!fragment)
        fprintf(f, "    <memballoon model='none'/>\n");
    fprintf(f, "%s</devices>\n", in);
    if (!fragment)
        fprintf(f, "</domain>\n");
    return fflush(f) == 0 ? XPV_EXIT_OK : XPV_EXIT_FAIL;
}
