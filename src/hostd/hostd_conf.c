/*
 * hostd_conf.c — the host daemon's configuration: defaults, and a JSON file (jansson) on top
 * (docs/hostd.md, "Configuration"). The file is untrusted input: every key is known or an
 * error (a typo must not silently fall back to a default), every value is type- and
 * range-checked, and errors name the file and the key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/file.h"

void hostd_conf_default(struct hostd_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->period_s = 1;
    c->migrate_memory = true;
    c->migrate_mb_s = 256;
    c->migrate_max_ms = 100;
    c->qmp_timeout_ms = 200;
    c->rescan_rounds = 10;
    c->rss_change = 0.05;
    xpv_place_params_default(&c->place);
    snprintf(c->record_dir, sizeof(c->record_dir), "%s", hostd_default_record_dir());
    snprintf(c->state_dir, sizeof(c->state_dir), "%s", hostd_default_state_dir());
}

const char *hostd_default_record_dir(void)
{
    if (geteuid() == 0)
        return "/run/xpv";
    static __thread char buf[256]; /* per thread, not shared state */
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt && *rt)
        snprintf(buf, sizeof(buf), "%s/xpv", rt);
    else
        snprintf(buf, sizeof(buf), "/tmp/xpv-%u", (unsigned)geteuid());
    return buf;
}

const char *hostd_default_state_dir(void)
{
    const char *env = getenv("XPV_HOSTD_STATE_DIR");
    if (env && *env)
        return env;
    return geteuid() == 0 ? "/var/lib/xpv" : hostd_default_record_dir();
}

const char *hostd_default_socket(void)
{
    const char *env = getenv("XPV_HOSTD_SOCKET");
    if (env && *env)
        return env;
    if (geteuid() == 0)
        return "/run/xpv/hostd.sock";
    /* no fallback into a shared directory (/tmp): another user could bind the name first */
    static __thread char buf[256]; /* per thread, not shared state */
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (!rt || rt[0] != '/' || strlen(rt) + sizeof("/xpv-hostd.sock") > sizeof(buf))
        return NULL;
    snprintf(buf, sizeof(buf), "%s/xpv-hostd.sock", rt);
    return buf;
}

bool hostd_conf_has(const struct hostd_conf *c, const char *name)
{
    for (unsigned i = 0; i < c->nr_domains; i++)
        if (!strcmp(c->domains[i].name, name))
            return true;
    return false;
}

bool hostd_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= HOSTD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || (ch == '.' && i > 0)))
            return false;
    }
    return true;
}

int hostd_parse_nodes(const struct xpv_topo *t, const char *list, uint64_t *mask,
                      struct xpv_error *err)
{
    struct xpv_bitmap b;
    if (xpv_bitmap_parse_list(&b, list) < 0)
        return xpv_error_set(err, -EINVAL, "'%s' is not a node list (like 0,2-3)", list);
    uint64_t m = 0;
    for (int id = xpv_bitmap_next(&b, 0); id >= 0; id = xpv_bitmap_next(&b, (unsigned)id + 1)) {
        int pos = xpv_topo_node_index(t, id);
        if (pos < 0 || pos >= XPV_PLACE_MAX_NODES) {
            char have[128];
            hostd_format_nodes(t,
                               t->nr_nodes >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << t->nr_nodes) - 1,
                               have, sizeof(have));
            return xpv_error_set(err, -ENODEV, "node %d does not exist (this host has %s)", id,
                                 have);
        }
        m |= UINT64_C(1) << pos;
    }
    if (!m)
        return xpv_error_set(err, -EINVAL, "empty node list '%s'", list);
    *mask = m;
    return 0;
}

int hostd_conf_add_domain(struct hostd_conf *c, struct hostd_domain_conf **out,
                          struct xpv_error *err)
{
    if (c->nr_domains >= HOSTD_MAX_DOMAINS)
        return xpv_error_set(err, -ENOSPC, "more than %d domains", HOSTD_MAX_DOMAINS);
    if (c->nr_domains == c->cap_domains) {
        unsigned cap = c->cap_domains ? 2 * c->cap_domains : 8;
        if (cap > HOSTD_MAX_DOMAINS)
            cap = HOSTD_MAX_DOMAINS;
        struct hostd_domain_conf *d = realloc(c->domains, cap * sizeof(*d));
        if (!d)
            return xpv_error_set(err, -ENOMEM, "out of memory (%u domains)", cap);
        c->domains = d;
        c->cap_domains = cap;
    }
    *out = &c->domains[c->nr_domains++];
    memset(*out, 0, sizeof(**out));
    return 0;
}

void hostd_conf_release(struct hostd_conf *c)
{
    for (unsigned d = 0; d < c->nr_domains; d++)
        for (unsigned i = 0; i < HOSTD_MAX_ARGS && c->domains[d].argv[i]; i++)
            free(c->domains[d].argv[i]);
    free(c->domains);
    c->domains = NULL;
    c->nr_domains = c->cap_domains = 0;
}

static int copy_str(char *dst, size_t cap, json_t *v, const char *name, const char *key,
                    struct xpv_error *err)
{
    if (!json_is_string(v))
        return xpv_error_set(err, -EINVAL, "%s: \"%s\" wants a string", name, key);
    if (json_string_length(v) >= cap || json_string_length(v) == 0)
        return xpv_error_set(err, -EINVAL, "%s: \"%s\" wants 1..%zu characters", name, key,
                             cap - 1);
    snprintf(dst, cap, "%s", json_string_value(v));
    return 0;
}

static int get_num(json_t *v, double min, double max, const char *name, const char *key,
                   double *out, struct xpv_error *err)
{
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
        return xpv_error_set(err, -EINVAL, "%s: \"%s\" wants a number in [%g, %g]", name, key, min,
                             max);
    *out = json_number_value(v);
    return 0;
}

static int parse_domain(json_t *o, unsigned idx, const char *name, struct hostd_domain_conf *d,
                        struct xpv_error *err)
{
    char where[128];
    snprintf(where, sizeof(where), "%s: domains[%u]", name, idx);
    if (!json_is_object(o))
        return xpv_error_set(err, -EINVAL, "%s wants an object", where);
    int kinds = 0, rc;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!strcmp(key, "name")) {
            if ((rc = copy_str(d->name, sizeof(d->name), v, where, key, err)))
                return rc;
            if (!hostd_name_ok(d->name))
                return xpv_error_set(err, -EINVAL,
                                     "%s: name '%s' wants letters, digits, '_', '-', '.'", where,
                                     d->name);
        } else if (!strcmp(key, "pids")) {
            kinds++;
            d->kind = HOSTD_PIDS;
            if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > HOSTD_MAX_PIDS)
                return xpv_error_set(err, -EINVAL, "%s: \"pids\" wants 1..%d process ids", where,
                                     HOSTD_MAX_PIDS);
            size_t i;
            json_t *p;
            json_array_foreach(v, i, p)
            {
                if (!json_is_integer(p) || json_integer_value(p) <= 0 ||
                    json_integer_value(p) > 0x3fffffff)
                    return xpv_error_set(err, -EINVAL, "%s: pids[%zu] is not a process id", where,
                                         i);
                d->pids[d->nr_pids++] = (pid_t)json_integer_value(p);
            }
        } else if (!strcmp(key, "cgroup")) {
            kinds++;
            d->kind = HOSTD_CGROUP;
            if ((rc = copy_str(d->cgroup, sizeof(d->cgroup), v, where, key, err)))
                return rc;
        } else if (!strcmp(key, "command")) {
            kinds++;
            d->kind = HOSTD_COMMAND;
            if (!json_is_array(v) || json_array_size(v) == 0 ||
                json_array_size(v) >= HOSTD_MAX_ARGS)
                return xpv_error_set(err, -EINVAL, "%s: \"command\" wants 1..%d strings", where,
                                     HOSTD_MAX_ARGS - 1);
            size_t i;
            json_t *a;
            json_array_foreach(v, i, a)
            {
                if (!json_is_string(a))
                    return xpv_error_set(err, -EINVAL, "%s: command[%zu] is not a string", where,
                                         i);
                if (!(d->argv[i] = strdup(json_string_value(a))))
                    return xpv_error_set(err, -ENOMEM, "out of memory");
            }
        } else if (!strcmp(key, "qmp")) {
            kinds++;
            d->kind = HOSTD_VM;
            if ((rc = copy_str(d->qmp, sizeof(d->qmp), v, where, key, err)))
                return rc;
        } else if (!strcmp(key, "record")) {
            if ((rc = copy_str(d->record, sizeof(d->record), v, where, key, err)))
                return rc;
        } else if (!strcmp(key, "nodes")) {
            /* resolved against the topology by hostd_init (the config does not know it) */
            if (!json_is_string(v))
                return xpv_error_set(err, -EINVAL, "%s: \"nodes\" wants a node list string", where);
            char tmp[128];
            if ((rc = copy_str(tmp, sizeof(tmp), v, where, key, err)))
                return rc;
            struct xpv_bitmap b;
            if (xpv_bitmap_parse_list(&b, tmp) < 0 || xpv_bitmap_empty(&b))
                return xpv_error_set(err, -EINVAL, "%s: \"nodes\" '%s' is not a node list", where,
                                     tmp);
            uint64_t m = 0; /* OS ids for now; hostd_init maps them to positions */
            for (int id = xpv_bitmap_next(&b, 0); id >= 0;
                 id = xpv_bitmap_next(&b, (unsigned)id + 1)) {
                if (id >= 64)
                    return xpv_error_set(err, -EINVAL, "%s: node %d (ids up to 63)", where, id);
                m |= UINT64_C(1) << id;
            }
            d->fixed_nodes = m;
        } else {
            return xpv_error_set(err, -EINVAL,
                                 "%s: unknown key \"%s\" (known: name, pids, cgroup, command, qmp, "
                                 "record, nodes)",
                                 where, key);
        }
    }
    if (!d->name[0])
        return xpv_error_set(err, -EINVAL, "%s has no \"name\"", where);
    if (kinds != 1)
        return xpv_error_set(
                err, -EINVAL,
                "%s (%s) wants exactly one of \"pids\", \"cgroup\", \"command\", \"qmp\"", where,
                d->name);
    return 0;
}

int hostd_conf_parse(const char *text, size_t len, const char *name, struct hostd_conf *c,
                     struct xpv_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return xpv_error_set(err, -EINVAL, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = xpv_error_set(err, -EINVAL, "%s: the configuration is a JSON object", name);
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        double x = 0;
        if (!strcmp(key, "period_s")) {
            if ((rc = get_num(v, 0.01, 3600, name, key, &c->period_s, err)))
                goto out;
        } else if (!strcmp(key, "migrate_memory")) {
            if (!json_is_boolean(v)) {
                rc = xpv_error_set(err, -EINVAL, "%s: \"%s\" wants true or false", name, key);
                goto out;
            }
            c->migrate_memory = json_is_true(v);
        } else if (!strcmp(key, "migrate_mb_s")) {
            if ((rc = get_num(v, 1, 1e6, name, key, &c->migrate_mb_s, err)))
                goto out;
        } else if (!strcmp(key, "migrate_max_ms")) {
            if ((rc = get_num(v, 1, 3.6e6, name, key, &c->migrate_max_ms, err)))
                goto out;
        } else if (!strcmp(key, "qmp_timeout_ms")) {
            if ((rc = get_num(v, 1, 60000, name, key, &c->qmp_timeout_ms, err)))
                goto out;
        } else if (!strcmp(key, "rescan_rounds")) {
            if ((rc = get_num(v, 1, 1000000, name, key, &x, err)))
                goto out;
            c->rescan_rounds = (unsigned)x;
        } else if (!strcmp(key, "rss_change")) {
            if ((rc = get_num(v, 0, 100, name, key, &c->rss_change, err)))
                goto out;
        } else if (!strcmp(key, "hysteresis")) {
            if ((rc = get_num(v, 0, 10, name, key, &c->place.hysteresis, err)))
                goto out;
        } else if (!strcmp(key, "max_moves")) {
            if ((rc = get_num(v, 0, 1000, name, key, &x, err)))
                goto out;
            c->place.max_moves = (unsigned)x;
        } else if (!strcmp(key, "record_dir")) {
            if ((rc = copy_str(c->record_dir, sizeof(c->record_dir), v, name, key, err)))
                goto out;
        } else if (!strcmp(key, "state_dir")) {
            if ((rc = copy_str(c->state_dir, sizeof(c->state_dir), v, name, key, err)))
                goto out;
        } else if (!strcmp(key, "socket")) {
            if ((rc = copy_str(c->socket, sizeof(c->socket), v, name, key, err)))
                goto out;
        } else if (!strcmp(key, "metrics_listen")) {
            /* "" turns it off; anything else is a numeric address (hostd_metrics.c) */
            if (json_is_string(v) && json_string_length(v) == 0) {
                c->metrics_listen[0] = 0;
            } else {
                struct sockaddr_storage sa;
                unsigned salen;
                struct xpv_error e = {0};
                if ((rc = copy_str(c->metrics_listen, sizeof(c->metrics_listen), v, name, key,
                                   err)))
                    goto out;
                if ((rc = hostd_metrics_addr(c->metrics_listen, &sa, &salen, &e)) < 0) {
                    rc = xpv_error_set(err, rc, "%s: \"%s\": %s", name, key, xpv_error_str(&e, rc));
                    goto out;
                }
            }
        } else if (!strcmp(key, "libvirt")) { /* a connection URI (docs/libvirt.md) */
            if ((rc = copy_str(c->libvirt, sizeof(c->libvirt), v, name, key, err)))
                goto out;
        } else if (!strcmp(key, "domains")) {
            if (!json_is_array(v) || json_array_size(v) > HOSTD_MAX_DOMAINS) {
                rc = xpv_error_set(err, -EINVAL, "%s: \"domains\" wants a list of at most %d", name,
                                   HOSTD_MAX_DOMAINS);
                goto out;
            }
            size_t i;
            json_t *o;
            json_array_foreach(v, i, o)
            {
                struct hostd_domain_conf *d;
                if ((rc = hostd_conf_add_domain(c, &d, err)))
                    goto out;
                if ((rc = parse_domain(o, (unsigned)i, name, d, err)))
                    goto out;
                for (unsigned j = 0; j + 1 < c->nr_domains; j++)
                    if (!strcmp(c->domains[j].name, d->name)) {
                        rc = xpv_error_set(err, -EINVAL, "%s: two domains named '%s'", name,
                                           d->name);
                        goto out;
                    }
            }
        } else {
            rc = xpv_error_set(err, -EINVAL,
                               "%s: unknown key \"%s\" (known: period_s, migrate_memory, "
                               "migrate_mb_s, migrate_max_ms, qmp_timeout_ms, rescan_rounds, "
                               "rss_change, hysteresis, "
                               "max_moves, "
                               "record_dir, state_dir, socket, metrics_listen, libvirt, domains)",
                               name, key);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

int hostd_conf_load(const char *path, struct hostd_conf *c, struct xpv_error *err)
{
    char *text;
    size_t len;
    int rc = xpv_read_file(path, 16u << 20, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = hostd_conf_parse(text, len, path, c, err);
    free(text);
    return rc;
}
