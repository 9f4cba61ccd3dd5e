/*
 * nest.h — running the nested lab's payload under QEMU and checking what it wrote
 * (lab/payload/README.md). Used on the host (nest.payload_host, tests/lab/nest_host.c) and in
 * the lab guest (lab<N>.nest.payload, tests/lab/t_nest.c), where QEMU runs chrooted into the
 * host's root shared over virtio-9p.
 *
 * The second-level VM: `nodes` vCPUs and NUMA nodes, vCPU k (socket k, APIC id k, QEMU thread
 * "CPU k/TCG") on node k; node k's RAM is one memory-backend-file, share=on, of node_mb MiB at
 * SHM_DIR/xpv-nest-PID-k, so guest-physical address a is byte a % node_mb of node a / node_mb's
 * file. Region k is node_mb/4 MiB (or region_kb KiB) at byte node_mb/4 MiB of node k's file
 * (payload base=, stride=, size=), so vCPU k touching region k touches only its own node's memory.
 */
#ifndef XPV_NEST_H
#define XPV_NEST_H

#include <stddef.h>
#include <sys/types.h>

#include "payload.h"

struct nest_run;

struct nest_opts {
    const char *qemu;    /* qemu-system-x86_64, as seen from root; its firmware is beside it
                            (../share/qemu, ../share/seabios) */
    const char *payload; /* the payload ELF, as seen from root */
    const char *root;    /* chroot QEMU here first (NULL: no chroot) */
    const char *shm_dir; /* the backing files' folder, as seen from root (a tmpfs) */
    unsigned nodes;      /* vCPUs = nodes = regions, 1..NEST_MAX_CPUS */
    unsigned node_mb;    /* RAM a node, MiB, a multiple of 4, >= 16 */
    unsigned region_kb;  /* region k's size, KiB, a multiple of 4 (0: node_mb / 4 MiB); it
                            starts node_mb / 4 MiB into node k's memory either way */
    const char *pattern; /* the payload's pattern= (NULL: vCPU k touches region k) */
    unsigned passes;     /* sweeps each vCPU makes at least */
    unsigned seconds;    /* and the time they sweep for at least */
    int pin;             /* pin vCPU k's thread to node k's CPUs (this machine's nodes) */
    unsigned timeout_s;  /* the whole run's deadline */
    /* Called once every vCPU is up and (with pin) pinned, before the payload touches
     * anything: the place for a sampler to attach (nest_qemu_pid, nest_vcpu_tid). */
    void (*on_ready)(struct nest_run *run, void *arg);
    void *arg;
};

/* Run the payload to its end. 0 when QEMU ran it to "NEST done" and exited with the payload's
 * success status; -1 otherwise, with why in err. Prints the vCPU threads
 * ("nest: vcpu K tid T node K cpus LIST") and QEMU's output ("  | ...") to stdout. The backing
 * files stay until nest_free. */
struct nest_run *nest_start(const struct nest_opts *o, char *err, size_t errlen);
int nest_wait(struct nest_run *run, char *err, size_t errlen);
pid_t nest_qemu_pid(const struct nest_run *run);
pid_t nest_vcpu_tid(const struct nest_run *run, unsigned k);
/* Node k's backing file as this process sees it (under root: /mnt/host/tmp/xpv-nest-PID-k in
 * the lab guest; QEMU's /proc/PID/maps shows the same path to a reader outside the chroot). */
const char *nest_backing_file(const struct nest_run *run, unsigned k);
double nest_seconds_to_ready(const struct nest_run *run); /* QEMU start to "NEST ready" */
double nest_seconds_total(const struct nest_run *run);    /* QEMU start to its exit */

/* Check the backing files: every page of region k carries vCPU owner[k]'s tag (owner NULL:
 * vCPU k) with at least o->passes sweeps, and no page outside the regions carries a tag.
 * 0 when so; -1 with the first thing wrong (and how many pages were) in err. */
#define NEST_NOBODY 0xFFFFFFFFu /* owner[k]: region k stays untouched */
int nest_check(const struct nest_run *run, const unsigned *owner, char *err, size_t errlen);

/* Kill QEMU if it is still running, remove the backing files, free. */
void nest_free(struct nest_run *run);

#endif
