/*
 * fuzz_hostd.c — libFuzzer target for the host daemon's decoders of outside bytes: the first
 * byte picks one, the rest is its input.
 *   0: a configuration file (hostd_conf_parse): accepted, or refused with a message naming it;
 *   1: a control-socket request (hostd_control_handle) to a daemon with one domain whose
 *      processes are gone: always one JSON reply line, nothing moved;
 *   2: /proc/PID/numa_maps text (hostd_numa_maps_parse): byte counts only grow;
 *   3: a configuration run for real: hostd_init on a 4-node machine (recording ops) over a
 *      fake /proc where processes 100 (threads 100, 101) and 200 and a cgroup holding both
 *      are alive, then two rounds, a `domains` and a `move` request, hostd_fini. Refused
 *      configurations say why; accepted ones only ever act on the live processes' threads
 *      and pages (VM domains name QMP sockets that do not exist: their attach fails and is
 *      retried, the path up to the connect);
 *   4: /proc/PID/stat text (hostd_stat_parse, hostd_stat_starttime: the pid check and the
 *      change detector): the same start time both ways, or -EINVAL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/ops_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 4 nodes of one CPU and 1 GiB each. */
static struct xpv_topo *machine(void)
{
    struct xpv_topo *t = xpv_topo_alloc(4);
    for (unsigned i = 0; i < 4; i++) {
        t->nodes[i].id = (int)i;
        t->nodes[i].mem_total = 1u << 30;
        xpv_bitmap_set(&t->nodes[i].cpus, i);
        xpv_bitmap_set(&t->cpus_online, i);
    }
    return t;
}

static struct hostd *daemon_once(void)
{
    static struct hostd h;
    static int ready;
    if (ready)
        return &h;
    static struct hostd_conf c;
    hostd_conf_default(&c);
    snprintf(c.record_dir, sizeof(c.record_dir), "/nonexistent-xpv-fuzz");
    snprintf(c.state_dir, sizeof(c.state_dir), "/nonexistent-xpv-fuzz");
    struct hostd_domain_conf *d;
    if (hostd_conf_add_domain(&c, &d, NULL) < 0)
        abort();
    snprintf(d->name, sizeof(d->name), "a");
    d->kind = HOSTD_PIDS;
    d->pids[0] = 1;
    d->nr_pids = 1;
    struct xpv_topo *t = machine();
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    if (!ops || hostd_init(&h, &c, t, "/nonexistent-xpv-fuzz", ops, NULL, NULL) < 0)
        abort();
    ready = 1;
    return &h;
}

static void put(const char *root, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* The fake machine of mode 3, made once: its /proc root and a record directory. */
static const char *live_root(void)
{
    static char root[64];
    if (root[0])
        return root;
    snprintf(root, sizeof(root), "/tmp/xpv-fuzz-hostd-XXXXXX");
    if (!mkdtemp(root))
        abort();
    static const char *const dirs[] = {"proc",
                                       "proc/100",
                                       "proc/100/task",
                                       "proc/100/task/100",
                                       "proc/100/task/101",
                                       "proc/200",
                                       "proc/200/task",
                                       "proc/200/task/200",
                                       "cg",
                                       "rec"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
        if (mkdir(p, 0700) < 0)
            abort();
    }
    static const char maps[] = "10000000-10100000 rw-p 00000000 00:00 0 \n";
    put(root, "proc/100/numa_maps", "10000000 default anon=256 N0=200 N1=56 kernelpagesize_kB=4\n");
    put(root, "proc/200/numa_maps", "10000000 default anon=256 N3=256 kernelpagesize_kB=4\n");
    put(root, "proc/100/maps", maps);
    put(root, "proc/200/maps", maps);
    put(root, "proc/100/stat", "100 (a) S 1 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 2 0 5000 0 0\n");
    put(root, "proc/200/stat", "200 (b) S 1 200 200 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 6000 0 0\n");
    put(root, "cg/cgroup.procs", "100\n200\n");
    return root;
}

static void live_daemon(const char *text, size_t len)
{
    static struct hostd_conf c;
    static struct hostd h;
    struct xpv_error err = {0};
    const char *root = live_root();
    hostd_conf_default(&c);
    if (hostd_conf_parse(text, len, "fuzz.json", &c, &err) < 0) {
        hostd_conf_release(&c);
        return;
    }
    /* the daemon's files go to the fake machine's directory, whatever the input says */
    snprintf(c.record_dir, sizeof(c.record_dir), "%s/rec", root);
    snprintf(c.state_dir, sizeof(c.state_dir), "%s/rec", root);
    c.qmp_timeout_ms = 1;
    for (unsigned k = 0; k < c.nr_domains; k++)
        if (c.domains[k].kind == HOSTD_CGROUP)
            snprintf(c.domains[k].cgroup, sizeof(c.domains[k].cgroup), "/cg");
        else if (c.domains[k].kind == HOSTD_VM) /* never a real socket of this machine */
            snprintf(c.domains[k].qmp, sizeof(c.domains[k].qmp), "%s/no-qmp", root);
    struct xpv_topo *t = machine();
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    if (!ops)
        abort();
    int rc = hostd_init(&h, &c, t, root, ops, NULL, &err);
    if (rc < 0) {
        if (!err.msg[0] || h.domains)
            abort(); /* refused without a reason, or half made */
    } else {
        hostd_round(&h);
        hostd_round(&h);
        char *out = NULL;
        static const char dom[] = "{\"cmd\":\"domains\"}";
        hostd_control_handle(&h, dom, sizeof(dom) - 1, &out);
        if (!out || !strchr(out, '\n'))
            abort();
        free(out);
        out = NULL;
        if (h.nr_domains) {
            char req[256];
            int n = snprintf(req, sizeof(req),
                             "{\"cmd\":\"move\",\"domain\":\"%s\",\"nodes\":\"2\"}",
                             h.domains[0].conf.name);
            hostd_control_handle(&h, req, (size_t)n, &out);
            free(out);
        }
        /* only the live processes' threads and pages were ever touched */
        for (size_t i = 0; i < xpv_ops_record_count(ops); i++) {
            pid_t pid = xpv_ops_record_call(ops, i)->pid;
            if (pid != 0 && pid != 100 && pid != 101 && pid != 200)
                abort();
        }
        hostd_fini(&h);
    }
    xpv_ops_free(ops);
    xpv_topo_free(t);
    hostd_conf_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 5) {
    case 0: {
        static struct hostd_conf c;
        struct xpv_error err = {0};
        hostd_conf_default(&c);
        if (hostd_conf_parse(text, len, "fuzz.json", &c, &err) < 0 &&
            strncmp(err.msg, "fuzz.json", 9) != 0 && strcmp(err.msg, "out of memory") != 0)
            abort();
        hostd_conf_release(&c);
        break;
    }
    case 1: {
        struct hostd *h = daemon_once();
        char *out = NULL;
        hostd_control_handle(h, text, len, &out);
        if (!out || !strchr(out, '\n') || strchr(out, '\n')[1] != 0)
            abort();
        if (h->domains[0].pinned || h->domains[0].nodes || h->stats.manual_moves)
            abort(); /* its processes are gone: nothing may have moved */
        free(out);
        break;
    }
    case 3:
        live_daemon(text, len);
        break;
    case 4: {
        uint64_t ticks;
        struct hostd_pstat ps;
        int rc = hostd_stat_starttime(text, len, &ticks), rc2 = hostd_stat_parse(text, len, &ps);
        if ((rc != 0 && rc != -EINVAL) || rc2 != rc ||
            (rc == 0 && (ps.starttime != ticks || (ps.full && !ps.threads))))
            abort();
        break;
    }
    default: {
        struct xpv_topo *t = xpv_topo_alloc(2);
        t->nodes[0].id = 0;
        t->nodes[1].id = 5;
        uint64_t b[XPV_PLACE_MAX_NODES] = {0}, unknown = 0;
        struct xpv_error err = {0};
        if (hostd_numa_maps_parse(text, len, t, b, &unknown, &err) < 0 &&
            strncmp(err.msg, "numa_maps line ", 15) != 0)
            abort();
        xpv_topo_free(t);
        break;
    }
    }
    return 0;
}
