/*
 * hostd_vm.c — QEMU/KVM VMs as host-daemon domains: attach over QMP, describe the VM
 * (xpv/vmdesc.h: vCPU threads, vNUMA, guest RAM ranges, channel devices), bind vCPUs per
 * vNode, and publish the VM's topology record for the guest agent: into the ivshmem file
 * (the guest maps it as BAR 2) and, as a RECORD frame, on the virtio-serial socket (the kick).
 *
 * Placement of a VM on k nodes: vNode v runs on the (v mod k)-th node of the set (the policy
 * core's vNode rule, xpv_place_vnode, which the simulator's `hostd` policy runs too), its
 * vCPUs bound to that node's CPUs and its memory moved there; QEMU's other threads (main
 * loop, I/O) may run on any CPU of the set. The record is rebuilt from the daemon's own state
 * each time (hostd_vm_record, over the builder the simulator uses, xpv_record_desc_from_vm),
 * never read back from the shared file the guest can write (docs/hostd.md, "Trust").
 *
 * A QEMU that dies or answers garbage detaches the domain (logged); the next rounds try to
 * attach again, so a restarted VM on the same socket is picked up. Every QMP call waits at
 * most conf.qmp_timeout_ms; a QEMU that did not answer in time (stopped, hung, or not QEMU)
 * is detached and not asked again for a while (1 s, doubling to 30 s while it stays silent:
 * qmp_stalled), so it costs a round at most one timeout, and most rounds nothing.
 *
 * The guest is untrusted: its frames go through a decoder whose max payload is what the
 * guest agent sends (HOSTD_GUEST_MAX_PAYLOAD), and the bytes read from it are budgeted per
 * call and per round (hostd.h), so a flood of garbage costs the daemon bounded work.
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
#include "xpv/record_build.h"
#include "xpv/vmdesc.h"

#define ACK_SAMPLES 4096

/* A QEMU that stalls is not asked again before 1 s, doubling per stall up to 30 s. */
#define QMP_BACKOFF_MIN_NS UINT64_C(1000000000)
#define QMP_BACKOFF_MAX_NS UINT64_C(30000000000)

struct hostd_vm {
    struct xpv_qmp *q;
    struct xpv_vm_desc desc;
    int serial_fd; /* connected to the virtio-serial chardev's socket, -1 if none */
    uint64_t kicks, kicks_dropped;
    /* vCPUs the operator placed on their own (position + 1; 0: with their vNode) */
    unsigned short vcpu_pin[XPV_VM_MAX_VCPUS];
    /* the guest agent's acknowledgements: frames from the guest, validated, never trusted */
    struct xpv_frame_decoder *dec;
    uint64_t sent_gen, sent_ns; /* the last generation published, and when */
    uint64_t acked_gen, acks, acks_stale, acks_bogus, frames_other;
    uint32_t ack_us[ACK_SAMPLES]; /* publish -> ACK latencies (ring), µs */
    unsigned nr_ack;
    struct hostd_hist ack_hist; /* the same latencies, for the metrics (all of them) */
    uint64_t round_bytes;      /* read from the guest this round (HOSTD_GUEST_ROUND_BYTES) */
    uint64_t throttled_rounds; /* rounds in which the guest used up its budget */
    /* a vCPU unplug asked of QEMU, completed by the guest later: until the VM's vCPU count
     * drops, each round asks QEMU again */
    bool unplug_pending;
    uint64_t unplug_deadline_ns;
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

/* The vCPU placements the state file had (a daemon restart), by QEMU cpu-index, once the VM
 * is described. A vCPU or node that no longer exists is reported and dropped. */
static void restore_pins(struct hostd *h, struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    const char *key;
    json_t *v;
    json_object_foreach(d->saved_vcpus, key, v)
    {
        char *end;
        errno = 0;
        unsigned long index = strtoul(key, &end, 10);
        int pos = json_is_integer(v) && json_integer_value(v) >= 0 &&
                                  json_integer_value(v) <= INT32_MAX
                          ? xpv_topo_node_index(h->topo, (int)json_integer_value(v))
                          : -1;
        unsigned c = 0;
        while (c < vm->desc.nr_vcpus && vm->desc.vcpu[c].index != index)
            c++;
        if (end == key || *end || errno || pos < 0 || pos >= 64 || c == vm->desc.nr_vcpus) {
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                      "state file: dropping the placement of vCPU '%s' (no such vCPU in this "
                      "QEMU, or no such node here)",
                      key);
            continue;
        }
        vm->vcpu_pin[c] = (unsigned short)(pos + 1);
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "vCPU %u placed on node %d (state file)", c,
                  h->topo->nodes[pos].id);
    }
    json_decref(d->saved_vcpus);
    d->saved_vcpus = NULL;
}

json_t *hostd_vm_pins_json(const struct hostd *h, const struct hostd_domain *d)
{
    const struct hostd_vm *vm = d->vm;
    if (!vm)
        return d->saved_vcpus ? json_incref(d->saved_vcpus) : NULL;
    json_t *o = NULL;
    for (unsigned c = 0; c < vm->desc.nr_vcpus; c++) {
        if (!vm->vcpu_pin[c])
            continue;
        char key[16];
        snprintf(key, sizeof(key), "%u", vm->desc.vcpu[c].index);
        if (!o)
            o = json_object();
        json_object_set_new(o, key, json_integer(h->topo->nodes[vm->vcpu_pin[c] - 1].id));
    }
    return o;
}

static int qmp_timeout(const struct hostd *h)
{
    double t = h->conf.qmp_timeout_ms;
    return t >= 1 ? (int)t : 200;
}

/* A QMP call of d's QEMU got rc: on a timeout, count it, log the first of a series, and keep
 * the VM out of the rounds for a while; any other outcome ends the series. */
static void qmp_outcome(struct hostd *h, struct hostd_domain *d, int rc)
{
    if (rc != -ETIMEDOUT) {
        if (d->qmp_stalls && rc == 0)
            hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "QEMU answers QMP again (after %u stalls)",
                      d->qmp_stalls);
        if (rc == 0)
            d->qmp_stalls = 0;
        return;
    }
    h->stats.qmp_timeouts++;
    uint64_t wait = QMP_BACKOFF_MIN_NS << (d->qmp_stalls < 5 ? d->qmp_stalls : 5);
    if (wait > QMP_BACKOFF_MAX_NS)
        wait = QMP_BACKOFF_MAX_NS;
    d->qmp_retry_ns = hostd_now_ns() + wait;
    hostd_log(h, d->qmp_stalls ? HOSTD_LOG_DEBUG : HOSTD_LOG_WARN, d->conf.name,
              "QEMU did not answer QMP within %d ms (%s): the VM is skipped, asked again in "
              "%.0f s",
              qmp_timeout(h), d->conf.qmp, (double)wait / 1e9);
    d->qmp_stalls++;
}

int hostd_vm_attach(struct hostd *h, struct hostd_domain *d, struct xpv_error *err)
{
    if (d->qmp_stalls && hostd_now_ns() < d->qmp_retry_ns)
        return xpv_error_set(err, -ETIMEDOUT,
                             "QEMU did not answer QMP within %d ms, %u times in a row: skipped "
                             "until %.1f s from now",
                             qmp_timeout(h), d->qmp_stalls,
                             (double)(d->qmp_retry_ns - hostd_now_ns()) / 1e9);
    struct hostd_vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    vm->serial_fd = -1;
    int rc;
    if (d->conf.backend) { /* libvirt keeps QEMU's monitor: the backend describes the VM */
        rc = h->backend ? h->backend->describe(h, d, &vm->desc, err)
                        : xpv_error_set(err, -ENOTCONN, "no backend");
    } else {
        rc = xpv_qmp_open(d->conf.qmp, qmp_timeout(h), &vm->q, err);
        if (rc == 0)
            rc = xpv_vm_describe(vm->q, h->proc_root[0] ? h->proc_root : "/", &vm->desc, err);
        qmp_outcome(h, d, rc);
    }
    if (rc < 0) {
        xpv_qmp_close(vm->q);
        free(vm);
        return rc;
    }
    vm->serial_fd = serial_connect(vm->desc.serial_socket);
    /* The guest agent sends ACKs (8 bytes) from a 64-byte buffer (guestd.c): a longer frame
     * is garbage, and a smaller max bounds what a bad header costs (docs/frames.md, "Cost") */
    vm->dec = xpv_frame_decoder_new(HOSTD_GUEST_MAX_PAYLOAD);
    d->vm = vm;
    d->pids[0] = vm->desc.pid;
    d->nr_pids = 1;
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
              "%s QEMU pid %d: %u vCPUs, %u vNodes, %u RAM backends%s%s%s",
              d->conf.backend ? "found through libvirt:" : "attached to", (int)vm->desc.pid,
              vm->desc.nr_vcpus, vm->desc.nr_vnodes, vm->desc.nr_ram,
              vm->desc.ivshmem_path[0] ? ", ivshmem " : "", vm->desc.ivshmem_path,
              vm->serial_fd >= 0 ? ", virtio-serial connected" : "");
    if (vm->desc.nr_notes)
        hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "attach notes: %s", vm->desc.notes);
    if (d->saved_vcpus)
        restore_pins(h, d);
    /* Attached again (after QEMU stalled, or a restart on the same socket) to a VM already
     * placed: its record again now, not at the next placement change — until then its agent
     * could acknowledge nothing the daemon sent (hostd.attack_qmp_stall checks it). */
    if (d->nodes)
        hostd_vm_placed(h, d);
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
    xpv_frame_decoder_free(vm->dec);
    free(vm);
    d->vm = NULL;
    xpv_publisher_close(d->pub);
    d->pub = NULL;
}

/* Describe the VM again (after a vCPU was added or removed); vCPU placements follow their
 * vCPU by QEMU cpu-index. */
static int redescribe(struct hostd *h, struct hostd_domain *d, struct xpv_error *err)
{
    struct hostd_vm *vm = d->vm;
    struct xpv_vm_desc *nd = malloc(sizeof(*nd));
    if (!nd)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    int rc = d->conf.backend
                     ? h->backend->describe(h, d, nd, err)
                     : xpv_vm_describe(vm->q, h->proc_root[0] ? h->proc_root : "/", nd, err);
    if (rc == 0) {
        unsigned short pin[XPV_VM_MAX_VCPUS] = {0};
        for (unsigned i = 0; i < nd->nr_vcpus; i++)
            for (unsigned k = 0; k < vm->desc.nr_vcpus; k++)
                if (vm->desc.vcpu[k].index == nd->vcpu[i].index)
                    pin[i] = vm->vcpu_pin[k];
        memcpy(vm->vcpu_pin, pin, sizeof(pin));
        vm->desc = *nd;
        hostd_save_state(h); /* a removed vCPU's placement goes */
    }
    free(nd);
    return rc;
}

/* A pending unplug: has QEMU removed the vCPU (the guest ejected it)? */
static void check_unplug(struct hostd *h, struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    json_t *cpus = NULL;
    struct xpv_error err = {0};
    if (xpv_qmp_call(vm->q, "query-cpus-fast", NULL, &cpus, &err) < 0)
        return;
    size_t n = json_array_size(cpus);
    json_decref(cpus);
    if (n < vm->desc.nr_vcpus) {
        vm->unplug_pending = false;
        if (redescribe(h, d, &err) == 0) {
            hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "vCPU unplug done: %u vCPUs",
                      vm->desc.nr_vcpus);
            hostd_vm_placed(h, d);
        }
    } else if (hostd_now_ns() > vm->unplug_deadline_ns) {
        vm->unplug_pending = false;
        hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                  "vCPU unplug not completed by the guest within 120 s (does it handle ACPI "
                  "eject?)");
    }
}

int hostd_vm_set_affinity(struct hostd *h, struct hostd_domain *d, pid_t tid,
                          const struct xpv_bitmap *cpus, bool force)
{
    const struct hostd_vm *vm = d->vm;
    if (!d->conf.backend || !h->backend)
        return h->ops->set_affinity(h->ops->ctx, tid, cpus);
    int vcpu = -1;
    for (unsigned i = 0; vm && i < vm->desc.nr_vcpus; i++)
        if (vm->desc.vcpu[i].tid == tid)
            vcpu = (int)vm->desc.vcpu[i].index;
    return h->backend->set_affinity(h, d, tid, vcpu, cpus, force);
}

/* The backend saw other vCPUs than described (`virsh setvcpus`): describe again, bind the
 * new ones where their vNode is, publish. */
static int vcpus_changed(struct hostd *h, struct hostd_domain *d, struct xpv_error *err)
{
    struct hostd_vm *vm = d->vm;
    pid_t old[XPV_VM_MAX_VCPUS];
    unsigned nold = vm->desc.nr_vcpus;
    for (unsigned i = 0; i < nold; i++)
        old[i] = vm->desc.vcpu[i].tid;
    int rc = redescribe(h, d, err);
    if (rc < 0)
        return rc;
    unsigned added = 0;
    for (unsigned i = 0; i < vm->desc.nr_vcpus; i++) {
        bool known = false;
        for (unsigned k = 0; k < nold; k++)
            known |= old[k] == vm->desc.vcpu[i].tid;
        if (known)
            continue;
        added++;
        struct xpv_bitmap cpus;
        xpv_bitmap_zero(&cpus);
        hostd_vm_thread_cpus(h, d, vm->desc.vcpu[i].tid, d->nodes, &cpus);
        if (!xpv_bitmap_empty(&cpus) && !h->dry_run)
            hostd_vm_set_affinity(h, d, vm->desc.vcpu[i].tid, &cpus, false);
    }
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
              "vCPUs changed outside xpv: %u now (%u were described), %u new bound with their "
              "vNode",
              vm->desc.nr_vcpus, nold, added);
    hostd_vm_placed(h, d);
    return 0;
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
    int rc;
    if (d->conf.backend) {
        if ((rc = h->backend->check(h, d, err)) < 0) {
            hostd_vm_detach(d);
            return rc;
        }
        if (rc == 1 && vcpus_changed(h, d, err) < 0) {
            hostd_vm_detach(d);
            return -ESRCH;
        }
    } else {
        json_t *ret = NULL;
        rc = xpv_qmp_call(vm->q, "query-status", NULL, &ret, err);
        json_decref(ret);
        qmp_outcome(h, d, rc);
        if (rc < 0) {
            h->stats.errors++;
            hostd_vm_detach(d);
            return rc;
        }
    }
    if (vm->unplug_pending)
        check_unplug(h, d);
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
            int pos = xpv_place_vnode(d->nodes, r->vnode);
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
        int pos = vm->vcpu_pin[i] ? vm->vcpu_pin[i] - 1
                                  : xpv_place_vnode(nodes, vm->desc.vcpu[i].vnode);
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

int hostd_vm_record(const struct xpv_topo *t, uint64_t bound, const struct xpv_vm_desc *vd,
                    const unsigned short *vcpu_pin, struct xpv_record_desc *desc,
                    struct xpv_error *err)
{
    unsigned nh = t->nr_nodes < 64 ? t->nr_nodes : 64, nv = vd->nr_vnodes ? vd->nr_vnodes : 1;
    if (nv > XPV_VM_MAX_VNODES)
        return xpv_error_set(err, -EINVAL, "%u vNodes (at most %d)", nv, XPV_VM_MAX_VNODES);
    int vnode[XPV_VM_MAX_VCPUS], node[XPV_VM_MAX_VCPUS];
    uint64_t *mem = calloc((size_t)nv * t->nr_nodes, sizeof(*mem));
    if (!mem)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    for (unsigned c = 0; c < vd->nr_vcpus; c++) {
        vnode[c] = vd->vcpu[c].vnode < 0 ? 0 : vd->vcpu[c].vnode; /* no vNUMA: one vNode */
        node[c] = vcpu_pin[c] ? vcpu_pin[c] - 1 : xpv_place_vnode(bound, vnode[c]);
    }
    /* each vNode's memory where the vNode is placed (the mover takes it there) */
    for (unsigned v = 0; v < nv; v++) {
        int pos = xpv_place_vnode(bound, (int)v);
        if (pos < 0)
            continue;
        uint64_t bytes = vd->vnode_mem[v];
        for (unsigned r = 0; !bytes && r < vd->nr_ram; r++)
            if (vd->ram[r].vnode == (int)v)
                bytes += vd->ram[r].size;
        mem[(size_t)v * t->nr_nodes + (unsigned)pos] = bytes;
    }
    struct xpv_vm_record_in in = {
            .host = t,
            .nodes = bound ? bound : (nh == 64 ? ~UINT64_C(0) : (UINT64_C(1) << nh) - 1),
            .nr_vnodes = nv,
            .nr_vcpus = vd->nr_vcpus,
            .vcpu_vnode = vnode,
            .vcpu_node = node,
            .vnode_mem = mem};
    int rc = xpv_record_desc_from_vm(&in, desc, err);
    free(mem);
    return rc;
}

int hostd_vm_placed(struct hostd *h, struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    if (!vm || h->dry_run)
        return 0;
    const struct xpv_vm_desc *vd = &vm->desc;
    uint64_t t0 = hostd_now_ns();
    struct xpv_record_desc desc;
    struct xpv_error err = {0};
    int rc = hostd_vm_record(h->topo, d->nodes, vd, vm->vcpu_pin, &desc, &err);
    if (rc < 0)
        goto fail;
    if (!d->pub) {
        char path[512];
        if (vd->ivshmem_path[0])
            snprintf(path, sizeof(path), "%s", vd->ivshmem_path);
        else
            hostd_record_path(h, d, path, sizeof(path));
        /* the ivshmem file is QEMU's (its user's): adopted only when QEMU maps it, never
         * created nor grown */
        pid_t qemu = vd->ivshmem_path[0] ? vd->pid : 0;
        if ((rc = hostd_publisher_open(h, path, qemu, &d->pub, &err)) < 0)
            goto fail_desc;
    }
    if ((rc = xpv_publisher_publish(d->pub, &desc, &d->generation, &err)) < 0)
        goto fail_desc;
    h->stats.publishes++;
    vm->sent_gen = d->generation;
    vm->sent_ns = t0;
    /* the same record, encoded again for the kick frame: the copy in the ivshmem file is
     * guest-writable, so it is never read back as the source */
    size_t len = xpv_record_size(&desc);
    void *rec = malloc(len);
    if (rec && xpv_record_encode(&desc, d->generation, 0, rec, len, NULL) > 0)
        kick(h, d, rec, len);
    free(rec);
    xpv_record_desc_free(&desc);
    return 0;
fail_desc:
    xpv_record_desc_free(&desc);
fail:
    h->stats.errors++;
    hostd_log(h, HOSTD_LOG_ERR, d->conf.name, "publishing its record: %s", xpv_error_str(&err, rc));
    return rc;
}

int hostd_vm_fd(const struct hostd_domain *d)
{
    const struct hostd_vm *vm = d->vm;
    return vm && vm->round_bytes < HOSTD_GUEST_ROUND_BYTES ? vm->serial_fd : -1;
}

/* A frame from the guest: only an ACK of the generation last sent counts; anything else is
 * counted and dropped (the guest is not trusted). */
static int on_guest_frame(void *arg, unsigned type, const void *p, size_t n)
{
    struct hostd_vm *vm = arg;
    if (type != XPV_FRAME_ACK || n != 8) {
        vm->frames_other++;
        return 0;
    }
    const unsigned char *b = p;
    uint64_t g = 0;
    for (int i = 7; i >= 0; i--)
        g = g << 8 | b[i];
    if (g > vm->sent_gen) {
        vm->acks_bogus++; /* a generation never published */
    } else if (g < vm->sent_gen || g <= vm->acked_gen) {
        vm->acks_stale++;
    } else {
        uint64_t us = (hostd_now_ns() - vm->sent_ns) / 1000u;
        vm->ack_us[vm->nr_ack++ % ACK_SAMPLES] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        hostd_hist_add(&vm->ack_hist, (double)us * 1e-6);
        vm->acked_gen = g;
        vm->acks++;
    }
    return 0;
}

void hostd_vm_read(struct hostd *h, struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    if (!vm || vm->serial_fd < 0 || !vm->dec)
        return;
    unsigned char buf[4096];
    size_t wake = 0;
    while (wake < HOSTD_GUEST_WAKE_BYTES && vm->round_bytes < HOSTD_GUEST_ROUND_BYTES) {
        ssize_t n = recv(vm->serial_fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            wake += (size_t)n;
            vm->round_bytes += (uint64_t)n;
            xpv_frame_feed(vm->dec, buf, (size_t)n, on_guest_frame, vm);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        /* closed (QEMU went away or restarted the chardev): reconnect at the next change */
        hostd_log(h, HOSTD_LOG_DEBUG, d->conf.name, "virtio-serial socket closed");
        close(vm->serial_fd);
        vm->serial_fd = -1;
        xpv_frame_decoder_reset(vm->dec);
        return;
    }
    if (vm->round_bytes >= HOSTD_GUEST_ROUND_BYTES) {
        /* the guest agent sends a few dozen bytes per record: this is a flood */
        hostd_log(h, vm->throttled_rounds ? HOSTD_LOG_DEBUG : HOSTD_LOG_WARN, d->conf.name,
                  "the guest sent %u KiB on its port within one round: not read again before "
                  "the next round",
                  HOSTD_GUEST_ROUND_BYTES >> 10);
        vm->throttled_rounds++;
    }
}

const struct hostd_hist *hostd_vm_ack_hist(const struct hostd_domain *d)
{
    const struct hostd_vm *vm = d->conf.kind == HOSTD_VM ? d->vm : NULL;
    return vm ? &vm->ack_hist : NULL;
}

void hostd_vm_new_round(struct hostd_domain *d)
{
    struct hostd_vm *vm = d->vm;
    if (vm)
        vm->round_bytes = 0;
}

/* d is an attached VM with a vCPU number vcpu: 0, else the error. */
static int check_vcpu(const struct hostd_domain *d, unsigned vcpu, struct xpv_error *err)
{
    const struct hostd_vm *vm = d->vm;
    if (!vm)
        return xpv_error_set(err, -EINVAL, "'%s' is not an attached VM", d->conf.name);
    if (vcpu >= vm->desc.nr_vcpus)
        return xpv_error_set(err, -ENOENT, "'%s' has %u vCPUs (0..%u)", d->conf.name,
                             vm->desc.nr_vcpus, vm->desc.nr_vcpus - 1);
    return 0;
}

int hostd_vm_pin_vcpu(struct hostd *h, struct hostd_domain *d, unsigned vcpu, int pos,
                      struct xpv_error *err)
{
    struct hostd_vm *vm = d->vm;
    int rc = check_vcpu(d, vcpu, err);
    if (rc < 0)
        return rc;
    if (pos >= (int)h->topo->nr_nodes || pos >= 64)
        return xpv_error_set(err, -ENODEV, "no node at position %d", pos);
    if (h->dry_run)
        return xpv_error_set(err, -EPERM, "the daemon runs with --dry-run: nothing is moved");
    vm->vcpu_pin[vcpu] = (unsigned short)(pos < 0 ? 0 : pos + 1);
    struct xpv_bitmap cpus;
    xpv_bitmap_zero(&cpus);
    for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++)
        if ((d->nodes ? d->nodes : ~UINT64_C(0)) >> i & 1)
            xpv_bitmap_or(&cpus, &cpus, &h->topo->nodes[i].cpus);
    hostd_vm_thread_cpus(h, d, vm->desc.vcpu[vcpu].tid, d->nodes, &cpus);
    rc = hostd_vm_set_affinity(h, d, vm->desc.vcpu[vcpu].tid, &cpus, true);
    if (rc < 0)
        return xpv_error_set(err, rc, "vCPU %u (thread %d): cannot set its affinity: %s", vcpu,
                             (int)vm->desc.vcpu[vcpu].tid, strerror(-rc));
    char where[32];
    snprintf(where, sizeof(where), "%d", pos < 0 ? -1 : h->topo->nodes[pos].id);
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "vCPU %u %s%s", vcpu,
              pos < 0 ? "back with its vNode" : "placed on node ", pos < 0 ? "" : where);
    hostd_save_state(h);
    return hostd_vm_placed(h, d);
}

int hostd_vm_add_vcpu(struct hostd *h, struct hostd_domain *d, int vnode, unsigned *index,
                      struct xpv_error *err)
{
    struct hostd_vm *vm = d->vm;
    if (!vm)
        return xpv_error_set(err, -EINVAL, "'%s' is not an attached VM", d->conf.name);
    if (vnode < 0 || (vm->desc.nr_vnodes && (unsigned)vnode >= vm->desc.nr_vnodes))
        return xpv_error_set(err, -ENODEV, "'%s' has guest nodes 0..%u", d->conf.name,
                             vm->desc.nr_vnodes ? vm->desc.nr_vnodes - 1 : 0);
    if (h->dry_run)
        return xpv_error_set(err, -EPERM, "the daemon runs with --dry-run: nothing is changed");
    if (d->conf.backend) { /* through libvirt, so that both sides count the same vCPUs */
        unsigned id;
        int rc = h->backend->add_vcpu(h, d, vnode, &id, err);
        if (rc < 0)
            return rc;
        if ((rc = redescribe(h, d, err)) < 0)
            return rc;
        *index = vm->desc.nr_vcpus - 1;
        for (unsigned i = 0; i < vm->desc.nr_vcpus; i++)
            if (vm->desc.vcpu[i].index == id)
                *index = i;
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "vCPU %u added on guest node %d (libvirt)", id,
                  vnode);
        struct xpv_bitmap cpus;
        xpv_bitmap_zero(&cpus);
        hostd_vm_thread_cpus(h, d, vm->desc.vcpu[*index].tid, d->nodes, &cpus);
        if (!xpv_bitmap_empty(&cpus))
            hostd_vm_set_affinity(h, d, vm->desc.vcpu[*index].tid, &cpus, false);
        return hostd_vm_placed(h, d);
    }
    json_t *slots = NULL, *slot, *free_slot = NULL;
    int rc = xpv_qmp_call(vm->q, "query-hotpluggable-cpus", NULL, &slots, err);
    if (rc < 0)
        return rc;
    /* a free slot (no qom-path) that QEMU maps to that guest node (-numa cpu,node-id=,
     * socket-id=), else one mapped to none, which then gets the node */
    size_t i;
    json_array_foreach(slots, i, slot)
    {
        json_t *nid = json_object_get(json_object_get(slot, "props"), "node-id");
        if (json_object_get(slot, "qom-path"))
            continue;
        if (json_is_integer(nid) && json_integer_value(nid) == vnode) {
            free_slot = slot;
            break;
        }
        if (!nid && !free_slot)
            free_slot = slot;
    }
    if (!free_slot) {
        json_decref(slots);
        return xpv_error_set(err, -ENOSPC,
                             "no free vCPU slot for guest node %d (start QEMU with -smp "
                             "N,maxcpus=M, M > N, and -numa cpu,node-id=%d,socket-id=S for a "
                             "free socket S)",
                             vnode, vnode);
    }
    json_t *args = json_deep_copy(json_object_get(free_slot, "props"));
    const char *type = json_string_value(json_object_get(free_slot, "type"));
    if (!args || !json_is_object(args) || !type) {
        json_decref(args);
        json_decref(slots);
        return xpv_error_set(err, -EPROTO, "query-hotpluggable-cpus: a slot without type/props");
    }
    char id[48];
    snprintf(id, sizeof(id), "xpv-vcpu%u", vm->desc.nr_vcpus);
    json_object_set_new(args, "driver", json_string(type));
    json_object_set_new(args, "id", json_string(id));
    json_object_set_new(args, "node-id", json_integer(vnode));
    json_decref(slots);
    json_t *ret = NULL;
    rc = xpv_qmp_call(vm->q, "device_add", args, &ret, err); /* takes args */
    json_decref(ret);
    if (rc < 0)
        return rc;
    /* the new vCPU's thread exists once device_add returns: describe the VM again */
    if ((rc = redescribe(h, d, err)) < 0)
        return rc;
    *index = vm->desc.nr_vcpus - 1;
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "vCPU %u added on guest node %d (%s)", *index, vnode,
              id);
    struct xpv_bitmap cpus;
    xpv_bitmap_zero(&cpus);
    hostd_vm_thread_cpus(h, d, vm->desc.vcpu[*index].tid, d->nodes, &cpus);
    if (!xpv_bitmap_empty(&cpus))
        h->ops->set_affinity(h->ops->ctx, vm->desc.vcpu[*index].tid, &cpus);
    return hostd_vm_placed(h, d);
}

int hostd_vm_del_vcpu(struct hostd *h, struct hostd_domain *d, unsigned vcpu, struct xpv_error *err)
{
    struct hostd_vm *vm = d->vm;
    int rc = check_vcpu(d, vcpu, err);
    if (rc < 0)
        return rc;
    if (vm->unplug_pending)
        return xpv_error_set(err, -EBUSY, "an unplug of '%s' is still in progress", d->conf.name);
    if (d->conf.backend)
        return xpv_error_set(err, -ENOTSUP,
                             "'%s' is libvirt's: unplug with virsh setvcpus (hostd follows)",
                             d->conf.name);
    if (h->dry_run)
        return xpv_error_set(err, -EPERM, "the daemon runs with --dry-run: nothing is changed");
    /* the vCPU's QOM path, by its cpu-index */
    json_t *cpus = NULL, *c;
    rc = xpv_qmp_call(vm->q, "query-cpus-fast", NULL, &cpus, err);
    if (rc < 0)
        return rc;
    const char *path = NULL;
    size_t i;
    json_array_foreach(cpus, i, c)
    {
        if (json_integer_value(json_object_get(c, "cpu-index")) == vm->desc.vcpu[vcpu].index)
            path = json_string_value(json_object_get(c, "qom-path"));
    }
    if (!path) {
        json_decref(cpus);
        return xpv_error_set(err, -ENOENT, "QEMU does not list vCPU %u (cpu-index %u)", vcpu,
                             vm->desc.vcpu[vcpu].index);
    }
    json_t *ret = NULL;
    rc = xpv_qmp_call(vm->q, "device_del", json_pack("{s:s}", "id", path), &ret, err);
    json_decref(ret);
    json_decref(cpus);
    if (rc < 0)
        return rc;
    /* QEMU asks the guest to eject it (ACPI); the rounds see it go */
    vm->unplug_pending = true;
    vm->unplug_deadline_ns = hostd_now_ns() + 120 * UINT64_C(1000000000);
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "vCPU %u unplug asked of QEMU", vcpu);
    return 0;
}

static unsigned pct(const uint32_t *sorted, unsigned n, double q)
{
    unsigned i = (unsigned)(q * (n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

json_t *hostd_vm_json(const struct hostd *h, const struct hostd_domain *d)
{
    const struct hostd_vm *vm = d->vm;
    if (!vm)
        return json_null();
    json_t *vcpus = json_array();
    for (unsigned c = 0; c < vm->desc.nr_vcpus; c++) {
        struct xpv_bitmap cpus;
        xpv_bitmap_zero(&cpus);
        hostd_vm_thread_cpus(h, d, vm->desc.vcpu[c].tid, d->nodes, &cpus);
        int node = -1;
        for (unsigned i = 0; i < h->topo->nr_nodes; i++)
            if (!xpv_bitmap_empty(&cpus) && xpv_bitmap_subset(&cpus, &h->topo->nodes[i].cpus))
                node = h->topo->nodes[i].id;
        json_array_append_new(
                vcpus, json_pack("{s:i, s:i, s:i, s:i, s:b}", "index", (int)vm->desc.vcpu[c].index,
                                 "tid", (int)vm->desc.vcpu[c].tid, "vnode", vm->desc.vcpu[c].vnode,
                                 "node", node, "manual", vm->vcpu_pin[c] != 0));
    }
    unsigned n = vm->nr_ack < ACK_SAMPLES ? vm->nr_ack : ACK_SAMPLES;
    json_t *lat = json_object();
    if (n) {
        uint32_t *s = malloc(n * sizeof(*s));
        if (s) {
            memcpy(s, vm->ack_us, n * sizeof(*s));
            qsort(s, n, sizeof(*s), cmp_u32);
            json_object_set_new(lat, "samples", json_integer(n));
            json_object_set_new(lat, "p50", json_integer(pct(s, n, 0.5)));
            json_object_set_new(lat, "p99", json_integer(pct(s, n, 0.99)));
            json_object_set_new(lat, "max", json_integer(s[n - 1]));
            free(s);
        }
        /* the last samples in order, so a caller can take the figures of one period */
        json_t *last = json_array();
        unsigned k = n < 256 ? n : 256;
        for (unsigned i = vm->nr_ack - k; i < vm->nr_ack; i++)
            json_array_append_new(last, json_integer(vm->ack_us[i % ACK_SAMPLES]));
        json_object_set_new(lat, "last", last);
    }
    struct xpv_frame_stats fs;
    xpv_frame_stats(vm->dec, &fs);
    json_t *guest = json_pack("{s:I, s:I, s:I, s:I}", "bytes", (json_int_t)fs.bytes_in,
                              "bytes_skipped", (json_int_t)fs.bytes_skipped, "bad_frames",
                              (json_int_t)(fs.bad_crc + fs.bad_header), "throttled_rounds",
                              (json_int_t)vm->throttled_rounds);
    json_t *o = json_pack("{s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "vcpus", vcpus,
                          "kick_connected", vm->serial_fd >= 0, "kicks", (json_int_t)vm->kicks,
                          "kicks_dropped", (json_int_t)vm->kicks_dropped, "acked_generation",
                          (json_int_t)vm->acked_gen, "acks", (json_int_t)vm->acks, "acks_stale",
                          (json_int_t)vm->acks_stale, "acks_bogus", (json_int_t)vm->acks_bogus,
                          "frames_other", (json_int_t)vm->frames_other, "ack_latency_us", lat,
                          "guest_port", guest);
    if (o && d->conf.backend && h->backend && h->backend->json)
        json_object_set_new(o, "libvirt", h->backend->json(h, d));
    return o;
}
