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
#include <fcntl.h>
#include <numaif.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "nest.h"
#include "xpv/cf_ring.h"

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

/* What QEMU needs inside the chroot besides the host's files: /proc, /dev (with a tmpfs on
 * /dev/shm, where a preloaded sampler shm_open's its ring) and a writable tmpfs for the guest
 * RAM's backing files. The guest's own mounts, over the read-only share.
 * The tmpfs goes on /run, not /tmp: a build tree under the host's /tmp (a CI clone in a
 * mktemp -d directory) holds the payload, which a tmpfs over /tmp would hide. */
static const struct {
    const char *fs, *dir;
} mounts[] = {{"proc", ROOT "/proc"},
              {"devtmpfs", ROOT "/dev"},
              {"tmpfs", ROOT "/dev/shm"},
              {"tmpfs", ROOT "/run"},
              {"sysfs", ROOT "/sys"}}; /* for xpv carrefour in the chroot (nest.carrefour) */

static void unmount_all(void)
{
    for (int i = (int)(sizeof mounts / sizeof mounts[0]) - 1; i >= 0; i--)
        umount2(mounts[i].dir, MNT_DETACH);
}

/* The mounts above; 0, or -1 with why in err (none left mounted). */
static int mount_all(char *err, size_t len)
{
    if (!share_mounted()) {
        snprintf(err, len,
                 "no host share at %s: the guest was not booted with run-lab.sh "
                 "--share /:host (lab/CMakeLists.txt passes it to lab<N>.boot)",
                 ROOT);
        return -1;
    }
    for (size_t i = 0; i < sizeof mounts / sizeof mounts[0]; i++) {
        /* /dev/shm lives on the devtmpfs just mounted (the others exist in the host's root) */
        if (mkdir(mounts[i].dir, 0755) < 0 && errno != EEXIST) {
            snprintf(err, len, "mkdir %s: %s", mounts[i].dir, strerror(errno));
            unmount_all();
            return -1;
        }
        if (mount(mounts[i].fs, mounts[i].dir, mounts[i].fs, 0, NULL) < 0) {
            snprintf(err, len, "mount %s on %s: %s", mounts[i].fs, mounts[i].dir, strerror(errno));
            unmount_all();
            return -1;
        }
    }
    return 0;
}

static enum lab_result payload(const struct lab_env *env)
{
    char err[1024];
    LAB_CHECK(mount_all(err, sizeof err) == 0, "%s", err);
    unsigned nodes = env->nodes < 4 ? env->nodes : 4;
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

/* ---- nest.gm_attrib: the guest-memory sampler (libxpv-gmsampler.so) attributes guest
 * accesses to the right vCPU (issue 24, docs/carrefour.md "Guest memory: the userfaultfd
 * sampler") ---- */

#define GM_NODE_MB 16
#define GM_SECONDS 10
/* Fewest samples a vCPU must give. The host test (gm_sampler_qemu.sh) put 5774 of 5781
 * samples in the right range: a wrong-sample rate of 0.12 %, 0.34 % at most at 99.9 %
 * confidence. Even at 3 % wrong (9 times that bound), P(more than 10 % of n wrong) for
 * n = 100 is 2.1e-4 a vCPU, 8.6e-4 for 4 vCPUs (binomial tail): a false failure < 1e-3. */
#define GM_MIN_SAMPLES 100u
#define GM_MIN_SHARE   0.90

struct gm {
    unsigned nodes;
    void *mem;
    size_t len;
    struct xpv_cf_ring_reader rd;
    uint64_t start[NEST_MAX_CPUS], end[NEST_MAX_CPUS], pgoff[NEST_MAX_CPUS];
    size_t before; /* samples taken before the payload touched anything (dropped) */
    char err[512];
};

/* Where QEMU mapped node k's backing file: its line in /proc/PID/maps. */
static int gm_maps(struct gm *g, struct nest_run *r)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)nest_qemu_pid(r));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(g->err, sizeof g->err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b, off;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &a, &b, &off, &at) != 3 || !at)
            continue;
        char *name = line + at;
        name[strcspn(name, "\n")] = 0;
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        for (unsigned k = 0; k < g->nodes; k++) {
            const char *want = strrchr(nest_backing_file(r, k), '/') + 1;
            if (strcmp(base, want) == 0 && !g->end[k]) {
                g->start[k] = a, g->end[k] = b, g->pgoff[k] = off;
                found++;
            }
        }
    }
    fclose(f);
    if (found != g->nodes) {
        snprintf(g->err, sizeof g->err, "found %u of %u backing files in %s", found, g->nodes,
                 path);
        return -1;
    }
    return 0;
}

/* on_ready: QEMU is up, its vCPUs pinned, the payload waits. Open the sampler's ring (in the
 * chroot's /dev/shm), note where the backing files are mapped, drop the samples so far. */
static void gm_ready(struct nest_run *r, void *arg)
{
    struct gm *g = arg;
    struct xpv_error e = {0};
    char name[256];
    int fd =
            xpv_cf_ring_file_open(ROOT XPV_CF_RING_DIR, nest_qemu_pid(r), 0, name, sizeof name, &e);
    if (fd < 0) {
        snprintf(g->err, sizeof g->err, "no sampler ring for QEMU %d in %s: %s",
                 (int)nest_qemu_pid(r), ROOT XPV_CF_RING_DIR, e.msg);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < XPV_CF_RING_HDR) {
        snprintf(g->err, sizeof g->err, "ring %s: empty or unreadable", name);
        close(fd);
        return;
    }
    g->len = (size_t)st.st_size;
    g->mem = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (g->mem == MAP_FAILED) {
        g->mem = NULL;
        snprintf(g->err, sizeof g->err, "mmap %s: %s", name, strerror(errno));
        return;
    }
    if (xpv_cf_ring_open(&g->rd, g->mem, g->len, &e) < 0) {
        snprintf(g->err, sizeof g->err, "ring %s: %s", name, e.msg);
        return;
    }
    if (!(g->rd.flags & XPV_CF_RING_F_VCPU)) {
        snprintf(g->err, sizeof g->err, "ring %s is not a guest-memory sampler's", name);
        return;
    }
    if (gm_maps(g, r) < 0)
        return;
    struct xpv_cf_ring_sample s[256];
    for (size_t n; (n = xpv_cf_ring_pop(&g->rd, s, 256));)
        g->before += n;
    printf("  sampler ring %s, %zu samples before the payload's go dropped\n", name, g->before);
    g->err[0] = 0;
}

static int cpu_node(uint32_t cpu)
{
    for (int n = 0; n < 64; n++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/node%d", cpu, n);
        if (access(path, F_OK) == 0)
            return n;
    }
    return -1;
}

/* The nested QEMU with the guest-memory sampler preloaded (at its host path: the chroot is the
 * host's root), run to its end: one vCPU a node, pinned, region_kb (0: the default) per
 * region, the payload sweeping for `seconds`; on_ready(arg) when the payload waits. *out: the
 * run (nest_free it), or NULL. 0 or -1 with why in err. The sampler goes into the nested QEMU
 * only: each test runs in its own child (guest.c), and QEMU inherits the environment. */
static int run_sampled(unsigned nodes, unsigned node_mb, unsigned region_kb, unsigned seconds,
                       void (*on_ready)(struct nest_run *, void *), void *arg, const char *what,
                       struct nest_run **out, char *err, size_t len)
{
    setenv("LD_PRELOAD", XPV_NEST_GMSAMPLER, 1);
    setenv("XPV_GMSAMPLER_RING", "262144", 1);
    struct nest_opts o = {.qemu = XPV_NEST_QEMU,
                          .payload = XPV_NEST_PAYLOAD,
                          .root = ROOT,
                          .shm_dir = "/run",
                          .nodes = nodes,
                          .node_mb = node_mb,
                          .region_kb = region_kb,
                          .passes = 3,
                          .seconds = seconds,
                          .pin = 1,
                          .timeout_s = 500,
                          .on_ready = on_ready,
                          .arg = arg};
    struct nest_run *r = nest_start(&o, err, len);
    unsetenv("LD_PRELOAD");
    int rc = r ? nest_wait(r, err, len) : -1;
    if (rc == 0)
        printf("  nested QEMU %s: payload ready %.1f s after QEMU started, done at %.1f s\n", what,
               nest_seconds_to_ready(r), nest_seconds_total(r));
    *out = r;
    return rc;
}

static enum lab_result gm_attrib(const struct lab_env *env)
{
    char err[1024];
    LAB_CHECK(mount_all(err, sizeof err) == 0, "%s", err);
    unsigned nodes = env->nodes < 4 ? env->nodes : 4;
    struct gm g = {.nodes = nodes};
    snprintf(g.err, sizeof g.err, "the payload never got ready");
    struct nest_run *r = NULL;
    int rc = run_sampled(nodes, GM_NODE_MB, 0, GM_SECONDS, gm_ready, &g, "with the sampler", &r,
                         err, sizeof err);
    if (rc == 0 && g.err[0])
        rc = -1, snprintf(err, sizeof err, "%s", g.err);
    size_t n[NEST_MAX_CPUS] = {0}, in[NEST_MAX_CPUS] = {0}, on_node[NEST_MAX_CPUS] = {0};
    size_t other = 0, outside = 0, total = 0;
    if (rc == 0) {
        const uint64_t node = (uint64_t)GM_NODE_MB << 20;
        struct xpv_cf_ring_sample s[256];
        for (size_t got; (got = xpv_cf_ring_pop(&g.rd, s, 256));) {
            for (size_t i = 0; i < got; i++) {
                total++;
                if (!s[i].vcpu || s[i].vcpu > nodes) {
                    other++;
                    continue;
                }
                unsigned k = s[i].vcpu - 1;
                uint64_t gpa = UINT64_MAX;
                for (unsigned b = 0; b < nodes; b++)
                    if (s[i].addr >= g.start[b] && s[i].addr < g.end[b])
                        gpa = b * node + g.pgoff[b] + (s[i].addr - g.start[b]);
                n[k]++;
                if (gpa == UINT64_MAX) {
                    outside++;
                    continue;
                }
                /* region k: node/4 bytes from k * node + node/4 (nest.h) */
                in[k] += gpa >= k * node + node / 4 && gpa < k * node + node / 2;
                on_node[k] += cpu_node(s[i].cpu) == (int)k;
            }
        }
        struct xpv_cf_ring_hdr h;
        xpv_cf_ring_stats(&g.rd, &h);
        printf("  ring: %zu samples after go (%zu from other threads, %zu outside guest RAM), "
               "%llu dropped, %llu refused; sampler state %u stop %u%s%s\n",
               total, other, outside, (unsigned long long)h.dropped, (unsigned long long)g.rd.bad,
               h.state, h.stop_reason, h.stop_msg[0] ? ": " : "", h.stop_msg[0] ? h.stop_msg : "");
        for (unsigned k = 0; k < nodes; k++) {
            double share = n[k] ? (double)in[k] / (double)n[k] : 0;
            printf("  vcpu %u: %zu samples, %.1f %% in region %u, %zu on node %u (its "
                   "thread's pinned node)\n",
                   k, n[k], 100 * share, k, on_node[k], k);
            if (rc == 0 && n[k] < GM_MIN_SAMPLES)
                rc = -1, snprintf(err, sizeof err, "vCPU %u gave %zu samples, fewer than %u", k,
                                  n[k], GM_MIN_SAMPLES);
            if (rc == 0 && share < GM_MIN_SHARE)
                rc = -1, snprintf(err, sizeof err,
                                  "vCPU %u: %.1f %% of its %zu samples in its region %u, "
                                  "wanted >= %.0f %%",
                                  k, 100 * share, n[k], k, 100 * GM_MIN_SHARE);
        }
    }
    if (g.mem)
        munmap(g.mem, g.len);
    nest_free(r);
    unmount_all();
    LAB_CHECK(rc == 0, "%s", err);
    printf("  each of %u vCPUs: >= %u samples, >= %.0f %% of them in its own region\n", nodes,
           GM_MIN_SAMPLES, 100 * GM_MIN_SHARE);
    return LAB_PASS;
}

/* ---- nest.carrefour: Carrefour in the hypervisor (xpv carrefour --vm, the Xen port's values)
 * moves region k, touched only by vCPU k (pinned to guest node k), onto node k (issue 24,
 * docs/carrefour.md "Carrefour on guest memory in the nested lab") ---- */

#define CF_NODE_MB 16
/* Region k: 1 MiB (256 pages) at 4 MiB into node k's memory. A smaller region than the other
 * nested tests' 4 MiB gets 4 times the samples a page: the sampler's rate is set by the slow
 * nested vCPUs, not by the region's size, and a page migrates once sampled twice within
 * three rounds. With 4 MiB regions the shares ended at 64-93 %, bound by the round count at a
 * high host load (docs/test-statistics.md). */
#define CF_REGION_KB 1024
#define CF_SECONDS   40   /* the payload sweeps this long; xpv carrefour runs until QEMU exits */
#define CF_ROUNDS    "60" /* a bound only: QEMU's exit ends the rounds first */
/* Share of region k's pages that must end on node k, for every region. Derivation in
 * docs/test-statistics.md ("lab[48].nest.carrefour"). */
#define CF_MIN_LOCAL 0.60

struct cf {
    unsigned nodes;
    pid_t xpv;
    char out[256]; /* xpv carrefour's output file, as this process sees it */
    unsigned before[NEST_MAX_CPUS][NEST_MAX_CPUS]; /* [region][node] pages */
    char err[512];
};

/* Region k's pages in node k's backing file: [node/4, node/2). Count them per node through a
 * mapping of the file (pages read in, which finds the page-cache page where it is and
 * allocates nothing: they are all there, written before). With place >= 0, first write every
 * page from a task bound to node `place` (set_mempolicy: tmpfs allocates by the task's
 * policy), so the region starts there. 0, or -1 with why in err. */
static int cf_region(const char *file, int place, unsigned nodes, unsigned *count, char *err,
                     size_t len)
{
    const size_t node = (size_t)CF_NODE_MB << 20, off = node / 4, size = (size_t)CF_REGION_KB << 10,
                 pages = size / 4096;
    int fd = open(file, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, len, "open %s: %s", file, strerror(errno));
        return -1;
    }
    char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(err, len, "mmap %s: %s", file, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (place >= 0) {
        unsigned long mask = 1ul << place;
        if (set_mempolicy(MPOL_BIND, &mask, sizeof mask * 8) < 0) {
            snprintf(err, len, "set_mempolicy(MPOL_BIND, node %d): %s", place, strerror(errno));
            rc = -1;
        }
        for (size_t p = 0; rc == 0 && p < pages; p++)
            m[p * 4096 + 64] = 0; /* a zero on a zero page: the payload's words are 0 and 1 */
        set_mempolicy(MPOL_DEFAULT, NULL, 0);
    }
    void **addr = calloc(pages, sizeof *addr);
    int *status = calloc(pages, sizeof *status);
    if (rc == 0 && (!addr || !status)) {
        snprintf(err, len, "out of memory");
        rc = -1;
    }
    for (size_t p = 0; rc == 0 && p < pages; p++) {
        addr[p] = m + p * 4096;
        (void)*(volatile char *)addr[p];
    }
    if (rc == 0 && move_pages(0, pages, addr, NULL, status, 0) < 0) {
        snprintf(err, len, "move_pages query on %s: %s", file, strerror(errno));
        rc = -1;
    }
    for (unsigned n = 0; n < nodes; n++)
        count[n] = 0;
    for (size_t p = 0; rc == 0 && p < pages; p++)
        if (status[p] >= 0 && (unsigned)status[p] < nodes)
            count[status[p]]++;
    free(addr);
    free(status);
    munmap(m, size);
    return rc;
}

static void cf_print(const char *what, unsigned nodes, unsigned count[][NEST_MAX_CPUS])
{
    for (unsigned k = 0; k < nodes; k++) {
        char line[256];
        size_t n = 0;
        for (unsigned j = 0; j < nodes; j++)
            n += (size_t)snprintf(line + n, sizeof line - n, " N%u=%u", j, count[k][j]);
        printf("  %s: region %u (vCPU %u, node %u):%s\n", what, k, k, k, line);
    }
}

/* on_ready: QEMU is up, its vCPUs pinned, the payload waits and has touched none of the
 * regions. Put region k on node (k + 1) % nodes, then start xpv carrefour --vm on QEMU,
 * chrooted as QEMU is (its /proc/PID/maps then shows the backing files at the paths of QEMU's
 * command line, and the sampler's ring is in its /dev/shm). */
static void cf_ready(struct nest_run *r, void *arg)
{
    struct cf *c = arg;
    for (unsigned k = 0; k < c->nodes; k++)
        if (cf_region(nest_backing_file(r, k), (int)((k + 1) % c->nodes), c->nodes, c->before[k],
                      c->err, sizeof c->err) < 0)
            return;
    cf_print("before", c->nodes, c->before);
    snprintf(c->out, sizeof c->out, ROOT "/run/xpv-nest-cf-%d.out", (int)getpid());
    int fd = open(c->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(c->err, sizeof c->err, "open %s: %s", c->out, strerror(errno));
        return;
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)nest_qemu_pid(r));
    char *argv[] = {"xpv", "carrefour", "--vm", pid, "--rounds", CF_ROUNDS, NULL};
    printf("  chroot %s %s carrefour --vm %s --rounds %s\n", ROOT, XPV_NEST_XPV, pid, CF_ROUNDS);
    fflush(stdout);
    c->xpv = fork();
    if (c->xpv == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("LD_PRELOAD");
        if (chroot(ROOT) < 0 || chdir("/") < 0) {
            printf("chroot %s: %s\n", ROOT, strerror(errno));
            _exit(127);
        }
        execv(XPV_NEST_XPV, argv);
        printf("cannot run %s: %s\n", XPV_NEST_XPV, strerror(errno));
        _exit(127);
    }
    close(fd);
    if (c->xpv < 0) {
        snprintf(c->err, sizeof c->err, "fork: %s", strerror(errno));
        return;
    }
    c->err[0] = 0;
}

/* Wait for xpv carrefour until a deadline (it ends a round after QEMU exits); kill it past it.
 * Its exit status, or -1 when killed. */
static int cf_reap(pid_t pid, double seconds)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (w < 0 && errno != EINTR)
            return -1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        usleep(20000); /* not a wait: the poll interval of this deadline loop */
    }
}

static void cf_print_output(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[2048];
    while (f && fgets(line, sizeof line, f))
        printf("  cf| %s", line);
    if (f)
        fclose(f);
    fflush(stdout);
}

static enum lab_result carrefour(const struct lab_env *env)
{
    char err[1024];
    if (env->nodes < 2)
        LAB_SKIP_BECAUSE("one node: nothing can move");
    LAB_CHECK(mount_all(err, sizeof err) == 0, "%s", err);
    unsigned nodes = env->nodes < 4 ? env->nodes : 4;
    struct cf c = {.nodes = nodes, .xpv = -1};
    snprintf(c.err, sizeof c.err, "the payload never got ready");
    struct nest_run *r = NULL;
    int rc = run_sampled(nodes, CF_NODE_MB, CF_REGION_KB, CF_SECONDS, cf_ready, &c,
                         "with the sampler and xpv carrefour", &r, err, sizeof err);
    if (rc == 0 && c.err[0])
        rc = -1, snprintf(err, sizeof err, "%s", c.err);
    int xs = c.xpv > 0 ? cf_reap(c.xpv, 60) : -1;
    if (c.xpv > 0) {
        cf_print_output(c.out);
        unlink(c.out);
        if (rc == 0 && xs != 0)
            rc = -1, snprintf(err, sizeof err, "xpv carrefour ended with status %d", xs);
    }
    /* the payload's data survived the moves */
    if (rc == 0)
        rc = nest_check(r, NULL, err, sizeof err);
    unsigned after[NEST_MAX_CPUS][NEST_MAX_CPUS] = {{0}};
    for (unsigned k = 0; rc == 0 && k < nodes; k++)
        rc = cf_region(nest_backing_file(r, k), -1, nodes, after[k], err, sizeof err);
    if (rc == 0) {
        cf_print("after", nodes, after);
        for (unsigned k = 0; k < nodes; k++) {
            unsigned total = 0;
            for (unsigned j = 0; j < nodes; j++)
                total += after[k][j];
            double share = total ? (double)after[k][k] / total : 0;
            printf("  region %u: %.1f %% of %u pages on node %u (started %.1f %% there)\n", k,
                   100 * share, total, k, 100.0 * c.before[k][k] / (total ? total : 1));
            if (rc == 0 && share < CF_MIN_LOCAL)
                rc = -1, snprintf(err, sizeof err,
                                  "region %u: %.1f %% of its pages on node %u, where vCPU %u "
                                  "runs; wanted >= %.0f %%",
                                  k, 100 * share, k, k, 100 * CF_MIN_LOCAL);
        }
    }
    nest_free(r);
    unmount_all();
    LAB_CHECK(rc == 0, "%s", err);
    printf("  each of %u regions: >= %.0f %% of its pages moved onto its vCPU's node\n", nodes,
           100 * CF_MIN_LOCAL);
    return LAB_PASS;
}

const struct lab_test lab_nest_tests[] = {
        {"nest.payload", payload},
        {"nest.gm_attrib", gm_attrib},
        {"nest.carrefour", carrefour},
        {NULL, NULL},
};
