/*
 * cb_echo.h — the echo of lab4.callback (host publish -> guest callback, end to end): where
 * the guest's libxpv callback writes back what it saw, in the upper half of the XPV ivshmem
 * region, so the host can time the whole path on its own clock.
 *
 * The region is 1 MiB (ivshmem wants a power of two) and a record mapping is its first
 * XPV_RECORD_MAP_SIZE (512 KiB): the host daemon and the guest agent never touch the rest.
 * The guest test (tests/lab/e2e_callback.c) maps BAR 2 read-write and writes struct cb_echo
 * at CB_ECHO_OFF after each callback, under a sequence word (odd while writing); the host half
 * (tests/lab/callback_host.c) maps the ivshmem file and polls it, and writes CB_DONE_OFF when
 * it has made its last change. Test-only: nothing of the product reads or writes this.
 */
#ifndef XPV_LAB_CB_ECHO_H
#define XPV_LAB_CB_ECHO_H

#include <stdint.h>

#include "xpv/record.h"

#define CB_REGION_SIZE (1024u * 1024u)
#define CB_ECHO_OFF    XPV_RECORD_MAP_SIZE
#define CB_DONE_OFF    (XPV_RECORD_MAP_SIZE + 4096u)
#define CB_ECHO_MAGIC  UINT64_C(0x4f48434542435058) /* bytes "XPCBECHO" */
#define CB_DONE_MAGIC  UINT64_C(0x454e4f4442435058) /* "XPCBDONE" */
#define CB_MAX_CPUS    8

struct cb_echo {
    uint64_t magic; /* CB_ECHO_MAGIC once the guest has subscribed */
    uint32_t seq;   /* odd while the guest writes the fields below */
    uint32_t nr_cpus;
    uint64_t count;           /* callbacks so far, the subscription's initial one included */
    uint64_t host_gen;        /* the host record's generation word, read in the callback */
    uint64_t local_gen;       /* the generation of the snapshot the callback got */
    uint64_t guest_pub_ns;    /* that snapshot's timestamp: the agent's republish (guest clock) */
    uint64_t guest_cb_ns;     /* when the callback ran (guest CLOCK_REALTIME) */
    int32_t eff[CB_MAX_CPUS]; /* xpv_snapshot_effective_node of CPUs 0.., -1 none */
};

struct cb_done {
    uint64_t magic; /* CB_DONE_MAGIC: the host made all its changes */
    uint64_t changes;
};

#endif
