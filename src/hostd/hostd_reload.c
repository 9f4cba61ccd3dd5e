/*
 * hostd_reload.c — a new configuration applied to the running daemon (SIGHUP, `systemctl
 * reload xpv-hostd`; docs/hostd.md, "Reload"), and what the daemon keeps for its operators
 * (round timings, reloads: the metrics of hostd_metrics.c).
 *
 * hostd_reload checks everything it needs before it changes anything, so a rejected
 * configuration leaves the daemon exactly as it was. Domains are matched by name:
 *   - the same settings (hostd_domain_conf_same): kept with all their state (bindings,
 *     generation, page mover, VM attachment, the operator's placements); a changed "nodes"
 *     replaces the fixed placement;
 *   - new, or changed otherwise: followed from now on as at start (a command launched, a VM
 *     attached, a record published at the next round); a changed one is released first;
 *   - gone from the configuration: released as the daemon releases it when it stops — a VM
 *     detached (its ivshmem file is QEMU's and stays), the publisher closed — and, since
 *     nobody maintains it any more, a process domain's record file removed (readers that
 *     have it open keep their mapping; new ones find none) and a launched command stopped
 *     (SIGTERM to its process group; the death signal still covers it when the daemon dies).
 *     Threads keep the affinity they have: the daemon stops moving them, it does not undo.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/publisher.h"

const double hostd_hist_le[HOSTD_HIST_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                  1,      2.5,     5,      10};

void hostd_hist_add(struct hostd_hist *hh, double seconds)
{
    hh->count++;
    hh->sum += seconds;
    for (unsigned i = 0; i < HOSTD_HIST_BUCKETS; i++)
        if (seconds <= hostd_hist_le[i]) {
            hh->bucket[i]++;
            break;
        }
}

struct hostd_ops_state *hostd_ops_state_get(struct hostd *h)
{
    if (!h->opstate)
        h->opstate = calloc(1, sizeof(*h->opstate));
    return h->opstate;
}

int hostd_round_timed(struct hostd *h)
{
    uint64_t t0 = hostd_now_ns();
    int moves = hostd_round(h);
    struct hostd_ops_state *o = hostd_ops_state_get(h);
    if (o) {
        hostd_hist_add(&o->round_seconds, (double)(hostd_now_ns() - t0) * 1e-9);
        o->last_round_decisions = moves > 0 ? (uint64_t)moves : 0;
    }
    return moves;
}

bool hostd_domain_conf_same(const struct hostd_domain_conf *a, const struct hostd_domain_conf *b)
{
    if (strcmp(a->name, b->name) || a->kind != b->kind || strcmp(a->record, b->record))
        return false;
    switch (a->kind) {
    case HOSTD_PIDS:
        return a->nr_pids == b->nr_pids && !memcmp(a->pids, b->pids, a->nr_pids * sizeof(pid_t));
    case HOSTD_CGROUP:
        return !strcmp(a->cgroup, b->cgroup);
    case HOSTD_VM:
        return !strcmp(a->qmp, b->qmp);
    case HOSTD_COMMAND:
        for (unsigned i = 0; i < HOSTD_MAX_ARGS; i++) {
            if (!a->argv[i] || !b->argv[i])
                return !a->argv[i] && !b->argv[i];
            if (strcmp(a->argv[i], b->argv[i]))
                return false;
        }
        return true;
    }
    return false;
}

/* The fixed nodes of d (OS ids in the configuration) as positions of the host's topology. */
static int fixed_positions(const struct hostd *h, const struct hostd_domain_conf *d, uint64_t *out,
                           struct xpv_error *err)
{
    uint64_t m = 0;
    for (unsigned id = 0; id < 64; id++) {
        if (!(d->fixed_nodes >> id & 1))
            continue;
        int pos = xpv_topo_node_index(h->topo, (int)id);
        if (pos < 0 || pos >= 64)
            return xpv_error_set(err, -ENODEV, "domain '%s': node %u does not exist here", d->name,
                                 id);
        m |= UINT64_C(1) << pos;
    }
    *out = m;
    return 0;
}

/* Stop following d (see the top of the file). */
static void release(struct hostd *h, struct hostd_domain *d, const char *why)
{
    hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "%s: released", why);
    if (d->vm)
        hostd_vm_detach(d);
    hostd_domain_close_stats(h, d);
    xpv_publisher_close(d->pub);
    d->pub = NULL;
    if (d->conf.kind != HOSTD_VM && d->generation && !h->dry_run) {
        /* only a record file the daemon owns: a regular file of ours */
        char path[512];
        struct stat st;
        hostd_record_path(h, d, path, sizeof(path));
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
            if (unlink(path) == 0)
                hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "record %s removed", path);
            else
                hostd_log(h, HOSTD_LOG_WARN, d->conf.name, "cannot remove its record %s: %s", path,
                          strerror(errno));
        }
    }
    if (d->conf.kind == HOSTD_COMMAND && d->nr_pids) {
        hostd_log(h, HOSTD_LOG_INFO, d->conf.name, "stopping pid %d (SIGTERM to its group)",
                  (int)d->pids[0]);
        if (kill(-d->pids[0], SIGTERM) < 0)
            kill(d->pids[0], SIGTERM);
        d->nr_pids = 0;
    }
    json_decref(d->saved_vcpus);
    d->saved_vcpus = NULL;
}

/* A setting a reload cannot change: kept, and said so. */
static void keep(struct hostd *h, const char *key, char *now, const char *asked)
{
    if (strcmp(now, asked))
        hostd_log(h, HOSTD_LOG_WARN, NULL,
                  "reload: \"%s\" stays %s until a restart (the configuration asks for %s)", key,
                  now[0] ? now : "(none)", asked[0] ? asked : "(none)");
}

int hostd_reload(struct hostd *h, const struct hostd_conf *nc, struct xpv_error *err)
{
    /* everything that can fail first */
    if (nc->nr_domains > HOSTD_MAX_DOMAINS)
        return xpv_error_set(err, -EINVAL, "more than %d domains", HOSTD_MAX_DOMAINS);
    uint64_t fixed[HOSTD_MAX_DOMAINS];
    for (unsigned i = 0; i < nc->nr_domains; i++) {
        int rc = fixed_positions(h, &nc->domains[i], &fixed[i], err);
        if (rc < 0)
            return rc;
    }
    /* a backend's domains (libvirt's: d->bd) are not the configuration's: they stay as they
     * are, and a configured domain may not take one's name */
    unsigned nb = 0;
    for (unsigned j = 0; j < h->nr_domains; j++)
        if (h->domains[j].bd) {
            nb++;
            for (unsigned i = 0; i < nc->nr_domains; i++)
                if (!strcmp(nc->domains[i].name, h->domains[j].conf.name))
                    return xpv_error_set(err, -EEXIST,
                                         "domain '%s' is one of libvirt's domains already",
                                         nc->domains[i].name);
        }
    if (nc->nr_domains + nb > HOSTD_MAX_DOMAINS)
        return xpv_error_set(err, -EINVAL, "more than %d domains with libvirt's %u",
                             HOSTD_MAX_DOMAINS, nb);
    unsigned total = nc->nr_domains + nb;
    struct hostd_domain *nd = calloc(total ? total : 1, sizeof(*nd));
    bool *taken = calloc(h->nr_domains ? h->nr_domains : 1, sizeof(*taken));
    bool *fresh = calloc(total ? total : 1, sizeof(*fresh));
    if (!nd || !taken || !fresh) {
        free(nd);
        free(taken);
        free(fresh);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }

    /* from here on nothing fails */
    unsigned added = 0, removed = 0, changed = 0, kept = 0;
    bool save = false;
    for (unsigned i = 0; i < nc->nr_domains; i++) {
        const struct hostd_domain_conf *c = &nc->domains[i];
        unsigned j = 0;
        while (j < h->nr_domains &&
               (taken[j] || h->domains[j].bd || strcmp(h->domains[j].conf.name, c->name)))
            j++;
        if (j < h->nr_domains && hostd_domain_conf_same(&h->domains[j].conf, c)) {
            taken[j] = true;
            nd[i] = h->domains[j];
            uint64_t was = nd[i].conf.fixed_nodes;
            nd[i].conf = *c; /* the new configuration's strings from now on */
            if (was != c->fixed_nodes) {
                char s[128];
                nd[i].pinned = fixed[i];
                hostd_format_nodes(h->topo, fixed[i], s, sizeof(s));
                hostd_log(h, HOSTD_LOG_INFO, c->name, "reload: fixed nodes now %s", s);
                save = true;
            }
            kept++;
            continue;
        }
        if (j < h->nr_domains) {
            taken[j] = true;
            release(h, &h->domains[j], "its settings changed");
            save = save || h->domains[j].pinned;
            changed++;
        } else {
            hostd_log(h, HOSTD_LOG_INFO, c->name, "added by the configuration: followed");
            added++;
        }
        memset(&nd[i], 0, sizeof(nd[i]));
        nd[i].conf = *c;
        nd[i].pinned = fixed[i];
        fresh[i] = true;
    }
    for (unsigned j = 0, k = nc->nr_domains; j < h->nr_domains; j++)
        if (h->domains[j].bd) { /* carried over, after the configured ones */
            taken[j] = true;
            nd[k++] = h->domains[j];
        }
    for (unsigned j = 0; j < h->nr_domains; j++)
        if (!taken[j]) {
            release(h, &h->domains[j], "removed from the configuration");
            save = save || h->domains[j].pinned;
            removed++;
        }
    free(taken);
    free(h->domains);
    h->domains = nd;
    h->nr_domains = total;

    /* the settings; the paths and addresses the daemon holds open stay */
    char record_dir[sizeof(h->conf.record_dir)], state_dir[sizeof(h->conf.state_dir)],
            sock[sizeof(h->conf.socket)], metrics[sizeof(h->conf.metrics_listen)],
            libvirt[sizeof(h->conf.libvirt)];
    memcpy(record_dir, h->conf.record_dir, sizeof(record_dir));
    memcpy(state_dir, h->conf.state_dir, sizeof(state_dir));
    memcpy(sock, h->conf.socket, sizeof(sock));
    memcpy(metrics, h->conf.metrics_listen, sizeof(metrics));
    memcpy(libvirt, h->conf.libvirt, sizeof(libvirt));
    h->conf = *nc;
    h->conf.domains = NULL; /* copied into h->domains above, as at hostd_init */
    h->conf.nr_domains = h->conf.cap_domains = 0;
    keep(h, "record_dir", record_dir, nc->record_dir);
    keep(h, "state_dir", state_dir, nc->state_dir);
    keep(h, "socket", sock, nc->socket[0] ? nc->socket : sock);
    keep(h, "metrics_listen", metrics, nc->metrics_listen);
    keep(h, "libvirt", libvirt, nc->libvirt);
    memcpy(h->conf.record_dir, record_dir, sizeof(record_dir));
    memcpy(h->conf.state_dir, state_dir, sizeof(state_dir));
    memcpy(h->conf.socket, sock, sizeof(sock));
    memcpy(h->conf.metrics_listen, metrics, sizeof(metrics));
    memcpy(h->conf.libvirt, libvirt, sizeof(libvirt));

    /* the new domains start as at start: commands launched, VMs attached (hostd_launch on
     * a view of the daemon holding that domain alone, so nothing else is launched again) */
    struct hostd *one = malloc(sizeof(*one)); /* large: not on the stack */
    for (unsigned i = 0; one && i < h->nr_domains; i++) {
        if (!fresh[i] ||
            (h->domains[i].conf.kind != HOSTD_COMMAND && h->domains[i].conf.kind != HOSTD_VM))
            continue;
        *one = *h;
        one->domains = &h->domains[i];
        one->nr_domains = 1;
        struct xpv_error e = {0};
        int rc = hostd_launch(one, &e);
        h->stats = one->stats; /* what the attach counted */
        if (rc < 0) {
            h->stats.errors++;
            hostd_log(h, HOSTD_LOG_ERR, h->domains[i].conf.name, "%s", xpv_error_str(&e, rc));
        }
    }
    if (!one)
        hostd_log(h, HOSTD_LOG_ERR, NULL, "out of memory: new command domains not launched");
    free(one);
    free(fresh);
    if (save)
        hostd_save_state(h);
    hostd_log(h, HOSTD_LOG_INFO, NULL,
              "configuration reloaded: %u domains (%u added, %u removed, %u changed, %u kept)",
              h->nr_domains, added, removed, changed, kept);
    struct hostd_ops_state *o = hostd_ops_state_get(h);
    if (o)
        o->reloads++;
    return 0;
}
