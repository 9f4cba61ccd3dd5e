/*
 * cmd_guestd.c — `xpv guestd` (the guest agent, docs/guestd.md) and `xpv qemu-args` (the
 * QEMU options that give a VM the XPV channel).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../guestd/guestd.h"
#include "cli.h"
#include "xpv/channel.h"
#include "xpv/ops.h"
#include "xpv/topo.h"

static void guestd_usage(FILE *f)
{
    fprintf(f,
            "usage: xpv guestd [OPTIONS]\n\n"
            "The guest agent: follows the host's topology record for this VM (kicks on the\n"
            "virtio-serial port '%s', and the record in the ivshmem device's BAR 2,\n"
            "polled for missed kicks), computes each vCPU's effective vNode (the vNode whose\n"
            "memory is on, or nearest, the vCPU's physical node), republishes it for local\n"
            "readers (libxpv: XPV_RECORD, default /dev/shm/xpv-topology), re-binds processes\n"
            "that follow their vNode, and onlines hot-added CPUs and memory (docs/guestd.md).\n\n"
            "Options:\n"
            "  --record PATH       the local record (default $XPV_RECORD, else "
            "/dev/shm/xpv-topology)\n"
            "  --ivshmem PATH      the record region (default: resource2 of PCI 1af4:1110)\n"
            "  --no-ivshmem        kicks only\n"
            "  --port PATH         the kick port (default: /dev/vport* named %s)\n"
            "  --port-name NAME    find the port by this name instead\n"
            "  --no-port           poll the region only\n"
            "  --follow-dir DIR    processes opted in by a file DIR/PID follow their vNode\n"
            "                      (default $XPV_FOLLOW_DIR, else /run/xpv/follow; '' disables)\n"
            "  --poll DURATION     check the region's generation this often (default 100ms;\n"
            "                      a bare number is seconds; old spelling: --poll-ms N)\n"
            "  --no-hotplug        leave hot-added CPUs and memory alone\n"
            "  --root DIR          sysfs, /proc and /dev under DIR (a fixture)\n"
            "  --once              publish the current topology and exit\n"
            "  --stats             print the counters at exit\n"
            "  -v, --verbose       log every change (-vv: more)\n"
            "  -h, --help          show this help\n",
            GUESTD_PORT_NAME, GUESTD_PORT_NAME);
}

/* The agent's log sink: "xpv guestd: message" on stderr. */
static void log_stderr(void *arg, enum guestd_log_level lvl, const char *msg)
{
    (void)arg;
    (void)lvl;
    fprintf(stderr, "xpv guestd: %s\n", msg);
}

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig)
{
    stop_signal = sig;
}

int xpv_cmd_guestd(int argc, char **argv)
{
    static const struct option opts[] = {
            {"record", required_argument, NULL, 'R'},
            {"ivshmem", required_argument, NULL, 'i'},
            {"no-ivshmem", no_argument, NULL, 'I'},
            {"port", required_argument, NULL, 'p'},
            {"port-name", required_argument, NULL, 'n'},
            {"no-port", no_argument, NULL, 'P'},
            {"follow-dir", required_argument, NULL, 'f'},
            {"poll", required_argument, NULL, 'm'},
            {"poll-ms", required_argument, NULL, 'M'}, /* the old spelling of --poll, in ms */
            {"no-hotplug", no_argument, NULL, 'H'},
            {"root", required_argument, NULL, 'r'},
            {"once", no_argument, NULL, 'o'},
            {"stats", no_argument, NULL, 's'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *fd_env = getenv("XPV_FOLLOW_DIR");
    struct guestd_opts o = {.follow_dir = fd_env && fd_env[0] ? fd_env : XPV_FOLLOW_DEFAULT_DIR,
                            .hotplug = true,
                            .poll_ms = 100,
                            .log = {log_stderr, NULL}};
    int c, once = 0, stats = 0, verbose = 0;
    double poll;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
        switch (c) {
        case 'R':
            o.record = optarg;
            break;
        case 'i':
            o.ivshmem = optarg;
            break;
        case 'I':
            o.ivshmem = "";
            break;
        case 'p':
            o.port = optarg;
            break;
        case 'n':
            o.port_name = optarg;
            break;
        case 'P':
            o.port = "";
            break;
        case 'f':
            o.follow_dir = optarg;
            break;
        case 'M':
            xpv_cli_deprecated("guestd", "--poll-ms N", "--poll Nms");
            /* fall through */
        case 'm':
            if (xpv_cli_duration("guestd", c == 'm' ? "--poll" : "--poll-ms", optarg,
                                 c == 'm' ? 1 : 1e-3, 1e-3, 60, &poll, NULL))
                return XPV_EXIT_USAGE;
            o.poll_ms = (int)lround(poll * 1e3);
            break;
        case 'H':
            o.hotplug = false;
            break;
        case 'r':
            o.root = optarg;
            break;
        case 'o':
            once = 1;
            break;
        case 's':
            stats = 1;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            guestd_usage(stdout);
            return XPV_EXIT_OK;
        default:
            guestd_usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (xpv_cli_positional("guestd", argc, argv, 0, guestd_usage))
        return XPV_EXIT_USAGE;
    o.verbosity = verbose >= 2 ? GUESTD_LOG_DEBUG : verbose ? GUESTD_LOG_INFO : GUESTD_LOG_WARN;
    struct xpv_error err = {0};
    struct xpv_topo *topo = NULL;
    int rc = xpv_topo_discover(o.root, &topo, &err);
    if (rc < 0) {
        xpv_cli_err("guestd", "the guest's topology: %s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    o.ops = xpv_ops_linux_new(topo, &err);
    struct guestd *g = NULL;
    if (!o.ops || (rc = guestd_open(&o, &g, &err)) < 0) {
        xpv_cli_err("guestd", "%s", xpv_error_str(&err, o.ops ? rc : -ENOMEM));
        xpv_ops_free(o.ops);
        xpv_topo_free(topo);
        return XPV_EXIT_FAIL;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!once && !stop_signal)
        if ((rc = guestd_step(g, -1)) < 0) {
            xpv_cli_err("guestd", "waiting: %s", strerror(-rc));
            break;
        }
    struct guestd_stats s;
    guestd_stats(g, &s);
    if (stats || verbose)
        fprintf(stderr,
                "xpv guestd: host generation %" PRIu64 ", local generation %" PRIu64 "; %" PRIu64
                " from kicks, %" PRIu64 " found by polling, %" PRIu64 " bad records, %" PRIu64
                " bad frames, %" PRIu64 " acks, %" PRIu64 " threads re-bound, %" PRIu64
                " CPUs and %" PRIu64 " memory blocks onlined, %" PRIu64 " errors\n",
                s.host_gen, s.local_gen, s.kicks, s.polled, s.bad_records, s.bad_frames, s.acks,
                s.rebinds, s.cpus_onlined, s.mem_onlined, s.errors);
    guestd_close(g);
    xpv_ops_free(o.ops);
    xpv_topo_free(topo);
    return rc < 0 ? XPV_EXIT_FAIL : XPV_EXIT_OK;
}

static void qemu_args_usage(FILE *f)
{
    fprintf(f,
            "usage: xpv qemu-args [OPTIONS] NAME\n\n"
            "Print the QEMU options that give VM NAME the XPV channel: an ivshmem-plain device\n"
            "on a shared file that holds the topology record (the guest maps BAR 2), a\n"
            "virtio-serial port named %s for kicks, and a QMP socket for the host\n"
            "daemon; then the `xpv hostd` configuration entry for it (docs/guestd.md).\n\n"
            "Options:\n"
            "  --dir DIR     where the sockets go (default /run/xpv)\n"
            "  --shm-dir DIR where the record file goes (default /dev/shm)\n"
            "  --shell       one option per line, shell-quoted, for a script\n"
            "  -h, --help    show this help\n",
            GUESTD_PORT_NAME);
}

int xpv_cmd_qemu_args(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"shm-dir", required_argument, NULL, 's'},
                                         {"shell", no_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *dir = "/run/xpv", *shm = "/dev/shm";
    int c, shell = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 's':
            shm = optarg;
            break;
        case 'S':
            shell = 1;
            break;
        case 'h':
            qemu_args_usage(stdout);
            return XPV_EXIT_OK;
        default:
            qemu_args_usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        xpv_cli_err("qemu-args", "wants one VM name (see --help)");
        return XPV_EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.') ||
            p - name >= 47) {
            xpv_cli_err("qemu-args", "VM name '%s' wants 1..47 letters, digits, '_', '-', '.'",
                        name);
            return XPV_EXIT_USAGE;
        }
    /* 1 MiB: ivshmem wants a power of two, the record mapping takes 512 KiB */
    char v[6][1024];
    snprintf(v[0], sizeof(v[0]),
             "memory-backend-file,id=xpv-rec,mem-path=%s/xpv-vm-%s,size=1M,share=on", shm, name);
    snprintf(v[1], sizeof(v[1]), "ivshmem-plain,memdev=xpv-rec,id=xpv-ivshmem");
    snprintf(v[2], sizeof(v[2]), "virtio-serial-pci,id=xpv-vs");
    snprintf(v[3], sizeof(v[3]), "socket,id=xpv-kick,path=%s/%s.kick,server=on,wait=off", dir,
             name);
    snprintf(v[4], sizeof(v[4]), "virtserialport,chardev=xpv-kick,name=%s,id=xpv-port",
             GUESTD_PORT_NAME);
    snprintf(v[5], sizeof(v[5]), "unix:%s/%s.qmp,server=on,wait=off", dir, name);
    static const char *const opt[6] = {"-object",  "-device", "-device",
                                       "-chardev", "-device", "-qmp"};
    for (int i = 0; i < 6; i++) {
        if (shell)
            printf("%s '%s'\n", opt[i], v[i]);
        else
            printf("%s%s %s", i ? " " : "", opt[i], v[i]);
    }
    if (!shell)
        printf("\n");
    printf("%s xpv hostd --config entry: {\"name\": \"%s\", \"qmp\": \"%s/%s.qmp\"}\n",
           shell ? "#" : "\n#", name, dir, name);
    return XPV_EXIT_OK;
}
