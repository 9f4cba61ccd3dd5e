/*
 * t_nest.c — the nested lab (lab/payload/README.md): the lab guest runs QEMU itself, from the
 * host's root shared read-only over virtio-9p (run-lab.sh --share /:host, mounted by lab/init
 * at /mnt/host), chrooted there, for the bare payload: one vCPU a guest node, vCPU k's thread
 * pinned to node k's CPUs, node k's RAM a memory-backend-file share=on on a tmpfs; vCPU k
 * touches only region k, and the backing files must say so. Prints QEMU's vCPU threads and
 * their node ("nest: vcpu K tid T node K cpus C") and how long the nested run took.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "lab.h"
#include "nest.h"

#define ROOT "/mnt/host"

static int share_mounted(void)
{
    FILE *f = fopen("/proc/mounts", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, " " ROOT " 9p ") != NULL;
    if (f)
        fclose(f);
    return found;
}

/* What QEMU needs inside the chroot besides the host's files: /proc, /dev and a writable
 * tmpfs for the guest RAM's backing files. The guest's own mounts, over the read-only share.
 * The tmpfs goes on /run, not /tmp: a build tree under the host's /tmp (a CI clone in a
 * mktemp -d directory) holds the payload, which a tmpfs over /tmp would hide. */
static const struct {
    const char *fs, *dir;
} mounts[] = {{"proc", ROOT "/proc"}, {"devtmpfs", ROOT "/dev"}, {"tmpfs", ROOT "/run"}};

static void unmount_all(void)
{
    for (int i = (int)(sizeof mounts / sizeof mounts[0]) - 1; i >= 0; i--)
        umount2(mounts[i].dir, MNT_DETACH);
}

static enum lab_result payload(const struct lab_env *env)
{
    LAB_CHECK(share_mounted(),
              "no host share at %s: the guest was not booted with run-lab.sh "
              "--share /:host (lab/CMakeLists.txt passes it to lab<N>.boot)",
              ROOT);
    for (size_t i = 0; i < sizeof mounts / sizeof mounts[0]; i++) {
        if (mount(mounts[i].fs, mounts[i].dir, mounts[i].fs, 0, NULL) < 0) {
            int e = errno;
            unmount_all();
            LAB_CHECK(0, "mount %s on %s: %s", mounts[i].fs, mounts[i].dir, strerror(e));
        }
    }
    unsigned nodes = env->nodes < 4 ? env->nodes : 4;
    char err[1024];
    struct nest_opts o = {.qemu = XPV_NEST_QEMU,
                          .payload = XPV_NEST_PAYLOAD,
                          .root = ROOT,
                          .shm_dir = "/run",
                          .nodes = nodes,
                          .node_mb = 16,
                          .passes = 3,
                          .pin = 1,
                          .timeout_s = 500};
    struct nest_run *r = nest_start(&o, err, sizeof err);
    int rc = r ? nest_wait(r, err, sizeof err) : -1;
    if (rc == 0) {
        printf("  nested QEMU (TCG in TCG): payload ready %.1f s after QEMU started, done at "
               "%.1f s\n",
               nest_seconds_to_ready(r), nest_seconds_total(r));
        rc = nest_check(r, NULL, err, sizeof err);
    }
    nest_free(r);
    unmount_all();
    LAB_CHECK(rc == 0, "%s", err);
    printf("  each of %u vCPUs, pinned to its node, wrote only its own region\n", nodes);
    return LAB_PASS;
}

const struct lab_test lab_nest_tests[] = {
        {"nest.payload", payload},
        {NULL, NULL},
};
