/*
 * cmd_hostd.c — `xpv hostd` (the host daemon: places domains, publishes their records; see
 * docs/hostd.md): its options, its log sinks (stderr, syslog), then hostd_run() (the loop is
 * the library's, src/hostd/hostd_run.c); and its operator commands `xpv domains`, `xpv move`,
 * `xpv vcpu-add` and `xpv vcpu-del`, which talk to it over its control socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include "../hostd/hostd.h"
#ifdef XPV_HAVE_LIBVIRT
#include "../hostd/hostd_libvirt.h"
#endif
#include "cli.h"
#include "xpv/ops_record.h"
#include "xpv_version.h"

/* No default control socket applies (not root, neither variable set): no fallback into a
 * shared directory, where another user could bind the name first. */
#define NO_DEFAULT_SOCKET                                                                          \
    "no control socket: not root, and neither $XPV_HOSTD_SOCKET nor $XDG_RUNTIME_DIR is set; "     \
    "give --socket PATH (in a directory only you can write) or set one of them"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv hostd [OPTIONS] [-- COMMAND [ARGS...]]\n\n"
            "The host daemon: places domains (process groups, QEMU VMs) over the NUMA nodes\n"
            "with a numad-class policy (free CPUs, free memory, distance, with hysteresis),\n"
            "binds their threads, moves their memory within a budget, and publishes each\n"
            "domain's topology record after every change (docs/hostd.md).\n\n"
            "Domains (repeatable; or in the --config file):\n"
            "  --pids NAME=PID[,PID...]   a group of processes\n"
            "  --cgroup NAME=DIR          the processes of a cgroup (DIR holds cgroup.procs)\n"
            "  --qmp NAME=SOCKET          a QEMU VM, through its QMP socket\n"
            "  --libvirt[=URI]            the running domains of a libvirt connection\n"
            "                             (default qemu:///system) whose XML carries the\n"
            "                             <xpv:vm> metadata element (docs/libvirt.md)\n"
            "  -- COMMAND [ARGS...]       launch a command as domain --name (default 'cmd'),\n"
            "                             with XPV_RECORD set to its record; it is\n"
            "                             stopped with the daemon (SIGTERM to its group,\n"
            "                             SIGKILL 5s later)\n"
            "  --name NAME                the launched command's domain name\n\n"
            "Options:\n"
            "  --config FILE       JSON configuration (docs/hostd.md, \"Configuration\")\n"
            "  --period DURATION   time between rounds (default 1s; 500ms, 2.5s: a bare\n"
            "                      number is seconds)\n"
            "  --no-migrate        bind threads only; leave memory where it is\n"
            "  --migrate-mb-s N    page-migration budget in MiB/s (default 256)\n"
            "  --dry-run           print decisions and reasons, change nothing\n"
            "  --once              one round, then exit\n"
            "  --rounds N          N rounds, then exit\n"
            "  --socket PATH       control socket (default $XPV_HOSTD_SOCKET, else\n"
            "                      /run/xpv/hostd.sock as root, $XDG_RUNTIME_DIR/xpv-hostd.sock;\n"
            "                      no other fallback)\n"
            "  --qmp-timeout DURATION  longest wait for each QMP answer of a VM's QEMU\n"
            "                      (default 200ms; a bare number is seconds); a QEMU\n"
            "                      that misses it is skipped and asked again later\n"
            "  --record-dir DIR    where process domains' records go (default /run/xpv as\n"
            "                      root, else $XDG_RUNTIME_DIR/xpv)\n"
            "  --state-dir DIR     a private directory for the operator's placements\n"
            "                      (default $XPV_HOSTD_STATE_DIR, else /var/lib/xpv as root,\n"
            "                      else $XDG_RUNTIME_DIR/xpv)\n"
            "  --metrics IP:PORT   serve Prometheus metrics on http://IP:PORT/metrics (default:\n"
            "                      none; 127.0.0.1:9464, [::1]:9464: numeric, no host names)\n"
            "  --root DIR          host topology from a saved sysfs tree (a fixture); the\n"
            "                      recording ops are then used (nothing is changed)\n"
            "  --proc-root DIR     read /proc and node meminfo under DIR (default: /)\n"
            "  --syslog            log to syslog instead of stderr\n"
            "  -v, --verbose       log more (debug)\n"
            "  -h, --help          show this help\n\n"
            "SIGHUP (systemctl reload xpv-hostd) reads --config again and applies the\n"
            "difference: new domains followed, removed ones released; a file that does not\n"
            "parse is rejected and the running configuration kept. Under systemd\n"
            "(Type=notify) it reports READY=1, RELOADING=1 and WATCHDOG=1.\n\n"
            "Operators talk to a running daemon with `xpv domains`, `xpv move` and\n"
            "`xpv metrics`.\n");
}

static int add_named(const char *opt, const char *arg, enum hostd_kind kind, struct hostd_conf *c)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        xpv_cli_err("hostd", "%s wants NAME=VALUE, got '%s'", opt, arg);
        return XPV_EXIT_USAGE;
    }
    struct hostd_domain_conf one = {0}, *d = &one; /* added to c once it is whole */
    snprintf(d->name, sizeof(d->name), "%.*s", (int)(eq - arg), arg);
    if ((size_t)(eq - arg) >= sizeof(d->name) || !hostd_name_ok(d->name)) {
        xpv_cli_err("hostd", "%s: domain name '%.*s' wants 1..47 letters, digits, '_', '-', '.'",
                    opt, (int)(eq - arg), arg);
        return XPV_EXIT_USAGE;
    }
    d->kind = kind;
    const char *v = eq + 1;
    if (kind == HOSTD_PIDS) {
        char *copy = strdup(v), *save = NULL;
        if (!copy) {
            xpv_cli_err("hostd", "out of memory");
            return XPV_EXIT_FAIL;
        }
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *end;
            long p = strtol(t, &end, 10);
            if (*end || p <= 0 || d->nr_pids >= HOSTD_MAX_PIDS) {
                xpv_cli_err("hostd", "%s: '%s' is not a process id (at most %d per domain)", opt, t,
                            HOSTD_MAX_PIDS);
                free(copy);
                return XPV_EXIT_USAGE;
            }
            d->pids[d->nr_pids++] = (pid_t)p;
        }
        free(copy);
    } else {
        char *dst = kind == HOSTD_CGROUP ? d->cgroup : d->qmp;
        if (strlen(v) >= 256) {
            xpv_cli_err("hostd", "%s: path too long", opt);
            return XPV_EXIT_USAGE;
        }
        snprintf(dst, 256, "%s", v);
    }
    for (unsigned i = 0; i < c->nr_domains; i++)
        if (!strcmp(c->domains[i].name, d->name)) {
            xpv_cli_err("hostd", "two domains named '%s'", d->name);
            return XPV_EXIT_USAGE;
        }
    struct xpv_error e = {0};
    int rc = hostd_conf_add_domain(c, &d, &e);
    if (rc < 0) {
        xpv_cli_err("hostd", "%s", xpv_error_str(&e, rc));
        return rc == -ENOSPC ? XPV_EXIT_USAGE : XPV_EXIT_FAIL;
    }
    *d = one;
    return 0;
}

/* The daemon's log sinks: stderr ("hostd LEVEL: domain: message") or syslog. */
static void log_stderr(void *arg, enum hostd_log_level lvl, const char *domain, const char *msg)
{
    (void)arg;
    fprintf(stderr, "hostd %s: %s%s%s\n", hostd_log_level_name(lvl), domain ? domain : "",
            domain ? ": " : "", msg);
}

static void log_syslog(void *arg, enum hostd_log_level lvl, const char *domain, const char *msg)
{
    (void)arg;
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    syslog(prio[lvl], "%s%s%s", domain ? domain : "", domain ? ": " : "", msg);
}

/* What the command line says, kept for SIGHUP: the configuration is the file, read again,
 * with the same command-line settings over it. */
struct cli_conf {
    const char *config, *name, *socket_path, *record_dir, *state_dir, *metrics, *libvirt;
    struct hostd_conf *cl; /* --pids, --cgroup, --qmp domains */
    char **cmd;            /* -- COMMAND ARGS..., NULL-terminated (NULL: none) */
    int nr_cmd;
    double period, mbs, qmp_timeout;
    int no_migrate;
    uint64_t rounds;
    struct hostd_conf *running; /* the configuration the daemon runs (hostd_reload) */
};

/* The configuration from the file and the command line into conf (defaults first). *usage:
 * the command line is wrong (rather than the file). */
static int assemble(const struct cli_conf *o, struct hostd_conf *conf, bool *usage,
                    struct xpv_error *err)
{
    int rc;
    hostd_conf_default(conf);
    *usage = false;
    if (o->config && (rc = hostd_conf_load(o->config, conf, err)) < 0)
        return rc;
    *usage = true;
    /* command-line domains join the file's */
    struct hostd_domain_conf *d;
    for (unsigned i = 0; i < o->cl->nr_domains; i++) {
        if (hostd_conf_has(conf, o->cl->domains[i].name))
            return xpv_error_set(err, -EINVAL, "domain '%s' is already in %s",
                                 o->cl->domains[i].name, o->config);
        if ((rc = hostd_conf_add_domain(conf, &d, err)) < 0)
            return rc;
        *d = o->cl->domains[i]; /* no argv: command-line domains have no command */
    }
    if (o->cmd) {
        if (!hostd_name_ok(o->name) || hostd_conf_has(conf, o->name) || o->nr_cmd >= HOSTD_MAX_ARGS)
            return xpv_error_set(err, -EINVAL,
                                 "cannot add the command as domain '%s' (bad or duplicate name, "
                                 "or over %d arguments)",
                                 o->name, HOSTD_MAX_ARGS - 1);
        if ((rc = hostd_conf_add_domain(conf, &d, err)) < 0)
            return rc;
        snprintf(d->name, sizeof(d->name), "%s", o->name);
        d->kind = HOSTD_COMMAND;
        for (int i = 0; i < o->nr_cmd; i++)
            if (!(d->argv[i] = strdup(o->cmd[i])))
                return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    if (o->period)
        conf->period_s = o->period;
    if (o->mbs)
        conf->migrate_mb_s = o->mbs;
    if (o->no_migrate)
        conf->migrate_memory = false;
    if (o->record_dir)
        snprintf(conf->record_dir, sizeof(conf->record_dir), "%s", o->record_dir);
    if (o->qmp_timeout)
        conf->qmp_timeout_ms = o->qmp_timeout * 1e3;
    if (o->state_dir)
        snprintf(conf->state_dir, sizeof(conf->state_dir), "%s", o->state_dir);
    if (o->socket_path)
        snprintf(conf->socket, sizeof(conf->socket), "%s", o->socket_path);
    if (o->metrics)
        snprintf(conf->metrics_listen, sizeof(conf->metrics_listen), "%s", o->metrics);
    if (o->libvirt)
        snprintf(conf->libvirt, sizeof(conf->libvirt), "%s", o->libvirt);
#ifndef XPV_HAVE_LIBVIRT
    if (conf->libvirt[0])
        return xpv_error_set(err, -EINVAL,
                             "libvirt %s: this xpv was built without libvirt (XPV_LIBVIRT=OFF; "
                             "install libvirt-dev and rebuild)",
                             conf->libvirt);
#endif
    if (!conf->socket[0] && hostd_default_socket())
        snprintf(conf->socket, sizeof(conf->socket), "%s", hostd_default_socket());
    if (!conf->socket[0] && o->rounds != 1)
        return xpv_error_set(err, -EINVAL, "%s", NO_DEFAULT_SOCKET);
    *usage = false;
    return 0;
}

/* SIGHUP (hostd_run_opts.reload): the file read again; the daemon's domains refer to the new
 * configuration's strings once it is applied, so the old one is released then, and the new
 * one on a rejection. */
static int reload(void *arg, struct hostd *h, struct xpv_error *err)
{
    struct cli_conf *o = arg;
    struct hostd_conf *nc = malloc(sizeof(*nc));
    bool usage;
    if (!nc)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    int rc = assemble(o, nc, &usage, err);
    if (rc == 0)
        rc = hostd_reload(h, nc, err);
    if (rc < 0) {
        hostd_conf_release(nc);
        free(nc);
        return rc;
    }
    hostd_conf_release(o->running);
    free(o->running);
    o->running = nc;
    return 0;
}

int xpv_cmd_hostd(int argc, char **argv)
{
    static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"pids", required_argument, NULL, 'P'},
            {"cgroup", required_argument, NULL, 'G'},
            {"qmp", required_argument, NULL, 'Q'},
            {"libvirt", optional_argument, NULL, 'L'},
            {"name", required_argument, NULL, 'n'},
            {"period", required_argument, NULL, 'p'},
            {"no-migrate", no_argument, NULL, 'M'},
            {"migrate-mb-s", required_argument, NULL, 'b'},
            {"dry-run", no_argument, NULL, 'd'},
            {"once", no_argument, NULL, 'o'},
            {"rounds", required_argument, NULL, 'R'},
            {"socket", required_argument, NULL, 's'},
            {"qmp-timeout", required_argument, NULL, 'T'},
            {"record-dir", required_argument, NULL, 'D'},
            {"state-dir", required_argument, NULL, 'A'},
            {"metrics", required_argument, NULL, 'm'},
            {"root", required_argument, NULL, 'r'},
            {"proc-root", required_argument, NULL, 'x'},
            {"syslog", no_argument, NULL, 'S'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    /* command-line settings, applied over the file (kept for SIGHUP: o.cl below) */
    static struct hostd_conf cl;
    hostd_conf_release(&cl); /* a previous call's, in a process that calls this twice */
    memset(&cl, 0, sizeof(cl));
    const char *libvirt = NULL;
    const char *config = NULL, *root = NULL, *proc_root = "", *name = "cmd", *socket_path = NULL,
               *record_dir = NULL, *state_dir = NULL, *metrics = NULL;
    double period = 0, mbs = 0, qmp_timeout = 0;
    int dry = 0, no_migrate = 0, use_syslog = 0, verbose = 0, c, rc;
    uint64_t rounds = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+hvc:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'P':
            if ((rc = add_named("--pids", optarg, HOSTD_PIDS, &cl)))
                return rc;
            break;
        case 'G':
            if ((rc = add_named("--cgroup", optarg, HOSTD_CGROUP, &cl)))
                return rc;
            break;
        case 'Q':
            if ((rc = add_named("--qmp", optarg, HOSTD_VM, &cl)))
                return rc;
            break;
        case 'n':
            name = optarg;
            break;
        case 'L':
            libvirt = optarg ? optarg : "qemu:///system";
            break;
        case 'p':
            if (xpv_cli_duration("hostd", "--period", optarg, 1, 0.01, 3600, &period, NULL))
                return XPV_EXIT_USAGE;
            break;
        case 'M':
            no_migrate = 1;
            break;
        case 'b':
            if (xpv_cli_num("hostd", "--migrate-mb-s", optarg, 1, 1e6, "MiB/s between 1 and 1e6",
                            &mbs))
                return XPV_EXIT_USAGE;
            break;
        case 'd':
            dry = 1;
            break;
        case 'o':
            rounds = 1;
            break;
        case 'R':
            if (xpv_cli_u64("hostd", "--rounds", optarg, 1, UINT32_MAX, "a round count", &rounds))
                return XPV_EXIT_USAGE;
            break;
        case 's':
            socket_path = optarg;
            break;
        case 'T':
            if (xpv_cli_duration("hostd", "--qmp-timeout", optarg, 1, 0.001, 60, &qmp_timeout,
                                 NULL))
                return XPV_EXIT_USAGE;
            break;
        case 'D':
            record_dir = optarg;
            break;
        case 'A':
            state_dir = optarg;
            break;
        case 'm': {
            struct sockaddr_storage sa;
            unsigned salen;
            struct xpv_error e = {0};
            int r = hostd_metrics_addr(optarg, &sa, &salen, &e);
            if (r < 0) {
                xpv_cli_err("hostd", "--metrics: %s", xpv_error_str(&e, r));
                return XPV_EXIT_USAGE;
            }
            metrics = optarg;
            break;
        }
        case 'r':
            root = optarg;
            break;
        case 'x':
            proc_root = optarg;
            break;
        case 'S':
            use_syslog = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    struct xpv_error err = {0};
    static struct cli_conf o;
    o = (struct cli_conf){.config = config,
                          .name = name,
                          .socket_path = socket_path,
                          .record_dir = record_dir,
                          .state_dir = state_dir,
                          .metrics = metrics,
                          .libvirt = libvirt,
                          .cl = &cl,
                          .cmd = optind < argc ? argv + optind : NULL,
                          .nr_cmd = argc - optind,
                          .period = period,
                          .mbs = mbs,
                          .qmp_timeout = qmp_timeout,
                          .no_migrate = no_migrate,
                          .rounds = rounds,
                          .running = malloc(sizeof(struct hostd_conf))};
    bool usage = false;
    if (!o.running || (rc = assemble(&o, o.running, &usage, &err)) < 0) {
        xpv_cli_err("hostd", "%s", xpv_error_str(&err, o.running ? rc : -ENOMEM));
        if (o.running)
            hostd_conf_release(o.running);
        free(o.running);
        return usage ? XPV_EXIT_USAGE : XPV_EXIT_FAIL;
    }
    /* a log line to a closed stderr (a pipe whose reader went away) or a control client that
     * hung up must not kill the daemon: the write fails with EPIPE instead (launched commands
     * get the default back, hostd_launch) */
    signal(SIGPIPE, SIG_IGN);

    struct xpv_topo *topo = NULL;
    if ((rc = xpv_topo_discover(root, &topo, &err)) < 0) {
        xpv_cli_err("hostd", "topology: %s", xpv_error_str(&err, rc));
        hostd_conf_release(o.running);
        free(o.running);
        return XPV_EXIT_FAIL;
    }
    struct xpv_ops *ops = root ? xpv_ops_record_new(topo, &err) : xpv_ops_linux_new(topo, &err);
    static struct hostd h;
    struct hostd_log_sink sink = {use_syslog ? log_syslog : log_stderr, NULL};
    if (use_syslog)
        openlog("xpv-hostd", LOG_PID, LOG_DAEMON);
    hostd_raise_nofile(); /* a stat file held per followed process (docs/hostd.md, "Cost") */
    if (!ops || (rc = hostd_init(&h, o.running, topo, proc_root, ops, &sink, &err)) < 0) {
        xpv_cli_err("hostd", "%s", xpv_error_str(&err, ops ? rc : -ENOMEM));
        xpv_ops_free(ops);
        xpv_topo_free(topo);
        hostd_conf_release(o.running);
        free(o.running);
        return XPV_EXIT_FAIL;
    }
    h.dry_run = dry;
    h.verbosity = verbose ? HOSTD_LOG_DEBUG : HOSTD_LOG_INFO;
    hostd_log(&h, HOSTD_LOG_INFO, NULL, "xpv %s", XPV_VERSION);
    if (root)
        hostd_log(&h, HOSTD_LOG_INFO, NULL,
                  "host topology from %s: using the recording ops (nothing on this machine "
                  "changes)",
                  root);
#ifdef XPV_HAVE_LIBVIRT
    if (o.running->libvirt[0] && (rc = hostd_libvirt_start(&h, o.running->libvirt, &err)) < 0) {
        xpv_cli_err("hostd", "%s", xpv_error_str(&err, rc));
        hostd_fini(&h);
        xpv_ops_free(ops);
        xpv_topo_free(topo);
        hostd_conf_release(o.running);
        free(o.running);
        return XPV_EXIT_FAIL;
    }
#endif
    struct hostd_run_opts ro = {
            .rounds = rounds, .reload = config ? reload : NULL, .reload_arg = &o};
    int status = XPV_EXIT_OK;
    if ((rc = hostd_run(&h, &ro, &err)) < 0) {
        xpv_cli_err("hostd", "%s", xpv_error_str(&err, rc));
        status = XPV_EXIT_FAIL;
    }
    hostd_fini(&h);
    xpv_ops_free(ops);
    xpv_topo_free(topo);
    hostd_conf_release(o.running); /* the one running now (a reload may have replaced it) */
    free(o.running);
    o.running = NULL;
    return status;
}

/* ---- the operator's side ---- */

static int request(const char *cmd, const char *path, json_t *req, json_t **rep)
{
    if (!path) {
        json_decref(req);
        xpv_cli_err(cmd, "%s", NO_DEFAULT_SOCKET);
        return XPV_EXIT_FAIL;
    }
    char *text = json_dumps(req, JSON_COMPACT), *reply = NULL;
    json_decref(req);
    struct xpv_error err = {0};
    int rc = text ? hostd_control_request(path, text, &reply, &err) : -ENOMEM;
    free(text);
    if (rc < 0) {
        xpv_cli_err(cmd, "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    json_error_t je;
    *rep = json_loads(reply, 0, &je);
    free(reply);
    if (!*rep || !json_is_object(*rep)) {
        xpv_cli_err(cmd, "the daemon's reply is not JSON: %s", je.text);
        json_decref(*rep);
        return XPV_EXIT_FAIL;
    }
    if (!json_is_true(json_object_get(*rep, "ok"))) {
        const char *e = json_string_value(json_object_get(*rep, "error"));
        xpv_cli_err(cmd, "%s", e ? e : "the daemon refused the request");
        json_decref(*rep);
        return XPV_EXIT_FAIL;
    }
    return 0;
}

int xpv_cmd_domains(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int json = 0, c;
    const char *path = hostd_default_socket();
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        if (c == 's')
            path = optarg;
        else if (c == 'j')
            json = 1;
        else if (c == 'h') {
            printf("usage: xpv domains [--socket PATH] [--json]\n\n"
                   "List the domains of the running host daemon (xpv hostd): their nodes, the\n"
                   "share of their memory on those nodes (locality), threads, record generation\n"
                   "and the reason of the last decision.\n\n"
                   "  --socket PATH  the daemon's control socket (default as `xpv hostd`)\n"
                   "  --json         the daemon's reply, as JSON\n");
            return XPV_EXIT_OK;
        } else if (c != 's') {
            fprintf(stderr, "usage: xpv domains [--socket PATH] [--json]\n");
            return XPV_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        xpv_cli_err("domains", "unexpected argument '%s'", argv[optind]);
        return XPV_EXIT_USAGE;
    }
    json_t *rep;
    int rc = request("domains", path, json_pack("{s:s}", "cmd", "domains"), &rep);
    if (rc)
        return rc;
    if (json) {
        json_dumpf(rep, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        printf("%-16s %-8s %-6s %-10s %8s %7s %10s %6s  %s\n", "DOMAIN", "KIND", "STATE", "NODES",
               "LOCALITY", "THREADS", "MEM_MiB", "GEN", "LAST DECISION");
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(rep, "domains"), i, d)
        {
            double mem = 0;
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(d, "mem_bytes_by_node"), k, v) mem +=
                    (double)json_integer_value(v);
            char nodes[160];
            snprintf(nodes, sizeof(nodes), "%s%s", json_string_value(json_object_get(d, "nodes")),
                     json_is_true(json_object_get(d, "manual")) ? " (manual)" : "");
            printf("%-16s %-8s %-6s %-10s %7.0f%% %7d %10.1f %6lld  %s\n",
                   json_string_value(json_object_get(d, "name")),
                   json_string_value(json_object_get(d, "kind")),
                   json_is_true(json_object_get(d, "alive")) ? "alive" : "gone", nodes,
                   100 * json_number_value(json_object_get(d, "locality")),
                   (int)json_integer_value(json_object_get(d, "threads")), mem / 1048576.0,
                   (long long)json_integer_value(json_object_get(d, "generation")),
                   json_string_value(json_object_get(d, "reason")));
        }
    }
    json_decref(rep);
    return XPV_EXIT_OK;
}

int xpv_cmd_metrics(int argc, char **argv)
{
    static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    const char *path = hostd_default_socket();
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's') {
            path = optarg;
        } else if (c == 'h') {
            printf("usage: xpv metrics [--socket PATH]\n\n"
                   "Print the running host daemon's metrics in the Prometheus text format, the\n"
                   "same text its HTTP endpoint serves (xpv hostd --metrics; docs/hostd.md,\n"
                   "\"Metrics\"), over its control socket.\n\n"
                   "  --socket PATH  the daemon's control socket (default as `xpv hostd`)\n");
            return XPV_EXIT_OK;
        } else {
            fprintf(stderr, "usage: xpv metrics [--socket PATH]\n");
            return XPV_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        xpv_cli_err("metrics", "unexpected argument '%s'", argv[optind]);
        return XPV_EXIT_USAGE;
    }
    json_t *rep;
    int rc = request("metrics", path, json_pack("{s:s}", "cmd", "metrics"), &rep);
    if (rc)
        return rc;
    const char *text = json_string_value(json_object_get(rep, "text"));
    if (!text) {
        xpv_cli_err("metrics", "the daemon's reply has no \"text\"");
        json_decref(rep);
        return XPV_EXIT_FAIL;
    }
    fputs(text, stdout);
    json_decref(rep);
    return XPV_EXIT_OK;
}

static void move_usage(FILE *f)
{
    fprintf(f, "usage: xpv move DOMAIN --nodes LIST|auto [--vcpu N] [--socket PATH]\n\n"
               "Re-place a domain of the running host daemon on the nodes of LIST (OS node\n"
               "ids, like 2 or 0,2-3): its threads are bound there, its memory follows\n"
               "(when the daemon migrates memory), its record is republished. The domain\n"
               "stays there until moved again; `--nodes auto` hands it back to the\n"
               "automatic placement.\n\n"
               "With --vcpu N (a VM): only vCPU N goes to the one node of LIST, its memory\n"
               "stays where it is, and the VM's record says so (the guest agent then gives\n"
               "that vCPU the vNode whose memory is nearest); `--nodes auto` puts it back\n"
               "with its vNode.\n");
}

int xpv_cmd_move(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"nodes", required_argument, NULL, 'n'},
                                         {"vcpu", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *nodes = NULL, *path = hostd_default_socket();
    uint64_t vcpu = 0;
    int c, has_vcpu = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hn:", opts, NULL)) != -1) {
        if (c == 's')
            path = optarg;
        else if (c == 'n')
            nodes = optarg;
        else if (c == 'c') {
            if (xpv_cli_u64("move", "--vcpu", optarg, 0, 65535, "a vCPU index", &vcpu))
                return XPV_EXIT_USAGE;
            has_vcpu = 1;
        } else if (c == 'h') {
            move_usage(stdout);
            return XPV_EXIT_OK;
        } else {
            move_usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || !nodes) {
        xpv_cli_err("move", "wants one DOMAIN and --nodes LIST (see xpv move --help)");
        return XPV_EXIT_USAGE;
    }
    json_t *req =
            json_pack("{s:s, s:s, s:s}", "cmd", "move", "domain", argv[optind], "nodes", nodes);
    if (has_vcpu)
        json_object_set_new(req, "vcpu", json_integer((json_int_t)vcpu));
    json_t *rep;
    int rc = request("move", path, req, &rep);
    if (rc)
        return rc;
    if (has_vcpu)
        printf("%s: vCPU %llu on node %s, record generation %lld\n", argv[optind],
               (unsigned long long)vcpu, json_string_value(json_object_get(rep, "nodes")),
               (long long)json_integer_value(json_object_get(rep, "generation")));
    else
        printf("%s: nodes %s, record generation %lld\n", argv[optind],
               json_string_value(json_object_get(rep, "nodes")),
               (long long)json_integer_value(json_object_get(rep, "generation")));
    json_decref(rep);
    return XPV_EXIT_OK;
}

/* `xpv CMD VM --KEY N [--socket PATH]`: one request {"cmd":CMD,"domain":VM,KEY:N} to the
 * daemon (vcpu-add, vcpu-del). what: N's description for errors; help: the --help text after
 * the usage line. 0 with *rep (the reply) and *n, else the exit status. */
static int vm_request(int argc, char **argv, const char *cmd, const char *key, const char *what,
                      const char *help, json_t **rep, uint64_t *n)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"vnode", required_argument, NULL, 'n'},
                                         {"vcpu", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *path = hostd_default_socket();
    char opt[16];
    snprintf(opt, sizeof(opt), "--%s", key);
    int c, has = 0, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        if (c == 's') {
            path = optarg;
        } else if (c == 'n' && !strcmp(opts[li].name, key)) {
            if (xpv_cli_u64(cmd, opt, optarg, 0, 65535, what, n))
                return XPV_EXIT_USAGE;
            has = 1;
        } else if (c == 'h') {
            printf("usage: xpv %s VM %s N [--socket PATH]\n\n%s", cmd, opt, help);
            return XPV_EXIT_OK;
        } else {
            fprintf(stderr, "usage: xpv %s VM %s N [--socket PATH]\n", cmd, opt);
            return XPV_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || !has) {
        xpv_cli_err(cmd, "wants one VM and %s N (see xpv %s --help)", opt, cmd);
        return XPV_EXIT_USAGE;
    }
    return request(
            cmd, path,
            json_pack("{s:s, s:s, s:I}", "cmd", cmd, "domain", argv[optind], key, (json_int_t)*n),
            rep);
}

int xpv_cmd_vcpu_add(int argc, char **argv)
{
    json_t *rep = NULL;
    uint64_t vnode = 0;
    int rc = vm_request(argc, argv, "vcpu-add", "vnode", "a guest node",
                        "Hot-add a vCPU to VM on its guest node N, through the host daemon (QMP\n"
                        "device_add in a free slot: QEMU must run with -smp N,maxcpus=M, M > N).\n"
                        "The daemon binds it with its vNode and republishes the VM's record; the\n"
                        "guest agent onlines it (XPV's hotplug variant).\n",
                        &rep, &vnode);
    if (rc || !rep)
        return rc;
    printf("%s: vCPU %lld added on guest node %llu, record generation %lld\n", argv[optind],
           (long long)json_integer_value(json_object_get(rep, "vcpu")), (unsigned long long)vnode,
           (long long)json_integer_value(json_object_get(rep, "generation")));
    json_decref(rep);
    return XPV_EXIT_OK;
}

int xpv_cmd_vcpu_del(int argc, char **argv)
{
    json_t *rep = NULL;
    uint64_t vcpu = 0;
    int rc = vm_request(argc, argv, "vcpu-del", "vcpu", "a vCPU index",
                        "Unplug vCPU N of VM through the host daemon (QMP device_del). The guest\n"
                        "ejects it (ACPI) when it gets to it; the daemon's next rounds see it "
                        "gone,\n"
                        "describe the VM again and republish its record (xpv domains shows the\n"
                        "vCPUs). Boot vCPUs can be unplugged only where QEMU allows it.\n",
                        &rep, &vcpu);
    if (rc || !rep)
        return rc;
    printf("%s: unplug of vCPU %llu asked; the guest completes it\n", argv[optind],
           (unsigned long long)vcpu);
    json_decref(rep);
    return XPV_EXIT_OK;
}
