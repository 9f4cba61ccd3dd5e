/*
 * nest_host.c — nest.payload_host: the nested lab's payload (lab/payload/) under QEMU on the
 * host, before it runs nested. 4 vCPUs, 4 NUMA nodes, each node's RAM a memory-backend-file
 * share=on in /dev/shm; the backing files must show that vCPU k wrote only region k.
 * Then vCPU 2 idle (pattern=01-3): region 2 must stay untouched. The control: the same payload
 * told to write the wrong regions (pattern=1032) must be caught by the same check.
 *
 *   xpv-nest-host QEMU PAYLOAD      exit 0 pass, 1 fail, 77 no QEMU
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nest.h"

static int run(const char *qemu, const char *payload, const char *pattern, const unsigned *owner,
               int want_ok)
{
    char err[1024];
    struct nest_opts o = {.qemu = qemu,
                          .payload = payload,
                          .shm_dir = "/dev/shm",
                          .nodes = 4,
                          .node_mb = 32,
                          .pattern = pattern,
                          .passes = 3,
                          .timeout_s = 120};
    printf("nest.payload_host: pattern=%s\n", pattern ? pattern : "(vCPU k: region k)");
    struct nest_run *r = nest_start(&o, err, sizeof err);
    if (!r) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    int rc = nest_wait(r, err, sizeof err);
    if (rc < 0) {
        printf("FAIL: %s\n", err);
        nest_free(r);
        return 1;
    }
    printf("nest: ready after %.2f s, done after %.2f s\n", nest_seconds_to_ready(r),
           nest_seconds_total(r));
    rc = nest_check(r, owner, err, sizeof err);
    nest_free(r);
    if (want_ok && rc < 0) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    if (!want_ok && rc == 0) {
        printf("FAIL: the check passed a payload that wrote the wrong regions\n");
        return 1;
    }
    printf("%s\n", want_ok ? "ok: the regions are as the pattern says"
                           : "ok: the check caught the wrong regions:");
    if (!want_ok)
        printf("  %s\n", err);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: xpv-nest-host QEMU PAYLOAD\n");
        return 2;
    }
    if (access(argv[1], X_OK) < 0) {
        printf("skip: no QEMU at %s (bash lab/fetch-qemu.sh, or scripts/setup.sh test)\n", argv[1]);
        return 77;
    }
    int bad = run(argv[1], argv[2], NULL, NULL, 1);
    /* vCPU 2 idle: region 2 must stay untouched, the others as before */
    static const unsigned idle2[] = {0, 1, NEST_NOBODY, 3};
    bad |= run(argv[1], argv[2], "01-3", idle2, 1);
    bad |= run(argv[1], argv[2], "1032", NULL, 0);
    return bad ? 1 : 0;
}
