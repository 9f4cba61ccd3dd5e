/*
 * t_malloc.c — xpv-malloc on a real multi-node kernel: each node's arena hands out memory on
 * that node, a thread's new allocations follow a record that moves its CPU, and the preload
 * library (/bin/libxpv-malloc.so) places an unmodified program's memory per node. Each test
 * runs on both backends: malloc.* on jemalloc (the heap compiled into this binary), malloc.mi.*
 * on mimalloc (the heap API of /bin/libxpv-malloc-mi.so, loaded with dlopen(RTLD_LOCAL) so that
 * it does not become this process's malloc; the preload test preloads it).
 *
 * Pages are located with move_pages' query (env->ops) after the test wrote them; numa_balancing
 * is off in the guest, so nothing moves them behind the test's back. The heap binds with
 * MPOL_PREFERRED (its default), so a page elsewhere means the binding did not happen.
 */
#define _GNU_SOURCE
#include "lab.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xpv/publisher.h"
#include "xpv/xpv_malloc.h"

#define NBLOCKS   24
#define PAGES_MAX 512

/* The heap API of one backend. */
struct heap_api {
    const char *name;
    int (*heap_new)(const struct xpv_heap_config *, struct xpv_heap **, struct xpv_error *);
    int (*heap_delete)(struct xpv_heap *);
    void *(*alloc)(struct xpv_heap *, size_t);
    void (*free)(void *);
    int (*thread_node)(struct xpv_heap *);
    int (*stats)(struct xpv_heap *, struct xpv_malloc_stats *);
};

static const struct heap_api je_api = {"jemalloc",     xpv_heap_new,  xpv_heap_delete,
                                       xpv_heap_alloc, xpv_heap_free, xpv_heap_thread_node,
                                       xpv_heap_stats};

#define PRELOAD_MI "/bin/libxpv-malloc-mi.so"

/* The mimalloc backend's heap API from the library, loaded once (never unloaded: -z nodelete).
 * Its constructor is told to make no process heap (XPV_MALLOC_DISABLE, set around dlopen). */
static const struct heap_api *mi_api(char *why, size_t len)
{
    static struct heap_api api;
    if (api.name)
        return &api;
    setenv("XPV_MALLOC_DISABLE", "1", 1);
    void *h = dlopen(PRELOAD_MI, RTLD_NOW | RTLD_LOCAL);
    unsetenv("XPV_MALLOC_DISABLE");
    if (!h) {
        snprintf(why, len, "dlopen %s: %s", PRELOAD_MI, dlerror());
        return NULL;
    }
    struct heap_api a = {.name = "mimalloc"};
    *(void **)&a.heap_new = dlsym(h, "xpv_heap_new");
    *(void **)&a.heap_delete = dlsym(h, "xpv_heap_delete");
    *(void **)&a.alloc = dlsym(h, "xpv_heap_alloc");
    *(void **)&a.free = dlsym(h, "xpv_heap_free");
    *(void **)&a.thread_node = dlsym(h, "xpv_heap_thread_node");
    *(void **)&a.stats = dlsym(h, "xpv_heap_stats");
    if (!a.heap_new || !a.heap_delete || !a.alloc || !a.free || !a.thread_node || !a.stats ||
        (void *)a.heap_new == (void *)xpv_heap_new) {
        snprintf(why, len, "%s lacks the heap API (or it resolved to this binary's)", PRELOAD_MI);
        return NULL;
    }
    api = a;
    return &api;
}

static size_t block_size(unsigned i)
{
    return (size_t)64 << (i % 12); /* 64 B .. 128 KiB */
}

/* How many of the pages under the blocks are on `node`; *total gets the pages looked at. */
static int pages_on(const struct lab_env *env, void *const *blocks, unsigned n, int node,
                    int *total)
{
    /* per call: the pinned threads count their pages at the same time */
    void *pages[PAGES_MAX];
    int status[PAGES_MAX];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned np = 0;
    for (unsigned i = 0; i < n && np < PAGES_MAX; i++) {
        uintptr_t a = (uintptr_t)blocks[i] & ~(page - 1);
        uintptr_t end = (uintptr_t)blocks[i] + block_size(i);
        for (; a < end && np < PAGES_MAX; a += page)
            pages[np++] = (void *)a;
    }
    long rc = env->ops->move_pages(env->ops->ctx, 0, np, pages, NULL, status, 0);
    if (rc < 0)
        return (int)rc;
    int on = 0;
    for (unsigned i = 0; i < np; i++)
        on += status[i] == node;
    *total = (int)np;
    return on;
}

static int pin(const struct lab_env *env, int node)
{
    int idx = xpv_topo_node_index(env->topo, node);
    if (idx < 0)
        return idx;
    int cpu = xpv_bitmap_next(&env->topo->nodes[idx].cpus, 0);
    if (cpu < 0)
        return -ENOENT;
    struct xpv_bitmap one;
    xpv_bitmap_zero(&one);
    xpv_bitmap_set(&one, (unsigned)cpu);
    return env->ops->set_affinity(env->ops->ctx, 0, &one);
}

struct pinned {
    const struct lab_env *env;
    const struct heap_api *api;
    struct xpv_heap *h;
    int node;
    int on, total, heap_node;
    char why[160];
};

static void *pinned_thread(void *arg)
{
    struct pinned *p = arg;
    int rc = pin(p->env, p->node);
    if (rc < 0) {
        snprintf(p->why, sizeof(p->why), "cannot pin to node %d: %s", p->node, strerror(-rc));
        return NULL;
    }
    void *blocks[NBLOCKS];
    for (unsigned i = 0; i < NBLOCKS; i++) {
        blocks[i] = p->api->alloc(p->h, block_size(i));
        if (!blocks[i]) {
            snprintf(p->why, sizeof(p->why), "allocation %u failed", i);
            return NULL;
        }
        memset(blocks[i], (int)i, block_size(i));
    }
    p->heap_node = p->api->thread_node(p->h);
    p->on = pages_on(p->env, blocks, NBLOCKS, p->node, &p->total);
    for (unsigned i = 0; i < NBLOCKS; i++)
        p->api->free(blocks[i]);
    return NULL;
}

/* One thread pinned to each node's CPU allocates and writes: its pages are on its node. */
static enum lab_result pinned_on(const struct lab_env *env, const struct heap_api *api)
{
    struct xpv_error err = {0};
    struct xpv_heap_config cfg = {.no_record = 1, .topo = env->topo, .ops = env->ops};
    struct xpv_heap *h;
    int rc = api->heap_new(&cfg, &h, &err);
    LAB_CHECK(rc == 0, "xpv_heap_new: %s", xpv_error_str(&err, rc));
    unsigned n = env->topo->nr_nodes;
    struct pinned p[16] = {{0}};
    pthread_t t[16];
    LAB_CHECK(n >= 2 && n <= 16, "%u nodes", n);
    for (unsigned i = 0; i < n; i++) {
        p[i] = (struct pinned){.env = env, .api = api, .h = h, .node = env->topo->nodes[i].id};
        pthread_create(&t[i], NULL, pinned_thread, &p[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < n; i++) {
        LAB_CHECK(!p[i].why[0], "node %d: %s", p[i].node, p[i].why);
        printf("  node %d: thread bound to node %d, %d of %d pages on node %d\n", p[i].node,
               p[i].heap_node, p[i].on, p[i].total, p[i].node);
        LAB_CHECK(p[i].heap_node == p[i].node, "thread on node %d bound to %d", p[i].node,
                  p[i].heap_node);
        LAB_CHECK(p[i].total > 0 && p[i].on == p[i].total, "node %d: %d of %d pages there",
                  p[i].node, p[i].on, p[i].total);
    }
    struct xpv_malloc_stats st;
    api->stats(h, &st);
    LAB_CHECK(st.nr_nodes == n, "%u node arenas for %u nodes", st.nr_nodes, n);
    for (unsigned i = 0; i < st.nr_nodes; i++)
        LAB_CHECK(st.nodes[i].mbind_calls > 0 && st.nodes[i].mbind_errors == 0,
                  "node %d: %llu mbind, %llu errors", st.nodes[i].node,
                  (unsigned long long)st.nodes[i].mbind_calls,
                  (unsigned long long)st.nodes[i].mbind_errors);
    LAB_CHECK(api->heap_delete(h) == 0, "heap delete");
    printf("  backend %s\n", api->name);
    return LAB_PASS;
}

static enum lab_result malloc_pinned(const struct lab_env *env)
{
    return pinned_on(env, &je_api);
}

static enum lab_result malloc_mi_pinned(const struct lab_env *env)
{
    char why[256];
    const struct heap_api *api = mi_api(why, sizeof(why));
    LAB_CHECK(api != NULL, "%s", why);
    return pinned_on(env, api);
}

/* Record: CPU c runs on physical node where[c]; each node backs its own virtual node. */
static int publish(struct xpv_publisher *pub, const struct xpv_topo *t, const uint16_t *where)
{
    uint32_t ids[16];
    uint16_t vn[16], dist[256];
    struct xpv_record_backing bk[16];
    unsigned n = t->nr_nodes, ncpu = 0;
    for (unsigned i = 0; i < n; i++) {
        ids[i] = (uint32_t)t->nodes[i].id;
        bk[i] = (struct xpv_record_backing){
                .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = t->nodes[i].mem_total};
        for (unsigned j = 0; j < n; j++)
            dist[i * n + j] = (uint16_t)xpv_topo_dist(t, i, j);
    }
    int last = xpv_bitmap_last(&t->cpus_online);
    ncpu = last < 0 ? 0 : (unsigned)last + 1;
    if (ncpu > 16)
        return -E2BIG;
    for (unsigned c = 0; c < ncpu; c++)
        vn[c] = where[c];
    struct xpv_record_desc d = {.nr_pnodes = n,
                                .nr_vnodes = n,
                                .nr_cpus = ncpu,
                                .nr_backing = n,
                                .pnode_ids = ids,
                                .cpu_pnode = where,
                                .cpu_vnode = vn,
                                .backing = bk,
                                .distance = dist};
    return xpv_publisher_publish(pub, &d, NULL, NULL);
}

struct follower {
    const struct lab_env *env;
    const struct heap_api *api;
    struct xpv_heap *h;
    struct xpv_publisher *pub;
    int from, to;
    int on_from, on_to, total_from, total_to, node_after;
    char why[160];
};

static void *follow_thread(void *arg)
{
    struct follower *f = arg;
    const struct xpv_topo *t = f->env->topo;
    int rc = pin(f->env, t->nodes[0].id);
    if (rc < 0) {
        snprintf(f->why, sizeof(f->why), "cannot pin: %s", strerror(-rc));
        return NULL;
    }
    void *before[NBLOCKS], *after[NBLOCKS];
    for (unsigned i = 0; i < NBLOCKS; i++) {
        before[i] = f->api->alloc(f->h, block_size(i));
        memset(before[i], 1, block_size(i));
    }
    f->on_from = pages_on(f->env, before, NBLOCKS, f->from, &f->total_from);
    /* The hypervisor moved this vCPU's node: every CPU of node index 0 now runs on `to`. */
    uint16_t where[16];
    for (unsigned c = 0; c < 16; c++) {
        int node = xpv_topo_cpu_node(t, c);
        int idx = node < 0 ? -1 : xpv_topo_node_index(t, node);
        where[c] = idx < 0 ? XPV_RECORD_NONE : (uint16_t)idx;
    }
    where[xpv_bitmap_next(&t->nodes[0].cpus, 0)] = (uint16_t)xpv_topo_node_index(t, f->to);
    if ((rc = publish(f->pub, t, where)) < 0) {
        snprintf(f->why, sizeof(f->why), "publish: %s", strerror(-rc));
        return NULL;
    }
    for (unsigned i = 0; i < NBLOCKS; i++) {
        after[i] = f->api->alloc(f->h, block_size(i));
        memset(after[i], 2, block_size(i));
    }
    f->node_after = f->api->thread_node(f->h);
    f->on_to = pages_on(f->env, after, NBLOCKS, f->to, &f->total_to);
    for (unsigned i = 0; i < NBLOCKS; i++) {
        f->api->free(before[i]);
        f->api->free(after[i]);
    }
    return NULL;
}

/* A new record moves the thread's effective node: its new allocations land on the new node. */
static enum lab_result follow_record_on(const struct lab_env *env, const struct heap_api *api)
{
    const struct xpv_topo *t = env->topo;
    if (t->nr_nodes < 3)
        LAB_SKIP_BECAUSE("needs 3 nodes, guest has %u", t->nr_nodes);
    mkdir("/tmp", 0777);
    const char *path = "/tmp/xpv-malloc-lab-record";
    unlink(path);
    struct xpv_error err = {0};
    struct xpv_publisher *pub;
    int rc = xpv_publisher_open(path, &pub, &err);
    LAB_CHECK(rc == 0, "publisher: %s", xpv_error_str(&err, rc));
    uint16_t where[16];
    for (unsigned c = 0; c < 16; c++) {
        int node = xpv_topo_cpu_node(t, c);
        int idx = node < 0 ? -1 : xpv_topo_node_index(t, node);
        where[c] = idx < 0 ? XPV_RECORD_NONE : (uint16_t)idx;
    }
    rc = publish(pub, t, where);
    LAB_CHECK(rc == 0, "publish: %s", strerror(-rc));
    struct xpv_heap_config cfg = {.record_path = path, .topo = t, .ops = env->ops};
    struct xpv_heap *h;
    rc = api->heap_new(&cfg, &h, &err);
    LAB_CHECK(rc == 0, "xpv_heap_new: %s", xpv_error_str(&err, rc));
    struct follower f = {.env = env,
                         .api = api,
                         .h = h,
                         .pub = pub,
                         .from = t->nodes[0].id,
                         .to = t->nodes[2].id};
    pthread_t th;
    pthread_create(&th, NULL, follow_thread, &f);
    pthread_join(th, NULL);
    LAB_CHECK(!f.why[0], "%s", f.why);
    printf("  before: %d of %d pages on node %d; after the record moved CPU %d to node %d: "
           "bound to node %d, %d of %d pages there\n",
           f.on_from, f.total_from, f.from, xpv_bitmap_next(&t->nodes[0].cpus, 0), f.to,
           f.node_after, f.on_to, f.total_to);
    LAB_CHECK(f.total_from > 0 && f.on_from == f.total_from, "before: %d of %d on node %d",
              f.on_from, f.total_from, f.from);
    LAB_CHECK(f.node_after == f.to, "bound to %d after the move, expected %d", f.node_after, f.to);
    LAB_CHECK(f.total_to > 0 && f.on_to == f.total_to, "after: %d of %d on node %d", f.on_to,
              f.total_to, f.to);
    struct xpv_malloc_stats st;
    api->stats(h, &st);
    LAB_CHECK(st.generation == 2 && st.rebinds == 1, "generation %llu, %llu rebindings",
              (unsigned long long)st.generation, (unsigned long long)st.rebinds);
    LAB_CHECK(api->heap_delete(h) == 0, "heap delete");
    xpv_publisher_close(pub);
    unlink(path);
    printf("  backend %s\n", api->name);
    return LAB_PASS;
}

static enum lab_result malloc_follow_record(const struct lab_env *env)
{
    return follow_record_on(env, &je_api);
}

static enum lab_result malloc_mi_follow_record(const struct lab_env *env)
{
    char why[256];
    const struct heap_api *api = mi_api(why, sizeof(why));
    LAB_CHECK(api != NULL, "%s", why);
    return follow_record_on(env, api);
}

/* --- an unmodified program under LD_PRELOAD --- */

#define WORK    "/bin/xpv-malloc-work"
#define PRELOAD "/bin/libxpv-malloc.so"
#define OUT_CAP 8192

/* Run the workload with args, stdout and stderr into out/err (NUL-terminated); its exit
 * status, or -1 when it could not run. */
static int run_work(char *const *args, const char *preload, char *out, char *err)
{
    const char *files[2] = {"/tmp/xpv-malloc-work.out", "/tmp/xpv-malloc-work.err"};
    mkdir("/tmp", 0777);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        for (int i = 0; i < 2; i++) {
            int fd = open(files[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, i + 1) < 0)
                _exit(126);
            close(fd);
        }
        if (preload) {
            setenv("LD_PRELOAD", preload, 1);
            setenv("XPV_MALLOC_STATS", "1", 1);
            setenv("XPV_MALLOC_NO_RECORD", "1", 1); /* the host topology: the guest's nodes */
        } else {
            unsetenv("LD_PRELOAD");
        }
        execv(WORK, args);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    char *bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        bufs[i][0] = 0;
        int fd = open(files[i], O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, bufs[i], OUT_CAP - 1);
        bufs[i][n > 0 ? n : 0] = 0;
        close(fd);
        unlink(files[i]);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* From the workload's stderr: thread i's "placement" line; 0 or -ENOENT. */
static int placement(const char *err, int i, int *node, int *pages, int *on)
{
    char key[48];
    snprintf(key, sizeof(key), "placement thread=%d ", i);
    const char *l = strstr(err, key);
    if (!l || sscanf(l + strlen(key), "node=%d pages=%d on_node=%d", node, pages, on) != 3)
        return -ENOENT;
    return 0;
}

/* From the library's exit statistics: node's line; 0 or -ENOENT. */
static int node_stats(const char *err, int node, unsigned long long *alloc,
                      unsigned long long *extents, unsigned long long *mbind,
                      unsigned long long *errors)
{
    char key[48];
    snprintf(key, sizeof(key), "xpv-malloc:   node %d (arena ", node);
    const char *l = strstr(err, key);
    if (!l || !(l = strstr(l, "): ")) ||
        sscanf(l, "): %llu bytes allocated, %llu bytes of extents, %llu mbind, %llu mbind errors",
               alloc, extents, mbind, errors) != 4)
        return -ENOENT;
    return 0;
}

static void print_lines(const char *what, const char *text)
{
    const char *l = text;
    while (*l) {
        const char *e = strchr(l, '\n');
        int n = e ? (int)(e - l) : (int)strlen(l);
        printf("  %s| %.*s\n", what, n, l);
        l += n + (e != NULL);
    }
}

/* xpv-malloc-work (threads pinned one per node; each allocates blocks that the thread of the
 * next node writes first) run as it is and under LD_PRELOAD: the same stdout, and under the
 * preload every page of a thread's blocks is on the thread's node, with the library's exit
 * statistics showing live bytes and mbind calls on every node. */
static enum lab_result preload_guest_with(const struct lab_env *env, const char *lib)
{
    if (access(WORK, X_OK) || access(lib, R_OK)) {
        printf("  %s or %s is missing from the initramfs\n", WORK, lib);
        return LAB_FAIL;
    }
    unsigned n = env->topo->nr_nodes;
    LAB_CHECK(n >= 2 && n <= 16, "%u nodes", n);
    char argbuf[16][24];
    char *args[18] = {"xpv-malloc-work"};
    for (unsigned i = 0; i < n; i++) {
        int node = env->topo->nodes[i].id;
        int cpu = xpv_bitmap_next(&env->topo->nodes[i].cpus, 0);
        LAB_CHECK(cpu >= 0, "node %d has no CPU", node);
        snprintf(argbuf[i], sizeof(argbuf[i]), "%d:%d", cpu, node);
        args[i + 1] = argbuf[i];
    }
    args[n + 1] = NULL;
    static char out[2][OUT_CAP], err[2][OUT_CAP];
    /* progress lines, flushed: a run over the time limit shows which one it was */
    int rc0 = run_work(args, NULL, out[0], err[0]);
    printf("  plain run: exit %d\n", rc0);
    fflush(stdout);
    int rc1 = run_work(args, lib, out[1], err[1]);
    printf("  run under %s: exit %d\n", lib, rc1);
    fflush(stdout);
    print_lines("plain stdout", out[0]);
    print_lines("plain stderr", err[0]);
    print_lines("preload stdout", out[1]);
    print_lines("preload stderr", err[1]);
    LAB_CHECK(rc0 == 0, "without the preload: exit %d", rc0);
    LAB_CHECK(rc1 == 0, "under the preload: exit %d", rc1);
    LAB_CHECK(strstr(out[0], "total: checksum ") != NULL, "no checksum line without the preload");
    LAB_CHECK(strcmp(out[0], out[1]) == 0, "the outputs differ");
    /* The preload was active: the library's statistics, a binding per thread, every node. */
    unsigned long long binds = 0;
    const char *s = strstr(err[1], "xpv-malloc: pid ");
    LAB_CHECK(s && (s = strstr(s, "), ")) && sscanf(s, "), %llu thread bindings", &binds) == 1,
              "no xpv-malloc statistics under the preload");
    LAB_CHECK(binds >= n, "%llu thread bindings for %u pinned threads", binds, n);
    for (unsigned i = 0; i < n; i++) {
        int node = env->topo->nodes[i].id, wnode, pages, on;
        unsigned long long alloc, ext, mb, mberr;
        LAB_CHECK(node_stats(err[1], node, &alloc, &ext, &mb, &mberr) == 0,
                  "no statistics for node %d", node);
        LAB_CHECK(alloc > 0 && ext > 0 && mb > 0 && mberr == 0,
                  "node %d: %llu bytes allocated, %llu of extents, %llu mbind, %llu errors", node,
                  alloc, ext, mb, mberr);
        LAB_CHECK(placement(err[1], (int)i, &wnode, &pages, &on) == 0 && wnode == node,
                  "no placement for thread %u (node %d) under the preload", i, node);
        LAB_CHECK(pages > 0 && on == pages,
                  "thread %u: %d of %d pages on node %d under the preload (written first from "
                  "another node)",
                  i, on, pages, node);
        if (placement(err[0], (int)i, &wnode, &pages, &on) == 0)
            printf("  thread %u (node %d): %d of %d pages there without the preload\n", i, node, on,
                   pages);
    }
    printf("  preloaded %s\n", lib);
    return LAB_PASS;
}

static enum lab_result malloc_preload_guest(const struct lab_env *env)
{
    return preload_guest_with(env, PRELOAD);
}

static enum lab_result malloc_mi_preload_guest(const struct lab_env *env)
{
    return preload_guest_with(env, PRELOAD_MI);
}

const struct lab_test lab_malloc_tests[] = {
        {"malloc.pinned", malloc_pinned},
        {"malloc.follow_record", malloc_follow_record},
        {"malloc.preload_guest", malloc_preload_guest},
        {"malloc.mi.pinned", malloc_mi_pinned},
        {"malloc.mi.follow_record", malloc_mi_follow_record},
        {"malloc.mi.preload_guest", malloc_mi_preload_guest},
        {NULL, NULL},
};
