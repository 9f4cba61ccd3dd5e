/*
 * guestd_follow.c — guest OS adaptation in user space: processes that opted in and are bound
 * to a vNode's CPUs are re-bound, after each change, to the CPUs now effectively in that
 * vNode (the vCPUs whose memory is nearest that vNode's). Opting in: a file <dir>/<pid>
 * (libxpv's xpv_follow_register, or an operator's `touch`).
 *
 * The directory is world-writable (sticky, like /tmp) and the agent runs as root, so every
 * entry is hostile until shown otherwise (docs/security.md, "The guest agent and the
 * samplers"). The rule, decided on one fstatat(AT_SYMLINK_NOFOLLOW) of the entry relative to
 * a directory fd whose own owner and mode were checked, never on a path looked up twice:
 * the directory is the agent's (root's) and not writable by others unless sticky; an entry
 * is a regular file with one link (a symlink, FIFO or hard link to someone else's file is
 * ignored) owned by root or by the owner of the process it names, as /proc/PID (opened
 * once, its fd used both for the owner and for the threads) has it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestd.h"
#include "xpv/channel.h"

#define MAX_FOLLOWED 4096

struct guestd_follow {
    char dir[256];
    unsigned n;
    struct {
        pid_t tid;
        int vnode; /* index in the local view the agent bound it to */
        bool seen; /* in this pass: threads not seen again have exited and are forgotten */
    } t[MAX_FOLLOWED];
};

struct guestd_follow *guestd_follow_new(const char *dir)
{
    struct guestd_follow *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    xpv_follow_dir_create(dir);
    return f;
}

void guestd_follow_free(struct guestd_follow *f)
{
    free(f);
}

static int *slot(struct guestd_follow *f, pid_t tid, bool add)
{
    for (unsigned i = 0; i < f->n; i++)
        if (f->t[i].tid == tid) {
            f->t[i].seen = true;
            return &f->t[i].vnode;
        }
    if (!add || f->n == MAX_FOLLOWED)
        return NULL;
    f->t[f->n].tid = tid;
    f->t[f->n].vnode = -1;
    f->t[f->n].seen = true;
    return &f->t[f->n++].vnode;
}

static void cpus_static(const struct guestd_local *l, unsigned g, struct xpv_bitmap *out)
{
    xpv_bitmap_zero(out);
    for (unsigned c = 0; c < l->nr_cpus; c++)
        if (l->cpu_node[c] == l->node_id[g] && xpv_bitmap_isset(&l->online, c))
            xpv_bitmap_set(out, c);
}

static void cpus_effective(const struct guestd_topo *t, unsigned g, struct xpv_bitmap *out)
{
    xpv_bitmap_zero(out);
    for (unsigned c = 0; c < t->desc.nr_cpus; c++)
        if (t->cpu_eff[c] == g)
            xpv_bitmap_set(out, c);
}

/* The vNode a thread follows: the one the agent bound it to, else the one whose CPUs (the
 * guest kernel's) its affinity equals; -1 when it is not bound to one vNode. */
static int followed_vnode(struct guestd_follow *f, pid_t tid, const struct xpv_bitmap *aff,
                          const struct guestd_local *l)
{
    int *s = slot(f, tid, false);
    if (s && *s >= 0)
        return *s;
    for (unsigned g = 0; g < l->nr_nodes; g++) {
        struct xpv_bitmap c;
        cpus_static(l, g, &c);
        if (!xpv_bitmap_empty(&c) && xpv_bitmap_equal(&c, aff))
            return (int)g;
    }
    return -1;
}

/* pfd: /proc/PID, already checked; its task/ is that process's, even if the pid is reused */
static int apply_pid(struct guestd_follow *f, int pfd, struct xpv_ops *ops,
                     const struct guestd_local *l, const struct guestd_topo *t)
{
    int tfd = openat(pfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = tfd >= 0 ? fdopendir(tfd) : NULL;
    if (!d) {
        if (tfd >= 0)
            close(tfd);
        return -ESRCH;
    }
    int moved = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long tid = strtol(de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end || tid <= 0)
            continue;
        struct xpv_bitmap aff, want;
        if (ops->get_affinity(ops->ctx, (pid_t)tid, &aff) < 0)
            continue; /* exited meanwhile */
        int g = followed_vnode(f, (pid_t)tid, &aff, l);
        if (g < 0)
            continue;
        cpus_effective(t, (unsigned)g, &want);
        if (xpv_bitmap_empty(&want))
            cpus_static(l, (unsigned)g, &want);
        int *s = slot(f, (pid_t)tid, true);
        if (s)
            *s = g;
        if (xpv_bitmap_equal(&aff, &want) || xpv_bitmap_empty(&want))
            continue;
        if (ops->set_affinity(ops->ctx, (pid_t)tid, &want) == 0)
            moved++;
    }
    closedir(d);
    unsigned k = 0; /* forget the threads that are gone (their ids may be reused) */
    for (unsigned i = 0; i < f->n; i++)
        if (f->t[i].seen)
            f->t[k++] = f->t[i];
    f->n = k;
    return moved;
}

/* The follow directory may be trusted: a directory (not a symlink to one), the agent's own
 * (or root's), and writable by others only when sticky (nobody can rename or replace
 * another's entry). */
static int dir_ok(int dfd)
{
    struct stat ds;
    if (fstat(dfd, &ds) < 0)
        return -errno;
    if (!S_ISDIR(ds.st_mode) || (ds.st_uid != 0 && ds.st_uid != geteuid()))
        return -EPERM;
    if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX))
        return -EPERM;
    return 0;
}

/* Whether entry `name` of dfd opts in process pid: 1 yes (pfd_out: its /proc dir, open),
 * 0 no (left alone), -ESRCH the process is gone (the entry is removed). */
static int entry_opts_in(int dfd, const char *name, const char *root, long pid, int *pfd_out)
{
    struct stat fs, ps;
    if (fstatat(dfd, name, &fs, AT_SYMLINK_NOFOLLOW) < 0)
        return 0; /* removed meanwhile */
    if (!S_ISREG(fs.st_mode) || fs.st_nlink != 1)
        return 0; /* a symlink, a FIFO, a device, a hard link: never an opt-in */
    char pp[512];
    snprintf(pp, sizeof(pp), "%s/proc/%ld", root, pid);
    int pfd = open(pp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return -ESRCH;
    if (fstat(pfd, &ps) < 0 || (fs.st_uid != 0 && fs.st_uid != ps.st_uid)) {
        close(pfd);
        return 0; /* only the process of the user who made it (or root's choice) */
    }
    *pfd_out = pfd;
    return 1;
}

int guestd_follow_apply(struct guestd_follow *f, const char *root, struct xpv_ops *ops,
                        const struct guestd_local *l, const struct guestd_topo *t)
{
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0; /* nobody opted in */
    int rc = dir_ok(dfd);
    DIR *d = rc == 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        close(dfd);
        return rc < 0 ? rc : 0;
    }
    for (unsigned i = 0; i < f->n; i++)
        f->t[i].seen = false;
    int moved = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end || pid <= 0 || pid > 0x3fffffff)
            continue;
        int pfd = -1;
        int n = entry_opts_in(dfd, de->d_name, root ? root : "", pid, &pfd);
        if (n == 1) {
            n = apply_pid(f, pfd, ops, l, t);
            close(pfd);
        }
        if (n == -ESRCH) /* gone: forget it (the entry itself, never what it may point to) */
            unlinkat(dfd, de->d_name, 0);
        else if (n > 0)
            moved += n;
    }
    closedir(d);
    return moved;
}
