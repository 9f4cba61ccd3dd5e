/*
 * hostd_lvxml.c — a libvirt domain's XML, as the host daemon needs it (hostd_lvxml.h). libxml2
 * builds the tree (NONET, no entity substitution, no DTD: a DOCTYPE is refused); the walk below
 * reads only the elements it knows and checks each value it keeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "hostd_lvxml.h"

static bool is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, (const xmlChar *)name) &&
           (!n->ns || !n->ns->href || !n->ns->href[0]);
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is(c, name))
            return c;
    return NULL;
}

/* An attribute's value into buf (""  when absent); -EINVAL when it does not fit. */
static int attr(const xmlNode *n, const char *name, char *buf, size_t len)
{
    buf[0] = 0;
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return 0;
    size_t l = strlen((const char *)v);
    int rc = l < len ? 0 : -EINVAL;
    if (!rc)
        memcpy(buf, v, l + 1);
    xmlFree(v);
    return rc;
}

static int text(const xmlNode *n, char *buf, size_t len)
{
    buf[0] = 0;
    xmlChar *v = xmlNodeGetContent(n);
    if (!v)
        return 0;
    /* trim blanks */
    const char *s = (const char *)v;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\t' || s[l - 1] == '\r'))
        l--;
    int rc = l < len ? 0 : -EINVAL;
    if (!rc) {
        memcpy(buf, s, l);
        buf[l] = 0;
    }
    xmlFree(v);
    return rc;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s[0])
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* libvirt's scaled integers: value in unit (default KiB), to bytes. */
static int scaled(const char *val, const char *unit, uint64_t *bytes)
{
    static const struct {
        const char *u;
        uint64_t mul;
    } units[] = {{"b", 1},          {"bytes", 1},       {"KB", 1000},
                 {"k", 1024},       {"KiB", 1024},      {"MB", 1000000},
                 {"M", 1u << 20},   {"MiB", 1u << 20},  {"GB", 1000000000},
                 {"G", 1u << 30},   {"GiB", 1u << 30},  {"TB", 1000000000000ull},
                 {"T", 1ull << 40}, {"TiB", 1ull << 40}};
    uint64_t mul = 0;
    if (!unit[0]) {
        mul = 1024;
    } else {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (!strcmp(unit, units[i].u))
                mul = units[i].mul;
    }
    uint64_t v;
    if (!mul || parse_u64(val, UINT64_MAX / mul, &v) < 0)
        return -EINVAL;
    *bytes = v * mul;
    return 0;
}

int hostd_lvxml_cpuset(const char *s, unsigned max, struct xpv_bitmap *out)
{
    xpv_bitmap_zero(out);
    if (max > XPV_MAX_CPUS)
        max = XPV_MAX_CPUS;
    struct xpv_bitmap neg;
    xpv_bitmap_zero(&neg);
    bool any = false;
    while (*s) {
        while (*s == ' ')
            s++;
        bool exclude = *s == '^';
        if (exclude)
            s++;
        char *end;
        if (*s < '0' || *s > '9')
            return -EINVAL;
        errno = 0;
        unsigned long a = strtoul(s, &end, 10), b = a;
        if (errno || a >= max)
            return -EINVAL;
        s = end;
        if (*s == '-') {
            s++;
            if (*s < '0' || *s > '9')
                return -EINVAL;
            b = strtoul(s, &end, 10);
            if (errno || b >= max || b < a)
                return -EINVAL;
            s = end;
        }
        for (unsigned long i = a; i <= b; i++)
            xpv_bitmap_set(exclude ? &neg : out, (unsigned)i);
        any = true;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s)
            return -EINVAL;
    }
    if (!any)
        return -EINVAL;
    for (unsigned i = 0; i < max; i++)
        if (xpv_bitmap_isset(&neg, i))
            xpv_bitmap_clr(out, i);
    return 0;
}

int hostd_lvxml_vcpu_cell(const struct hostd_lvxml *x, unsigned vcpu)
{
    for (unsigned c = 0; c < x->nr_cells; c++)
        if (xpv_bitmap_isset(&x->cell[c].cpus, vcpu))
            return (int)c;
    return -1;
}

/* A name we keep in messages and paths: printable, no '/'. */
static bool name_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '/')
            return false;
    return true;
}

/* A path we connect to: printable. */
static bool path_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

#define BAD(...) xpv_error_set(err, -EINVAL, __VA_ARGS__)

static int parse_metadata(const xmlNode *md, struct hostd_lvxml *x, struct xpv_error *err)
{
    for (const xmlNode *c = md ? md->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !c->ns || !c->ns->href ||
            xmlStrcmp(c->ns->href, (const xmlChar *)XPV_LV_NS) || xmlStrcmp(c->name, BAD_CAST "vm"))
            continue;
        if (x->xpv)
            return BAD("<metadata>: two xpv:vm elements (namespace %s)", XPV_LV_NS);
        x->xpv = true;
        if (attr(c, "name", x->xpv_name, sizeof(x->xpv_name)) < 0)
            return BAD("<xpv:vm name=...>: longer than %zu characters", sizeof(x->xpv_name) - 1);
        if (attr(c, "nodes", x->xpv_nodes, sizeof(x->xpv_nodes)) < 0)
            return BAD("<xpv:vm nodes=...>: longer than %zu characters", sizeof(x->xpv_nodes) - 1);
        struct xpv_bitmap b;
        if (x->xpv_nodes[0] && hostd_lvxml_cpuset(x->xpv_nodes, 64, &b) < 0)
            return BAD("<xpv:vm nodes='%s'>: not a node list such as '0' or '0,2-3' (ids < 64)",
                       x->xpv_nodes);
    }
    return 0;
}

static int parse_cpu(const xmlNode *cpu, struct hostd_lvxml *x, bool *all_shared,
                     struct xpv_error *err)
{
    const xmlNode *numa = child(cpu, "numa");
    char buf[512], unit[16];
    for (const xmlNode *c = numa ? numa->children : NULL; c; c = c->next) {
        if (!is(c, "cell"))
            continue;
        if (x->nr_cells >= XPV_LV_MAX_CELLS)
            return BAD("<numa>: more than %d cells", XPV_LV_MAX_CELLS);
        unsigned k = x->nr_cells;
        uint64_t id = k;
        if (attr(c, "id", buf, sizeof(buf)) < 0 || (buf[0] && parse_u64(buf, 63, &id) < 0))
            return BAD("<cell> %u: id is not a number below 64", k);
        if (id != k)
            return BAD("<cell id='%u'>: cells must be numbered 0, 1, ... in order", (unsigned)id);
        x->cell[k].id = (unsigned)id;
        if (attr(c, "cpus", buf, sizeof(buf)) < 0 ||
            (buf[0] && hostd_lvxml_cpuset(buf, XPV_LV_MAX_VCPUS, &x->cell[k].cpus) < 0))
            return BAD("<cell id='%u' cpus=...>: not a vCPU list below %d", k, XPV_LV_MAX_VCPUS);
        char mem[32];
        if (attr(c, "memory", mem, sizeof(mem)) < 0 || attr(c, "unit", unit, sizeof(unit)) < 0 ||
            scaled(mem, unit, &x->cell[k].mem) < 0)
            return BAD("<cell id='%u'>: memory/unit not a size libvirt writes", k);
        if (attr(c, "memAccess", buf, sizeof(buf)) == 0 && strcmp(buf, "shared"))
            *all_shared = false;
        x->nr_cells++;
    }
    return 0;
}

static int parse_devices(const xmlNode *devs, struct hostd_lvxml *x, struct xpv_error *err)
{
    char buf[256], unit[16];
    for (const xmlNode *c = devs ? devs->children : NULL; c; c = c->next) {
        if (is(c, "shmem") && !x->shmem_name[0]) {
            const xmlNode *model = child(c, "model");
            if (!model || attr(model, "type", buf, sizeof(buf)) < 0 || strcmp(buf, "ivshmem-plain"))
                continue;
            if (attr(c, "name", x->shmem_name, sizeof(x->shmem_name)) < 0 || !x->shmem_name[0] ||
                !name_ok(x->shmem_name))
                return BAD("<shmem name=...>: missing, longer than %zu or with '/' or control "
                           "characters",
                           sizeof(x->shmem_name) - 1);
            const xmlNode *size = child(c, "size");
            if (size) {
                if (text(size, buf, sizeof(buf)) < 0 ||
                    attr(size, "unit", unit, sizeof(unit)) < 0 ||
                    scaled(buf, unit[0] ? unit : "b", &x->shmem_size) < 0)
                    return BAD("<shmem name='%s'><size>: not a size", x->shmem_name);
            }
        } else if (is(c, "channel") && !x->channel_name[0]) {
            const xmlNode *target = child(c, "target"), *source = child(c, "source");
            if (attr(c, "type", buf, sizeof(buf)) < 0 || strcmp(buf, "unix") || !target)
                continue;
            char name[128];
            if (attr(target, "type", buf, sizeof(buf)) < 0 || strcmp(buf, "virtio") ||
                attr(target, "name", name, sizeof(name)) < 0 ||
                strncmp(name, XPV_LV_SERIAL_PFX, strlen(XPV_LV_SERIAL_PFX)))
                continue;
            snprintf(x->channel_name, sizeof(x->channel_name), "%s", name);
            if (source && attr(source, "path", x->channel_path, sizeof(x->channel_path)) < 0)
                return BAD("<channel> %s: source path longer than %zu", name,
                           sizeof(x->channel_path) - 1);
            if (x->channel_path[0] && (x->channel_path[0] != '/' || !path_ok(x->channel_path) ||
                                       strstr(x->channel_path, "/../")))
                return BAD("<channel> %s: source path '%s' is not an absolute path", name,
                           x->channel_path);
        }
    }
    return 0;
}

int hostd_lvxml_parse(const char *xml, size_t len, struct hostd_lvxml *out, struct xpv_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > XPV_LV_MAX_XML)
        return BAD("domain XML of %zu bytes (at most %u)", len, XPV_LV_MAX_XML);
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    if (!ctx)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    xmlDocPtr doc = xmlCtxtReadMemory(ctx, xml, (int)len, "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int rc = 0;
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctx);
        char msg[160];
        snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "not well-formed");
        msg[strcspn(msg, "\n")] = 0;
        rc = BAD("domain XML: %s (line %d)", msg, e ? e->line : 0);
        goto out;
    }
    if (doc->intSubset || doc->extSubset) {
        rc = BAD("domain XML: a DOCTYPE is not accepted");
        goto out;
    }
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !is(root, "domain")) {
        rc = BAD("domain XML: the root element is not <domain>");
        goto out;
    }
    const xmlNode *n;
    if ((n = child(root, "name")) && text(n, out->name, sizeof(out->name)) < 0) {
        rc = BAD("<name>: longer than %zu characters", sizeof(out->name) - 1);
        goto out;
    }
    if (!out->name[0] || !name_ok(out->name)) {
        rc = BAD("<name>: missing, or with '/' or control characters");
        goto out;
    }
    if ((n = child(root, "uuid")) && text(n, out->uuid, sizeof(out->uuid)) < 0) {
        rc = BAD("<uuid>: too long");
        goto out;
    }
    for (const char *p = out->uuid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') ||
              *p == '-')) {
            rc = BAD("<uuid>: '%s' is not a UUID", out->uuid);
            goto out;
        }
    if ((rc = parse_metadata(child(root, "metadata"), out, err)) < 0)
        goto out;
    char buf[64];
    if ((n = child(root, "vcpu"))) {
        uint64_t v;
        if (text(n, buf, sizeof(buf)) < 0 || parse_u64(buf, XPV_LV_MAX_VCPUS, &v) < 0 || !v) {
            rc = BAD("<vcpu>: not a count of 1..%d vCPUs", XPV_LV_MAX_VCPUS);
            goto out;
        }
        out->vcpu_max = out->vcpu_current = (unsigned)v;
        if (attr(n, "current", buf, sizeof(buf)) < 0 ||
            (buf[0] && (parse_u64(buf, out->vcpu_max, &v) < 0 || !v))) {
            rc = BAD("<vcpu current=...>: not a count of 1..%u", out->vcpu_max);
            goto out;
        }
        if (buf[0])
            out->vcpu_current = (unsigned)v;
    }
    bool all_shared = true;
    if ((n = child(root, "cpu")) && (rc = parse_cpu(n, out, &all_shared, err)) < 0)
        goto out;
    if ((n = child(root, "memoryBacking"))) {
        const xmlNode *s = child(n, "source"), *a = child(n, "access");
        if (s && attr(s, "type", buf, sizeof(buf)) == 0)
            out->mem_file = !strcmp(buf, "file");
        if (a && attr(a, "mode", buf, sizeof(buf)) == 0)
            out->mem_shared = !strcmp(buf, "shared");
    }
    if (out->nr_cells && all_shared)
        out->mem_shared = true;
    out->acpi = child(child(root, "features"), "acpi") != NULL;
    if ((rc = parse_devices(child(root, "devices"), out, err)) < 0)
        goto out;
    for (const xmlNode *c = root->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
            !xmlStrcmp(c->ns->href, BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0"))
            out->taint_custom = true;
out:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctx);
    return rc;
}
