/*
 * hostd_libvirt.c — libvirt-managed VMs as host-daemon domains (docs/libvirt.md).
 *
 * Discovery: the connection's running domains whose XML carries <xpv:vm> in namespace
 * XPV_LV_NS (hostd_lvxml.h) are the daemon's, named by the element's name= or the domain's
 * name. A thread runs libvirt's default event loop; the lifecycle and metadata events only
 * mark the list dirty, and the next round (sync) lists the running domains again: started and
 * defined-then-started domains join, stopped, migrated-away and opted-out ones leave. A full
 * listing also runs every SYNC_EVERY_NS, so a lost event costs a delay, not a domain.
 *
 * Nothing here costs a taint: libvirt keeps QEMU's monitor, and the daemon reads the rest
 * where libvirt and the kernel publish it — the live domain XML (cells, the channel's socket,
 * the <shmem>), QEMU's /proc/PID (found by the -uuid on its command line): the vCPU threads by
 * their names ("CPU N/KVM", libvirt starts QEMU with debug-threads=on), the RAM backends from
 * -object/-numa on the command line and their host addresses from maps (xpv/vmdesc.h's
 * parsers).
 *
 * Placement goes through libvirt (virDomainPinVcpuFlags, virDomainPinEmulator, live), so
 * `virsh vcpupin` shows what xpv did. Each round compares libvirt's pinning with what the
 * daemon applied last: a vCPU pinned elsewhere (`virsh vcpupin` behind its back) is a
 * conflict: logged once, listed in `xpv domains --json` (libvirt.conflicts), and left as
 * libvirt has it until the operator pins that vCPU through xpv (force) or pins it back.
 * vCPU hot-add goes through libvirt too, and vCPUs added elsewhere (`virsh setvcpus`) are
 * noticed by their threads (check returns 1; hostd_vm.c binds and publishes).
 *
 * A domain that stops loses its record: the ivshmem file (libvirt leaves it in /dev/shm) is
 * removed when it is still the file the daemon published into, so the next guest started with
 * that <shmem> never reads the old one.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "hostd_libvirt.h"
#include "hostd_lvxml.h"
#include "xpv/vmdesc.h"

#define SYNC_EVERY_NS (10 * UINT64_C(1000000000))
#define RECONNECT_NS  (5 * UINT64_C(1000000000))
#define PROC_FILE_MAX (64u << 20)

struct lv {
    virConnectPtr conn;
    char uri[256];
    int cb_lifecycle, cb_metadata;
    pthread_t thread;
    bool thread_started;
    atomic_bool dirty, stop;
    uint64_t next_sync_ns, next_connect_ns;
    unsigned host_cpus; /* for cpumaps */
    uint64_t events;
};

struct lv_dom {
    virDomainPtr dom;
    char uuid[40];
    char lvname[256];
    int id; /* libvirt's domain id while running: a restart gives another */
    struct hostd_lvxml x;
    pid_t pid;
    struct xpv_bitmap online; /* vCPU ids with a thread, as last described */
    /* what the daemon last applied per vCPU, and the conflicts */
    bool applied_set[XPV_LV_MAX_VCPUS];
    struct xpv_bitmap applied[XPV_LV_MAX_VCPUS];
    bool held[XPV_LV_MAX_VCPUS];              /* pinned behind hostd's back: left alone */
    struct xpv_bitmap seen[XPV_LV_MAX_VCPUS]; /* libvirt's pinning of a held vCPU */
    uint64_t conflicts;                       /* seen since the domain was found */
    bool emu_set;
    struct xpv_bitmap emu;
    /* the ivshmem file published into, to remove when the domain stops */
    char shm_path[256];
    dev_t shm_dev;
    ino_t shm_ino;
    bool warned;
};

/* src into dst[cap], cut to fit (names already checked, or kept for messages only). */
static void scopy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

static const char *lv_err(void)
{
    virErrorPtr e = virGetLastError();
    return e && e->message ? e->message : "unknown libvirt error";
}

/* ---- events: a thread runs libvirt's loop; callbacks only flag ---- */

static int on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)c, (void)dom, (void)event, (void)detail;
    struct lv *lv = opaque;
    atomic_store(&lv->dirty, true);
    return 0;
}

static void on_metadata(virConnectPtr c, virDomainPtr dom, int type, const char *nsuri,
                        void *opaque)
{
    (void)c, (void)dom, (void)type, (void)nsuri;
    struct lv *lv = opaque;
    atomic_store(&lv->dirty, true);
}

static void *event_loop(void *arg)
{
    struct lv *lv = arg;
    while (!atomic_load(&lv->stop))
        if (virEventRunDefaultImpl() < 0)
            break;
    return NULL;
}

static void wake(int timer, void *opaque)
{
    (void)opaque;
    virEventRemoveTimeout(timer);
}

static void lv_disconnect(struct lv *lv)
{
    if (!lv->conn)
        return;
    if (lv->cb_lifecycle >= 0)
        virConnectDomainEventDeregisterAny(lv->conn, lv->cb_lifecycle);
    if (lv->cb_metadata >= 0)
        virConnectDomainEventDeregisterAny(lv->conn, lv->cb_metadata);
    lv->cb_lifecycle = lv->cb_metadata = -1;
    virConnectClose(lv->conn);
    lv->conn = NULL;
}

static int lv_connect(struct lv *lv, struct xpv_error *err)
{
    lv->conn = virConnectOpen(lv->uri);
    if (!lv->conn)
        return xpv_error_set(err, -ECONNREFUSED, "libvirt %s: %s", lv->uri, lv_err());
    virConnectSetKeepAlive(lv->conn, 5, 3);
    lv->cb_lifecycle =
            virConnectDomainEventRegisterAny(lv->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                             VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), lv, NULL);
    lv->cb_metadata =
            virConnectDomainEventRegisterAny(lv->conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                             VIR_DOMAIN_EVENT_CALLBACK(on_metadata), lv, NULL);
    int n = virNodeGetCPUMap(lv->conn, NULL, NULL, 0);
    lv->host_cpus = n > 0 && n <= XPV_MAX_CPUS ? (unsigned)n : XPV_MAX_CPUS;
    atomic_store(&lv->dirty, true);
    return 0;
}

/* ---- /proc of QEMU ---- */

static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= PROC_FILE_MAX)
                break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!buf)
        return -ENOMEM;
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

/* Does pid's command line carry "-uuid UUID"? */
static bool is_qemu_of(const char *root, pid_t pid, const char *uuid)
{
    char path[512], *cl;
    size_t len;
    snprintf(path, sizeof(path), "%s/proc/%d/cmdline", root, (int)pid);
    if (read_file(path, &cl, &len) < 0)
        return false;
    bool yes = false;
    for (size_t i = 0; i < len && !yes;) {
        const char *a = cl + i;
        size_t l = strnlen(a, len - i);
        if (!strcmp(a, "-uuid") && i + l + 1 < len && !strcasecmp(cl + i + l + 1, uuid))
            yes = true;
        i += l + 1;
    }
    free(cl);
    return yes;
}

/* QEMU's pid: the process whose command line has -uuid UUID (libvirt always passes it). */
static pid_t find_qemu(const char *root, const char *uuid, pid_t hint)
{
    if (hint > 0 && is_qemu_of(root, hint, uuid))
        return hint;
    char path[512];
    snprintf(path, sizeof(path), "%s/proc", root);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    pid_t found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(dir))) {
        char *end;
        long p = strtol(e->d_name, &end, 10);
        if (*end || p <= 0)
            continue;
        if (is_qemu_of(root, (pid_t)p, uuid))
            found = (pid_t)p;
    }
    closedir(dir);
    return found;
}

/* The vCPU threads of QEMU by their names "CPU N/KVM" (or /TCG, /HVF...): tids[N], set in
 * *online. Returns the count, -errno when the task directory cannot be read. */
static int vcpu_threads(const char *root, pid_t pid, pid_t *tids, struct xpv_bitmap *online)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/proc/%d/task", root, (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -errno;
    xpv_bitmap_zero(online);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char *end;
        long t = strtol(e->d_name, &end, 10);
        if (*end || t <= 0)
            continue;
        char cp[800], comm[64] = "";
        snprintf(cp, sizeof(cp), "%s/%s/comm", path, e->d_name);
        int fd = open(cp, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, comm, sizeof(comm) - 1);
        close(fd);
        if (r <= 0)
            continue;
        comm[r] = 0;
        unsigned id;
        char kind[16];
        if (sscanf(comm, "CPU %u/%15[A-Za-z]", &id, kind) != 2 || id >= XPV_LV_MAX_VCPUS)
            continue;
        if (!xpv_bitmap_isset(online, id))
            n++;
        xpv_bitmap_set(online, id);
        tids[id] = (pid_t)t;
    }
    closedir(dir);
    return n;
}

/* ---- the backend ---- */

static struct lv *LV(const struct hostd *h)
{
    return h->backend->ctx;
}

static void note(struct xpv_vm_desc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct xpv_vm_desc *d, const char *fmt, ...)
{
    size_t used = strlen(d->notes);
    if (used + 2 >= sizeof(d->notes))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->notes + used, sizeof(d->notes) - used, fmt, ap);
    va_end(ap);
    used = strlen(d->notes);
    if (used + 1 < sizeof(d->notes))
        strcat(d->notes, "\n");
    d->nr_notes++;
}

static int fetch_xml(struct lv_dom *ld, struct hostd_lvxml *x, struct xpv_error *err)
{
    char *xml = virDomainGetXMLDesc(ld->dom, 0);
    if (!xml)
        return xpv_error_set(err, -ESRCH, "libvirt: domain XML: %s", lv_err());
    int rc = hostd_lvxml_parse(xml, strlen(xml), x, err);
    free(xml);
    return rc;
}

/* The RAM backends from QEMU's command line (-object memory-backend-*, -numa node,memdev=),
 * located in its maps. */
static void ram_from_proc(const char *root, struct xpv_vm_desc *d)
{
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/proc/%d/cmdline", root, (int)d->pid);
    if (read_file(path, &text, &len) < 0) {
        note(d, "cannot read %s: no RAM backends", path);
        return;
    }
    struct xpv_vm_cmdline *c = calloc(1, sizeof(*c));
    struct xpv_error e = {0};
    int rc = c ? xpv_vm_cmdline_parse(text, len, c, &e) : -ENOMEM;
    free(text);
    if (rc < 0) {
        note(d, "%s: %s", path, xpv_error_str(&e, rc));
        free(c);
        return;
    }
    for (unsigned i = 0; i < c->nr_objects && d->nr_ram < XPV_VM_MAX_RAM; i++) {
        if (strncmp(c->object[i].type, "memory-backend-", 15) ||
            !strncmp(c->object[i].id, "shmmem-", 7))
            continue; /* the <shmem> backends are not guest RAM */
        struct xpv_vm_ram *m = &d->ram[d->nr_ram++];
        memset(m, 0, sizeof(*m));
        snprintf(m->id, sizeof(m->id), "%s", c->object[i].id);
        snprintf(m->type, sizeof(m->type), "%s", c->object[i].type);
        snprintf(m->mem_path, sizeof(m->mem_path), "%s", c->object[i].mem_path);
        m->size = c->object[i].size;
        m->vnode = -1;
        for (unsigned k = 0; k < c->nr_nodes; k++)
            if (!strcmp(c->node[k].memdev, m->id))
                m->vnode = c->node[k].nodeid;
        if (c->nr_nodes == 0 && !strcmp(m->id, c->machine_memdev))
            m->vnode = 0;
    }
    free(c);
    snprintf(path, sizeof(path), "%s/proc/%d/maps", root, (int)d->pid);
    struct xpv_vm_map *maps;
    size_t nr;
    if (read_file(path, &text, &len) < 0) {
        note(d, "cannot read %s: no host addresses", path);
        return;
    }
    rc = xpv_vm_maps_parse(text, len, &maps, &nr, &e);
    free(text);
    if (rc < 0) {
        note(d, "%s: %s", path, xpv_error_str(&e, rc));
        return;
    }
    xpv_vm_ram_locate(maps, nr, d->ram, d->nr_ram);
    free(maps);
    for (unsigned i = 0; i < d->nr_ram; i++)
        if (!d->ram[i].hva)
            note(d,
                 "RAM backend %s: host address unknown (%s): its memory is not moved; give the "
                 "domain <memoryBacking><source type='file'/><access mode='shared'/> "
                 "(docs/libvirt.md)",
                 d->ram[i].id,
                 d->ram[i].flags & XPV_VM_RAM_HVA_AMBIGUOUS ? "several anonymous mappings fit"
                                                            : "no mapping found");
}

static int lv_describe(struct hostd *h, struct hostd_domain *d, struct xpv_vm_desc *out,
                       struct xpv_error *err)
{
    struct lv_dom *ld = d->bd;
    const char *root = h->proc_root;
    struct hostd_lvxml *x = malloc(sizeof(*x));
    if (!x)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    int rc = fetch_xml(ld, x, err);
    if (rc < 0) {
        free(x);
        return rc;
    }
    ld->x = *x;
    free(x);
    memset(out, 0, sizeof(*out));
    pid_t pid = find_qemu(root, ld->uuid, ld->pid);
    if (pid < 0)
        return xpv_error_set(err, -ESRCH,
                             "no process has -uuid %s on its command line (QEMU not started yet, "
                             "or another /proc)",
                             ld->uuid);
    ld->pid = out->pid = pid;
    scopy(out->name, sizeof(out->name), ld->lvname);
    pid_t tids[XPV_LV_MAX_VCPUS];
    int n = vcpu_threads(root, pid, tids, &ld->online);
    if (n < 0)
        return xpv_error_set(err, -ESRCH, "QEMU pid %d: its threads: %s", (int)pid, strerror(-n));
    for (unsigned id = 0; id < XPV_LV_MAX_VCPUS && out->nr_vcpus < XPV_VM_MAX_VCPUS; id++) {
        if (!xpv_bitmap_isset(&ld->online, id))
            continue;
        struct xpv_vm_vcpu *v = &out->vcpu[out->nr_vcpus++];
        v->index = id;
        v->tid = tids[id];
        v->vnode = ld->x.nr_cells ? hostd_lvxml_vcpu_cell(&ld->x, id) : -1;
    }
    if (!out->nr_vcpus)
        note(out, "no thread named 'CPU N/...' in QEMU pid %d: vCPUs unknown", (int)pid);
    out->nr_vnodes = ld->x.nr_cells;
    for (unsigned c = 0; c < ld->x.nr_cells && c < XPV_VM_MAX_VNODES; c++)
        out->vnode_mem[c] = ld->x.cell[c].mem;
    ram_from_proc(root, out);
    if (ld->x.nr_cells > 1 && !ld->x.acpi)
        note(out, "no <features><acpi/>: the guest sees one node whatever the cells say");
    if (ld->x.shmem_name[0]) {
        snprintf(out->ivshmem_path, sizeof(out->ivshmem_path), "/dev/shm/%s", ld->x.shmem_name);
        out->ivshmem_size = ld->x.shmem_size;
        snprintf(ld->shm_path, sizeof(ld->shm_path), "%s", out->ivshmem_path);
        struct stat st;
        if (lstat(ld->shm_path, &st) == 0 && S_ISREG(st.st_mode)) {
            ld->shm_dev = st.st_dev;
            ld->shm_ino = st.st_ino;
        }
    } else {
        note(out, "no <shmem> with model ivshmem-plain: the guest gets its record by the kicks "
                  "only");
    }
    snprintf(out->serial_name, sizeof(out->serial_name), "%s", ld->x.channel_name);
    snprintf(out->serial_socket, sizeof(out->serial_socket), "%s", ld->x.channel_path);
    if (!ld->x.channel_name[0])
        note(out, "no virtio channel named " XPV_LV_SERIAL_PFX "*: no kicks");
    return 0;
}

static int lv_check(struct hostd *h, struct hostd_domain *d, struct xpv_error *err)
{
    struct lv *lv = LV(h);
    struct lv_dom *ld = d->bd;
    if (!lv->conn)
        return xpv_error_set(err, -ENOTCONN, "libvirt connection %s lost", lv->uri);
    if (virDomainIsActive(ld->dom) != 1 || virDomainGetID(ld->dom) != (unsigned)ld->id)
        return xpv_error_set(err, -ESRCH, "the domain is not running in libvirt any more");
    /* pinnings made behind the daemon's back */
    unsigned maplen = VIR_CPU_MAPLEN(lv->host_cpus), nv = ld->x.vcpu_max;
    unsigned char *maps = nv ? calloc(nv, maplen) : NULL;
    int got = maps ? virDomainGetVcpuPinInfo(ld->dom, (int)nv, maps, (int)maplen,
                                             VIR_DOMAIN_AFFECT_LIVE)
                   : -1;
    for (int v = 0; v < got && v < XPV_LV_MAX_VCPUS; v++) {
        if (!ld->applied_set[v])
            continue;
        struct xpv_bitmap b;
        xpv_bitmap_zero(&b);
        for (unsigned c = 0; c < lv->host_cpus; c++)
            if (VIR_CPU_USABLE(maps, maplen, v, c))
                xpv_bitmap_set(&b, c);
        bool same = !memcmp(&b, &ld->applied[v], sizeof(b));
        char lvs[256], xps[256];
        xpv_bitmap_format_list(&b, lvs, sizeof(lvs));
        xpv_bitmap_format_list(&ld->applied[v], xps, sizeof(xps));
        if (!same && (!ld->held[v] || memcmp(&b, &ld->seen[v], sizeof(b)))) {
            ld->held[v] = true;
            ld->seen[v] = b;
            ld->conflicts++;
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                      "conflict: vCPU %d is pinned to CPUs %s in libvirt, not %s as xpv set it "
                      "(virsh vcpupin?): left as libvirt has it until pinned through xpv or back "
                      "(docs/libvirt.md, \"Conflicts\")",
                      v, lvs, xps);
        } else if (same && ld->held[v]) {
            ld->held[v] = false;
            hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
                      "vCPU %d: libvirt's pinning is xpv's again (%s): conflict resolved", v, xps);
        }
    }
    free(maps);
    /* vCPUs added or removed elsewhere (virsh setvcpus) */
    pid_t tids[XPV_LV_MAX_VCPUS];
    struct xpv_bitmap now;
    if (vcpu_threads(h->proc_root, ld->pid, tids, &now) < 0)
        return xpv_error_set(err, -ESRCH, "QEMU pid %d is gone", (int)ld->pid);
    return memcmp(&now, &ld->online, sizeof(now)) ? 1 : 0;
}

static void to_cpumap(const struct xpv_bitmap *cpus, unsigned host_cpus, unsigned char *map)
{
    for (unsigned c = 0; c < host_cpus; c++)
        if (xpv_bitmap_isset(cpus, c))
            VIR_USE_CPU(map, c);
}

static int lv_set_affinity(struct hostd *h, struct hostd_domain *d, pid_t tid, int vcpu,
                           const struct xpv_bitmap *cpus, bool force)
{
    struct lv *lv = LV(h);
    struct lv_dom *ld = d->bd;
    if (!lv->conn)
        return -ENOTCONN;
    unsigned maplen = VIR_CPU_MAPLEN(lv->host_cpus);
    unsigned char map[XPV_MAX_CPUS / 8] = {0};
    to_cpumap(cpus, lv->host_cpus, map);
    if (vcpu >= 0 && vcpu < XPV_LV_MAX_VCPUS) {
        if (ld->held[vcpu] && !force)
            return 0; /* the operator's pinning in libvirt stays (reported by lv_check) */
        if (virDomainPinVcpuFlags(ld->dom, (unsigned)vcpu, map, (int)maplen,
                                  VIR_DOMAIN_AFFECT_LIVE) < 0) {
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "virDomainPinVcpuFlags(vCPU %d): %s", vcpu,
                      lv_err());
            return -EIO;
        }
        ld->applied[vcpu] = *cpus;
        ld->applied_set[vcpu] = true;
        ld->held[vcpu] = false;
        return 0;
    }
    /* QEMU's other threads: libvirt's emulator pinning, once per change */
    if (!ld->emu_set || memcmp(&ld->emu, cpus, sizeof(*cpus))) {
        if (virDomainPinEmulator(ld->dom, map, (int)maplen, VIR_DOMAIN_AFFECT_LIVE) < 0) {
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "virDomainPinEmulator: %s", lv_err());
            return -EIO;
        }
        ld->emu = *cpus;
        ld->emu_set = true;
    }
    /* and the thread itself (libvirt pins the threads of its emulator cgroup, or without
     * cgroups only the main one) */
    return h->ops->set_affinity(h->ops->ctx, tid, cpus);
}

static int lv_add_vcpu(struct hostd *h, struct hostd_domain *d, int vnode, unsigned *id,
                       struct xpv_error *err)
{
    (void)h;
    struct lv_dom *ld = d->bd;
    const struct hostd_lvxml *x = &ld->x;
    int lowest = -1, pick = -1;
    unsigned online = 0;
    for (unsigned v = 0; v < x->vcpu_max && v < XPV_LV_MAX_VCPUS; v++) {
        if (xpv_bitmap_isset(&ld->online, v)) {
            online++;
            continue;
        }
        if (lowest < 0)
            lowest = (int)v;
        if (pick < 0 && (!x->nr_cells || hostd_lvxml_vcpu_cell(x, v) == vnode))
            pick = (int)v;
    }
    if (pick < 0)
        return xpv_error_set(err, -ENOSPC,
                             "no offline vCPU in cell %d of '%s' (its <vcpu> maximum is %u; "
                             "raise it and list the new ids in a <cell cpus=...>)",
                             vnode, ld->lvname, x->vcpu_max);
    int rc;
    if (pick == lowest) /* the next one libvirt would add: the count form */
        rc = virDomainSetVcpusFlags(ld->dom, online + 1, VIR_DOMAIN_AFFECT_LIVE);
    else {
        char list[16];
        snprintf(list, sizeof(list), "%d", pick);
        rc = virDomainSetVcpu(ld->dom, list, 1, VIR_DOMAIN_AFFECT_LIVE);
    }
    if (rc < 0)
        return xpv_error_set(err, -EIO, "libvirt would not add vCPU %d: %s", pick, lv_err());
    *id = (unsigned)pick;
    return 0;
}

static json_t *bitmap_json(const struct xpv_bitmap *b)
{
    char s[256];
    xpv_bitmap_format_list(b, s, sizeof(s));
    return json_string(s);
}

static json_t *lv_json(const struct hostd *h, const struct hostd_domain *d)
{
    const struct lv_dom *ld = d->bd;
    json_t *conf = json_array();
    for (unsigned v = 0; v < XPV_LV_MAX_VCPUS; v++)
        if (ld->held[v])
            json_array_append_new(conf, json_pack("{s:i, s:o, s:o}", "vcpu", (int)v, "libvirt",
                                                  bitmap_json(&ld->seen[v]), "xpv",
                                                  bitmap_json(&ld->applied[v])));
    return json_pack("{s:s, s:s, s:s, s:i, s:o, s:I, s:b, s:b}", "uri", LV(h)->uri, "name",
                     ld->lvname, "uuid", ld->uuid, "id", ld->id, "conflicts", conf,
                     "conflicts_seen", (json_int_t)ld->conflicts, "memory_file_backed",
                     ld->x.mem_file && ld->x.mem_shared, "acpi", ld->x.acpi);
}

/* The domain stopped: its ivshmem file goes, when it is still the one published into (the
 * name is in /dev/shm, where anyone may create files: compared by device and inode first). */
static void retire_record(struct hostd *h, struct hostd_domain *d, struct lv_dom *ld)
{
    if (!ld->shm_path[0] || !ld->shm_ino)
        return;
    char dir[256], base[256];
    snprintf(dir, sizeof(dir), "%s", ld->shm_path);
    snprintf(base, sizeof(base), "%s", ld->shm_path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    struct stat st;
    const char *b = basename(base);
    if (fstatat(dfd, b, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (st.st_dev == ld->shm_dev && st.st_ino == ld->shm_ino && S_ISREG(st.st_mode)) {
            if (unlinkat(dfd, b, 0) == 0)
                hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
                          "record %s removed: the next guest with this <shmem> starts without a "
                          "stale record",
                          ld->shm_path);
        } else {
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                      "record %s is another file now: left in place", ld->shm_path);
        }
    }
    close(dfd);
}

static void forget(struct hostd *h, struct hostd_domain *d, const char *why)
{
    struct lv_dom *ld = d->bd;
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "libvirt domain '%s' %s: no longer placed",
              ld->lvname, why);
    hostd_vm_detach(d); /* closes the publisher before the file goes */
    retire_record(h, d, ld);
    if (ld->dom)
        virDomainFree(ld->dom);
    free(ld);
    d->bd = NULL;
    hostd_remove_domain(h, d);
}

static struct hostd_domain *by_uuid(struct hostd *h, const char *uuid)
{
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct lv_dom *ld = h->domains[k].bd;
        if (h->domains[k].conf.backend && ld && !strcmp(ld->uuid, uuid))
            return &h->domains[k];
    }
    return NULL;
}

/* A running domain that carries the element and is not ours yet. */
static void adopt(struct hostd *h, virDomainPtr dom, const char *uuid, const struct hostd_lvxml *x)
{
    struct hostd_domain_conf c;
    memset(&c, 0, sizeof(c));
    c.kind = HOSTD_VM;
    c.backend = true;
    const char *name = x->xpv_name[0] ? x->xpv_name : x->name;
    if (!hostd_name_ok(name)) {
        hostd_log(h, HOSTD_LOG_WARN, NULL,
                  "libvirt domain '%s': '%s' is not a domain name for xpv ([A-Za-z0-9_.-], 1..47): "
                  "give one with <xpv:vm name='...'/>",
                  x->name, name);
        return;
    }
    scopy(c.name, sizeof(c.name), name);
    uint64_t pinned = 0;
    struct xpv_error err = {0};
    int rc = x->xpv_nodes[0] ? hostd_parse_nodes(h->topo, x->xpv_nodes, &pinned, &err) : 0;
    if (rc < 0) {
        hostd_log(h, HOSTD_LOG_WARN, name, "libvirt domain '%s': <xpv:vm nodes='%s'>: %s", x->name,
                  x->xpv_nodes, xpv_error_str(&err, rc));
        return;
    }
    struct lv_dom *ld = calloc(1, sizeof(*ld));
    if (!ld)
        return;
    struct hostd_domain *d = hostd_add_domain(h, &c, &err);
    if (!d) {
        hostd_log(h, HOSTD_LOG_WARN, name, "libvirt domain '%s' not added: %s", x->name,
                  xpv_error_str(&err, -EINVAL));
        free(ld);
        return;
    }
    virDomainRef(dom);
    ld->dom = dom;
    ld->id = (int)virDomainGetID(dom);
    ld->pid = -1;
    snprintf(ld->uuid, sizeof(ld->uuid), "%s", uuid);
    snprintf(ld->lvname, sizeof(ld->lvname), "%s", x->name);
    ld->x = *x;
    d->bd = ld;
    d->pinned = pinned;
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
              "libvirt domain '%s' (id %d, %s) opts in: %u vCPUs (max %u), %u cells%s%s", x->name,
              ld->id, uuid, x->vcpu_current, x->vcpu_max, x->nr_cells,
              x->nr_cells && !(x->mem_file && x->mem_shared)
                      ? "; its memory cannot be moved per cell without <memoryBacking><source "
                        "type='file'/><access mode='shared'/>"
                      : "",
              x->taint_custom ? "; it carries <qemu:...> elements (tainted custom-argv)" : "");
}

static void lv_sync(struct hostd *h)
{
    struct lv *lv = LV(h);
    uint64_t now = hostd_now_ns();
    if (lv->conn && virConnectIsAlive(lv->conn) != 1) {
        hostd_log(h, HOSTD_LOG_WARN, NULL, "libvirt connection %s lost: reconnecting", lv->uri);
        lv_disconnect(lv);
    }
    if (!lv->conn) {
        if (now < lv->next_connect_ns)
            return;
        lv->next_connect_ns = now + RECONNECT_NS;
        struct xpv_error err = {0};
        int rc = lv_connect(lv, &err);
        if (rc < 0) {
            hostd_log(h, HOSTD_LOG_WARN, NULL, "%s (again in %.0f s)", xpv_error_str(&err, rc),
                      RECONNECT_NS / 1e9);
            return;
        }
        hostd_log(h, HOSTD_LOG_INFO, NULL, "libvirt %s connected", lv->uri);
    }
    if (!atomic_exchange(&lv->dirty, false) && now < lv->next_sync_ns)
        return;
    lv->next_sync_ns = now + SYNC_EVERY_NS;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(lv->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        hostd_log(h, HOSTD_LOG_WARN, NULL, "libvirt: listing domains: %s", lv_err());
        atomic_store(&lv->dirty, true);
        return;
    }
    struct hostd_lvxml *x = malloc(sizeof(*x));
    char(*uuids)[VIR_UUID_STRING_BUFLEN] = calloc((size_t)n + 1, sizeof(*uuids));
    if (!x || !uuids)
        goto out;
    for (int i = 0; i < n; i++) {
        if (virDomainGetUUIDString(doms[i], uuids[i]) < 0)
            continue;
        struct xpv_error err = {0};
        char *xml = virDomainGetXMLDesc(doms[i], 0);
        int rc = xml ? hostd_lvxml_parse(xml, strlen(xml), x, &err) : -EIO;
        free(xml);
        if (rc < 0) { /* a bad read is not a stop: a domain of ours stays */
            if (rc != -EIO)
                hostd_log(h, HOSTD_LOG_WARN, NULL, "libvirt domain %s: %s", uuids[i],
                          xpv_error_str(&err, rc));
            continue;
        }
        struct hostd_domain *d = by_uuid(h, uuids[i]);
        if (d && !x->xpv) {
            forget(h, d, "dropped its <xpv:vm> element");
        } else if (d && (int)virDomainGetID(doms[i]) != ((struct lv_dom *)d->bd)->id) {
            forget(h, d, "restarted");
            adopt(h, doms[i], uuids[i], x);
        } else if (!d && x->xpv) {
            adopt(h, doms[i], uuids[i], x);
        }
    }
    /* the domains of ours that are not in the list: stopped, or migrated away */
    for (unsigned k = h->nr_domains; k-- > 0;) {
        struct hostd_domain *d = &h->domains[k];
        if (!d->conf.backend || !d->bd)
            continue;
        bool running = false;
        for (int i = 0; i < n && !running; i++)
            running = !strcmp(((struct lv_dom *)d->bd)->uuid, uuids[i]);
        if (!running)
            forget(h, d, "stopped (or migrated away)");
    }
out:
    free(uuids);
    free(x);
    for (int i = 0; i < n; i++)
        virDomainFree(doms[i]);
    free(doms);
}

static void lv_fini(struct hostd *h)
{
    struct lv *lv = LV(h);
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct lv_dom *ld = h->domains[k].bd;
        if (!h->domains[k].conf.backend || !ld)
            continue;
        if (ld->dom)
            virDomainFree(ld->dom);
        free(ld);
        h->domains[k].bd = NULL;
    }
    lv_disconnect(lv);
    if (lv->thread_started) {
        atomic_store(&lv->stop, true);
        int t = virEventAddTimeout(0, wake, NULL, NULL); /* wakes the loop */
        (void)t;
        pthread_join(lv->thread, NULL);
    }
    free(lv);
    free(h->backend);
}

/* libvirt prints each error to stderr unless told otherwise: the daemon logs them itself. */
static void quiet(void *arg, virErrorPtr e)
{
    (void)arg, (void)e;
}

int hostd_libvirt_start(struct hostd *h, const char *uri, struct xpv_error *err)
{
    static bool event_impl;
    virSetErrorFunc(NULL, quiet);
    if (!event_impl) {
        if (virEventRegisterDefaultImpl() < 0)
            return xpv_error_set(err, -EIO, "libvirt event loop: %s", lv_err());
        event_impl = true;
    }
    struct lv *lv = calloc(1, sizeof(*lv));
    struct hostd_backend *b = calloc(1, sizeof(*b));
    if (!lv || !b) {
        free(lv);
        free(b);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    snprintf(lv->uri, sizeof(lv->uri), "%s", uri && uri[0] ? uri : HOSTD_LIBVIRT_DEFAULT_URI);
    lv->cb_lifecycle = lv->cb_metadata = -1;
    int rc = lv_connect(lv, err);
    if (rc < 0) {
        free(lv);
        free(b);
        return rc;
    }
    if (pthread_create(&lv->thread, NULL, event_loop, lv) != 0) {
        lv_disconnect(lv);
        free(lv);
        free(b);
        return xpv_error_set(err, -EAGAIN, "cannot start the libvirt event thread");
    }
    lv->thread_started = true;
    *b = (struct hostd_backend){.sync = lv_sync,
                                .describe = lv_describe,
                                .check = lv_check,
                                .set_affinity = lv_set_affinity,
                                .add_vcpu = lv_add_vcpu,
                                .json = lv_json,
                                .fini = lv_fini,
                                .ctx = lv};
    h->backend = b;
    hostd_log(h, HOSTD_LOG_INFO, NULL,
              "libvirt %s: domains with <xpv:vm xmlns:xpv='%s'/> in their metadata are placed",
              lv->uri, XPV_LV_NS);
    return 0;
}
