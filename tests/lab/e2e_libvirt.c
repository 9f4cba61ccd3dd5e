/*
 * e2e_libvirt.c — the guest half of XPV end to end on a libvirt domain (the host half is
 * tests/lab/e2e_libvirt.sh): the 2-node guest, defined from `xpv libvirt-xml` and run by a
 * real libvirtd, runs the real agent (/bin/xpv guestd) on the devices libvirt gave it (the
 * <shmem> ivshmem BAR, the virtio channel org.xpv.topology), while the host daemon, attached
 * through --libvirt, re-places it. Reports on the serial console (a <serial type='file'> log
 * the host script reads):
 *
 *   XPV-E2E READY   the agent is up (its local record exists) and a libxpv reader, opened
 *                   after it, has a record with CPU 1's effective node 1 (the host's first
 *                   placement, vNode v on host node v, or the agent's own record before it)
 *   XPV-E2E MOVED   the host moved vCPU 1 to host node 0 (the one backing vNode 0): the
 *                   reader sees a newer generation in which CPU 1's effective node is 0
 *
 * Only run when named (e2e.* tests need their host half).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"
#include "xpv/channel.h"

#define LV_RECORD "/tmp/xpv-topology"

int lab_effective_node(struct xpv_channel *ch, unsigned cpu, uint64_t *gen)
{
    struct xpv_snapshot *s = NULL;
    int node = -1;
    if (xpv_channel_snapshot(ch, &s, NULL) == 0) {
        *gen = xpv_snapshot_generation(s);
        node = xpv_snapshot_effective_node(s, cpu);
    }
    if (s)
        xpv_snapshot_put(s);
    return node;
}

static enum lab_result e2e_libvirt(const struct lab_env *env)
{
    LAB_CHECK(env->topo->nr_nodes == 2, "the libvirt e2e test wants the 2-node guest, got %u",
              env->topo->nr_nodes);
    setenv("XPV_RECORD", LV_RECORD, 1);
    pid_t agent = fork();
    if (agent == 0) {
        char *argv[] = {"xpv", "guestd", "-v", "--poll", "50ms", NULL};
        execv("/bin/xpv", argv);
        _exit(127);
    }
    LAB_CHECK(agent > 0, "fork");
    /* the reader starts after the agent is up: the agent's local record is its sign */
    struct xpv_channel *ch = NULL;
    for (int i = 0; i < 300 && xpv_channel_open(LV_RECORD, &ch, NULL) < 0; i++)
        usleep(100000); /* not a wait: the poll interval of this 30 s loop */
    LAB_CHECK(ch, "the agent published no local record at %s within 30 s", LV_RECORD);
    /* the host placed vNode v on host node v before the guest came up (and the agent's own
     * record, before the host's reaches it, also has CPU 1 in vNode 1): CPU 1 on node 1 */
    uint64_t g0 = 0;
    int e0 = lab_effective_node(ch, 1, &g0);
    for (int ms = 0; ms < 120000 && e0 != 1; ms += 100) {
        xpv_channel_wait(ch, g0, 100);
        e0 = lab_effective_node(ch, 1, &g0);
    }
    LAB_CHECK(e0 == 1, "no record with CPU 1 on node 1 within 120 s (generation %llu, node %d)",
              (unsigned long long)g0, e0);
    printf("XPV-E2E READY: local generation %llu, CPU 1 effective node %d\n",
           (unsigned long long)g0, e0);
    fflush(stdout);

    /* the host puts vCPU 1 on host node 0 once it has seen READY */
    uint64_t g = g0, seen = g0;
    int e = e0;
    for (int ms = 0; ms < 120000 && !(g > g0 && e == 0); ms += 100) {
        xpv_channel_wait(ch, seen, 100);
        e = lab_effective_node(ch, 1, &g);
        seen = g;
    }
    printf("  libxpv reader: local generation %llu -> %llu, CPU 1 effective node %d -> %d\n",
           (unsigned long long)g0, (unsigned long long)g, e0, e);
    LAB_CHECK(g > g0 && e == 0, "the host's move of vCPU 1 to node 0 did not reach the reader "
                                "within 120 s");
    printf("XPV-E2E MOVED\n");
    fflush(stdout);
    xpv_channel_close(ch);
    kill(agent, SIGTERM);
    int st;
    waitpid(agent, &st, 0);
    LAB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exited with status %d", st);
    return LAB_PASS;
}

const struct lab_test lab_e2e_libvirt_tests[] = {
        {"e2e.libvirt", e2e_libvirt},
        {NULL, NULL},
};
