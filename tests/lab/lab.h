/*
 * lab.h — the in-guest test harness of the QEMU lab (docs/lab.md).
 *
 * xpv-lab-guest runs inside the lab guest, one test per forked child, and reports on the
 * serial console in a line protocol the host side (lab/lab-result.sh) turns into CTest results:
 *
 *   XPV-LAB BEGIN <test>
 *   ...anything the test prints...
 *   XPV-LAB END <test> PASS|FAIL|SKIP
 *
 * A test that crashes or hangs is a FAIL (the harness reports the signal or the timeout).
 */
#ifndef XPV_LAB_H
#define XPV_LAB_H

#include <stdio.h>

#include "xpv/ops.h"
#include "xpv/topo.h"

enum lab_result { LAB_PASS = 0, LAB_FAIL = 1, LAB_SKIP = 77 };

/* What every test gets: what the guest was booted with, and the live machine. */
struct lab_env {
    unsigned nodes;        /* nodes QEMU was told to create (kernel cmdline xpvlab.nodes) */
    struct xpv_topo *topo; /* xpv_topo_discover(NULL) inside the guest */
    struct xpv_ops *ops;   /* the kernel's ops table */
};

struct lab_test {
    const char *name;
    enum lab_result (*fn)(const struct lab_env *env);
};

/* Fail the test with a message naming the source line when cond is false. */
#define LAB_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            return LAB_FAIL;                                                                       \
        }                                                                                          \
    } while (0)

/* Skip the test, saying why: prints "  skip: <reason>" (the line lab-result.sh and the CI
 * summary take the reason from; docs/development.md, "Skips") and returns LAB_SKIP. */
#define LAB_SKIP_BECAUSE(...)                                                                      \
    do {                                                                                           \
        printf("  skip: ");                                                                        \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        return LAB_SKIP;                                                                           \
    } while (0)

/* The tests, by file. */
struct xpv_channel;
/* A libxpv reader's view now: the record's generation into *gen and CPU cpu's effective node;
 * -1 (and *gen untouched) when there is no snapshot. In e2e_libvirt.c. */
int lab_effective_node(struct xpv_channel *ch, unsigned cpu, uint64_t *gen);

extern const struct lab_test lab_topo_tests[];
extern const struct lab_test lab_ops_tests[];
extern const struct lab_test lab_carrefour_tests[];
extern const struct lab_test lab_malloc_tests[];
extern const struct lab_test lab_hostd_tests[];
extern const struct lab_test lab_e2e_tests[];         /* only when named: e2e_vm.sh drives them */
extern const struct lab_test lab_hotplug_tests[];     /* only when named: hotplug_soak.sh */
extern const struct lab_test lab_e2e_libvirt_tests[]; /* only when named: e2e_libvirt.sh */
/* only when named: e2e_callback.sh drives it */
extern const struct lab_test lab_e2e_callback_tests[];
extern const struct lab_test lab_nest_tests[];        /* QEMU in the guest: t_nest.c */
/* only when named: e2e_runtimes.sh drives it */
extern const struct lab_test lab_e2e_runtimes_tests[];

#endif
