/*
 * vm_parse.c — the pure parsers behind xpv_vm_describe (xpv/vmdesc.h): /proc/PID/maps and
 * smaps text, QEMU's command line, and the QMP replies query-cpus-fast, query-chardev and HMP
 * "info numa". No I/O; every input is untrusted (they are fuzzed by tests/fuzz/fuzz_qmp.c), so
 * every copy is bounded and a value that does not fit is an error, never truncated silently.
 *
 * Locating guest RAM in maps (xpv_vm_ram_locate): a file backend's mapping carries its path,
 * which identifies it. Anonymous RAM (memory-backend-ram) has no name; QEMU 7.2 maps each RAM
 * block separately (qemu_ram_mmap: exact size plus a guard page) and advises MADV_DONTFORK on
 * it, which smaps reports as VmFlags "dc". So a candidate is an unnamed read-write mapping of
 * exactly the backend's size, with "dc" when smaps was read. Two backends of the same size
 * cannot be told apart that way: both are reported ambiguous (hva 0, candidates > 1).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/vmdesc.h"

/* ---- maps / smaps ---- */

static int hexnum(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    while (*p < end && isxdigit((unsigned char)**p)) {
        if (x >> 60)
            return -1;
        char c = **p;
        x = x * 16 + (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        (*p)++;
    }
    *v = x;
    return *p > s ? 0 : -1;
}

static void skip_blanks(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static int skip_field(const char **p, const char *end)
{
    const char *s = *p;
    while (*p < end && **p != ' ' && **p != '\t')
        (*p)++;
    return *p > s ? 0 : -1;
}

/* "start-end perms offset dev inode [path]" */
static int parse_map_line(const char *p, const char *end, struct xpv_vm_map *m)
{
    memset(m, 0, sizeof(*m));
    m->dontcopy = -1;
    if (hexnum(&p, end, &m->start) || p >= end || *p++ != '-' || hexnum(&p, end, &m->end) ||
        m->end < m->start)
        return -1;
    skip_blanks(&p, end);
    if (end - p < 4)
        return -1;
    memcpy(m->perms, p, 4);
    for (int i = 0; i < 4; i++)
        if (!strchr("rwxps-", m->perms[i]))
            return -1;
    p += 4;
    skip_blanks(&p, end);
    if (hexnum(&p, end, &m->offset))
        return -1;
    skip_blanks(&p, end);
    if (skip_field(&p, end)) /* dev */
        return -1;
    skip_blanks(&p, end);
    const char *ino = p;
    while (p < end && isdigit((unsigned char)*p))
        p++;
    if (p == ino)
        return -1;
    skip_blanks(&p, end);
    size_t n = (size_t)(end - p);
    if (n >= sizeof(m->path))
        return -1;
    memcpy(m->path, p, n);
    m->path[n] = '\0';
    return 0;
}

int xpv_vm_maps_parse(const char *text, size_t len, struct xpv_vm_map **out, size_t *nr,
                      struct xpv_error *err)
{
    *out = NULL;
    *nr = 0;
    size_t cap = 0, n = 0, line = 0;
    struct xpv_vm_map *v = NULL;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *s = p;
        p = nl ? nl + 1 : end;
        if (le > s && le[-1] == '\r')
            le--;
        if (s == le)
            continue;
        /* smaps: "Key: value" lines follow each mapping; keys start with a capital letter,
         * addresses are lower-case hex. */
        if (isupper((unsigned char)*s)) {
            const char *colon = memchr(s, ':', (size_t)(le - s));
            if (!colon)
                goto bad;
            if (n && colon - s == 7 && !memcmp(s, "VmFlags", 7)) {
                v[n - 1].dontcopy = 0;
                for (const char *f = colon + 1; f + 1 < le; f++)
                    if (f[0] == 'd' && f[1] == 'c' && f[-1] == ' ' && (f + 2 == le || f[2] == ' '))
                        v[n - 1].dontcopy = 1;
            }
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct xpv_vm_map *nv = realloc(v, nc * sizeof(*v));
            if (!nv) {
                free(v);
                return xpv_error_set(err, -ENOMEM, "maps: out of memory");
            }
            v = nv;
            cap = nc;
        }
        if (parse_map_line(s, le, &v[n]) < 0)
            goto bad;
        n++;
        continue;
    bad:
        free(v);
        return xpv_error_set(err, -EINVAL, "maps: line %zu is not a mapping", line);
    }
    *out = v;
    *nr = n;
    return 0;
}

/* maps appends " (deleted)" to the path of an unlinked file. */
static int same_path(const char *map_path, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(map_path, path, n) && (!map_path[n] || !strcmp(map_path + n, " (deleted)"));
}

static int unnamed_ram(const struct xpv_vm_map *m, const char *type)
{
    int memfd = !strncmp(m->path, "/memfd:", 7);
    if (!strcmp(type, "memory-backend-memfd"))
        return memfd;
    if (memfd)
        return !type[0];
    return !m->path[0] || !strcmp(m->path, "/dev/zero (deleted)") ||
           !strncmp(m->path, "[anon_shmem", 11) || !strncmp(m->path, "[anon:", 6);
}

int xpv_vm_ram_locate(const struct xpv_vm_map *maps, size_t nr, struct xpv_vm_ram *ram,
                      unsigned nr_ram)
{
    int unlocated = 0;
    for (unsigned i = 0; i < nr_ram; i++) {
        struct xpv_vm_ram *r = &ram[i];
        size_t first = 0;
        unsigned count = 0;
        r->hva = 0;
        r->candidates = 0;
        r->flags &= ~(XPV_VM_RAM_HVA_BY_NAME | XPV_VM_RAM_HVA_BY_SIZE | XPV_VM_RAM_HVA_AMBIGUOUS |
                      XPV_VM_RAM_SHORT);
        for (size_t k = 0; k < nr; k++) {
            const struct xpv_vm_map *m = &maps[k];
            int fit;
            if (r->mem_path[0])
                fit = m->offset == 0 && same_path(m->path, r->mem_path);
            else
                fit = r->size && m->end - m->start == r->size && m->perms[0] == 'r' &&
                      m->perms[1] == 'w' && m->dontcopy != 0 && unnamed_ram(m, r->type);
            if (fit && !count++)
                first = k;
        }
        r->candidates = count;
        if (count != 1) {
            if (count > 1)
                r->flags |= XPV_VM_RAM_HVA_AMBIGUOUS;
            unlocated++;
            continue;
        }
        r->hva = maps[first].start;
        if (!r->mem_path[0]) {
            r->flags |= XPV_VM_RAM_HVA_BY_SIZE;
            continue;
        }
        r->flags |= XPV_VM_RAM_HVA_BY_NAME;
        /* The kernel splits a mapping whose parts differ (protection, policy); follow the
         * contiguous pieces of the same file at consecutive offsets. */
        uint64_t len = maps[first].end - maps[first].start;
        for (size_t k = first + 1;
             k < nr && maps[k].start == maps[k - 1].end && same_path(maps[k].path, r->mem_path) &&
             maps[k].offset == maps[k - 1].offset + (maps[k - 1].end - maps[k - 1].start);
             k++)
            len += maps[k].end - maps[k].start;
        if (r->size && len < r->size)
            r->flags |= XPV_VM_RAM_SHORT;
    }
    return unlocated;
}

/* ---- QEMU sizes and option strings ---- */

int xpv_vm_parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "BKMGTPE";
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno)
        return -ERANGE;
    double frac = 0;
    if (*e == '.') {
        const char *f = e + 1;
        double scale = 0.1;
        if (!isdigit((unsigned char)*f))
            return -EINVAL;
        for (; isdigit((unsigned char)*f); f++, scale /= 10)
            frac += (*f - '0') * scale;
        e = (char *)f;
    }
    unsigned shift = 0;
    if (*e) {
        const char *u = strchr(units, toupper((unsigned char)*e));
        if (!u || e[1])
            return -EINVAL;
        shift = 10 * (unsigned)(u - units);
    }
    if (shift == 0 && frac != 0)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = ((uint64_t)v << shift) + (uint64_t)(frac * (double)(1ull << shift));
    return 0;
}

/* Next element of a QemuOpts string "a=1,b=2": elements are split at single commas, ",," is
 * a literal comma. The first element may be a bare value for the option's implied key; a
 * later bare word is a flag (QemuOpts reads "flag" as flag=on). Returns 1 with key/val, 0 at
 * the end, -1 when an element does not fit. */
static int opts_next(const char **pp, const char *implied, int first, char *key, size_t kl,
                     char *val, size_t vl)
{
    const char *p = *pp;
    char elem[512];
    size_t n = 0;
    if (!*p)
        return 0;
    for (; *p; p++) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++;
        }
        if (n + 1 >= sizeof(elem))
            return -1;
        elem[n++] = *p;
    }
    elem[n] = '\0';
    *pp = *p ? p + 1 : p;
    char *eq = strchr(elem, '=');
    const char *k = elem, *v = "on";
    if (eq) {
        *eq = '\0';
        v = eq + 1;
    } else if (first && implied) {
        k = implied;
        v = elem;
    }
    if (strlen(k) >= kl || strlen(v) >= vl)
        return -1;
    strcpy(key, k);
    strcpy(val, v);
    return 1;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *e;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &e, 10);
    if (*e || errno || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_numa(struct xpv_vm_cmdline *c, const char *v, struct xpv_error *err)
{
    char key[32], val[256], type[16] = "";
    unsigned nodeid = c->nr_nodes, src = ~0u, dst = ~0u, dist = 0;
    char memdev[64] = "";
    int have_dist = 0;
    const char *p = v;
    for (int first = 1, r; (r = opts_next(&p, "type", first, key, sizeof(key), val, sizeof(val)));
         first = 0) {
        if (r < 0)
            goto bad;
        if (!strcmp(key, "type")) {
            if (copy_str(type, sizeof(type), val))
                goto bad;
        } else if (!strcmp(key, "nodeid")) {
            if (parse_uint(val, XPV_VM_MAX_VNODES - 1, &nodeid))
                goto bad;
        } else if (!strcmp(key, "memdev")) {
            if (copy_str(memdev, sizeof(memdev), val))
                goto bad;
        } else if (!strcmp(key, "src")) {
            if (parse_uint(val, XPV_VM_MAX_VNODES - 1, &src))
                goto bad;
        } else if (!strcmp(key, "dst")) {
            if (parse_uint(val, XPV_VM_MAX_VNODES - 1, &dst))
                goto bad;
        } else if (!strcmp(key, "val")) {
            if (parse_uint(val, 255, &dist))
                goto bad;
            have_dist = 1;
        }
    }
    if (!strcmp(type, "node")) {
        if (c->nr_nodes >= XPV_VM_MAX_VNODES)
            return xpv_error_set(err, -E2BIG, "cmdline: more than %d -numa node",
                                 XPV_VM_MAX_VNODES);
        c->node[c->nr_nodes].nodeid = (int)nodeid;
        strcpy(c->node[c->nr_nodes].memdev, memdev);
        c->nr_nodes++;
    } else if (!strcmp(type, "dist")) {
        if (src == ~0u || dst == ~0u || !have_dist)
            goto bad;
        c->dist[src][dst] = dist;
        c->has_dist = 1;
    }
    return 0;
bad:
    return xpv_error_set(err, -EINVAL, "cmdline: malformed -numa '%.80s'", v);
}

static int add_object(struct xpv_vm_cmdline *c, const char *type, const char *id, uint64_t size,
                      const char *mem_path, const char *v, struct xpv_error *err)
{
    if (strncmp(type, "memory-backend-", 15))
        return 0;
    if (c->nr_objects >= XPV_VM_MAX_RAM)
        return xpv_error_set(err, -E2BIG, "cmdline: more than %d memory backends", XPV_VM_MAX_RAM);
    unsigned i = c->nr_objects;
    if (copy_str(c->object[i].type, sizeof(c->object[i].type), type) ||
        copy_str(c->object[i].id, sizeof(c->object[i].id), id) ||
        copy_str(c->object[i].mem_path, sizeof(c->object[i].mem_path), mem_path))
        return xpv_error_set(err, -EINVAL, "cmdline: -object with a value too long: '%.80s'", v);
    c->object[i].size = size;
    c->nr_objects++;
    return 0;
}

static int parse_object_json(struct xpv_vm_cmdline *c, const char *v, struct xpv_error *err)
{
    json_error_t je;
    json_t *o = json_loads(v, 0, &je);
    int rc = 0;
    if (!json_is_object(o)) {
        rc = xpv_error_set(err, -EINVAL, "cmdline: -object JSON: %s",
                           o ? "not an object" : je.text);
        goto out;
    }
    const char *type = json_string_value(json_object_get(o, "qom-type"));
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *path = json_string_value(json_object_get(o, "mem-path"));
    json_t *js = json_object_get(o, "size");
    uint64_t size = 0;
    if (!type || !id || !id[0]) { /* QEMU wants a non-empty id, as in the k=v form below */
        rc = xpv_error_set(err, -EINVAL, "cmdline: -object JSON without qom-type or id");
        goto out;
    }
    if (json_is_integer(js) && json_integer_value(js) >= 0)
        size = (uint64_t)json_integer_value(js);
    else if (json_is_string(js) && xpv_vm_parse_size(json_string_value(js), &size) < 0) {
        rc = xpv_error_set(err, -EINVAL, "cmdline: -object %s: bad size", id);
        goto out;
    }
    rc = add_object(c, type, id, size, path ? path : "", v, err);
out:
    json_decref(o);
    return rc;
}

static int parse_object(struct xpv_vm_cmdline *c, const char *v, struct xpv_error *err)
{
    if (*v == '{')
        return parse_object_json(c, v, err);
    char key[32], val[256], type[40] = "", id[64] = "", path[256] = "";
    uint64_t size = 0;
    const char *p = v;
    for (int first = 1, r;
         (r = opts_next(&p, "qom-type", first, key, sizeof(key), val, sizeof(val))); first = 0) {
        if (r < 0)
            goto bad;
        if (!strcmp(key, "qom-type")) {
            if (copy_str(type, sizeof(type), val))
                goto bad;
        } else if (!strcmp(key, "id")) {
            if (copy_str(id, sizeof(id), val))
                goto bad;
        } else if (!strcmp(key, "mem-path")) {
            if (copy_str(path, sizeof(path), val))
                goto bad;
        } else if (!strcmp(key, "size")) {
            if (xpv_vm_parse_size(val, &size) < 0)
                goto bad;
        }
    }
    if (!strncmp(type, "memory-backend-", 15) && !id[0])
        goto bad;
    return add_object(c, type, id, size, path, v, err);
bad:
    return xpv_error_set(err, -EINVAL, "cmdline: malformed -object '%.80s'", v);
}

static int parse_machine(struct xpv_vm_cmdline *c, const char *v)
{
    char key[32], val[256];
    const char *p = v;
    for (int first = 1, r; (r = opts_next(&p, "type", first, key, sizeof(key), val, sizeof(val)));
         first = 0) {
        if (r < 0)
            return 0; /* only memory-backend matters here; leave the rest to QEMU */
        if (!strcmp(key, "memory-backend"))
            copy_str(c->machine_memdev, sizeof(c->machine_memdev), val);
    }
    return 0;
}

int xpv_vm_cmdline_parse(const char *buf, size_t len, struct xpv_vm_cmdline *out,
                         struct xpv_error *err)
{
    memset(out, 0, sizeof(*out));
    /* Arguments are NUL-terminated; copy so the last one is terminated too. */
    char *copy = malloc(len + 1);
    if (!copy)
        return xpv_error_set(err, -ENOMEM, "cmdline: out of memory");
    memcpy(copy, buf, len);
    copy[len] = '\0';
    const char *prev = NULL;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0;) {
        const char *a = copy + off;
        off += strlen(a) + 1;
        if (prev) {
            if (!strcmp(prev, "-numa"))
                rc = parse_numa(out, a, err);
            else if (!strcmp(prev, "-object"))
                rc = parse_object(out, a, err);
            else if (!strcmp(prev, "-machine") || !strcmp(prev, "-M"))
                rc = parse_machine(out, a);
            prev = NULL;
            continue;
        }
        if (a[0] == '-' && a[1] == '-')
            a++; /* QEMU accepts --opt as -opt */
        if (!strcmp(a, "-numa") || !strcmp(a, "-object") || !strcmp(a, "-machine") ||
            !strcmp(a, "-M"))
            prev = a;
    }
    free(copy);
    if (rc < 0)
        return rc;
    if (out->has_dist) {
        /* As QEMU completes it: a missing direction mirrors the given one, local is 10. */
        for (unsigned i = 0; i < XPV_VM_MAX_VNODES; i++)
            for (unsigned j = 0; j < XPV_VM_MAX_VNODES; j++)
                if (!out->dist[i][j] && out->dist[j][i])
                    out->dist[i][j] = out->dist[j][i];
        for (unsigned i = 0; i < out->nr_nodes; i++) {
            unsigned n = (unsigned)out->node[i].nodeid;
            if (!out->dist[n][n])
                out->dist[n][n] = 10;
        }
    }
    return 0;
}

/* ---- QMP replies ---- */

int xpv_vm_parse_cpus(const json_t *ret, struct xpv_vm_desc *d, struct xpv_error *err)
{
    if (!json_is_array(ret))
        return xpv_error_set(err, -EPROTO, "query-cpus-fast: the return is not an array");
    size_t n = json_array_size(ret);
    if (n > XPV_VM_MAX_VCPUS)
        return xpv_error_set(err, -E2BIG, "query-cpus-fast: %zu vCPUs, at most %d supported", n,
                             XPV_VM_MAX_VCPUS);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(ret, i);
        json_t *idx = json_object_get(c, "cpu-index"), *tid = json_object_get(c, "thread-id");
        json_t *node = json_object_get(json_object_get(c, "props"), "node-id");
        if (!json_is_integer(idx) || !json_is_integer(tid) || json_integer_value(idx) < 0 ||
            json_integer_value(tid) <= 0 || json_integer_value(tid) > INT32_MAX ||
            json_integer_value(idx) > UINT32_MAX)
            return xpv_error_set(err, -EPROTO,
                                 "query-cpus-fast: entry %zu lacks a valid cpu-index/thread-id", i);
        struct xpv_vm_vcpu *v = &d->vcpu[i];
        v->index = (unsigned)json_integer_value(idx);
        v->tid = (pid_t)json_integer_value(tid);
        v->vnode = -1;
        v->flags = 0;
        if (json_is_integer(node) && json_integer_value(node) >= 0 &&
            json_integer_value(node) < XPV_VM_MAX_VNODES)
            v->vnode = (int)json_integer_value(node);
        else if (node)
            return xpv_error_set(err, -EPROTO, "query-cpus-fast: entry %zu: bad node-id", i);
    }
    d->nr_vcpus = (unsigned)n;
    return 0;
}

int xpv_vm_parse_info_numa(const char *text, unsigned *nr_nodes, uint64_t *mem, unsigned max,
                           struct xpv_error *err)
{
    unsigned n;
    int got = 0;
    const char *p = text;
    for (unsigned i = 0; i < max; i++)
        mem[i] = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        char line[160];
        if (ll >= sizeof(line))
            ll = sizeof(line) - 1;
        memcpy(line, p, ll);
        line[ll] = '\0';
        p = nl ? nl + 1 : p + strlen(p);
        unsigned node, count;
        unsigned long long mb;
        char unit[8], tail;
        /* into `count`, not `n`: a later line that also starts with a number must not change
         * the node count the bounds check below relies on (found by fuzz.qmp) */
        if (!got && sscanf(line, "%u nodes%c", &count, &tail) >= 1) {
            n = count;
            if (n > max)
                return xpv_error_set(err, -E2BIG, "info numa: %u nodes, at most %u supported", n,
                                     max);
            *nr_nodes = n;
            got = 1;
        } else if (sscanf(line, "node %u size: %llu %7s", &node, &mb, unit) == 3) {
            if (!got || node >= n || strcmp(unit, "MB") || mb > (UINT64_MAX >> 20))
                return xpv_error_set(err, -EPROTO, "info numa: unexpected line '%.60s'", line);
            mem[node] = (uint64_t)mb << 20;
        }
    }
    if (!got)
        return xpv_error_set(err, -EPROTO, "info numa: no 'N nodes' line");
    return 0;
}

int xpv_vm_chardev_unix_path(const json_t *ret, const char *label, char *path, size_t len,
                             struct xpv_error *err)
{
    if (!json_is_array(ret))
        return xpv_error_set(err, -EPROTO, "query-chardev: the return is not an array");
    for (size_t i = 0; i < json_array_size(ret); i++) {
        json_t *c = json_array_get(ret, i);
        const char *l = json_string_value(json_object_get(c, "label"));
        const char *f = json_string_value(json_object_get(c, "filename"));
        if (!l || strcmp(l, label))
            continue;
        if (!f)
            return xpv_error_set(err, -EPROTO, "query-chardev: %s has no filename", label);
        if (!strncmp(f, "disconnected:", 13))
            f += 13;
        if (strncmp(f, "unix:", 5))
            return xpv_error_set(err, -EMEDIUMTYPE, "chardev %s is not a unix socket (%.80s)",
                                 label, f);
        f += 5;
        /* QEMU prints the path raw, then ",server=on" etc.: a path with a comma in it cannot
         * be told from the options (docs/vm-attach.md). */
        size_t n = strcspn(f, ",");
        if (n == 0 || n >= len)
            return xpv_error_set(err, -EPROTO, "chardev %s: bad socket path", label);
        memcpy(path, f, n);
        path[n] = '\0';
        return 0;
    }
    return xpv_error_set(err, -ENOENT, "query-chardev: no chardev '%s'", label);
}
