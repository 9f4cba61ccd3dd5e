/*
 * gm_layout.c — a QEMU VM's guest RAM backends, their host and guest-physical addresses, and
 * the names QEMU gives its vCPU threads (xpv/gm_layout.h). Pure functions over untrusted
 * text: the sampler library runs them on its own process, `xpv carrefour --vm` on QEMU's.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/gm_layout.h"
#include "xpv/vmdesc.h"

#define GIB (UINT64_C(1) << 30)

/* argv[i] of cmdline, NUL-separated; returns the next offset or clen. */
static size_t next_arg(const char *c, size_t clen, size_t off, const char **a, size_t *n)
{
    const char *s = c + off, *e = memchr(s, '\0', clen - off);
    *a = s;
    *n = e ? (size_t)(e - s) : clen - off;
    return off + *n + (e ? 1 : 0);
}

static bool arg_is(const char *a, size_t n, const char *opt)
{
    if (n >= 2 && a[0] == '-' && a[1] == '-') { /* QEMU accepts --opt as -opt */
        a++;
        n--;
    }
    return n == strlen(opt) && !memcmp(a, opt, n);
}

/* The -machine value names q35 (as its first item or type=): "q35", "pc-q35-10.0". */
static bool machine_q35(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        const char *it = v + i;
        size_t len = j - i;
        if (i == 0 || (len > 5 && !memcmp(it, "type=", 5))) {
            if (i)
                it += 5, len -= 5;
            for (size_t k = 0; k + 3 <= len; k++)
                if (!memcmp(it + k, "q35", 3))
                    return true;
        }
        i = j + 1;
    }
    return false;
}

static void scan_args(const char *c, size_t clen, struct xpv_gm_layout *l)
{
    const char *prev = NULL, *a;
    size_t pn = 0, n;
    for (size_t off = 0; off < clen;) {
        off = next_arg(c, clen, off, &a, &n);
        if (prev) {
            if (arg_is(prev, pn, "-machine") || arg_is(prev, pn, "-M"))
                l->q35 = machine_q35(a, n);
            else if (arg_is(prev, pn, "-name") && memmem(a, n, "debug-threads=on", 16))
                l->thread_names = true;
            prev = NULL;
            continue;
        }
        if (arg_is(a, n, "-incoming"))
            l->incoming = true;
        if (arg_is(a, n, "-machine") || arg_is(a, n, "-M") || arg_is(a, n, "-name"))
            prev = a, pn = n;
    }
}

static int add_backend(struct xpv_gm_layout *l, const struct xpv_vm_cmdline *cl, const char *id,
                       int vnode, struct xpv_error *err)
{
    for (unsigned i = 0; i < l->nr; i++)
        if (!strcmp(l->b[i].id, id))
            return xpv_error_set(err, -EINVAL, "backend %s backs two guest nodes", id);
    for (unsigned k = 0; k < cl->nr_objects; k++) {
        if (strcmp(cl->object[k].id, id))
            continue;
        if (l->nr >= XPV_GM_MAX_BACKENDS)
            return xpv_error_set(err, -EINVAL, "more than %d RAM backends", XPV_GM_MAX_BACKENDS);
        struct xpv_gm_backend *b = &l->b[l->nr++];
        memset(b, 0, sizeof(*b));
        snprintf(b->id, sizeof(b->id), "%s", id);
        snprintf(b->type, sizeof(b->type), "%s", cl->object[k].type);
        b->vnode = vnode;
        b->size = cl->object[k].size;
        if (!strcmp(b->type, "memory-backend-ram"))
            return xpv_error_set(
                    err, -ENOTSUP,
                    "backend %s is memory-backend-ram (anonymous memory): userfaultfd minor "
                    "faults need shared memory; start QEMU with -object "
                    "memory-backend-memfd,id=%s,size=...,share=on (or memory-backend-file with "
                    "mem-path=/dev/shm/... and share=on)",
                    id, id);
        if (strcmp(b->type, "memory-backend-memfd") && strcmp(b->type, "memory-backend-file"))
            return xpv_error_set(err, -ENOTSUP,
                                 "backend %s is %s: only memory-backend-memfd and "
                                 "memory-backend-file (share=on) can be sampled",
                                 id, b->type);
        if (!b->size || b->size % 4096)
            return xpv_error_set(err, -EINVAL,
                                 "backend %s: size %llu is not a whole number "
                                 "of 4 KiB pages",
                                 id, (unsigned long long)b->size);
        if (l->ram_size + b->size < l->ram_size)
            return xpv_error_set(err, -EINVAL, "backend sizes overflow");
        b->ram_off = l->ram_size;
        l->ram_size += b->size;
        return 0;
    }
    return xpv_error_set(err, -EINVAL, "no -object with id=%s on the command line", id);
}

int xpv_gm_layout_parse(const char *cmdline, size_t clen, const char *maps, size_t mlen,
                        uint64_t lowmem, struct xpv_gm_layout *l, struct xpv_error *err)
{
    memset(l, 0, sizeof(*l));
    struct xpv_vm_cmdline *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    struct xpv_vm_map *m = NULL;
    size_t nm = 0;
    int rc = xpv_vm_cmdline_parse(cmdline, clen, cl, err);
    if (rc < 0)
        goto out;
    scan_args(cmdline, clen, l);
    /* the backends in guest node order (QEMU lays the machine's RAM out so) */
    unsigned order[XPV_VM_MAX_VNODES];
    for (unsigned i = 0; i < cl->nr_nodes && i < XPV_VM_MAX_VNODES; i++)
        order[i] = i;
    for (unsigned i = 1; i < cl->nr_nodes && i < XPV_VM_MAX_VNODES; i++)
        for (unsigned j = i; j > 0 && cl->node[order[j]].nodeid < cl->node[order[j - 1]].nodeid;
             j--) {
            unsigned t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (unsigned i = 0; i < cl->nr_nodes && i < XPV_VM_MAX_VNODES && rc == 0; i++) {
        unsigned k = order[i];
        if (cl->node[k].memdev[0])
            rc = add_backend(l, cl, cl->node[k].memdev, cl->node[k].nodeid, err);
    }
    if (rc == 0 && !l->nr && cl->machine_memdev[0])
        rc = add_backend(l, cl, cl->machine_memdev, -1, err);
    if (rc < 0)
        goto out;
    if (!l->nr) {
        rc = xpv_error_set(err, -ENOTSUP,
                           "no memory backend on QEMU's command line (plain -m is anonymous "
                           "memory): start QEMU with -object memory-backend-memfd,id=ram0,"
                           "size=...,share=on -machine memory-backend=ram0 (or -numa "
                           "node,memdev=... per guest node)");
        goto out;
    }
    if (lowmem)
        l->lowmem = lowmem < l->ram_size ? lowmem : l->ram_size;
    else if (l->q35)
        l->lowmem = l->ram_size >= UINT64_C(0xb0000000) ? 2 * GIB : l->ram_size;
    else
        l->lowmem = l->ram_size >= UINT64_C(0xe0000000) ? 3 * GIB : l->ram_size;

    if ((rc = xpv_vm_maps_parse(maps, mlen, &m, &nm, err)) < 0)
        goto out;
    struct xpv_vm_ram ram[XPV_GM_MAX_BACKENDS];
    memset(ram, 0, sizeof(ram));
    for (unsigned i = 0; i < l->nr; i++) {
        snprintf(ram[i].id, sizeof(ram[i].id), "%s", l->b[i].id);
        snprintf(ram[i].type, sizeof(ram[i].type), "%s", l->b[i].type);
        ram[i].size = l->b[i].size;
        for (unsigned k = 0; k < cl->nr_objects; k++)
            if (!strcmp(cl->object[k].id, l->b[i].id))
                snprintf(ram[i].mem_path, sizeof(ram[i].mem_path), "%s", cl->object[k].mem_path);
    }
    xpv_vm_ram_locate(m, nm, ram, l->nr);
    bool missing = false;
    for (unsigned i = 0; i < l->nr; i++) {
        if (ram[i].flags & XPV_VM_RAM_HVA_AMBIGUOUS) {
            rc = xpv_error_set(err, -ENOTSUP,
                               "backend %s: %u mappings fit; give the backends distinct sizes "
                               "or use memory-backend-file with a mem-path",
                               ram[i].id, ram[i].candidates);
            goto out;
        }
        if (!ram[i].hva || (ram[i].flags & XPV_VM_RAM_SHORT)) {
            missing = true;
            continue;
        }
        l->b[i].hva = ram[i].hva;
        /* the mapping must be shared over the backend's whole size */
        for (uint64_t a = ram[i].hva; a < ram[i].hva + ram[i].size;) {
            size_t k = 0;
            while (k < nm && !(m[k].start <= a && a < m[k].end))
                k++;
            if (k == nm) {
                missing = true;
                break;
            }
            if (m[k].perms[3] != 's') {
                rc = xpv_error_set(err, -ENOTSUP,
                                   "backend %s is mapped private (share=off): dropping a page "
                                   "of a private mapping loses it; start QEMU with share=on on "
                                   "the backend",
                                   ram[i].id);
                goto out;
            }
            a = m[k].end;
        }
    }
    if (missing)
        rc = xpv_error_set(err, -EAGAIN, "guest RAM is not mapped yet");
out:
    free(m);
    free(cl);
    return rc;
}

uint64_t xpv_gm_gpa(const struct xpv_gm_layout *l, uint64_t hva, unsigned *backend)
{
    for (unsigned i = 0; i < l->nr; i++) {
        const struct xpv_gm_backend *b = &l->b[i];
        if (!b->hva || hva < b->hva || hva - b->hva >= b->size)
            continue;
        if (backend)
            *backend = i;
        uint64_t off = b->ram_off + (hva - b->hva);
        return off < l->lowmem ? off : off - l->lowmem + 4 * GIB;
    }
    return UINT64_MAX;
}

int xpv_gm_vcpu_from_comm(const char *comm, size_t len)
{
    if (len && comm[len - 1] == '\n')
        len--;
    if (len < 6 || memcmp(comm, "CPU ", 4))
        return -1;
    size_t i = 4;
    long k = 0;
    if (!isdigit((unsigned char)comm[i]))
        return -1;
    for (; i < len && isdigit((unsigned char)comm[i]); i++) {
        k = k * 10 + (comm[i] - '0');
        if (k > 65535)
            return -1;
    }
    if (i >= len || comm[i] != '/' || ++i >= len)
        return -1;
    for (; i < len; i++)
        if (!isalnum((unsigned char)comm[i]))
            return -1;
    return (int)k;
}

int xpv_gm_vm_name(const char *c, size_t clen, char *buf, size_t cap)
{
    const char *a;
    size_t n;
    bool want = false;
    if (!cap)
        return -EINVAL;
    for (size_t off = 0; off < clen;) {
        off = next_arg(c, clen, off, &a, &n);
        if (!want) {
            want = arg_is(a, n, "-name");
            continue;
        }
        want = false;
        /* QemuOpts: items split at ',' (",," is a comma); a first item without '=' is
         * guest=ITEM */
        for (size_t i = 0, item = 0; i <= n; item++) {
            size_t j = i;
            bool eq = false;
            while (j < n && !(a[j] == ',' && !(j + 1 < n && a[j + 1] == ','))) {
                if (a[j] == ',')
                    j++; /* ",," */
                else if (a[j] == '=')
                    eq = true;
                j++;
            }
            size_t from = i;
            bool named = false;
            if (item == 0 && !eq)
                named = true;
            else if (j - i >= 6 && !memcmp(a + i, "guest=", 6))
                named = true, from = i + 6;
            if (named) {
                size_t o = 0;
                for (size_t k = from; k < j; k++) {
                    if (o + 1 >= cap)
                        return -EINVAL;
                    buf[o++] = a[k];
                    if (a[k] == ',')
                        k++; /* ",," */
                }
                buf[o] = '\0';
                return o ? 0 : -EINVAL;
            }
            i = j + 1;
        }
    }
    return -ENOENT;
}
