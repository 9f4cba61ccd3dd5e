/*
 * hostd.c — the host daemon's round (docs/hostd.md): refresh what every domain is (threads,
 * memory per node), let the shared placement core (xpv/placement.h) decide, apply the moves
 * through the ops table (thread affinity now, pages over the next rounds within the migration
 * budget), and publish each changed domain's topology record.
 *
 * Failures of single operations (a thread that exited, pages that will not move, a permission
 * error) are logged and counted; the round goes on. A domain whose processes are all gone is
 * marked dead and skipped until they come back (a pid list) or forever (a command).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/file.h"
#include "xpv/publisher.h"
#include "xpv/record.h"
#include "xpv/record_build.h"
#include "xpv/safe_open.h"

#define MAX_TIDS   4096
#define MAX_RANGES 1024

const char *hostd_log_level_name(enum hostd_log_level lvl)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    return (unsigned)lvl < 4 ? names[lvl] : "?";
}

void hostd_log(struct hostd *h, enum hostd_log_level lvl, const char *domain, const char *fmt, ...)
{
    if (lvl > h->verbosity || !h->log.fn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h->log.fn(h->log.arg, lvl, domain, msg);
}

void hostd_format_nodes(const struct xpv_topo *t, uint64_t mask, char *buf, size_t len)
{
    struct xpv_bitmap b;
    xpv_bitmap_zero(&b);
    for (unsigned i = 0; i < t->nr_nodes && i < 64; i++)
        if (mask >> i & 1)
            xpv_bitmap_set(&b, (unsigned)t->nodes[i].id);
    if (!mask)
        snprintf(buf, len, "-");
    else
        xpv_bitmap_format_list(&b, buf, len);
}

double hostd_locality(const struct hostd *h, const struct hostd_domain *d)
{
    double all = 0, on = 0;
    for (unsigned i = 0; i < h->topo->nr_nodes && i < XPV_PLACE_MAX_NODES; i++) {
        all += (double)d->mem[i];
        if (!d->nodes || d->nodes >> i & 1)
            on += (double)d->mem[i];
    }
    return all > 0 ? on / all : 1;
}

struct hostd_domain *hostd_find(struct hostd *h, const char *name)
{
    for (unsigned i = 0; i < h->nr_domains; i++)
        if (!strcmp(h->domains[i].conf.name, name))
            return &h->domains[i];
    return NULL;
}

static uint64_t all_nodes(const struct hostd *h)
{
    unsigned n = h->topo->nr_nodes < 64 ? h->topo->nr_nodes : 64;
    return n == 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
}

void hostd_record_path(const struct hostd *h, const struct hostd_domain *d, char *buf, size_t len)
{
    if (d->conf.record[0])
        snprintf(buf, len, "%s", d->conf.record);
    else
        snprintf(buf, len, "%s/xpv-domain-%s", h->conf.record_dir, d->conf.name);
}

/* Whether process pid maps the file fd is open on (a line of /proc/PID/maps with its device
 * and inode): a VM's ivshmem file must be one QEMU itself maps, so whoever answers QMP cannot
 * name another file for the daemon to write. */
static int mapped_by(const struct hostd *h, pid_t pid, int fd, const char *path,
                     struct xpv_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return xpv_error_set(err, -errno, "cannot stat %s: %s", path, strerror(errno));
    if (pid <= 0)
        return xpv_error_set(err, -EPERM, "%s: QEMU's pid is unknown: not adopted", path);
    char maps[300], *text = NULL;
    size_t len;
    snprintf(maps, sizeof(maps), "%s/proc/%d/maps", h->proc_root, (int)pid);
    int rc = xpv_read_file(maps, 64u << 20, &text, &len, err);
    if (rc < 0)
        return rc;
    bool found = false;
    for (char *line = text, *next; line && *line && !found; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        unsigned maj, min;
        unsigned long long ino;
        if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3)
            found = ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) &&
                    min == minor(st.st_dev);
    }
    free(text);
    if (!found)
        return xpv_error_set(err, -EPERM, "%s is not mapped by QEMU (pid %d): not adopted", path,
                             (int)pid);
    return 0;
}

int hostd_publisher_open(struct hostd *h, const char *path, pid_t foreign,
                         struct xpv_publisher **out, struct xpv_error *err)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || !slash[1])
        return xpv_error_set(err, -EINVAL, "%s: a record file wants an absolute path", path);
    const char *name = path + (slash - dir) + 1;
    slash == dir ? (void)(dir[1] = 0) : (void)(*slash = 0);
    /* the default record directory is made when missing (systemd makes /run/xpv); a
     * configured one must exist */
    bool own = !strcmp(dir, hostd_default_record_dir());
    int dfd = xpv_dir_open(dir, own ? XPV_DIR_CREATE : 0, 0711, err);
    if (dfd < 0)
        return dfd;
    bool created;
    int fd = xpv_safe_openat(dfd, name, O_RDWR, foreign ? XPV_SAFE_FOREIGN : XPV_SAFE_CREATE, 0644,
                             XPV_RECORD_MAP_SIZE, path, &created, err);
    close(dfd);
    if (fd < 0)
        return fd;
    int rc = foreign ? mapped_by(h, foreign, fd, path, err) : 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (created && fchmod(fd, 0644) < 0) { /* readable by the domain's processes, any umask */
        int e = errno;
        close(fd);
        return xpv_error_set(err, -e, "%s: chmod: %s", path, strerror(e));
    }
    return xpv_publisher_open_fd(fd, path, out, err);
}

/* Publish d's record: the nodes it is bound to (all when unbound). */
static int publish(struct hostd *h, struct hostd_domain *d)
{
    if (h->dry_run)
        return 0;
    if (d->conf.kind == HOSTD_VM)
        return d->vm ? hostd_vm_placed(h, d) : -ENOTCONN; /* its record has vNUMA */
    struct xpv_error err = {0};
    int rc;
    if (!d->pub) {
        char path[512];
        hostd_record_path(h, d, path, sizeof(path));
        if ((rc = hostd_publisher_open(h, path, 0, &d->pub, &err)) < 0) {
            h->stats.errors++;
            hostd_log(h, HOSTD_LOG_ERR, d->conf.name, "cannot publish its record: %s",
                      xpv_error_str(&err, rc));
            return rc;
        }
    }
    struct xpv_bitmap ids;
    xpv_bitmap_zero(&ids);
    uint64_t m = d->nodes ? d->nodes : all_nodes(h);
    for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++)
        if (m >> i & 1)
            xpv_bitmap_set(&ids, (unsigned)h->topo->nodes[i].id);
    struct xpv_record_desc desc;
    if ((rc = xpv_record_desc_from_nodes(h->topo, &ids, &desc, &err)) == 0) {
        rc = xpv_publisher_publish(d->pub, &desc, &d->generation, &err);
        xpv_record_desc_free(&desc);
    }
    if (rc < 0) {
        h->stats.errors++;
        hostd_log(h, HOSTD_LOG_ERR, d->conf.name, "publishing its record: %s",
                  xpv_error_str(&err, rc));
        return rc;
    }
    h->stats.publishes++;
    return 0;
}

/* One process's part of the change detector's signature: its pid and start time, mixed so
 * that the sum over a domain's processes does not depend on their order (cgroup.procs). */
static uint64_t sig_mix(pid_t pid, uint64_t start)
{
    uint64_t x = ((uint64_t)(uint32_t)pid << 32) ^ start ^ UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* pid's stat through the fd d holds for it (opened and held when the budget allows); used[]
 * marks the slots read this round (stat_prune closes the others). */
static int domain_stat(struct hostd *h, struct hostd_domain *d, pid_t pid, bool *used,
                       struct hostd_pstat *ps)
{
    unsigned j = 0;
    while (j < d->nr_stat && d->stat_pid[j] != pid)
        j++;
    if (j == d->nr_stat) {
        if (j == HOSTD_MAX_PIDS)
            return hostd_proc_stat(h->proc_root, pid, ps);
        d->stat_pid[j] = pid;
        d->stat_fd[j] = 0;
        d->nr_stat++;
    }
    used[j] = true;
    int fd = d->stat_fd[j] - 1;
    bool held = fd >= 0;
    int rc = hostd_proc_stat_fd(h->proc_root, pid, &fd, h->stat_held < h->stat_budget, ps);
    if (held && fd < 0)
        h->stat_held--;
    else if (!held && fd >= 0)
        h->stat_held++;
    d->stat_fd[j] = fd + 1;
    return rc;
}

/* Close the stat files of processes no longer in d (slots not used this round). */
static void stat_prune(struct hostd *h, struct hostd_domain *d, const bool *used)
{
    unsigned k = 0;
    for (unsigned j = 0; j < d->nr_stat; j++) {
        if (!used[j]) {
            if (d->stat_fd[j] > 0) {
                close(d->stat_fd[j] - 1);
                h->stat_held--;
            }
            continue;
        }
        d->stat_pid[k] = d->stat_pid[j];
        d->stat_fd[k++] = d->stat_fd[j];
    }
    d->nr_stat = k;
}

void hostd_domain_close_stats(struct hostd *h, struct hostd_domain *d)
{
    bool none[HOSTD_MAX_PIDS] = {0};
    stat_prune(h, d, none);
}

unsigned long hostd_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? ULONG_MAX : (unsigned long)rl.rlim_cur;
}

/*
 * Threads of d (all its processes'), and its memory per node: the full read (/proc/PID/task,
 * /proc/PID/numa_maps), made only when the change detector asks for it, or force (a move
 * needs the thread ids). The detector is /proc/PID/stat of each process, one small read the
 * pid check makes anyway: the set of processes (pid and start time), their threads
 * (num_threads) and their resident pages (rss). Unchanged since the last full read, within
 * conf.rss_change, and that read less than conf.rescan_rounds rounds ago (staggered over
 * the domains), the domain keeps what that read found and returns its thread count without
 * filling tids; d->changed says which. A full read lists the threads (fills tids) only when
 * they are needed (below); tids is filled whenever force is. A process without a readable
 * stat (a fixture without
 * one, a kernel that hides it) has no detector: read in full every round. VMs are read in
 * full every round (their QMP check runs anyway).
 */
static int refresh(struct hostd *h, struct hostd_domain *d, pid_t *tids, unsigned cap, bool force)
{
    unsigned nt = 0;
    uint64_t sig = 0, rss = 0, threads = 0;
    bool ok = true; /* every process has a detector */
    bool used[HOSTD_MAX_PIDS] = {0};
    struct hostd_pstat ps;
    switch (d->conf.kind) {
    case HOSTD_PIDS:
        /* a pid names a process only while its start time is the one first seen: after the
         * process exits, the number may go to another one, which is not the domain */
        d->nr_pids = 0;
        for (unsigned p = 0; p < d->conf.nr_pids && p < HOSTD_MAX_PIDS; p++) {
            pid_t pid = d->conf.pids[p];
            if (d->reused >> p & 1)
                continue;
            if (domain_stat(h, d, pid, used, &ps) == 0) {
                uint64_t st = ps.starttime;
                if (!d->start[p]) {
                    d->start[p] = st;
                } else if (d->start[p] != st) {
                    d->reused |= UINT64_C(1) << p;
                    hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                              "pid %d is another process now (started at tick %" PRIu64
                              ", not %" PRIu64 "): dropped from the domain",
                              (int)pid, st, d->start[p]);
                    continue;
                }
                ok &= ps.full;
                sig += sig_mix(pid, st);
                threads += ps.threads;
                rss += ps.rss;
            } else { /* gone (it may be a process not started yet), or no stat file */
                ok = false;
            }
            d->pids[d->nr_pids++] = pid;
        }
        break;
    case HOSTD_CGROUP: {
        int n = hostd_cgroup_pids(h->proc_root, d->conf.cgroup, d->pids, HOSTD_MAX_PIDS);
        if (n < 0) {
            if (d->alive)
                hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "cannot read %s/cgroup.procs: %s",
                          d->conf.cgroup, strerror(-n));
            n = 0;
        }
        d->nr_pids = (unsigned)n;
        break;
    }
    case HOSTD_COMMAND:
        break; /* d->pids[0] is the launched process (hostd_launch) */
    case HOSTD_VM: {
        struct xpv_error err = {0};
        unsigned nr = 0;
        memset(d->mem, 0, sizeof(d->mem));
        d->changed = true;
        int n = hostd_vm_refresh(h, d, tids, cap, NULL, &nr, &err);
        if (n < 0) {
            if (d->alive)
                hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "VM lost: %s", xpv_error_str(&err, n));
            d->alive = false;
            d->threads = 0;
            return 0;
        }
        nt = (unsigned)n; /* hostd_vm_refresh set d->pids to QEMU's pid */
        ok = false;
        break;
    }
    }
    if (d->conf.kind == HOSTD_CGROUP || d->conf.kind == HOSTD_COMMAND) {
        for (unsigned p = 0; p < d->nr_pids; p++) {
            if (domain_stat(h, d, d->pids[p], used, &ps) == 0 && ps.full) {
                sig += sig_mix(d->pids[p], ps.starttime);
                threads += ps.threads;
                rss += ps.rss;
            } else {
                ok = false;
            }
        }
    }
    if (d->conf.kind != HOSTD_VM)
        stat_prune(h, d, used);
    ok &= d->nr_pids > 0;
    uint64_t rounds = h->stats.rounds, every = h->conf.rescan_rounds ? h->conf.rescan_rounds : 1;
    bool due =
            rounds - d->full_round >= every || (rounds + (uint64_t)(d - h->domains)) % every == 0;
    double drift = fabs((double)rss - (double)d->sig_rss);
    if (!force && ok && d->sig_ok && d->alive && d->full_round && !due && sig == d->sig_pids &&
        threads == d->sig_threads && drift <= h->conf.rss_change * (double)d->sig_rss) {
        d->changed = false; /* nothing it tells changed: what the last full read found stands */
        return (int)d->threads;
    }
    d->changed = true;
    d->sig_ok = ok;
    d->sig_pids = sig;
    d->sig_threads = (unsigned)threads;
    d->sig_rss = rss;
    d->full_round = rounds ? rounds : 1;
    if (d->conf.kind != HOSTD_VM)
        memset(d->mem, 0, sizeof(d->mem));
    /* The thread ids are needed only to bind the threads: a move reads them (force), as do a
     * domain with a fixed placement (bound here) and one found for the first time (its
     * threads' affinity may say where an earlier daemon put it). Otherwise the detector's
     * count stands for them, and a change of memory alone costs no task listing. */
    bool list = force || !ok || d->pinned || (!d->nodes && !d->generation);
    unsigned live = 0;
    for (unsigned p = 0; p < d->nr_pids; p++) {
        if (d->conf.kind != HOSTD_VM && list) {
            int n = hostd_proc_tids(h->proc_root, d->pids[p], tids + nt, cap - nt);
            if (n < 0)
                continue;
            nt += (unsigned)n;
        }
        if (hostd_proc_mem(h->proc_root, d->pids[p], h->topo, d->mem) == 0)
            live++;
    }
    if (d->conf.kind != HOSTD_VM && !list)
        nt = (unsigned)threads; /* every process has a detector (ok): their num_threads */
    bool was = d->alive;
    d->alive = live > 0 && nt > 0;
    d->threads = nt;
    if (was && !d->alive)
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name,
                  "its processes are gone; skipped until they return");
    return (int)nt;
}

/* The nodes tid's affinity covers, when it is a strict subset of the machine. */
static uint64_t bound_nodes(struct hostd *h, pid_t tid)
{
    struct xpv_bitmap cpus;
    if (h->ops->get_affinity(h->ops->ctx, tid, &cpus) < 0)
        return 0;
    uint64_t m = 0;
    for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++)
        if (xpv_bitmap_intersects(&cpus, &h->topo->nodes[i].cpus))
            m |= UINT64_C(1) << i;
    return m == all_nodes(h) ? 0 : m;
}

static void cpus_of(const struct hostd *h, uint64_t nodes, struct xpv_bitmap *out)
{
    xpv_bitmap_zero(out);
    for (unsigned i = 0; i < h->topo->nr_nodes && i < 64; i++)
        if (nodes >> i & 1)
            xpv_bitmap_or(out, out, &h->topo->nodes[i].cpus);
}

/* Bind d's threads to `to` and start moving its pages there. */
static int apply(struct hostd *h, struct hostd_domain *d, uint64_t to, const pid_t *tids,
                 unsigned nt, const char *why)
{
    char from_s[128], to_s[128];
    hostd_format_nodes(h->topo, d->nodes, from_s, sizeof(from_s));
    hostd_format_nodes(h->topo, to, to_s, sizeof(to_s));
    snprintf(d->reason, sizeof(d->reason), "%s", why);
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "%s nodes %s -> %s: %s",
              h->dry_run ? "would move" : "move", from_s, to_s, why);
    if (h->dry_run)
        return 0;
    struct xpv_bitmap all;
    cpus_of(h, to, &all);
    unsigned ok = 0;
    for (unsigned i = 0; i < nt; i++) {
        struct xpv_bitmap cpus = all;
        int rc;
        if (d->vm) {
            hostd_vm_thread_cpus(h, d, tids[i], to, &cpus);
            rc = hostd_vm_set_affinity(h, d, tids[i], &cpus, false);
        } else {
            rc = h->ops->set_affinity(h->ops->ctx, tids[i], &cpus);
        }
        if (rc == -ESRCH) {
            h->stats.vanished++;
        } else if (rc < 0) {
            h->stats.errors++;
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "thread %d: cannot set affinity: %s",
                      (int)tids[i], strerror(-rc));
        } else {
            ok++;
        }
    }
    if (!ok && nt) {
        hostd_log(h, HOSTD_LOG_ERR, d->conf.name, "no thread could be moved; it stays on %s",
                  from_s);
        return -EPERM;
    }
    d->nodes = to;
    d->moving = h->conf.migrate_memory;
    d->pass = (struct hostd_pass){0};
    publish(h, d);
    return 0;
}

/* Move some of the moving domains' pages, within this round's budget. */
static void migrate(struct hostd *h)
{
    uint64_t budget = (uint64_t)(h->conf.migrate_mb_s * h->conf.period_s * 1024 * 1024);
    uint64_t deadline = hostd_now_ns() + (uint64_t)(h->conf.migrate_max_ms * 1e6);
    struct hostd_range *r = malloc(MAX_RANGES * sizeof(*r));
    if (!r)
        return;
    for (unsigned k = 0; k < h->nr_domains && budget; k++) {
        struct hostd_domain *d = &h->domains[k];
        if (!d->alive || !d->moving || h->dry_run)
            continue;
        unsigned nr = 0;
        if (d->vm) {
            struct xpv_error err = {0};
            pid_t tid;
            if (hostd_vm_refresh(h, d, &tid, 1, r, &nr, &err) < 0)
                continue;
        } else {
            for (unsigned p = 0; p < d->nr_pids && nr < MAX_RANGES; p++) {
                int n = hostd_proc_ranges(h->proc_root, d->pids[p], r + nr, MAX_RANGES - nr);
                if (n > 0)
                    nr += (unsigned)n;
            }
        }
        bool done;
        long moved = hostd_move_pages(h, r, nr, d->nodes, budget, deadline, &d->pass, &done);
        h->stats.pages_moved += (uint64_t)moved;
        d->pages_moved += moved > 0 ? (uint64_t)moved : 0;
        uint64_t used = (uint64_t)moved * h->page_size;
        budget = used >= budget ? 0 : budget - used;
        if (moved > 0) { /* what `xpv domains` reports is where the memory is now */
            memset(d->mem, 0, sizeof(d->mem));
            for (unsigned p = 0; p < d->nr_pids; p++)
                hostd_proc_mem(h->proc_root, d->pids[p], h->topo, d->mem);
        }
        if (done) {
            d->moving = false;
            hostd_log(h, HOSTD_LOG_DEBUG, d->conf.name, "memory pass complete");
        }
    }
    free(r);
}

int hostd_round(struct hostd *h)
{
    h->stats.rounds++;
    if (h->backend) /* domains that appeared or went (libvirt) */
        h->backend->sync(h);
    pid_t *tids = malloc(MAX_TIDS * sizeof(*tids));
    struct xpv_place_domain *pd = calloc(h->nr_domains ? h->nr_domains : 1, sizeof(*pd));
    unsigned *map = calloc(h->nr_domains ? h->nr_domains : 1, sizeof(*map));
    struct xpv_place_decision dec[16];
    int moves = 0;
    if (!tids || !pd || !map)
        goto out;

    /* refresh, and bind domains with a fixed placement that are not there */
    unsigned np = 0;
    double pinned_load[XPV_PLACE_MAX_NODES] = {0}; /* threads of pinned domains per node */
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        int nt = refresh(h, d, tids, MAX_TIDS, false);
        if (!d->alive)
            continue;
        if (!d->nodes && !d->generation && d->changed && nt > 0)
            d->nodes = bound_nodes(h, tids[0]); /* a restarted daemon finds its bindings */
        if (!d->generation)
            publish(h, d);
        if (d->pinned) {
            if (d->nodes != d->pinned && !d->changed) /* the move needs its thread ids */
                nt = refresh(h, d, tids, MAX_TIDS, true);
            if (d->nodes != d->pinned && d->alive &&
                apply(h, d, d->pinned, tids, (unsigned)nt, "placed by the operator") == 0)
                moves++;
            unsigned w = (unsigned)__builtin_popcountll(d->pinned);
            for (unsigned i = 0; i < XPV_PLACE_MAX_NODES; i++)
                if (d->pinned >> i & 1)
                    pinned_load[i] += (double)d->threads / w;
            continue;
        }
        /* only what changed (or is not placed yet) is reconsidered; the others count for
         * the loads (their rescan makes each a candidate every rescan_rounds rounds) */
        pd[np] = (struct xpv_place_domain){.name = d->conf.name,
                                           .threads = d->threads,
                                           .nodes = d->nodes,
                                           .settled = !d->changed && d->nodes};
        memcpy(pd[np].mem, d->mem, sizeof(pd[np].mem));
        map[np++] = k;
    }

    /* the shared placement core */
    unsigned n = h->topo->nr_nodes < XPV_PLACE_MAX_NODES ? h->topo->nr_nodes : XPV_PLACE_MAX_NODES;
    struct xpv_place_node nodes[XPV_PLACE_MAX_NODES];
    uint64_t free_b[XPV_MAX_NODES];
    uint32_t dist[XPV_PLACE_MAX_NODES * XPV_PLACE_MAX_NODES];
    hostd_node_free(h->proc_root, h->topo, free_b);
    for (unsigned i = 0; i < n; i++) {
        /* pinned domains are not the core's to move, but their threads use these cores */
        double cores = xpv_bitmap_weight(&h->topo->nodes[i].cpus) - pinned_load[i] + 0.5;
        nodes[i].cores = cores > 0 ? (unsigned)cores : 0;
        nodes[i].mem_free = free_b[i];
        for (unsigned j = 0; j < n; j++)
            dist[i * n + j] = xpv_topo_dist(h->topo, i, j);
    }
    struct xpv_error err = {0};
    int nd = np ? xpv_place_round(&h->conf.place, nodes, n, dist, pd, np, dec, 16, &err) : 0;
    if (nd < 0) {
        h->stats.errors++;
        hostd_log(h, HOSTD_LOG_ERR, NULL, "placement: %s", xpv_error_str(&err, nd));
        nd = 0;
    }
    for (int i = 0; i < nd; i++) {
        struct hostd_domain *d = &h->domains[map[dec[i].domain]];
        int nt = refresh(h, d, tids, MAX_TIDS, true);
        if (d->alive && apply(h, d, dec[i].to, tids, (unsigned)nt, dec[i].reason) == 0)
            moves++;
    }
    h->stats.moves += (uint64_t)moves;
    migrate(h);
out:
    free(tids);
    free(pd);
    free(map);
    return moves;
}

/*
 * The operator's placements survive a daemon restart: {"domain": "node list", ...} in the
 * state file, or {"domain": {"nodes": "node list", "vcpus": {"QEMU cpu-index": node id}}}
 * for a VM with vCPUs placed on their own ("nodes" absent when only vCPUs are placed),
 * rewritten on every manual move. Everything else is rebuilt from the system: bindings from
 * the threads' affinity, generations from the record files.
 *
 * The file is <state_dir>/xpv-hostd.state, state_dir a private directory (the directory
 * rule with XPV_DIR_PRIVATE: root's or the daemon's, not group/world-writable), opened
 * under the discipline of xpv/safe_open.h. It is written atomically and durably (a
 * temporary file made with O_EXCL beside it, fsync, rename, fsync of the directory); a file
 * it cannot trust or parse is logged with the reason and ignored.
 */
#define STATE_NAME "xpv-hostd.state"
#define STATE_TMP  "xpv-hostd.state.tmp"
#define STATE_MAX  (1u << 20)

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int save_state(struct hostd *h, const char *text, struct xpv_error *err)
{
    /* the default directory is made when missing; a configured one must exist */
    bool dflt = !strcmp(h->conf.state_dir, hostd_default_state_dir());
    int dfd = xpv_dir_open(h->conf.state_dir, XPV_DIR_PRIVATE | (dflt ? XPV_DIR_CREATE : 0), 0700,
                           err);
    if (dfd < 0)
        return dfd;
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/" STATE_TMP, h->conf.state_dir);
    unlinkat(dfd, STATE_TMP, 0); /* a previous daemon's, left by a crash: our private dir */
    int rc, fd = xpv_safe_openat(dfd, STATE_TMP, O_WRONLY, XPV_SAFE_EXCL, 0600, 0, tmp, NULL, err);
    if (fd < 0) {
        close(dfd);
        return fd;
    }
    if ((rc = write_all(fd, text, strlen(text))) < 0 || (fsync(fd) < 0 && (rc = -errno)))
        xpv_error_set(err, rc, "cannot write %s: %s", tmp, strerror(-rc));
    if (close(fd) < 0 && rc == 0)
        rc = xpv_error_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && renameat(dfd, STATE_TMP, dfd, STATE_NAME) < 0)
        rc = xpv_error_set(err, -errno, "cannot rename %s: %s", tmp, strerror(errno));
    if (rc == 0 && fsync(dfd) < 0)
        rc = xpv_error_set(err, -errno, "cannot sync %s: %s", h->conf.state_dir, strerror(errno));
    if (rc < 0)
        unlinkat(dfd, STATE_TMP, 0);
    close(dfd);
    return rc;
}

void hostd_save_state(struct hostd *h)
{
    if (h->dry_run)
        return;
    json_t *o = json_object();
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        json_t *vcpus = hostd_vm_pins_json(h, d);
        if (!d->pinned && !vcpus)
            continue;
        char nodes[128];
        hostd_format_nodes(h->topo, d->pinned, nodes, sizeof(nodes));
        if (!vcpus) {
            json_object_set_new(o, d->conf.name, json_string(nodes));
            continue;
        }
        json_t *e = json_object();
        if (d->pinned)
            json_object_set_new(e, "nodes", json_string(nodes));
        json_object_set_new(e, "vcpus", vcpus);
        json_object_set_new(o, d->conf.name, e);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct xpv_error err = {0};
    int rc = text ? save_state(h, text, &err) : -ENOMEM;
    free(text);
    if (rc < 0) {
        h->stats.errors++;
        hostd_log(h, HOSTD_LOG_ERR, NULL, "cannot save the operator's placements: %s",
                  xpv_error_str(&err, rc));
    }
}

/* The state file's text (NULL: none, or refused: logged with the reason). */
static char *read_state(struct hostd *h, const char *path, size_t *len)
{
    struct xpv_error err = {0};
    int dfd = xpv_dir_open(h->conf.state_dir, XPV_DIR_PRIVATE, 0, &err);
    if (dfd == -ENOENT)
        return NULL; /* no state yet */
    if (dfd < 0) {
        hostd_log(h, HOSTD_LOG_ERR, NULL, "operator's placements not restored: %s",
                  xpv_error_str(&err, dfd));
        return NULL;
    }
    int fd = xpv_safe_openat(dfd, STATE_NAME, O_RDONLY, 0, 0, 0, path, NULL, &err);
    close(dfd);
    if (fd == -ENOENT)
        return NULL;
    if (fd < 0) {
        hostd_log(h, HOSTD_LOG_ERR, NULL, "operator's placements not restored: %s",
                  xpv_error_str(&err, fd));
        return NULL;
    }
    char *text = malloc(STATE_MAX + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (text && n < STATE_MAX &&
           ((r = read(fd, text + n, STATE_MAX - n)) > 0 || (r < 0 && errno == EINTR)))
        n += r > 0 ? (size_t)r : 0;
    int e = errno;
    close(fd);
    const char *why = !text            ? "out of memory"
                      : r < 0          ? strerror(e)
                      : n == STATE_MAX ? "larger than 1 MiB"
                      : n == 0         ? "the file is empty"
                                       : NULL;
    if (why) {
        hostd_log(h, HOSTD_LOG_ERR, NULL, "operator's placements not restored: %s: %s", path, why);
        free(text);
        return NULL;
    }
    text[n] = 0;
    *len = n;
    return text;
}

static void load_pins(struct hostd *h)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/" STATE_NAME, h->conf.state_dir);
    size_t len = 0;
    char *text = read_state(h, path, &len);
    if (!text)
        return;
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!o || !json_is_object(o)) {
        if (o)
            hostd_log(h, HOSTD_LOG_ERR, NULL,
                      "operator's placements not restored: %s: not a JSON object", path);
        else
            hostd_log(h, HOSTD_LOG_ERR, NULL,
                      "operator's placements not restored: %s:%d:%d: %s (corrupt or truncated)",
                      path, je.line, je.column, je.text);
        json_decref(o);
        return;
    }
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v)
    {
        struct hostd_domain *d = hostd_find(h, name);
        json_t *nodes = json_is_object(v) ? json_object_get(v, "nodes") : v;
        json_t *vcpus = json_is_object(v) ? json_object_get(v, "vcpus") : NULL;
        uint64_t m;
        if (!d) {
            hostd_log(h, HOSTD_LOG_WARN, NULL, "%s: ignoring '%s' (not a configured domain)", path,
                      name);
            continue;
        }
        if ((nodes && !json_is_string(nodes)) || (vcpus && !json_is_object(vcpus)) ||
            (!json_is_string(v) && !json_is_object(v))) {
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name,
                      "%s: ignoring its entry (a node list, or {\"nodes\": ..., \"vcpus\": "
                      "{...}} expected)",
                      path);
            continue;
        }
        struct xpv_error err = {0};
        int rc;
        if (nodes && !d->pinned &&
            (rc = hostd_parse_nodes(h->topo, json_string_value(nodes), &m, &err)) == 0)
            d->pinned = m;
        else if (nodes && !d->pinned)
            hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "%s: ignoring its nodes: %s", path,
                      xpv_error_str(&err, rc));
        if (vcpus && json_object_size(vcpus))
            d->saved_vcpus = json_incref(vcpus);
    }
    json_decref(o);
}

/* The directory rule on the record and state directories, when they exist (made later,
 * when first written, otherwise): a directory that breaks it stops the daemon. The default
 * record directory is made now (0711), before the control socket, which would make it 0700
 * and so keep the domains' processes from their records. */
static int check_dirs(const struct hostd_conf *c, struct xpv_error *err)
{
    struct xpv_error e = {0};
    bool dflt = !strcmp(c->record_dir, hostd_default_record_dir());
    int fd = xpv_dir_open(c->record_dir, dflt ? XPV_DIR_CREATE : 0, 0711, &e);
    if (fd >= 0)
        close(fd);
    else if (fd != -ENOENT)
        return xpv_error_set(err, fd, "record directory refused: %s", xpv_error_str(&e, fd));
    e = (struct xpv_error){0};
    fd = xpv_dir_open(c->state_dir, XPV_DIR_PRIVATE, 0, &e);
    if (fd >= 0)
        close(fd);
    else if (fd != -ENOENT)
        return xpv_error_set(err, fd, "state directory refused: %s", xpv_error_str(&e, fd));
    return 0;
}

int hostd_move(struct hostd *h, const char *name, uint64_t nodes, struct xpv_error *err)
{
    struct hostd_domain *d = hostd_find(h, name);
    if (!d)
        return xpv_error_set(err, -ENOENT, "no domain named '%s' (xpv domains lists them)", name);
    if (nodes & ~all_nodes(h))
        return xpv_error_set(err, -ENODEV, "node mask beyond this host's %u nodes",
                             h->topo->nr_nodes);
    if (!nodes) {
        d->pinned = 0;
        snprintf(d->reason, sizeof(d->reason), "released to automatic placement");
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "released to automatic placement");
        hostd_save_state(h);
        return 0;
    }
    pid_t *tids = malloc(MAX_TIDS * sizeof(*tids));
    if (!tids)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    int nt = refresh(h, d, tids, MAX_TIDS, true);
    int rc = 0;
    if (!d->alive) {
        rc = xpv_error_set(err, -ESRCH, "domain '%s' has no live process", name);
    } else {
        uint64_t old = d->pinned;
        d->pinned = nodes;
        if (d->nodes != nodes) {
            rc = apply(h, d, nodes, tids, (unsigned)nt, "placed by the operator");
            if (rc < 0) {
                d->pinned = old;
                xpv_error_set(err, rc, "no thread of '%s' could be moved (see the daemon's log)",
                              name);
            } else {
                h->stats.manual_moves++;
            }
        }
        if (rc == 0)
            hostd_save_state(h);
    }
    free(tids);
    return rc;
}

int hostd_init(struct hostd *h, const struct hostd_conf *c, struct xpv_topo *topo,
               const char *proc_root, struct xpv_ops *ops, const struct hostd_log_sink *log,
               struct xpv_error *err)
{
    memset(h, 0, sizeof(*h));
    h->conf = *c;
    /* each domain gets its own copy of its settings (below); the daemon keeps no pointer into
     * the caller's array */
    h->conf.domains = NULL;
    h->conf.nr_domains = h->conf.cap_domains = 0;
    h->topo = topo;
    h->proc_root = proc_root ? proc_root : "";
    h->ops = ops;
    h->verbosity = HOSTD_LOG_INFO;
    if (log)
        h->log = *log;
    long ps = sysconf(_SC_PAGESIZE);
    h->page_size = ps > 0 ? (uint64_t)ps : 4096;
    /* stat files held open: half the open-file limit, the rest for everything else */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        h->stat_budget = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 2000000
                                 ? 1000000
                                 : (unsigned)(rl.rlim_cur / 2);
    if (topo->nr_nodes > XPV_PLACE_MAX_NODES)
        return xpv_error_set(err, -EINVAL, "%u nodes: the placement handles up to %d",
                             topo->nr_nodes, XPV_PLACE_MAX_NODES);
    int rc = check_dirs(c, err);
    if (rc < 0)
        return rc;
    h->domains = calloc(c->nr_domains ? c->nr_domains : 1, sizeof(*h->domains));
    if (!h->domains)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    h->nr_domains = c->nr_domains;
    for (unsigned k = 0; k < c->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        d->conf = c->domains[k];
        /* fixed nodes are OS ids in the config: map them to positions */
        for (unsigned id = 0; id < 64; id++) {
            if (!(d->conf.fixed_nodes >> id & 1))
                continue;
            int pos = xpv_topo_node_index(topo, (int)id);
            if (pos < 0 || pos >= 64) {
                /* the message first: d points into the array freed next */
                rc = xpv_error_set(err, -ENODEV, "domain '%s': node %u does not exist here",
                                   d->conf.name, id);
                free(h->domains);
                h->domains = NULL;
                h->nr_domains = 0;
                return rc;
            }
            d->pinned |= UINT64_C(1) << pos;
        }
    }
    load_pins(h);
    return 0;
}

int hostd_launch(struct hostd *h, struct xpv_error *err)
{
    for (unsigned k = 0; k < h->nr_domains; k++) {
        struct hostd_domain *d = &h->domains[k];
        if (d->conf.kind == HOSTD_VM && !d->vm) {
            /* a VM not up yet is not fatal: the rounds try again */
            struct xpv_error e = {0};
            int rc = hostd_vm_attach(h, d, &e);
            if (rc < 0)
                hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "not attached yet (%s): %s", d->conf.qmp,
                          xpv_error_str(&e, rc));
            continue;
        }
        if (d->conf.kind != HOSTD_COMMAND || d->nr_pids)
            continue;
        char path[512];
        hostd_record_path(h, d, path, sizeof(path));
        /* a failed exec comes back as its errno on a close-on-exec pipe: the child prints
         * nothing, the daemon logs it */
        int ep[2];
        if (pipe2(ep, O_CLOEXEC) < 0)
            return xpv_error_set(err, -errno, "domain '%s': pipe: %s", d->conf.name,
                                 strerror(errno));
        fflush(NULL);
        pid_t parent = getpid(), pid = fork();
        if (pid < 0) {
            int e = errno;
            close(ep[0]);
            close(ep[1]);
            return xpv_error_set(err, -e, "domain '%s': fork: %s", d->conf.name, strerror(e));
        }
        if (pid == 0) {
            /* the command starts as from a shell: default SIGPIPE, nothing blocked (the
             * daemon's loop blocks the signals it reads from a signalfd) */
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            signal(SIGPIPE, SIG_DFL);
            /* its own process group, which the daemon stops whole when it exits
             * (hostd_stop_children); and SIGTERM if the daemon dies without stopping it
             * (SIGKILL, a crash), so a restarted daemon never runs a second copy beside an
             * orphan. The parent may already be gone: then stop now. */
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(128 + SIGTERM);
            setenv("XPV_RECORD", path, 1);
            close(ep[0]);
            execvp(d->conf.argv[0], d->conf.argv);
            int e = errno;
            ssize_t w = write(ep[1], &e, sizeof(e));
            (void)w;
            _exit(127);
        }
        close(ep[1]);
        setpgid(pid, pid); /* as the child does: whichever runs first, the group exists */
        int e;
        ssize_t n;
        while ((n = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
            ;
        close(ep[0]);
        d->pids[0] = pid;
        d->nr_pids = 1;
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "launched %s as pid %d (XPV_RECORD=%s)",
                  d->conf.argv[0], (int)pid, path);
        if (n == (ssize_t)sizeof(e)) /* it exits 127: reaped and reported gone by the loop */
            hostd_log(h, HOSTD_LOG_ERR, d->conf.name, "cannot run %s: %s", d->conf.argv[0],
                      strerror(e));
    }
    return 0;
}

struct hostd_domain *hostd_add_domain(struct hostd *h, const struct hostd_domain_conf *c,
                                      struct xpv_error *err)
{
    if (!hostd_name_ok(c->name))
        return xpv_error_set(err, -EINVAL, "'%s' is not a domain name ([A-Za-z0-9_.-]{1,47})",
                             c->name),
               NULL;
    if (hostd_find(h, c->name))
        return xpv_error_set(err, -EEXIST, "a domain named '%s' exists already", c->name), NULL;
    if (h->nr_domains >= HOSTD_MAX_DOMAINS)
        return xpv_error_set(err, -ENOSPC, "%d domains already", HOSTD_MAX_DOMAINS), NULL;
    struct hostd_domain *nd = realloc(h->domains, (h->nr_domains + 1) * sizeof(*nd));
    if (!nd)
        return xpv_error_set(err, -ENOMEM, "out of memory"), NULL;
    h->domains = nd;
    struct hostd_domain *d = &h->domains[h->nr_domains++];
    memset(d, 0, sizeof(*d));
    d->conf = *c;
    return d;
}

void hostd_remove_domain(struct hostd *h, struct hostd_domain *d)
{
    size_t k = (size_t)(d - h->domains);
    if (k >= h->nr_domains)
        return;
    hostd_vm_detach(d);
    hostd_domain_close_stats(h, d);
    xpv_publisher_close(d->pub);
    json_decref(d->saved_vcpus);
    memmove(d, d + 1, (h->nr_domains - k - 1) * sizeof(*d));
    h->nr_domains--;
}

void hostd_fini(struct hostd *h)
{
    if (h->backend && h->backend->fini)
        h->backend->fini(h);
    h->backend = NULL;
    for (unsigned k = 0; h->domains && k < h->nr_domains; k++) {
        if (h->domains[k].vm)
            hostd_vm_detach(&h->domains[k]); /* closes its publisher too */
        hostd_domain_close_stats(h, &h->domains[k]);
        xpv_publisher_close(h->domains[k].pub);
        h->domains[k].pub = NULL;
        json_decref(h->domains[k].saved_vcpus);
        h->domains[k].saved_vcpus = NULL;
    }
    free(h->domains);
    h->domains = NULL;
    free(h->opstate);
    h->opstate = NULL;
}
