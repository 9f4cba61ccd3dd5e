/*
 * nest.c — run the nested lab's payload under QEMU and check its regions (nest.h).
 */
#define _GNU_SOURCE
#include "nest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX (64 * 1024)

struct nest_run {
    struct nest_opts o;
    pid_t pid;
    int in_fd, out_fd, exited, status;
    pid_t tid[NEST_MAX_CPUS];
    int fd[NEST_MAX_CPUS];
    char file[NEST_MAX_CPUS][512]; /* the backing files, as this process sees them */
    char out[OUT_MAX];
    size_t out_len, printed;
    double t0, t_ready, t_end, deadline;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 3, 4))) static int say(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

pid_t nest_qemu_pid(const struct nest_run *r)
{
    return r->pid;
}
pid_t nest_vcpu_tid(const struct nest_run *r, unsigned k)
{
    return k < r->o.nodes ? r->tid[k] : -1;
}
const char *nest_backing_file(const struct nest_run *r, unsigned k)
{
    return k < r->o.nodes ? r->file[k] : NULL;
}
double nest_seconds_to_ready(const struct nest_run *r)
{
    return r->t_ready - r->t0;
}
double nest_seconds_total(const struct nest_run *r)
{
    return r->t_end - r->t0;
}

/* Print QEMU's complete output lines not printed yet. */
static void print_out(struct nest_run *r, int all)
{
    while (r->printed < r->out_len) {
        char *s = r->out + r->printed, *nl = memchr(s, '\n', r->out_len - r->printed);
        if (!nl && !all)
            break;
        size_t n = nl ? (size_t)(nl - s) : r->out_len - r->printed;
        printf("  | %.*s\n", (int)n, s);
        r->printed += n + (nl != NULL);
    }
    fflush(stdout);
}

/* Read QEMU's output until it holds `needle` (1), EOF (0) or the deadline (-1). */
static int read_until(struct nest_run *r, const char *needle)
{
    for (;;) {
        r->out[r->out_len] = 0;
        if (needle && strstr(r->out, needle))
            return 1;
        double left = r->deadline - now_s();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = r->out_fd, .events = POLLIN};
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        if (r->out_len >= OUT_MAX - 1) { /* keep the head and make room: drop the middle */
            memmove(r->out + OUT_MAX / 2, r->out + OUT_MAX - OUT_MAX / 4, OUT_MAX / 4);
            r->out_len = OUT_MAX / 2 + OUT_MAX / 4;
            r->printed = r->out_len;
        }
        ssize_t got = read(r->out_fd, r->out + r->out_len, OUT_MAX - 1 - r->out_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 0;
        r->out_len += (size_t)got;
        print_out(r, 0);
    }
}

/* Reap QEMU, waiting until the deadline; kill it past that. */
static void reap(struct nest_run *r)
{
    while (!r->exited) {
        pid_t w = waitpid(r->pid, &r->status, WNOHANG);
        if (w == r->pid || (w < 0 && errno != EINTR)) {
            r->exited = 1;
            break;
        }
        if (now_s() > r->deadline) {
            kill(r->pid, SIGKILL);
            while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
                ;
            r->exited = 1;
            r->status = -1;
            break;
        }
        struct pollfd none = {.fd = -1};
        poll(&none, 0, 10); /* a wait with a deadline: QEMU has closed its output */
    }
    r->t_end = now_s();
}

static int node_cpus(unsigned node, cpu_set_t *set, char *list, size_t len)
{
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/node/node%u/cpulist", node);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(list, (int)len, f))
        list[0] = 0;
    fclose(f);
    list[strcspn(list, "\n")] = 0;
    CPU_ZERO(set);
    for (char *s = list; *s;) {
        char *e;
        unsigned long a = strtoul(s, &e, 10), b = a;
        if (e == s)
            return -1;
        if (*e == '-')
            b = strtoul(e + 1, &e, 10);
        for (unsigned long c = a; c <= b && c < CPU_SETSIZE; c++)
            CPU_SET(c, set);
        s = *e == ',' ? e + 1 : e;
    }
    return CPU_COUNT(set) ? 0 : -1;
}

/* QEMU's vCPU threads: "CPU K/TCG" (or /KVM) with -name ...,debug-threads=on. */
static int find_vcpus(struct nest_run *r, char *err, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)r->pid);
    DIR *d = opendir(path);
    if (!d)
        return say(err, len, "cannot list %s: %s", path, strerror(errno));
    unsigned found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char cpath[384], comm[32] = "";
        unsigned k;
        snprintf(cpath, sizeof cpath, "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(cpath, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (sscanf(comm, "CPU %u/", &k) == 1 && k < r->o.nodes && !r->tid[k]) {
            r->tid[k] = (pid_t)atoi(e->d_name);
            found++;
        }
    }
    closedir(d);
    if (found != r->o.nodes)
        return say(err, len, "found %u vCPU threads named \"CPU K/...\" in %s, wanted %u", found,
                   path, r->o.nodes);
    return 0;
}

static int pin_and_print(struct nest_run *r, char *err, size_t len)
{
    for (unsigned k = 0; k < r->o.nodes; k++) {
        char list[256] = "-";
        cpu_set_t set;
        if (r->o.pin) {
            if (node_cpus(k, &set, list, sizeof list) < 0)
                return say(err, len, "no CPUs for node %u in /sys/devices/system/node", k);
            if (sched_setaffinity(r->tid[k], sizeof set, &set) < 0)
                return say(err, len, "pinning vCPU %u (thread %d) to node %u's CPUs %s: %s", k,
                           (int)r->tid[k], k, list, strerror(errno));
            cpu_set_t got;
            if (sched_getaffinity(r->tid[k], sizeof got, &got) < 0 || !CPU_EQUAL(&got, &set))
                return say(err, len, "vCPU %u's thread %d is not pinned after pinning", k,
                           (int)r->tid[k]);
        }
        printf("nest: vcpu %u tid %d node %u cpus %s\n", k, (int)r->tid[k], k, list);
    }
    fflush(stdout);
    return 0;
}

struct nest_run *nest_start(const struct nest_opts *o, char *err, size_t len)
{
    if (!o->qemu || !o->payload || !o->shm_dir || o->nodes < 1 || o->nodes > NEST_MAX_CPUS ||
        o->node_mb < 16 || o->node_mb % 4 || !o->timeout_s || o->region_kb % 4 ||
        o->region_kb > o->node_mb * 1024 / 4) {
        say(err, len,
            "nest_start: wants qemu, payload, shm_dir, 1..%d nodes, node_mb >= 16 and "
            "a multiple of 4, region_kb a multiple of 4 up to node_mb / 4 MiB, a timeout",
            NEST_MAX_CPUS);
        return NULL;
    }
    struct nest_run *r = calloc(1, sizeof *r);
    if (!r) {
        say(err, len, "out of memory");
        return NULL;
    }
    r->o = *o;
    r->pid = -1;
    r->in_fd = r->out_fd = -1;
    for (unsigned k = 0; k < NEST_MAX_CPUS; k++)
        r->fd[k] = -1;
    signal(SIGPIPE, SIG_IGN); /* a QEMU gone before the go byte is an error, not a death */
    r->t0 = now_s();
    r->deadline = r->t0 + o->timeout_s;
    const char *root = o->root ? o->root : "";

    /* argv: at most 8 words a node and 40 others */
    char *argv[40 + 8 * NEST_MAX_CPUS], buf[8 * NEST_MAX_CPUS + 16][600];
    int ac = 0, nb = 0;
#define ARG(...) (snprintf(buf[nb], sizeof buf[nb], __VA_ARGS__), argv[ac++] = buf[nb++])
    char dir[512];
    snprintf(dir, sizeof dir, "%s", o->qemu);
    for (int i = 0; i < 2; i++) /* .../usr/bin/qemu -> .../usr */
        if (strrchr(dir, '/'))
            *strrchr(dir, '/') = 0;
    ARG("%s", o->qemu);
    ARG("-L"), ARG("%s/share/qemu", dir), ARG("-L"), ARG("%s/share/seabios", dir);
    /* qboot, not SeaBIOS: twice as fast to the payload on the host (lab/payload/README.md) */
    ARG("-bios"), ARG("qboot.rom");
    ARG("-M"), ARG("pc"), ARG("-accel"), ARG("tcg,tb-size=64");
    ARG("-smp"), ARG("%u,sockets=%u,cores=1,threads=1", o->nodes, o->nodes);
    ARG("-m"), ARG("%uM", o->nodes * o->node_mb);
    for (unsigned k = 0; k < o->nodes; k++) {
        snprintf(r->file[k], sizeof r->file[k], "%s%s/xpv-nest-%d-%u", root, o->shm_dir,
                 (int)getpid(), k);
        r->fd[k] = open(r->file[k], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (r->fd[k] < 0 || ftruncate(r->fd[k], (off_t)o->node_mb << 20) < 0) {
            say(err, len, "backing file %s: %s (is %s a writable tmpfs?)", r->file[k],
                strerror(errno), o->shm_dir);
            nest_free(r);
            return NULL;
        }
        ARG("-object");
        ARG("memory-backend-file,id=m%u,size=%uM,mem-path=%s,share=on", k, o->node_mb,
            r->file[k] + strlen(root));
        ARG("-numa"), ARG("node,nodeid=%u,memdev=m%u", k, k);
        ARG("-numa"), ARG("cpu,node-id=%u,socket-id=%u", k, k);
    }
    ARG("-kernel"), ARG("%s", o->payload);
    ARG("-append");
    ARG("regions=%u base=%uM stride=%uM size=%uK passes=%u seconds=%u wait=1%s%s", o->nodes,
        o->node_mb / 4, o->node_mb, o->region_kb ? o->region_kb : o->node_mb * 1024 / 4, o->passes,
        o->seconds, o->pattern ? " pattern=" : "", o->pattern ? o->pattern : "");
    ARG("-display"), ARG("none"), ARG("-nodefaults"), ARG("-no-reboot");
    ARG("-serial"), ARG("stdio"), ARG("-monitor"), ARG("none");
    ARG("-device"), ARG("isa-debug-exit,iobase=%#x,iosize=4", NEST_EXIT_PORT);
    ARG("-name"), ARG("xpv-nest,debug-threads=on");
    argv[ac] = NULL;
#undef ARG
    printf("nest: %s%s", o->root ? "chroot " : "", o->root ? o->root : "");
    for (int i = 0; i < ac; i++)
        printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);

    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        say(err, len, "pipe: %s", strerror(errno));
        nest_free(r);
        return NULL;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        say(err, len, "pipe: %s", strerror(errno));
        close(in[0]), close(in[1]);
        nest_free(r);
        return NULL;
    }
    r->pid = fork();
    if (r->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        if (o->root && (chroot(o->root) < 0 || chdir("/") < 0)) {
            printf("nest: chroot %s: %s\n", o->root, strerror(errno));
            _exit(127);
        }
        execv(argv[0], argv);
        printf("nest: cannot run %s%s: %s\n", root, argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    r->in_fd = in[1];
    r->out_fd = out[0];
    if (r->pid < 0) {
        say(err, len, "fork: %s", strerror(errno));
        nest_free(r);
        return NULL;
    }
    int got = read_until(r, "NEST ready");
    r->t_ready = now_s();
    if (got != 1 || find_vcpus(r, err, len) < 0 || pin_and_print(r, err, len) < 0) {
        if (got != 1)
            say(err, len, "no \"NEST ready\" from the payload %s",
                got < 0 ? "before the deadline" : "before QEMU closed its output");
        print_out(r, 1);
        nest_free(r);
        return NULL;
    }
    if (o->on_ready)
        o->on_ready(r, o->arg);
    char go = NEST_GO_BYTE;
    if (write(r->in_fd, &go, 1) != 1) {
        say(err, len, "writing to QEMU's serial port: %s", strerror(errno));
        nest_free(r);
        return NULL;
    }
    return r;
}

int nest_wait(struct nest_run *r, char *err, size_t len)
{
    int got = read_until(r, NULL); /* to EOF */
    print_out(r, 1);
    if (got < 0) {
        kill(r->pid, SIGKILL);
        reap(r);
        return say(err, len, "QEMU did not finish within %u s; killed", r->o.timeout_s);
    }
    reap(r);
    if (!strstr(r->out, "NEST done"))
        return say(err, len, "the payload did not say \"NEST done\" (QEMU status %#x)", r->status);
    int want = (NEST_EXIT_OK << 1) | 1;
    if (r->status == -1 || !WIFEXITED(r->status) || WEXITSTATUS(r->status) != want)
        return say(err, len, "QEMU ended with status %#x, not exit %d (isa-debug-exit %#x)",
                   r->status, want, NEST_EXIT_OK);
    return 0;
}

int nest_check(const struct nest_run *r, const unsigned *owner, char *err, size_t len)
{
    const size_t node = (size_t)r->o.node_mb << 20, base = node / 4,
                 size = r->o.region_kb ? (size_t)r->o.region_kb << 10 : node / 4;
    size_t bad = 0, good = 0;
    char first[256] = "";
    for (unsigned n = 0; n < r->o.nodes; n++) {
        const uint32_t *m = mmap(NULL, node, PROT_READ, MAP_SHARED, r->fd[n], 0);
        if (m == MAP_FAILED)
            return say(err, len, "mmap %s: %s", r->file[n], strerror(errno));
        for (size_t off = 0; off < node; off += 4096) {
            uint32_t w0 = m[off / 4], w1 = m[off / 4 + 1];
            size_t gpa = n * node + off;
            int in = gpa >= base && (gpa - base) % node < size;
            unsigned reg = in ? (unsigned)((gpa - base) / node) : 0;
            unsigned want = in ? (owner ? owner[reg] : reg) : NEST_NOBODY;
            int tagged = (w0 & NEST_TAG_MASK) == NEST_TAG_MAGIC;
            const char *wrong = NULL;
            if (want == NEST_NOBODY && tagged)
                wrong = "a page outside the touched regions carries a tag";
            else if (want != NEST_NOBODY && !tagged)
                wrong = "a page of a region carries no tag";
            else if (want != NEST_NOBODY && (w0 & ~NEST_TAG_MASK) != want)
                wrong = "a page of a region was touched by another vCPU";
            else if (want != NEST_NOBODY && w1 < r->o.passes)
                wrong = "a page of a region was swept fewer times than passes=";
            if (!wrong) {
                good += want != NEST_NOBODY;
                continue;
            }
            if (!bad++)
                snprintf(first, sizeof first,
                         "%s: guest-physical %#zx (node %u, region %s%u) has tag %#x pass %u, "
                         "wanted vCPU %d",
                         wrong, gpa, n, in ? "" : "none, near ", reg, w0, w1,
                         want == NEST_NOBODY ? -1 : (int)want);
        }
        munmap((void *)m, node);
    }
    printf("nest: %zu region pages as the pattern says, %zu wrong\n", good, bad);
    if (bad)
        return say(err, len, "%zu pages wrong; the first: %s", bad, first);
    return 0;
}

void nest_free(struct nest_run *r)
{
    if (!r)
        return;
    if (r->pid > 0 && !r->exited) {
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
            ;
    }
    if (r->in_fd >= 0)
        close(r->in_fd);
    if (r->out_fd >= 0)
        close(r->out_fd);
    for (unsigned k = 0; k < NEST_MAX_CPUS; k++) {
        if (r->fd[k] >= 0) {
            close(r->fd[k]);
            unlink(r->file[k]);
        }
    }
    free(r);
}
