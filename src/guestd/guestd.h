/*
 * guestd.h — the guest agent's internals (`xpv guestd`, docs/guestd.md): what the guest
 * kernel says about its own nodes and CPUs, the effective guest topology computed from the
 * host's record, the XPV devices (ivshmem BAR 2, the virtio-serial port), hotplug uevents,
 * and processes that follow their vNode.
 *
 * Every sysfs and /dev path goes through root ("" for the live system, else a fixture
 * directory in tests); every affinity change through the ops table. The host's record is
 * never trusted: it is decoded (xpv_record_decode) before use and only its validated view is
 * read. The agent never writes to the ivshmem region.
 */
#ifndef XPV_GUESTD_H
#define XPV_GUESTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xpv/bitmap.h"
#include "xpv/error.h"
#include "xpv/ops.h"
#include "xpv/record.h"

#define GUESTD_MAX_NODES 64
#define GUESTD_MAX_CPUS  1024
#define GUESTD_PORT_NAME "org.xpv.topology" /* the virtserialport name hostd looks for */

/* The guest kernel's own view (sysfs): its nodes (= the VM's vNodes, QEMU's node ids) and
 * CPUs (= vCPUs: QEMU's cpu-index order, which is the guest's numbering for boot CPUs and
 * for CPUs hot-added in order). */
struct guestd_local {
    unsigned nr_nodes;
    int node_id[GUESTD_MAX_NODES];                          /* online nodes, increasing */
    uint64_t node_mem[GUESTD_MAX_NODES];                    /* MemTotal, bytes */
    uint16_t node_dist[GUESTD_MAX_NODES][GUESTD_MAX_NODES]; /* the guest's SLIT, 0 = unknown */
    unsigned nr_cpus;                                       /* highest present CPU + 1 */
    int cpu_node[GUESTD_MAX_CPUS];                          /* node id, -1 when not present */
    struct xpv_bitmap online;                               /* online CPUs */
};

int guestd_local_read(const char *root, struct guestd_local *l, struct xpv_error *err);

/* The effective guest topology, as a record for local readers (libxpv unchanged): its
 * "physical" nodes are the guest's nodes, each CPU's node is its effective vNode, each node
 * backs itself, distances are those of the physical nodes behind the vNodes. */
struct guestd_topo {
    struct xpv_record_desc desc; /* points into the arrays below */
    uint32_t ids[GUESTD_MAX_NODES];
    uint16_t cpu_eff[GUESTD_MAX_CPUS];    /* effective vNode index, XPV_RECORD_NONE */
    uint16_t cpu_static[GUESTD_MAX_CPUS]; /* the vNode index the guest kernel puts it in */
    struct xpv_record_backing backing[GUESTD_MAX_NODES];
    uint16_t dist[GUESTD_MAX_NODES * GUESTD_MAX_NODES];
    int cpu_pnode_id[GUESTD_MAX_CPUS];    /* physical node id the host says, -1 unknown */
    int vnode_pnode_id[GUESTD_MAX_NODES]; /* physical node id backing most of it, -1 */
};

/*
 * The effective topology from the host's record (NULL: none yet; then the guest's own view is
 * republished) and the local view. A vCPU's effective vNode is the XPV effective-node rule's
 * (xpv/effective.h) over the host's memory entries of the vNodes the guest has, its own vNode
 * being the one the guest kernel puts it in: the vNode with memory on the vCPU's physical
 * node (its own when several are), else the one whose memory is nearest (ties: its own, then
 * the lowest node, then the lowest vNode). A vCPU with no such memory anywhere keeps its own.
 * CPUs the guest does not have online read XPV_RECORD_NONE; CPUs the host does not describe
 * (hot-added, not yet re-described) keep the guest's node.
 */
int guestd_effective(const struct xpv_record_view *host, const struct guestd_local *l,
                     struct guestd_topo *out, struct xpv_error *err);

/* The XPV devices (guestd_dev.c). */
/* resource2 of the first PCI 1af4:1110 device under root; -ENOENT when none. Writes 1 to its
 * `enable` (the BAR must decode; no driver binds ivshmem-plain). */
int guestd_find_ivshmem(const char *root, char *path, size_t len, struct xpv_error *err);
/* /dev/vportNpM of the virtio port named `name`; -ENOENT when none. */
int guestd_find_port(const char *root, const char *name, char *path, size_t len,
                     struct xpv_error *err);

/* Hotplug (guestd_hotplug.c). */
enum guestd_uevent_kind {
    GUESTD_UEVENT_NONE,
    GUESTD_UEVENT_CPU_ADD, /* hot-added: to be onlined */
    GUESTD_UEVENT_MEM_ADD,
    GUESTD_UEVENT_CHANGE, /* a CPU or memory block went online, offline or away: republish */
};
/* One kernel uevent datagram ("add@/devices/system/cpu/cpu4\0ACTION=add\0..."): untrusted
 * bytes. Returns the kind (NONE for anything else) and the CPU or memory block number. */
enum guestd_uevent_kind guestd_uevent_parse(const void *buf, size_t len, unsigned *id);
/* Online CPU id (writes 1) or memory block id (writes online_movable) under root. 0 when it
 * is online already. */
int guestd_online(const char *root, enum guestd_uevent_kind kind, unsigned id,
                  struct xpv_error *err);
/* A NETLINK_KOBJECT_UEVENT socket (non-blocking), or -errno. */
int guestd_uevent_open(void);

/* Processes that follow their vNode (guestd_follow.c): each file <dir>/<pid> opts a process in
 * (libxpv's xpv_follow_register writes one). A thread whose affinity is a vNode's CPUs (as
 * the guest kernel has them, or as the agent last bound it) is bound to the CPUs now
 * effectively in that vNode (its own CPUs when none is). Returns the threads re-bound; files
 * of dead processes are removed. An entry counts only when it is a regular file (not a
 * symlink, one link) owned by root or by the process's owner; -EPERM when the directory itself
 * is not root's (or the agent's) or is writable by others without the sticky bit. */
struct guestd_follow;
struct guestd_follow *guestd_follow_new(const char *dir);
void guestd_follow_free(struct guestd_follow *f);
int guestd_follow_apply(struct guestd_follow *f, const char *root, struct xpv_ops *ops,
                        const struct guestd_local *l, const struct guestd_topo *t);

/* Logging: the library never prints. Each message goes to the sink as its level and one line
 * of text without a newline; messages above the agent's verbosity are dropped, and so is
 * everything when fn is NULL. `xpv guestd` installs a stderr sink ("xpv guestd: message"). */
enum guestd_log_level { GUESTD_LOG_ERR, GUESTD_LOG_WARN, GUESTD_LOG_INFO, GUESTD_LOG_DEBUG };
struct guestd_log_sink {
    void (*fn)(void *arg, enum guestd_log_level lvl, const char *msg);
    void *arg;
};

/* The agent (guestd.c). */
struct guestd_opts {
    const char *root;      /* "" or NULL: the live system */
    const char *ivshmem;   /* the record region: NULL = find it, "" = none */
    const char *port;      /* the kick port: NULL = find it by port_name, "" = none */
    const char *port_name; /* NULL: GUESTD_PORT_NAME */
    int port_fd;           /* with port_fd_set: an open descriptor to use as the port (tests) */
    bool port_fd_set;
    bool optional_devices;  /* a device that cannot be found is left out, not an error */
    const char *record;     /* the local record (NULL: $XPV_RECORD, else /dev/shm/xpv-topology) */
    const char *follow_dir; /* opt-in directory, NULL or "": none */
    int poll_ms;            /* how often the region's generation is checked (100) */
    bool hotplug;           /* listen for uevents and online hot-added CPUs and memory */
    struct guestd_log_sink log;      /* none: nothing is logged */
    enum guestd_log_level verbosity; /* up to: WARN (xpv guestd), INFO (-v: changes), DEBUG */
    struct xpv_ops *ops;             /* affinity (follow) */
};

struct guestd_stats {
    uint64_t host_gen, local_gen;
    uint64_t kicks;       /* host records taken from a kick frame */
    uint64_t polled;      /* ... from the region, the kick missed or not first */
    uint64_t bad_records; /* rejected by validation (kept the last good one) */
    uint64_t bad_frames;  /* frames dropped by the decoder (CRC, header) */
    uint64_t frames_in, frames_out, frames_dropped;
    uint64_t republishes, acks, rebinds, cpus_onlined, mem_onlined, errors;
};

struct guestd;
/* Find the devices, read the guest's view, open the local record and publish the current
 * topology (the host's record when the region has one: re-sync after a restart). */
int guestd_open(const struct guestd_opts *o, struct guestd **out, struct xpv_error *err);
/* One wait (at most timeout_ms, and at most poll_ms) and what arrived. */
int guestd_step(struct guestd *g, int timeout_ms);
/* Re-read the guest's view and republish (after a hotplug). */
int guestd_refresh(struct guestd *g);
void guestd_stats(const struct guestd *g, struct guestd_stats *out);
const struct guestd_topo *guestd_topology(const struct guestd *g);
void guestd_close(struct guestd *g);

#endif
