/*
 * hostd_lvxml.h — what the host daemon reads from a libvirt domain's XML (docs/libvirt.md):
 * the xpv metadata element (the opt-in), the vCPUs and their NUMA cells, the memory backing,
 * the ivshmem <shmem> that holds the record and the virtio-serial channel of the kicks.
 *
 * The XML comes from libvirt (virDomainGetXMLDesc), which takes it from whoever defined the
 * domain: untrusted text. It is parsed with libxml2 (no network, no entity expansion, no DTD),
 * bounded, and every value is checked; what is malformed is an -EINVAL with the element and
 * what was wrong. Pure (no I/O): tested and fuzzed on its own (tests/fuzz/fuzz_lvxml.c).
 */
#ifndef XPV_HOSTD_LVXML_H
#define XPV_HOSTD_LVXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xpv/bitmap.h"
#include "xpv/error.h"

/* The namespace of the opt-in element: <metadata><xpv:vm xmlns:xpv="XPV_LV_NS" .../> */
#define XPV_LV_NS         "https://xpv.example/ns/1"
#define XPV_LV_MAX_XML    (4u << 20) /* longer domain XML is refused */
#define XPV_LV_MAX_CELLS  64
#define XPV_LV_MAX_VCPUS  256
#define XPV_LV_SERIAL_PFX "org.xpv."

struct hostd_lvxml {
    char name[256];
    char uuid[40];
    /* the opt-in: <xpv:vm name="..." nodes="..."/>; absent: the domain is not xpv's */
    bool xpv;
    char xpv_name[48];  /* the hostd domain name it asks for, "" = the libvirt name */
    char xpv_nodes[64]; /* a node list (OS ids) it is fixed to, "" = automatic */
    unsigned vcpu_max, vcpu_current;
    unsigned nr_cells;
    struct {
        unsigned id;
        uint64_t mem; /* bytes */
        struct xpv_bitmap cpus;
    } cell[XPV_LV_MAX_CELLS];
    bool mem_file;   /* <memoryBacking><source type='file'/> */
    bool mem_shared; /* <memoryBacking><access mode='shared'/> (or every cell memAccess) */
    bool acpi;
    char shmem_name[128]; /* the first ivshmem-plain <shmem>, "" if none */
    uint64_t shmem_size;
    char channel_name[128]; /* the first virtio channel named org.xpv.*, "" if none */
    char channel_path[256]; /* its unix socket (the live XML has it), "" if unknown */
    bool taint_custom;      /* <qemu:commandline> or <qemu:capabilities>: taints the domain */
};

/* Parse domain XML (len bytes, not NUL-terminated). -EINVAL with the reason in err. */
int hostd_lvxml_parse(const char *xml, size_t len, struct hostd_lvxml *out, struct xpv_error *err);

/* A libvirt cpuset string, "0-3,^2,8": bits set in *out, each < max. -EINVAL if malformed. */
int hostd_lvxml_cpuset(const char *s, unsigned max, struct xpv_bitmap *out);

/* The vNode (cell index) vCPU id sits in, -1 when none. */
int hostd_lvxml_vcpu_cell(const struct hostd_lvxml *x, unsigned vcpu);

#endif
