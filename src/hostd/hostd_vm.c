/*
 * hostd_vm.c — QEMU/KVM VMs as host-daemon domains: attach over QMP, describe the VM
 * (xpv/vmdesc.h: vCPU threads, vNUMA, guest RAM ranges, channel devices), bind vCPUs per
 * vNode, and publish the VM's topology record for the guest agent: into the ivshmem file
 * (the guest maps it as BAR 2) and, as a RECORD frame, on the virtio-serial socket (the kick).
 *
 * Placement of a VM on k nodes: vNode v runs on the (v mod k)-th node of the set, its vCPUs
 * bound to that node's CPUs and its memory moved there; QEMU's other threads (main loop, I/O)
 * may run on any CPU of the set. The record is rebuilt from the daemon's own state each time,
 * never read back from the shared file the guest can write (docs/hostd.md, "Trust").
 *
 * A QEMU that dies or answers garbage detaches the domain (logged); the next rounds try to
 * attach again, so a restarted VM on the same socket is picked up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/frame.h"
#include "xpv/publisher.h"
#include "xpv/qmp.h"
#include "xpv/record.h"
#include "xpv/vmdesc.h"

#define QMP_TIMEOUT_MS 2000

struct hostd_vm {
    struct xpv_qmp *q;
    struct xpv_vm_desc desc;
    int serial_fd; /* connected to the virtio-serial chardev's socket, -1 if none */
    uint64_t kicks, kicks_dropped;
};

static int serial_connect(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!path[0] || strlen(path) >= sizeof(a.sun_path))
        return -1;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int hostd_vm_attach(struct hostd *h, struct hostd_domain *d, struct xpv_error *err)
{
    struct hostd_vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    vm->serial_fd = -1;
    int rc = xpv_qmp_open(d->conf.qmp, QMP_TIMEOUT_MS, &vm->q, err);
    if (rc == 0)
        rc = xpv_vm_describe(vm->q, h->proc_root[0] ? h->proc_root : "/", &vm->desc, err);
    if (rc < 0) {
        xpv_qmp_close(vm->q);
        free(vm);
        return rc;
    }
    vm->serial_fd = serial_connect(vm->desc.serial_socket);
    d->vm = vm;
    d->pids[0] = vm->desc.pid;
    d->nr_pids = 1;
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
              "attached to QEMU pid %d: %u vCPUs, %u vNodes, %u RAM backends%s%s%s",
              (int)vm->desc.pid, vm->desc.nr_vcpus, vm->desc.nr_vnodes, vm->desc.nr_ram,
              vm->desc.ivshmem_path[0] ? ", ivshmem " : "", vm->desc.ivshmem_path,
              vm->serial_fd >= 0 ? ", virtio-serial connected" : "");
    if (vm->desc.nr_notes)
        hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "attach notes: %s", vm->desc.notes);
    return 0;
}

void hostd_vm_detach(struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    if (!vm)
        return;
    xpv_qmp_close(vm->q);
    if (vm->serial_fd >= 0)
        close(vm->serial_fd);
    free(vm);
    d->vm = NULL;
    xpv_publisher_close(d->pub);
    d->pub = NULL;
}

/* The position of the node vNode v is placed on, or -1 when the VM is not bound. */
static int vnode_pos(const struct hostd *h, uint64_t nodes, int v)
{
    unsigned k = (unsigned)__builtin_popcountll(nodes);
    if (!k)
        return -1;
    unsigned want = (unsigned)(v < 0 ? 0 : v) % k, seen = 0;
    for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++)
        if (nodes >> i & 1 && seen++ == want)
            return (int)i;
    return -1;
}

int hostd_vm_refresh(struct hostd *h, struct hostd_domain *d, pid_t *tids, unsigned cap,
                     struct hostd_range *ranges, unsigned *nr_ranges, struct xpv_error *err)
{
    if (!d->vm) {
        int rc = hostd_vm_attach(h, d, err);
        if (rc < 0)
            return rc;
    }
    struct hostd_vm *vm = d->vm;
    json_t *ret = NULL;
    int rc = xpv_qmp_call(vm->q, "query-status", NULL, &ret, err);
    json_decref(ret);
    if (rc < 0) {
        h->stats.errors++;
        hostd_vm_detach(d);
        return rc;
    }
    unsigned n = 0;
    for (unsigned i = 0; i < vm->desc.nr_vcpus && n < cap; i++)
        tids[n++] = vm->desc.vcpu[i].tid;
    /* QEMU's other threads follow the VM's nodes as a whole */
    pid_t other[256];
    int no = hostd_proc_tids(h->proc_root, vm->desc.pid, other, 256);
    for (int j = 0; j < no && n < cap; j++) {
        bool vcpu = false;
        for (unsigned i = 0; i < vm->desc.nr_vcpus; i++)
            vcpu |= vm->desc.vcpu[i].tid == other[j];
        if (!vcpu)
            tids[n++] = other[j];
    }
    if (ranges) {
        unsigned nr = 0;
        for (unsigned i = 0; i < vm->desc.nr_ram && nr < HOSTD_MAX_RANGES; i++) {
            const struct xpv_vm_ram *r = &vm->desc.ram[i];
            if (!r->hva || !r->size)
                continue;
            int pos = vnode_pos(h, d->nodes, r->vnode);
            ranges[nr++] = (struct hostd_range){.pid = vm->desc.pid,
                                                .start = r->hva,
                                                .end = r->hva + r->size,
                                                .nodes = pos < 0 ? 0 : UINT64_C(1) << pos};
        }
        *nr_ranges = nr;
    }
    d->pids[0] = vm->desc.pid;
    d->nr_pids = 1;
    return (int)n;
}

void hostd_vm_thread_cpus(const struct hostd *h, const struct hostd_domain *d, pid_t tid,
                          uint64_t nodes, struct xpv_bitmap *cpus)
{
    const struct hostd_vm *vm = d->vm;
    for (unsigned i = 0; vm && i < vm->desc.nr_vcpus; i++) {
        if (vm->desc.vcpu[i].tid != tid)
            continue;
        int pos = vnode_pos(h, nodes, vm->desc.vcpu[i].vnode);
        if (pos >= 0)
            *cpus = h->topo->nodes[pos].cpus;
        return;
    }
}

/* Send the record as a RECORD frame: the guest agent's kick. Never blocks the daemon: a guest
 * that does not read its port loses kicks (counted), and finds the record by polling. */
static void kick(struct hostd *h, struct hostd_domain *d, const void *rec, size_t len)
{
    struct hostd_vm *vm = d->vm;
    if (vm->serial_fd < 0)
        vm->serial_fd = serial_connect(vm->desc.serial_socket);
    if (vm->serial_fd < 0)
        return;
    size_t fl = xpv_frame_size(len);
    char *buf = malloc(fl);
    if (!buf)
        return;
    long n = xpv_frame_encode(XPV_FRAME_RECORD, rec, len, buf, fl);
    ssize_t w = n > 0 ? send(vm->serial_fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
    if (w == n) {
        vm->kicks++;
    } else {
        vm->kicks_dropped++;
        hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "kick not sent on %s: %s",
                  vm->desc.serial_socket, w < 0 ? strerror(errno) : "short write");
        if (w < 0 && errno != EAGAIN) {
            close(vm->serial_fd);
            vm->serial_fd = -1; /* reconnect at the next change */
        }
    }
    free(buf);
}

int hostd_vm_placed(struct hostd *h, struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    if (!vm || h->dry_run)
        return 0;
    const struct xpv_vm_desc *vd = &vm->desc;
    unsigned nv = vd->nr_vnodes ? vd->nr_vnodes : 1, nc = vd->nr_vcpus;
    uint64_t nodes = d->nodes ? d->nodes
                              : (h->topo->nr_nodes >= 64 ? ~UINT64_C(0)
                                                         : (UINT64_C(1) << h->topo->nr_nodes) - 1);
    uint32_t ids[64];
    int index_of[64];
    unsigned np = 0;
    for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++) {
        index_of[i] = -1;
        if (nodes >> i & 1) {
            index_of[i] = (int)np;
            ids[np++] = (uint32_t)h->topo->nodes[i].id;
        }
    }
    uint16_t cpu_p[XPV_VM_MAX_VCPUS], cpu_v[XPV_VM_MAX_VCPUS], dist[64 * 64];
    struct xpv_record_backing bk[XPV_VM_MAX_VNODES];
    unsigned nb = 0;
    for (unsigned c = 0; c < nc; c++) {
        int v = vd->vcpu[c].vnode < 0 ? 0 : vd->vcpu[c].vnode;
        int pos = vnode_pos(h, d->nodes, v);
        cpu_v[c] = (uint16_t)((unsigned)v < nv ? (unsigned)v : XPV_RECORD_NONE);
        cpu_p[c] = pos < 0 ? XPV_RECORD_NONE : (uint16_t)index_of[pos];
    }
    for (unsigned v = 0; v < nv && v < XPV_VM_MAX_VNODES; v++) {
        int pos = vnode_pos(h, d->nodes, (int)v);
        if (pos < 0)
            continue;
        uint64_t bytes = vd->vnode_mem[v];
        for (unsigned r = 0; !bytes && r < vd->nr_ram; r++)
            if (vd->ram[r].vnode == (int)v)
                bytes += vd->ram[r].size;
        bk[nb++] = (struct xpv_record_backing){
                .vnode = (uint16_t)v, .pnode = (uint16_t)index_of[pos], .bytes = bytes};
    }
    for (unsigned i = 0, a = 0; i < h->topo->nr_nodes && i < 64; i++) {
        if (index_of[i] < 0)
            continue;
        for (unsigned j = 0, b = 0; j < h->topo->nr_nodes && j < 64; j++)
            if (index_of[j] >= 0)
                dist[a * np + b++] = (uint16_t)xpv_topo_dist(h->topo, i, j);
        a++;
    }
    struct xpv_record_desc desc = {.nr_pnodes = np,
                                   .nr_vnodes = nv,
                                   .nr_cpus = nc,
                                   .nr_backing = nb,
                                   .pnode_ids = ids,
                                   .cpu_pnode = cpu_p,
                                   .cpu_vnode = cpu_v,
                                   .backing = bk,
                                   .distance = dist};
    struct xpv_error err = {0};
    int rc;
    if (!d->pub) {
        char path[512];
        if (vd->ivshmem_path[0])
            snprintf(path, sizeof(path), "%s", vd->ivshmem_path);
        else
            hostd_record_path(h, d, path, sizeof(path));
        if ((rc = xpv_publisher_open(path, &d->pub, &err)) < 0)
            goto fail;
    }
    if ((rc = xpv_publisher_publish(d->pub, &desc, &d->generation, &err)) < 0)
        goto fail;
    h->stats.publishes++;
    /* the same record, encoded again for the kick frame: the copy in the ivshmem file is
     * guest-writable, so it is never read back as the source */
    size_t len = xpv_record_size(&desc);
    void *rec = malloc(len);
    if (rec && xpv_record_encode(&desc, d->generation, 0, rec, len, NULL) > 0)
        kick(h, d, rec, len);
    free(rec);
    return 0;
fail:
    h->stats.errors++;
    hostd_log(h, HOSTD_LOG_ERR, d->conf.name, "publishing its record: %s", xpv_error_str(&err, rc));
    return rc;
}
