/*
 * hostd_procfs.c — what the host daemon reads about processes and nodes, always under a root
 * directory ("" for the live system, a fixture in tests): threads (/proc/PID/task), start
 * times (/proc/PID/stat: a pid reused by another process), memory per
 * node (/proc/PID/numa_maps), movable ranges (/proc/PID/maps), cgroup members (cgroup.procs)
 * and free memory per node (sysfs nodeN/meminfo). A process that exits while we read it is
 * -ESRCH, the normal case of a race the caller counts and survives.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/file.h"

/* /proc/PID/numa_maps and maps of a large process run to a few MiB; 64 MiB is absurd. */
#define MAX_PROC_TEXT (64u << 20)

/* Every file or directory read here is counted by kind, and shown to an observer when one is
 * set (tests: which domain's files a round read). The daemon is single-threaded. */
static struct hostd_proc_reads reads;
static void (*observer)(void *arg, const char *path);
static void *observer_arg;

void hostd_proc_observe(void (*fn)(void *arg, const char *path), void *arg)
{
    observer = fn;
    observer_arg = arg;
}

struct hostd_proc_reads hostd_proc_reads_get(void)
{
    return reads;
}

static void seen(uint64_t *counter, const char *path)
{
    (*counter)++;
    if (observer)
        observer(observer_arg, path);
}

static int read_file(const char *path, char **text, size_t *len)
{
    return xpv_read_file(path, MAX_PROC_TEXT, text, len, NULL);
}

/* A process that vanished: /proc/PID is gone, or its files read as ESRCH. */
static int proc_errno(int rc)
{
    return rc == -ENOENT || rc == -ESRCH ? -ESRCH : rc;
}

int hostd_proc_tids(const char *root, pid_t pid, pid_t *tids, unsigned cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/proc/%d/task", root, (int)pid);
    seen(&reads.task, path);
    DIR *d = opendir(path);
    if (!d)
        return proc_errno(-errno);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (*end || tid <= 0 || end == e->d_name)
            continue;
        if (n < cap)
            tids[n] = (pid_t)tid;
        n++;
    }
    closedir(d);
    return n > cap ? (int)cap : (int)n;
}

int hostd_numa_maps_parse(const char *text, size_t len, const struct xpv_topo *t, uint64_t *bytes,
                          uint64_t *unknown, struct xpv_error *err)
{
    const char *p = text, *endp = text + len;
    unsigned line = 0;
    while (p < endp) {
        const char *eol = memchr(p, '\n', (size_t)(endp - p));
        if (!eol)
            eol = endp;
        line++;
        uint64_t pages[XPV_PLACE_MAX_NODES] = {0}, other = 0, psize = 4096;
        const char *q = p;
        int field = 0;
        while (q < eol) {
            while (q < eol && *q == ' ')
                q++;
            const char *tok = q;
            while (q < eol && *q != ' ')
                q++;
            size_t tl = (size_t)(q - tok);
            if (!tl)
                break;
            if (field++ == 0) { /* the address */
                for (size_t i = 0; i < tl; i++)
                    if (!isxdigit((unsigned char)tok[i]))
                        return xpv_error_set(err, -EINVAL,
                                             "numa_maps line %u: '%.*s' is not a hex address", line,
                                             (int)(tl > 32 ? 32 : tl), tok);
                continue;
            }
            char num[24];
            if (tok[0] == 'N' && tl > 2 && isdigit((unsigned char)tok[1])) {
                const char *eq = memchr(tok, '=', tl);
                size_t idl = eq ? (size_t)(eq - tok - 1) : 0, vl = eq ? tl - idl - 2 : 0;
                if (!eq || idl == 0 || idl > 5 || vl == 0 || vl >= sizeof(num))
                    return xpv_error_set(err, -EINVAL, "numa_maps line %u: bad node count '%.*s'",
                                         line, (int)(tl > 32 ? 32 : tl), tok);
                memcpy(num, tok + 1, idl);
                num[idl] = 0;
                int id = atoi(num);
                memcpy(num, eq + 1, vl);
                num[vl] = 0;
                char *e;
                errno = 0;
                unsigned long long v = strtoull(num, &e, 10);
                if (*e || errno)
                    return xpv_error_set(err, -EINVAL, "numa_maps line %u: bad page count '%s'",
                                         line, num);
                int pos = xpv_topo_node_index(t, id);
                if (pos >= 0 && pos < XPV_PLACE_MAX_NODES)
                    pages[pos] += v;
                else
                    other += v;
            } else if (tl > 18 && !memcmp(tok, "kernelpagesize_kB=", 18)) {
                size_t vl = tl - 18;
                if (vl >= sizeof(num))
                    return xpv_error_set(err, -EINVAL, "numa_maps line %u: bad page size", line);
                memcpy(num, tok + 18, vl);
                num[vl] = 0;
                char *e;
                unsigned long long kb = strtoull(num, &e, 10);
                if (*e || kb == 0 || kb > (UINT64_C(1) << 22))
                    return xpv_error_set(err, -EINVAL, "numa_maps line %u: bad page size '%s'",
                                         line, num);
                psize = kb * 1024;
            }
        }
        for (unsigned i = 0; i < t->nr_nodes && i < XPV_PLACE_MAX_NODES; i++)
            bytes[i] += pages[i] * psize;
        if (unknown)
            *unknown += other * psize;
        p = eol + 1;
    }
    return 0;
}

int hostd_proc_mem(const char *root, pid_t pid, const struct xpv_topo *t, uint64_t *bytes)
{
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/proc/%d/numa_maps", root, (int)pid);
    seen(&reads.numa_maps, path);
    int rc = read_file(path, &text, &len);
    if (rc)
        return proc_errno(rc);
    rc = hostd_numa_maps_parse(text, len, t, bytes, NULL, NULL);
    free(text);
    return rc;
}

int hostd_stat_parse(const char *text, size_t len, struct hostd_pstat *out)
{
    /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so the fields are
     * counted from the last ')'; num_threads is field 20 of proc(5), starttime 22, rss 24 */
    const char *end = text + len, *p = NULL;
    *out = (struct hostd_pstat){0};
    for (const char *q = text; q < end; q++)
        if (*q == ')')
            p = q;
    if (!p)
        return -EINVAL;
    p++;
    for (unsigned field = 3; field <= 24; field++) {
        while (p < end && *p == ' ')
            p++;
        const char *start = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        if (p == start) /* the line ended: before field 22 it is malformed */
            return field <= 22 ? -EINVAL : 0;
        if (field != 20 && field != 22 && field != 24)
            continue;
        uint64_t v = 0;
        bool ok = true;
        for (const char *q = start; q < p && ok; q++) {
            ok = isdigit((unsigned char)*q) && v <= (UINT64_MAX - 9) / 10;
            v = v * 10 + (uint64_t)(*q - '0');
        }
        if (field == 20) {
            out->threads = ok ? v : 0; /* 0: unknown, so no change detector */
        } else if (field == 22) {
            if (!ok)
                return -EINVAL; /* what the pid check needs */
            out->starttime = v;
        } else {
            out->rss = v;
            out->full = ok && out->threads > 0; /* the detector's fields are both there */
        }
    }
    return 0;
}

int hostd_stat_starttime(const char *text, size_t len, uint64_t *ticks)
{
    struct hostd_pstat s;
    int rc = hostd_stat_parse(text, len, &s);
    if (rc == 0)
        *ticks = s.starttime;
    return rc;
}

int hostd_proc_stat(const char *root, pid_t pid, struct hostd_pstat *out)
{
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/proc/%d/stat", root, (int)pid);
    seen(&reads.stat, path);
    int rc = read_file(path, &text, &len);
    if (rc)
        return proc_errno(rc);
    rc = hostd_stat_parse(text, len, out);
    free(text);
    return rc;
}

int hostd_proc_stat_fd(const char *root, pid_t pid, int *fd, bool keep, struct hostd_pstat *out)
{
    char buf[1024];
    if (*fd >= 0) {
        char path[512];
        snprintf(path, sizeof(path), "%s/proc/%d/stat", root, (int)pid);
        seen(&reads.stat, path);
        ssize_t n = pread(*fd, buf, sizeof(buf) - 1, 0);
        struct stat st;
        /* a fixture's file removed with its process reads on; /proc's fails (ESRCH) */
        bool live = n > 0 && (size_t)n < sizeof(buf) - 1 &&
                    (!root[0] || (fstat(*fd, &st) == 0 && st.st_nlink > 0));
        if (live)
            return hostd_stat_parse(buf, (size_t)n, out);
        close(*fd);
        *fd = -1;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/proc/%d/stat", root, (int)pid);
    seen(&reads.stat, path);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return proc_errno(-errno);
    ssize_t n = pread(f, buf, sizeof(buf) - 1, 0);
    int rc = n < 0 ? proc_errno(-errno) : n == 0 || (size_t)n >= sizeof(buf) - 1 ? -EINVAL : 0;
    if (rc == 0)
        rc = hostd_stat_parse(buf, (size_t)n, out);
    if (rc == 0 && keep)
        *fd = f;
    else
        close(f);
    return rc;
}

int hostd_proc_starttime(const char *root, pid_t pid, uint64_t *ticks)
{
    struct hostd_pstat s;
    int rc = hostd_proc_stat(root, pid, &s);
    if (rc == 0)
        *ticks = s.starttime;
    return rc;
}

/*
 * Ranges worth moving: private writable mappings (heap, stacks, anonymous memory, guest RAM
 * of a VM is handled by hostd_vm.c). Shared file mappings are left alone: their pages belong
 * to the page cache and moving them needs MPOL_MF_MOVE_ALL for every sharer.
 */
int hostd_proc_ranges(const char *root, pid_t pid, struct hostd_range *out, unsigned cap)
{
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/proc/%d/maps", root, (int)pid);
    seen(&reads.maps, path);
    int rc = read_file(path, &text, &len);
    if (rc)
        return proc_errno(rc);
    unsigned n = 0;
    for (char *line = strtok(text, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
        unsigned long long s, e;
        char perms[8];
        int used = 0;
        if (sscanf(line, "%llx-%llx %7s %*s %*s %*s%n", &s, &e, perms, &used) < 3 || e <= s)
            continue;
        if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p')
            continue;
        const char *name = line + used;
        while (*name == ' ')
            name++;
        if (!strcmp(name, "[vsyscall]") || !strcmp(name, "[vvar]") || !strcmp(name, "[vdso]"))
            continue;
        out[n++] = (struct hostd_range){.pid = pid, .start = s, .end = e};
    }
    free(text);
    return (int)n;
}

int hostd_cgroup_pids(const char *root, const char *cgroup, pid_t *pids, unsigned cap)
{
    char path[768], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s%s/cgroup.procs", root, cgroup);
    seen(&reads.cgroup_procs, path);
    int rc = read_file(path, &text, &len);
    if (rc)
        return rc;
    unsigned n = 0;
    for (char *tok = strtok(text, "\n"); tok && n < cap; tok = strtok(NULL, "\n")) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end == 0 && v > 0)
            pids[n++] = (pid_t)v;
    }
    free(text);
    return (int)n;
}

int hostd_node_free(const char *root, const struct xpv_topo *t, uint64_t *free_bytes)
{
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        char path[512], *text;
        size_t len;
        snprintf(path, sizeof(path), "%s/sys/devices/system/node/node%d/meminfo", root,
                 t->nodes[i].id);
        free_bytes[i] = t->nodes[i].mem_free;
        seen(&reads.meminfo, path);
        if (read_file(path, &text, &len))
            continue; /* keep the value discovery saw */
        const char *m = strstr(text, "MemFree:");
        unsigned long long kb;
        if (m && sscanf(m, "MemFree: %llu kB", &kb) == 1)
            free_bytes[i] = kb * 1024;
        free(text);
    }
    return 0;
}
