/*
 * topo_print.c — the two renderings of a topology that `xpv topo` offers: a report for
 * people and a JSON document for programs (schema in docs/cli.md).
 */
#include "xpv/topo.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void human_bytes(uint64_t b, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    unsigned u = 0;
    while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", b);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void xpv_topo_print(FILE *f, const struct xpv_topo *t)
{
    char mem[32], free_s[32], list[1024];
    struct xpv_bitmap ids;
    xpv_topo_nodeset(t, &ids);
    bool restricted = !xpv_bitmap_equal(&t->cpus_allowed, &t->cpus_online) ||
                      !xpv_bitmap_equal(&t->nodes_allowed, &ids);

    human_bytes(xpv_topo_mem_total(t), mem, sizeof(mem));
    fprintf(f, "%u NUMA node%s, %u CPU%s online", t->nr_nodes, t->nr_nodes == 1 ? "" : "s",
            xpv_bitmap_weight(&t->cpus_online), xpv_bitmap_weight(&t->cpus_online) == 1 ? "" : "s");
    if (!xpv_bitmap_empty(&t->cpus_offline)) {
        xpv_bitmap_format_list(&t->cpus_offline, list, sizeof(list));
        fprintf(f, " (offline: %s)", list);
    }
    fprintf(f, ", %s of memory\n", mem);
    if (restricted) {
        xpv_bitmap_format_list(&t->cpus_allowed, list, sizeof(list));
        fprintf(f, "this process is confined by a cpuset to CPUs %s", list[0] ? list : "(none)");
        xpv_bitmap_format_list(&t->nodes_allowed, list, sizeof(list));
        fprintf(f, " and nodes %s; '*' marks nodes outside it\n", list[0] ? list : "(none)");
    }

    fprintf(f, "\n  node  %-24s %5s %12s %12s\n", "cpus", "#cpus", "memory", "free");
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        const struct xpv_node *n = &t->nodes[i];
        xpv_bitmap_format_list(&n->cpus, list, sizeof(list));
        if (!list[0] && !xpv_bitmap_empty(&n->local_cpus)) {
            char near[1000];
            xpv_bitmap_format_list(&n->local_cpus, near, sizeof(near));
            snprintf(list, sizeof(list), "(no CPU; near %s)", near);
        } else if (!list[0]) {
            snprintf(list, sizeof(list), "(no CPU)");
        }
        if (n->mem_total) {
            human_bytes(n->mem_total, mem, sizeof(mem));
            human_bytes(n->mem_free, free_s, sizeof(free_s));
        } else {
            snprintf(mem, sizeof(mem), "no memory");
            snprintf(free_s, sizeof(free_s), "-");
        }
        bool allowed = xpv_bitmap_isset(&t->nodes_allowed, (unsigned)n->id);
        fprintf(f, "%c %4d  %-24s %5u %12s %12s\n", restricted && !allowed ? '*' : ' ', n->id, list,
                xpv_bitmap_weight(&n->cpus), mem, free_s);
    }

    fprintf(f, "\ndistances (%s; %u = local, relative cost of memory access)\n",
            t->has_distances ? "from firmware, ACPI SLIT"
                             : "none from firmware: Linux's default 10/20 shown",
            XPV_DISTANCE_LOCAL);
    fprintf(f, "  from\\to");
    for (unsigned j = 0; j < t->nr_nodes; j++)
        fprintf(f, " %4d", t->nodes[j].id);
    fputc('\n', f);
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        fprintf(f, "  %7d", t->nodes[i].id);
        for (unsigned j = 0; j < t->nr_nodes; j++)
            fprintf(f, " %4" PRIu32, xpv_topo_dist(t, i, j));
        fputc('\n', f);
    }
}

static json_t *bitmap_json(const struct xpv_bitmap *b)
{
    json_t *a = json_array();
    for (int c = xpv_bitmap_next(b, 0); a && c >= 0; c = xpv_bitmap_next(b, (unsigned)c + 1))
        json_array_append_new(a, json_integer(c));
    return a;
}

int xpv_topo_print_json(FILE *f, const struct xpv_topo *t)
{
    json_t *root = json_object(), *nodes = json_array(), *dist = json_array();
    if (!root || !nodes || !dist) {
        json_decref(root);
        json_decref(nodes);
        json_decref(dist);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        const struct xpv_node *n = &t->nodes[i];
        json_t *row = json_array();
        for (unsigned j = 0; j < t->nr_nodes; j++)
            json_array_append_new(row, json_integer(xpv_topo_dist(t, i, j)));
        json_array_append_new(dist, row);
        json_array_append_new(
                nodes,
                json_pack("{s:i, s:o, s:o, s:I, s:I, s:I, s:b}", "id", n->id, "cpus",
                          bitmap_json(&n->cpus), "local_cpus", bitmap_json(&n->local_cpus),
                          "memory_mb", (json_int_t)(n->mem_total >> 20), "memory_bytes",
                          (json_int_t)n->mem_total, "free_bytes", (json_int_t)n->mem_free,
                          "allowed", (int)xpv_bitmap_isset(&t->nodes_allowed, (unsigned)n->id)));
    }
    json_object_set_new(root, "nodes", nodes);
    json_object_set_new(root, "distances", dist);
    json_object_set_new(root, "distances_from_firmware", json_boolean(t->has_distances));
    json_object_set_new(root, "cpus_online", bitmap_json(&t->cpus_online));
    json_object_set_new(root, "cpus_offline", bitmap_json(&t->cpus_offline));
    json_object_set_new(root, "cpus_allowed", bitmap_json(&t->cpus_allowed));
    json_object_set_new(root, "nodes_allowed", bitmap_json(&t->nodes_allowed));
    int rc = json_dumpf(root, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc < 0)
        return -EIO;
    fputc('\n', f);
    return 0;
}
