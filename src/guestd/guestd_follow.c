/*
 * guestd_follow.c — guest OS adaptation in user space: processes that opted in and are bound
 * to a vNode's CPUs are re-bound, after each change, to the CPUs now effectively in that
 * vNode (the vCPUs whose memory is nearest that vNode's). Opting in: a file <dir>/<pid>
 * (libxpv's xpv_follow_register, or an operator's `touch`).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
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

static int apply_pid(struct guestd_follow *f, const char *root, struct xpv_ops *ops,
                     const struct guestd_local *l, const struct guestd_topo *t, pid_t pid)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/proc/%d/task", root, (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -ESRCH;
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

int guestd_follow_apply(struct guestd_follow *f, const char *root, struct xpv_ops *ops,
                        const struct guestd_local *l, const struct guestd_topo *t)
{
    DIR *d = opendir(f->dir);
    if (!d)
        return 0; /* nobody opted in */
    for (unsigned i = 0; i < f->n; i++)
        f->t[i].seen = false;
    int moved = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end || pid <= 0 || pid > 0x3fffffff)
            continue;
        /* a file opts in only the process of the user who made it (or root's choice) */
        char fp[512], pp[512];
        struct stat fs, ps;
        snprintf(fp, sizeof(fp), "%s/%s", f->dir, de->d_name);
        snprintf(pp, sizeof(pp), "%s/proc/%ld", root, pid);
        int n = -ESRCH;
        if (stat(fp, &fs) == 0 && stat(pp, &ps) == 0)
            n = fs.st_uid == 0 || fs.st_uid == ps.st_uid ? apply_pid(f, root, ops, l, t, (pid_t)pid)
                                                         : 0;
        if (n == -ESRCH) { /* gone: forget it */
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
            unlink(p);
        } else if (n > 0) {
            moved += n;
        }
    }
    closedir(d);
    return moved;
}
