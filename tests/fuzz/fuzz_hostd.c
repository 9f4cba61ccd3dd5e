/*
 * fuzz_hostd.c — libFuzzer target for the host daemon's decoders of outside bytes: the first
 * byte picks one, the rest is its input.
 *   0: a configuration file (hostd_conf_parse): accepted, or refused with a message naming it;
 *   1: a control-socket request (hostd_control_handle) to a daemon with one domain whose
 *      processes are gone: always one JSON reply line, nothing moved;
 *   2: /proc/PID/numa_maps text (hostd_numa_maps_parse): byte counts only grow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostd.h"
#include "xpv/ops_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    c.nr_domains = 1;
    snprintf(c.domains[0].name, sizeof(c.domains[0].name), "a");
    c.domains[0].kind = HOSTD_PIDS;
    c.domains[0].pids[0] = 1;
    c.domains[0].nr_pids = 1;
    struct xpv_topo *t = xpv_topo_alloc(4);
    for (unsigned i = 0; i < 4; i++) {
        t->nodes[i].id = (int)i;
        t->nodes[i].mem_total = 1u << 30;
        xpv_bitmap_set(&t->nodes[i].cpus, i);
        xpv_bitmap_set(&t->cpus_online, i);
    }
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    if (!ops || hostd_init(&h, &c, t, "/nonexistent-xpv-fuzz", ops, NULL, NULL) < 0)
        abort();
    ready = 1;
    return &h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
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
