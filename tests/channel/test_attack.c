/*
 * test_attack.c — the attacks of issue 18's finding 9 on libxpv's reader, performed
 * (docs/security.md, "Readers: libxpv, xpv-malloc, `xpv watch`"). Each case fails on the
 * reader before the fix:
 *   owner     a record owned by another user (uid 65534), one writable by others, one reached
 *             through a symlink: refused with -EPERM and a message saying how to fix it
 *   truncate  the owner truncates the record under a reader (to a page with a new generation
 *             announced, then to 0 bytes): snapshots and waits fail cleanly, no SIGBUS, and
 *             the reader recovers when a publisher writes again
 *   cost      the most expensive valid record (tu_hostile.h): a snapshot with every CPU's
 *             effective node takes a bounded number of steps (counted, not timed), and the
 *             answers are the rule's (xpv_effective_record)
 *   node_id   a node id of 0xFFFFFFED (-ENODEV as an int) is refused by the encoder and the
 *             decoder, so it never surfaces as an error code
 * Run as ctest channel.attack_CASE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/channel/effective_all.h"
#include "tu_cmocka.h"
#include "tu_hostile.h"
#include "tu_record.h"
#include "xpv/channel.h"
#include "xpv/crc32c.h"
#include "xpv/effective.h"
#include "xpv/publisher.h"

static char dir[256], path[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/xpv-test-attack.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/record", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char link[320];
    snprintf(link, sizeof(link), "%s/link", dir);
    unlink(link);
    unlink(path);
    rmdir(dir);
    return 0;
}

static void publish(uint64_t k)
{
    struct xpv_publisher *p = NULL;
    struct tu_desc t;
    tu_desc_make(&t, k);
    assert_int_equal(xpv_publisher_open(path, &p, NULL), 0);
    assert_int_equal(xpv_publisher_publish(p, &t.d, NULL, NULL), 0);
    xpv_publisher_close(p);
}

static void test_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        xpv_skip("needs root to give the record to uid 65534 (run the tests as root)");
    publish(1);
    struct xpv_channel *ch = NULL;
    struct xpv_error err = {0};
    /* control: root's own record opens */
    assert_int_equal(xpv_channel_open(path, &ch, &err), 0);
    xpv_channel_close(ch);
    /* another user's record: that user would steer our memory */
    assert_int_equal(chown(path, 65534, 65534), 0);
    assert_int_equal(xpv_channel_open(path, &ch, &err), -EPERM);
    assert_null(ch);
    assert_non_null(strstr(err.msg, "owned by uid 65534"));
    assert_non_null(strstr(err.msg, "XPV_RECORD"));
    /* root's, but writable by others */
    assert_int_equal(chown(path, 0, 0), 0);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(xpv_channel_open(path, &ch, &err), -EPERM);
    assert_non_null(strstr(err.msg, "mode 0666"));
    assert_non_null(strstr(err.msg, "chmod go-w"));
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(xpv_channel_open(path, &ch, &err), -EPERM);
    assert_int_equal(chmod(path, 0644), 0);
    /* through a symlink (someone else's name for our file): refused, the target is not */
    char link[320];
    snprintf(link, sizeof(link), "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(xpv_channel_open(link, &ch, &err), -EPERM);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(xpv_channel_open(path, &ch, &err), 0);
    xpv_channel_close(ch);
}

/* The most expensive valid record (tu_hostile.h, longer than a page) at path, generation 1. */
static void publish_hostile(void)
{
    static struct tu_hostile t;
    tu_hostile_make(&t);
    struct xpv_publisher *p = NULL;
    assert_int_equal(xpv_publisher_open(path, &p, NULL), 0);
    assert_int_equal(xpv_publisher_publish(p, &t.d, NULL, NULL), 0);
    xpv_publisher_close(p);
}

static void test_truncate(void **state)
{
    (void)state;
    /* a record longer than a page, so that the announced length reaches past the cut */
    publish_hostile();

    struct xpv_channel *ch = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_channel_open(path, &ch, &err), 0);
    struct xpv_snapshot *s = NULL;
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), 0);
    assert_int_equal(xpv_snapshot_generation(s), 1);
    xpv_snapshot_put(s);

    /* the owner announces generation 2 and cuts the file to one page */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint64_t g = 2;
    assert_int_equal(pwrite(fd, &g, sizeof(g), 24), sizeof(g));
    assert_int_equal(ftruncate(fd, 4096), 0);
    assert_int_equal(xpv_channel_generation(ch), 2); /* the first page is still there */
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_non_null(s); /* the last good one */
    assert_int_equal(xpv_snapshot_generation(s), 1);
    xpv_snapshot_put(s);

    /* to nothing at all: snapshot and wait leave the mapping alone */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), -EBADMSG);
    xpv_snapshot_put(s);
    assert_int_equal(xpv_channel_wait(ch, 1, 30), -ETIMEDOUT);
    close(fd);

    /* a publisher restores the file: the reader follows again */
    publish(5);
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), 0);
    assert_int_equal(tu_view_matches(xpv_snapshot_view(s), 5), 0);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
}

/* A cut that lands between the size check and the copy (the watcher trusts the check its
 * wait made an instant before: xpv__channel_snapshot_trusting takes the snapshot so). A
 * record within the first page is copied from the mapping, which a cut to any size but 0
 * leaves in place (past the end it reads zeros: rejected); bytes past the first page are read
 * with pread, which reads short instead of raising SIGBUS. */
static void test_truncate_raced(void **state)
{
    (void)state;
    struct xpv_channel *ch = NULL;
    struct xpv_snapshot *s = NULL;
    struct xpv_error err = {0};

    /* a small record: copied from the mapping, no pread */
    publish(3);
    assert_int_equal(xpv_channel_open(path, &ch, &err), 0);
    assert_int_equal(xpv__channel_snapshot_trusting(ch, &s, &err), 0);
    assert_int_equal(tu_view_matches(xpv_snapshot_view(s), 3), 0);
    xpv_snapshot_put(s);
    assert_int_equal(xpv__channel_preads(ch), 0);
    /* the owner cuts it to 100 bytes, past the header: the rest reads as zeros */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint64_t g = 2;
    assert_int_equal(pwrite(fd, &g, sizeof(g), 24), sizeof(g));
    assert_int_equal(ftruncate(fd, 100), 0);
    assert_int_equal(xpv__channel_snapshot_trusting(ch, &s, &err), -EILSEQ); /* the CRC */
    assert_non_null(s);                                                      /* the last good one */
    assert_int_equal(xpv_snapshot_generation(s), 1);
    xpv_snapshot_put(s);
    close(fd);
    xpv_channel_close(ch);
    unlink(path);

    /* a record longer than a page: copied with pread */
    publish_hostile();
    assert_int_equal(xpv_channel_open(path, &ch, &err), 0);
    assert_int_equal(xpv__channel_snapshot_trusting(ch, &s, &err), 0);
    xpv_snapshot_put(s);
    assert_int_equal(xpv__channel_preads(ch), 1);
    /* cut to one page: the copy of the second page reads short, no SIGBUS */
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &g, sizeof(g), 24), sizeof(g));
    assert_int_equal(ftruncate(fd, 4096), 0);
    assert_int_equal(xpv__channel_snapshot_trusting(ch, &s, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "truncated"));
    xpv_snapshot_put(s);
    close(fd);
    xpv_channel_close(ch);
}

static void test_cost(void **state)
{
    (void)state;
    publish_hostile();
    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_channel_open(path, &ch, NULL), 0);
    struct xpv_snapshot *s = NULL;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    const struct xpv_record_view *v = xpv_snapshot_view(s);
    /* the bound of effective_all.h at the ABI's limits; a per-CPU walk of the backing
     * entries would be 4096 × 4096 = 16.8 million */
    uint64_t bound = (uint64_t)TU_HB + (uint64_t)TU_HP * TU_HP + (uint64_t)TU_HC * TU_HP + 8192;
    uint64_t ops = xpv__snapshot_ops(s);
    print_message("effective nodes of %u CPUs: %llu steps (bound %llu)\n", v->nr_cpus,
                  (unsigned long long)ops, (unsigned long long)bound);
    assert_true(ops > 0);
    assert_true(ops <= bound);
    /* the same answers as the rule, CPU by CPU (every 7th: the rule walks all entries) */
    for (unsigned c = 0; c < v->nr_cpus; c += 7) {
        struct xpv_effective e;
        assert_int_equal(xpv_effective_record(v, c, &e), 1);
        assert_int_equal(xpv_snapshot_effective_node(s, c), (int)xpv_record_pnode_id(v, e.pnode));
    }
    /* CPU 0: node 0, own vNode 0, which has memory on nodes 128..143: the lowest of them */
    assert_int_equal(xpv_snapshot_effective_node(s, 0), 128);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
}

/* The watcher computes the effective nodes with a scratch of its own, reused from one
 * snapshot to the next, into the snapshot's single allocation: every callback's answers are
 * the rule's (xpv_effective_record on the test's own copy of the record), on the most
 * expensive record, publish after publish. */
struct watch_check {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls, bad_calls;
    unsigned wrong, checked;
    const int *want; /* [nr_cpus]: the rule's answer, from the test's copy */
    unsigned nr_cpus;
};

static void on_change_check(const struct xpv_snapshot *s, void *arg)
{
    struct watch_check *w = arg;
    unsigned wrong = 0, checked = 0;
    if (s) {
        wrong += xpv_snapshot_nr_cpus(s) != w->nr_cpus;
        for (unsigned c = 0; c < w->nr_cpus; c += 7, checked++)
            wrong += xpv_snapshot_effective_node(s, c) != w->want[c];
    }
    pthread_mutex_lock(&w->lock);
    w->calls++;
    w->bad_calls += !s;
    w->wrong += wrong;
    w->checked += checked;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void test_watch_effective(void **state)
{
    (void)state;
    publish_hostile();
    /* the rule's answers, from a copy of the record read and decoded here */
    static uint8_t buf[XPV_RECORD_MAP_SIZE];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    close(fd);
    uint32_t total;
    memcpy(&total, buf + 16, sizeof(total));
    struct xpv_record_view v;
    assert_int_equal(xpv_record_decode(buf, total, &v, NULL), 0);
    static int want[XPV_MAX_CPUS]; /* every 7th CPU: the rule walks every entry per CPU */
    assert_true(v.nr_cpus <= XPV_MAX_CPUS);
    for (unsigned c = 0; c < v.nr_cpus; c += 7) {
        struct xpv_effective e;
        want[c] = xpv_effective_record(&v, c, &e) == 1 ? (int)xpv_record_pnode_id(&v, e.pnode)
                                                       : -ENOENT;
    }
    struct watch_check w = {
            PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, want, v.nr_cpus};

    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_channel_open(path, &ch, NULL), 0);
    assert_int_equal(xpv_channel_subscribe(ch, on_change_check, &w, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        publish_hostile();
        pthread_mutex_lock(&w.lock);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 20;
        int rc = 0;
        while (w.calls < i && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w.cond, &w.lock, &dl);
        int calls = w.calls;
        pthread_mutex_unlock(&w.lock);
        if (calls < i)
            fail_msg("no callback for publish %d within 20 s", i);
    }
    xpv_channel_unsubscribe(ch);
    xpv_channel_close(ch);
    print_message("%d callbacks, %u CPUs checked, %u wrong\n", w.calls, w.checked, w.wrong);
    assert_int_equal(w.bad_calls, 0);
    assert_true(w.checked > 0);
    assert_int_equal(w.wrong, 0);
}

static void test_node_id(void **state)
{
    (void)state;
    struct tu_desc t;
    tu_desc_make(&t, 2);
    uint8_t buf[4096];
    struct xpv_error err = {0};
    /* the largest id allowed goes through */
    t.ids[t.d.nr_pnodes - 1] = XPV_RECORD_MAX_NODE_ID;
    long n = xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), &err);
    assert_true(n > 0);
    struct xpv_record_view v;
    assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, &err), 0);
    /* 0xFFFFFFED: -ENODEV as an int; the encoder refuses it */
    t.ids[t.d.nr_pnodes - 1] = 0xFFFFFFEDu;
    assert_int_equal(xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), &err), -EINVAL);
    /* a hostile writer puts it there anyway, with a good CRC: the decoder refuses it */
    t.ids[t.d.nr_pnodes - 1] = XPV_RECORD_MAX_NODE_ID;
    n = xpv_record_encode(&t.d, 1, 0, buf, sizeof(buf), &err);
    assert_true(n > 0);
    assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, &err), 0);
    size_t at = (size_t)(v.pnode_ids - buf) + 4 * (v.nr_pnodes - 1);
    uint32_t bad = 0xFFFFFFEDu; /* little-endian host */
    memcpy(buf + at, &bad, 4);
    uint32_t header_len, total;
    memcpy(&header_len, buf + 12, 4);
    memcpy(&total, buf + 16, 4);
    uint32_t crc = xpv_crc32c(buf + header_len, total - header_len);
    memcpy(buf + 40, &crc, 4);
    assert_int_equal(xpv_record_decode(buf, (size_t)n, &v, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "node id 4294967277"));
    /* and through a file: the reader rejects it, xpv_snapshot_node_id never says -ENODEV */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, XPV_RECORD_MAP_SIZE), 0);
    assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
    close(fd);
    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_channel_open(path, &ch, NULL), 0);
    struct xpv_snapshot *s = NULL;
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), -EBADMSG);
    if (s)
        for (unsigned i = 0; i < xpv_snapshot_nr_nodes(s); i++)
            assert_true(xpv_snapshot_node_id(s, i) >= 0);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
            cmocka_unit_test_setup_teardown(test_truncate_raced, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cost, setup, teardown),
            cmocka_unit_test_setup_teardown(test_watch_effective, setup, teardown),
            cmocka_unit_test_setup_teardown(test_node_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
