/*
 * vm_describe.c — xpv_vm_describe: ask a running QEMU (over QMP) and its /proc entries what the
 * host daemon needs: vCPU threads, vNUMA layout, guest RAM ranges, XPV channel devices.
 *
 * Each fact comes from the source that states it on QEMU 7.2 (checked on this machine, see
 * docs/vm-attach.md):
 *   vCPU threads and their guest node   query-cpus-fast (thread-id, props.node-id)
 *   number of guest nodes, their sizes  HMP "info numa" (QMP has no such query in 7.2; the
 *                                       experimental x-query-numa returns the same text)
 *   memory backends, types, sizes       qom-list /objects, query-memdev
 *   a file backend's file               qom-get /objects/ID mem-path
 *   backend -> guest node               /proc/PID/cmdline "-numa node,memdev=ID": QMP does not
 *                                       say it (query-memdev has no node, "info numa" only sizes,
 *                                       which cannot tell two equal backends apart);
 *                                       query-memory-devices for hot-plugged DIMMs/virtio-mem
 *   guest SLIT                          /proc/PID/cmdline "-numa dist" (no QMP query either)
 *   ivshmem backend                     qom-get of the ivshmem-plain device's "memdev" link
 *   virtio-serial port                  qom-get "name" and "chardev" of each virtserialport,
 *                                       then query-chardev for the chardev's socket path
 *   host address of each backend        /proc/PID/smaps (maps if smaps is unreadable): QEMU 7.2
 *                                       reports no host address over QMP (info ramblock has
 *                                       none); see vm_parse.c for how a range is recognised
 * A fact that cannot be found stays "unknown" and gets a line in d->notes. Only a failure of
 * the connection itself (or of query-cpus-fast, without which there is nothing to place)
 * fails the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xpv/file.h"
#include "xpv/qmp.h"
#include "xpv/vmdesc.h"

#define MAX_PROC_FILE (64u << 20)

__attribute__((format(printf, 2, 3))) static void note(struct xpv_vm_desc *d, const char *fmt, ...)
{
    size_t used = strlen(d->notes);
    if (used + 2 >= sizeof(d->notes))
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->notes + used, sizeof(d->notes) - used - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        d->notes[used] = '\0';
        return;
    }
    used = strlen(d->notes);
    d->notes[used] = '\n';
    d->notes[used + 1] = '\0';
    d->nr_notes++;
}

/* Errors that mean the connection (not just this query) is gone or unreliable. */
static int fatal(int rc)
{
    return rc == -ECONNRESET || rc == -EPROTO || rc == -ETIMEDOUT || rc == -ENOMEM;
}

static int read_all(const char *path, char **out, size_t *len)
{
    return xpv_read_file(path, MAX_PROC_FILE, out, len, NULL);
}

static void proc_path(char *buf, size_t len, const char *root, pid_t pid, const char *file)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    snprintf(buf, len, "%.*s/proc/%d/%s", (int)(rl == 1 && root[0] == '/' ? 0 : rl), root, (int)pid,
             file);
}

static int qom_list(struct xpv_qmp *q, const char *path, json_t **ret, struct xpv_error *err)
{
    return xpv_qmp_call(q, "qom-list", json_pack("{s:s}", "path", path), ret, err);
}

static int qom_get_str(struct xpv_qmp *q, const char *path, const char *prop, char *buf, size_t len,
                       struct xpv_error *err)
{
    json_t *r;
    int rc = xpv_qmp_call(q, "qom-get", json_pack("{s:s, s:s}", "path", path, "property", prop), &r,
                          err);
    if (rc < 0)
        return rc;
    const char *s = json_string_value(r);
    rc = !s ? xpv_error_set(err, -EPROTO, "qom-get %s %s: not a string", path, prop)
         : strlen(s) >= len
                 ? xpv_error_set(err, -ENAMETOOLONG, "qom-get %s %s: too long", path, prop)
                 : 0;
    if (rc == 0)
        strcpy(buf, s);
    json_decref(r);
    return rc;
}

/* "child<TYPE>" -> TYPE */
static const char *child_type(json_t *entry, char *buf, size_t len)
{
    const char *t = json_string_value(json_object_get(entry, "type"));
    if (!t || strncmp(t, "child<", 6))
        return NULL;
    size_t n = strlen(t + 6);
    if (n < 1 || t[6 + n - 1] != '>' || n - 1 >= len)
        return NULL;
    memcpy(buf, t + 6, n - 1);
    buf[n - 1] = '\0';
    return buf;
}

static struct xpv_vm_ram *find_ram(struct xpv_vm_desc *d, const char *id)
{
    if (!strncmp(id, "/objects/", 9))
        id += 9;
    for (unsigned i = 0; i < d->nr_ram; i++)
        if (!strcmp(d->ram[i].id, id))
            return &d->ram[i];
    return NULL;
}

/* Memory backends: ids and types from /objects, sizes from query-memdev, files by qom-get. */
static int backends(struct xpv_qmp *q, struct xpv_vm_desc *d, struct xpv_error *err)
{
    json_t *r;
    char type[64], path[300];
    int rc = qom_list(q, "/objects", &r, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(r); i++) {
        json_t *e = json_array_get(r, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!name || !child_type(e, type, sizeof(type)) || strncmp(type, "memory-backend-", 15))
            continue;
        if (d->nr_ram == XPV_VM_MAX_RAM) {
            note(d, "more than %d memory backends: the rest are not described", XPV_VM_MAX_RAM);
            break;
        }
        struct xpv_vm_ram *m = &d->ram[d->nr_ram];
        if (strlen(name) >= sizeof(m->id) || strlen(type) >= sizeof(m->type)) {
            note(d, "memory backend '%.80s': id or type too long, skipped", name);
            continue;
        }
        memset(m, 0, sizeof(*m));
        strcpy(m->id, name);
        strcpy(m->type, type);
        m->vnode = -1;
        d->nr_ram++;
    }
    json_decref(r);

    rc = xpv_qmp_call(q, "query-memdev", NULL, &r, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(r); i++) {
        json_t *e = json_array_get(r, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        json_t *sz = json_object_get(e, "size");
        struct xpv_vm_ram *m = id ? find_ram(d, id) : NULL;
        if (m && json_is_integer(sz) && json_integer_value(sz) >= 0)
            m->size = (uint64_t)json_integer_value(sz);
    }
    json_decref(r);

    for (unsigned i = 0; i < d->nr_ram; i++) {
        struct xpv_vm_ram *m = &d->ram[i];
        if (strcmp(m->type, "memory-backend-file"))
            continue;
        snprintf(path, sizeof(path), "/objects/%s", m->id);
        rc = qom_get_str(q, path, "mem-path", m->mem_path, sizeof(m->mem_path), err);
        if (fatal(rc))
            return rc;
        if (rc < 0)
            note(d, "backend %s: mem-path unknown (%s)", m->id, xpv_error_str(err, rc));
    }
    return 0;
}

/* Hot-plugged memory devices carry their own node and backend. */
static int memory_devices(struct xpv_qmp *q, struct xpv_vm_desc *d, struct xpv_error *err)
{
    json_t *r;
    int rc = xpv_qmp_call(q, "query-memory-devices", NULL, &r, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(r); i++) {
        json_t *data = json_object_get(json_array_get(r, i), "data");
        const char *memdev = json_string_value(json_object_get(data, "memdev"));
        json_t *node = json_object_get(data, "node");
        struct xpv_vm_ram *m = memdev ? find_ram(d, memdev) : NULL;
        if (!m)
            continue;
        m->flags |= XPV_VM_RAM_DIMM;
        if (json_is_integer(node) && json_integer_value(node) >= 0 &&
            json_integer_value(node) < XPV_VM_MAX_VNODES)
            m->vnode = (int)json_integer_value(node);
    }
    json_decref(r);
    return 0;
}

static int peripherals(struct xpv_qmp *q, struct xpv_vm_desc *d, const char *want_serial,
                       struct xpv_error *err)
{
    static const char *const roots[] = {"/machine/peripheral", "/machine/peripheral-anon"};
    unsigned nr_ivshmem = 0;
    char type[64], path[300], val[256];
    for (unsigned ri = 0; ri < 2; ri++) {
        json_t *r;
        int rc = qom_list(q, roots[ri], &r, err);
        if (fatal(rc))
            return rc;
        if (rc < 0)
            continue; /* peripheral-anon does not exist until an anonymous device does */
        for (size_t i = 0; i < json_array_size(r); i++) {
            json_t *e = json_array_get(r, i);
            const char *name = json_string_value(json_object_get(e, "name"));
            if (!name || !child_type(e, type, sizeof(type)))
                continue;
            snprintf(path, sizeof(path), "%s/%s", roots[ri], name);
            if (!strcmp(type, "ivshmem-plain")) {
                rc = qom_get_str(q, path, "memdev", val, sizeof(val), err);
                if (fatal(rc)) {
                    json_decref(r);
                    return rc;
                }
                if (rc < 0) {
                    note(d, "ivshmem device %s: no memdev (%s)", path, xpv_error_str(err, rc));
                    continue;
                }
                if (nr_ivshmem++) {
                    note(d, "more than one ivshmem-plain device: %s ignored", path);
                    continue;
                }
                const char *id = strncmp(val, "/objects/", 9) ? val : val + 9;
                if (strlen(id) >= sizeof(d->ivshmem_id)) {
                    note(d, "ivshmem device %s: backend id too long", path);
                    continue;
                }
                memcpy(d->ivshmem_id, id, strlen(id) + 1);
            } else if (!strcmp(type, "virtserialport")) {
                rc = qom_get_str(q, path, "name", val, sizeof(val), err);
                if (rc == 0 && strlen(val) < sizeof(d->serial_name) &&
                    (want_serial ? !strcmp(val, want_serial) : !strncmp(val, "org.xpv.", 8))) {
                    if (d->serial_name[0]) {
                        note(d, "virtserialport %s (%s) ignored: %s came first", path, val,
                             d->serial_name);
                        continue;
                    }
                    strcpy(d->serial_name, val);
                    rc = qom_get_str(q, path, "chardev", d->serial_chardev,
                                     sizeof(d->serial_chardev), err);
                    if (rc < 0 && !fatal(rc))
                        note(d, "virtserialport %s: no chardev (%s)", val, xpv_error_str(err, rc));
                }
                if (fatal(rc)) {
                    json_decref(r);
                    return rc;
                }
            }
        }
        json_decref(r);
    }
    if (d->serial_chardev[0]) {
        json_t *r;
        int rc = xpv_qmp_call(q, "query-chardev", NULL, &r, err);
        if (rc == 0) {
            rc = xpv_vm_chardev_unix_path(r, d->serial_chardev, d->serial_socket,
                                          sizeof(d->serial_socket), err);
            json_decref(r);
        }
        if (fatal(rc))
            return rc;
        if (rc < 0)
            note(d, "virtserialport %s: socket path unknown (%s)", d->serial_name,
                 xpv_error_str(err, rc));
    } else if (want_serial) {
        note(d, "no virtserialport named %s", want_serial);
    }
    return 0;
}

static void apply_cmdline(struct xpv_vm_desc *d, const struct xpv_vm_cmdline *c)
{
    for (unsigned i = 0; i < c->nr_nodes; i++) {
        if (!c->node[i].memdev[0])
            continue;
        struct xpv_vm_ram *m = find_ram(d, c->node[i].memdev);
        if (m)
            m->vnode = c->node[i].nodeid;
        else
            note(d, "cmdline binds node %d to backend %s, which QEMU does not list",
                 c->node[i].nodeid, c->node[i].memdev);
    }
    if (c->has_dist)
        for (unsigned i = 0; i < d->nr_vnodes; i++)
            for (unsigned j = 0; j < d->nr_vnodes; j++)
                d->vdist[i][j] = c->dist[i][j];
    /* A backend QEMU reports without a size (should not happen): the command line's. */
    for (unsigned i = 0; i < c->nr_objects; i++) {
        struct xpv_vm_ram *m = find_ram(d, c->object[i].id);
        if (m && !m->size)
            m->size = c->object[i].size;
    }
}

static void locate(struct xpv_vm_desc *d, const char *root)
{
    char path[512];
    char *text = NULL;
    size_t len = 0;
    const char *which = "smaps";
    proc_path(path, sizeof(path), root, d->pid, "smaps");
    int rc = read_all(path, &text, &len);
    if (rc < 0) {
        which = "maps";
        proc_path(path, sizeof(path), root, d->pid, "maps");
        rc = read_all(path, &text, &len);
    }
    if (rc < 0) {
        note(d, "cannot read %s: %s: no host addresses", path, strerror(-rc));
        return;
    }
    struct xpv_vm_map *maps;
    size_t nr;
    struct xpv_error e = {0};
    rc = xpv_vm_maps_parse(text, len, &maps, &nr, &e);
    free(text);
    if (rc < 0) {
        note(d, "%s: %s", path, xpv_error_str(&e, rc));
        return;
    }
    xpv_vm_ram_locate(maps, nr, d->ram, d->nr_ram);
    for (unsigned i = 0; i < d->nr_ram; i++) {
        struct xpv_vm_ram *m = &d->ram[i];
        if (m->flags & XPV_VM_RAM_HVA_AMBIGUOUS)
            note(d,
                 "backend %s: %u mappings in %s fit (%s); host address left unknown (give "
                 "backends distinct sizes, or use memory-backend-file with a mem-path)",
                 m->id, m->candidates, which,
                 m->mem_path[0] ? "same file mapped more than once"
                                : "unnamed RAM of the same size");
        else if (!m->hva)
            note(d, "backend %s: no mapping in %s%s", m->id, which,
                 m->mem_path[0] ? " for its file" : " of its size");
        else if (m->flags & XPV_VM_RAM_SHORT)
            note(d, "backend %s: its mapping is shorter than its size", m->id);
    }
    free(maps);
}

int xpv_vm_describe_ex(struct xpv_qmp *q, const struct xpv_vm_describe_opts *opts,
                       struct xpv_vm_desc *d, struct xpv_error *err)
{
    const char *root = opts && opts->procroot ? opts->procroot : "/";
    char path[512];
    json_t *r;
    int rc;
    memset(d, 0, sizeof(*d));
    d->pid = xpv_qmp_peer_pid(q);
    xpv_qmp_version(q, d->version);

    rc = xpv_qmp_call(q, "query-name", NULL, &r, err);
    if (fatal(rc))
        return rc;
    if (rc == 0) {
        const char *name = json_string_value(json_object_get(r, "name"));
        snprintf(d->name, sizeof(d->name), "%s", name ? name : "");
        json_decref(r);
    }

    if ((rc = xpv_qmp_call(q, "query-cpus-fast", NULL, &r, err)) < 0)
        return rc;
    rc = xpv_vm_parse_cpus(r, d, err);
    json_decref(r);
    if (rc < 0)
        return rc;

    char *text = NULL;
    rc = xpv_qmp_hmp(q, "info numa", &text, err);
    if (rc == 0)
        rc = xpv_vm_parse_info_numa(text, &d->nr_vnodes, d->vnode_mem, XPV_VM_MAX_VNODES, err);
    free(text);
    if (rc == -ECONNRESET || rc == -ETIMEDOUT || rc == -ENOMEM)
        return rc;
    if (rc < 0)
        note(d, "info numa: %s", xpv_error_str(err, rc));
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        if (d->vcpu[i].vnode >= (int)d->nr_vnodes) {
            if (rc == 0)
                note(d, "vCPU %u is on node %d but QEMU reports %u nodes", d->vcpu[i].index,
                     d->vcpu[i].vnode, d->nr_vnodes);
            d->nr_vnodes = (unsigned)d->vcpu[i].vnode + 1;
        }
        proc_path(path, sizeof(path), root, d->pid, "task/");
        size_t pl = strlen(path);
        struct stat st;
        snprintf(path + pl, sizeof(path) - pl, "%d", (int)d->vcpu[i].tid);
        if (stat(path, &st) < 0) {
            d->vcpu[i].flags |= XPV_VM_VCPU_TID_MISSING;
            note(d, "vCPU %u: thread %d is not in %s", d->vcpu[i].index, (int)d->vcpu[i].tid, path);
        }
    }

    if ((rc = backends(q, d, err)) < 0 && fatal(rc))
        return rc;
    if (rc < 0)
        note(d, "memory backends: %s", xpv_error_str(err, rc));

    proc_path(path, sizeof(path), root, d->pid, "cmdline");
    size_t len;
    rc = read_all(path, &text, &len);
    if (rc < 0) {
        note(d, "cannot read %s (%s): backend-to-node binding and distances unknown", path,
             strerror(-rc));
    } else {
        struct xpv_vm_cmdline *c = malloc(sizeof(*c));
        struct xpv_error e = {0};
        rc = c ? xpv_vm_cmdline_parse(text, len, c, &e) : -ENOMEM;
        if (rc == 0)
            apply_cmdline(d, c);
        else
            note(d, "%s: %s", path, xpv_error_str(&e, rc));
        free(c);
        free(text);
    }

    if ((rc = memory_devices(q, d, err)) < 0 && fatal(rc))
        return rc;
    if (rc < 0)
        note(d, "query-memory-devices: %s", xpv_error_str(err, rc));

    if ((rc = peripherals(q, d, opts ? opts->serial_name : NULL, err)) < 0)
        return rc;

    locate(d, root);

    /* The ivshmem backend is a channel, not guest RAM: move it out of ram[]. */
    if (d->ivshmem_id[0]) {
        struct xpv_vm_ram *m = find_ram(d, d->ivshmem_id);
        if (m) {
            snprintf(d->ivshmem_path, sizeof(d->ivshmem_path), "%s", m->mem_path);
            d->ivshmem_size = m->size;
            d->ivshmem_hva = m->hva;
            unsigned k = (unsigned)(m - d->ram);
            memmove(m, m + 1, (d->nr_ram - k - 1) * sizeof(*m));
            d->nr_ram--;
        } else {
            note(d, "ivshmem backend %s is not among the memory backends", d->ivshmem_id);
        }
    }

    /* Cross-check the binding against QEMU's own per-node sizes. */
    for (unsigned n = 0; n < d->nr_vnodes; n++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < d->nr_ram; i++)
            if (d->ram[i].vnode == (int)n && !(d->ram[i].flags & XPV_VM_RAM_DIMM))
                sum += d->ram[i].size;
        if (d->vnode_mem[n] && sum && sum != d->vnode_mem[n])
            note(d, "node %u: its backends hold %" PRIu64 " bytes, QEMU says %" PRIu64, n, sum,
                 d->vnode_mem[n]);
    }
    for (unsigned i = 0; i < d->nr_ram; i++)
        if (d->ram[i].vnode < 0 && d->nr_vnodes > 0)
            note(d, "backend %s: guest node unknown", d->ram[i].id);
    return 0;
}

int xpv_vm_describe(struct xpv_qmp *q, const char *procroot, struct xpv_vm_desc *out,
                    struct xpv_error *err)
{
    struct xpv_vm_describe_opts o = {.procroot = procroot};
    return xpv_vm_describe_ex(q, &o, out, err);
}

json_t *xpv_vm_desc_json(const struct xpv_vm_desc *d)
{
    json_t *o = json_object(), *cpus = json_array(), *ram = json_array(), *nodes = json_array();
    char ver[48];
    if (!o || !cpus || !ram || !nodes)
        goto fail;
    snprintf(ver, sizeof(ver), "%u.%u.%u", d->version[0], d->version[1], d->version[2]);
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        json_array_append_new(
                cpus, json_pack("{s:I, s:I, s:i, s:b}", "index", (json_int_t)d->vcpu[i].index,
                                "tid", (json_int_t)d->vcpu[i].tid, "vnode", d->vcpu[i].vnode,
                                "tid_found", !(d->vcpu[i].flags & XPV_VM_VCPU_TID_MISSING)));
    for (unsigned n = 0; n < d->nr_vnodes && n < XPV_VM_MAX_VNODES; n++) {
        json_t *dist = json_array();
        for (unsigned k = 0; dist && k < d->nr_vnodes; k++)
            json_array_append_new(dist, json_integer(d->vdist[n][k]));
        json_array_append_new(nodes, json_pack("{s:I, s:I, s:o*}", "node", (json_int_t)n, "memory",
                                               (json_int_t)d->vnode_mem[n], "distances", dist));
    }
    for (unsigned i = 0; i < d->nr_ram; i++) {
        const struct xpv_vm_ram *m = &d->ram[i];
        const char *how = m->flags & XPV_VM_RAM_HVA_BY_NAME     ? "mem-path"
                          : m->flags & XPV_VM_RAM_HVA_BY_SIZE   ? "size"
                          : m->flags & XPV_VM_RAM_HVA_AMBIGUOUS ? "ambiguous"
                                                                : "not-found";
        json_array_append_new(ram, json_pack("{s:s, s:s, s:i, s:I, s:I, s:s, s:s, s:I, s:b}", "id",
                                             m->id, "type", m->type, "vnode", m->vnode, "size",
                                             (json_int_t)m->size, "hva", (json_int_t)m->hva,
                                             "mem_path", m->mem_path, "hva_found_by", how,
                                             "candidates", (json_int_t)m->candidates, "dimm",
                                             !!(m->flags & XPV_VM_RAM_DIMM)));
    }
    json_t *notes = json_array();
    for (const char *p = d->notes; notes && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_array_append_new(notes, json_stringn(p, n));
        p += n + (nl ? 1 : 0);
    }
    if (json_object_set_new(o, "pid", json_integer(d->pid)) ||
        json_object_set_new(o, "name", json_string(d->name)) ||
        json_object_set_new(o, "qemu", json_string(ver)) || json_object_set_new(o, "vcpus", cpus) ||
        json_object_set_new(o, "vnodes", nodes) || json_object_set_new(o, "ram", ram) ||
        json_object_set_new(o, "ivshmem",
                            d->ivshmem_id[0] ? json_pack("{s:s, s:s, s:I, s:I}", "memdev",
                                                         d->ivshmem_id, "mem_path", d->ivshmem_path,
                                                         "size", (json_int_t)d->ivshmem_size, "hva",
                                                         (json_int_t)d->ivshmem_hva)
                                             : json_null()) ||
        json_object_set_new(o, "serial",
                            d->serial_name[0] ? json_pack("{s:s, s:s, s:s}", "name", d->serial_name,
                                                          "chardev", d->serial_chardev, "socket",
                                                          d->serial_socket)
                                              : json_null()) ||
        json_object_set_new(o, "notes", notes ? notes : json_array()))
        goto fail_set;
    return o;
fail:
    json_decref(cpus);
    json_decref(ram);
    json_decref(nodes);
fail_set:
    json_decref(o);
    return NULL;
}
