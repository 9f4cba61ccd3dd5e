/*
 * xpv/vmdesc.h — what the host daemon knows about a QEMU/KVM VM: its vCPU threads, its vNUMA
 * layout, where its guest RAM lives in QEMU's address space, and its XPV channel devices
 * (docs/vm-attach.md says which fact comes from which source, and why).
 *
 * xpv_vm_describe() asks QEMU over QMP and reads /proc/PID/{cmdline,smaps|maps,task} under a
 * root; the parsers it is built from are pure functions over text or JSON, tested and fuzzed
 * on their own. Whatever cannot be found is left at its "unknown" value (vnode -1, hva 0, "")
 * and explained in `notes`, never guessed silently.
 */
#ifndef XPV_VMDESC_H
#define XPV_VMDESC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xpv_qmp;

#define XPV_VM_MAX_VCPUS  256
#define XPV_VM_MAX_RAM    64
#define XPV_VM_MAX_VNODES 64
#define XPV_VM_NOTES_MAX  2048

/* vcpu.flags */
#define XPV_VM_VCPU_TID_MISSING (1u << 0) /* its thread id is not in /proc/PID/task */

struct xpv_vm_vcpu {
    unsigned index; /* QEMU's cpu-index */
    pid_t tid;      /* host thread running it */
    int vnode;      /* guest node; -1: no vNUMA info */
    unsigned flags;
};

/* ram.flags */
#define XPV_VM_RAM_HVA_BY_NAME   (1u << 0) /* found by its mem-path in maps: certain */
#define XPV_VM_RAM_HVA_BY_SIZE   (1u << 1) /* the only unnamed QEMU RAM mapping of its size */
#define XPV_VM_RAM_HVA_AMBIGUOUS (1u << 2) /* several mappings fit: hva left 0, see candidates */
#define XPV_VM_RAM_DIMM          (1u << 3) /* a memory device (pc-dimm, virtio-mem...) */
#define XPV_VM_RAM_SHORT         (1u << 4) /* the mapping found is shorter than size */

struct xpv_vm_ram {
    char id[64];        /* the backend's id (/objects/ID) */
    char type[40];      /* memory-backend-file, -ram, -memfd... */
    int vnode;          /* guest node it backs; -1: unknown or none */
    uint64_t size;      /* bytes */
    uint64_t hva;       /* start in QEMU's address space; 0 if not found */
    char mem_path[256]; /* file backends: the file; "" otherwise */
    unsigned flags;
    unsigned candidates; /* mappings that fitted (1 when found, >1 when ambiguous) */
};

struct xpv_vm_desc {
    pid_t pid;
    char name[64];       /* -name, "" if none */
    unsigned version[3]; /* QEMU major, minor, micro */
    unsigned nr_vcpus, nr_vnodes, nr_ram;
    struct xpv_vm_vcpu vcpu[XPV_VM_MAX_VCPUS];
    struct xpv_vm_ram ram[XPV_VM_MAX_RAM];
    uint64_t vnode_mem[XPV_VM_MAX_VNODES];                /* bytes per guest node (info numa) */
    uint32_t vdist[XPV_VM_MAX_VNODES][XPV_VM_MAX_VNODES]; /* guest SLIT (-numa dist); 0: unset */
    char ivshmem_id[64];    /* the ivshmem-plain device's backend id, "" if none */
    char ivshmem_path[256]; /* its mem-path, "" if none (or an anonymous backend) */
    uint64_t ivshmem_size;
    uint64_t ivshmem_hva;
    char serial_name[128];   /* the virtserialport's name (org.xpv.* or the one asked for) */
    char serial_chardev[64]; /* its chardev's id */
    char serial_socket[256]; /* the chardev's unix socket path, "" if not a unix socket */
    unsigned nr_notes;
    char notes[XPV_VM_NOTES_MAX]; /* what could not be found or was inconsistent, one a line */
};

struct xpv_vm_describe_opts {
    const char *procroot;    /* "/" (NULL means "/"), or a fixture root holding proc/PID/... */
    const char *serial_name; /* the virtserialport to report; NULL: the first org.xpv.* */
};

/* Describe the VM behind q. procroot: "/" normally, or a fixture root for
 * /proc/PID/{maps,smaps,cmdline,task}. Fails only when QEMU cannot answer the essential
 * queries (-ECONNRESET, -EPROTO, -ETIMEDOUT...); missing optional facts become notes. */
int xpv_vm_describe(struct xpv_qmp *q, const char *procroot, struct xpv_vm_desc *out,
                    struct xpv_error *err);
int xpv_vm_describe_ex(struct xpv_qmp *q, const struct xpv_vm_describe_opts *opts,
                       struct xpv_vm_desc *out, struct xpv_error *err);
/* The description as a JSON object (new reference; NULL on allocation failure). */
json_t *xpv_vm_desc_json(const struct xpv_vm_desc *d);

/* ---- pure parts (vm_parse.c): no I/O, every input is untrusted ---- */

/* One line of /proc/PID/maps (or a mapping of smaps, whose VmFlags line is used). */
struct xpv_vm_map {
    uint64_t start, end, offset;
    char perms[5];
    int dontcopy;   /* VmFlags has "dc" (QEMU advises MADV_DONTFORK on RAM): 1, 0; -1 unknown */
    char path[256]; /* "" for anonymous memory */
};

/* Parse maps or smaps text into a malloc'd array (*out, *nr; free() it). -EINVAL at the
 * first malformed mapping line (its number in err). */
int xpv_vm_maps_parse(const char *text, size_t len, struct xpv_vm_map **out, size_t *nr,
                      struct xpv_error *err);
/* Find each backend's range in maps: file backends by mem-path (the piece at offset 0,
 * extended over contiguous pieces of the same file); others by size among unnamed QEMU RAM
 * mappings (anonymous, /dev/zero, memfd; with VmFlags dc when known). Sets hva, flags and
 * candidates of each ram[i]; returns how many were not located uniquely. */
int xpv_vm_ram_locate(const struct xpv_vm_map *maps, size_t nr, struct xpv_vm_ram *ram,
                      unsigned nr_ram);

/* What QEMU's command line says about vNUMA and memory backends. */
struct xpv_vm_cmdline {
    unsigned nr_nodes;
    struct {
        int nodeid;
        char memdev[64]; /* "" when the node has none (legacy mem=, or memoryless) */
    } node[XPV_VM_MAX_VNODES];
    int has_dist;
    uint32_t dist[XPV_VM_MAX_VNODES][XPV_VM_MAX_VNODES]; /* completed as QEMU does; 0: unset */
    unsigned nr_objects;
    struct {
        char type[40];
        char id[64];
        uint64_t size;
        char mem_path[256];
    } object[XPV_VM_MAX_RAM];
    char machine_memdev[64]; /* -machine memory-backend=ID */
};
/* Parse /proc/PID/cmdline (NUL-separated): -numa node|dist, -object memory-backend-* (QemuOpts
 * "k=v,..." with ",," escapes, or JSON), -machine memory-backend=. Options it does not know
 * are skipped; -EINVAL for a malformed -numa/-object value or a table overflow. */
int xpv_vm_cmdline_parse(const char *buf, size_t len, struct xpv_vm_cmdline *out,
                         struct xpv_error *err);

/* QEMU size syntax: digits with an optional K/M/G/T/P/E suffix (powers of 1024). */
int xpv_vm_parse_size(const char *s, uint64_t *out);

/* query-cpus-fast's return value into d->vcpu / d->nr_vcpus. */
int xpv_vm_parse_cpus(const json_t *ret, struct xpv_vm_desc *d, struct xpv_error *err);
/* HMP "info numa" text: "N nodes" and each "node I size: S MB". *nr_nodes gets N. */
int xpv_vm_parse_info_numa(const char *text, unsigned *nr_nodes, uint64_t *mem, unsigned max,
                           struct xpv_error *err);
/* query-chardev's return: the unix socket path of chardev `label` ("unix:PATH,server=on",
 * possibly "disconnected:"-prefixed). -ENOENT: no such chardev; -EMEDIUMTYPE: not unix. */
int xpv_vm_chardev_unix_path(const json_t *ret, const char *label, char *path, size_t len,
                             struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
