/*
 * test_channel.c — publisher and libxpv on a record file in a temporary directory: publish
 * and read, generation across a publisher restart, one publisher at a time, a corrupted file
 * (error + last good snapshot), waiting, subscribing, the XPV effective-node rule, memory
 * (ivshmem-style) channels, the errors a user sees, and the size checks on the watcher's
 * wake-up path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/channel/effective_all.h"
#include "tu_record.h"
#include "xpv/channel.h"
#include "xpv/publisher.h"

static char dir[256], path[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/xpv-test-channel.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/record", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct xpv_publisher *pub_open(void)
{
    struct xpv_publisher *p = NULL;
    struct xpv_error err = {0};
    int rc = xpv_publisher_open(path, &p, &err);
    if (rc < 0)
        fail_msg("publisher_open: %s", xpv_error_str(&err, rc));
    return p;
}

static uint64_t publish(struct xpv_publisher *p, uint64_t k)
{
    struct tu_desc t;
    uint64_t gen = 0;
    tu_desc_make(&t, k);
    assert_int_equal(xpv_publisher_publish(p, &t.d, &gen, NULL), 0);
    return gen;
}

static struct xpv_channel *ch_open(void)
{
    struct xpv_channel *ch = NULL;
    struct xpv_error err = {0};
    int rc = xpv_channel_open(path, &ch, &err);
    if (rc < 0)
        fail_msg("channel_open: %s", xpv_error_str(&err, rc));
    return ch;
}

static void test_publish_and_read(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open();
    struct xpv_channel *ch = ch_open();
    struct xpv_snapshot *s = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_channel_generation(ch), 0);
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), -ENODATA);
    assert_null(s);
    for (uint64_t k = 1; k <= 20; k++) {
        assert_int_equal(publish(p, k), k);
        assert_int_equal(xpv_channel_generation(ch), k);
        assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
        assert_int_equal(xpv_snapshot_generation(s), k);
        assert_int_equal(tu_view_matches(xpv_snapshot_view(s), k), 0);
        xpv_snapshot_put(s);
    }
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

static void test_generation_survives_restart(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open();
    uint64_t g = publish(p, 1);
    publish(p, 2);
    xpv_publisher_close(p);
    p = pub_open();
    assert_int_equal(xpv_publisher_generation(p), g + 1);
    assert_int_equal(publish(p, 3), g + 2);
    xpv_publisher_close(p);
}

static void test_one_publisher(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open(), *q = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_publisher_open(path, &q, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "another publisher"));
    assert_null(q);
    xpv_publisher_close(p);
}

static void test_bad_desc_keeps_record(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open();
    uint64_t g = publish(p, 4);
    struct tu_desc t;
    tu_desc_make(&t, 5);
    t.d.nr_pnodes = 0;
    assert_int_equal(xpv_publisher_publish(p, &t.d, NULL, NULL), -EINVAL);
    struct xpv_channel *ch = ch_open();
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    assert_int_equal(xpv_snapshot_generation(s), g);
    assert_int_equal(tu_view_matches(xpv_snapshot_view(s), 4), 0);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

static void test_corrupt_keeps_last_good(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open();
    uint64_t g = publish(p, 6);
    struct xpv_channel *ch = ch_open();
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    xpv_snapshot_put(s);
    /* a hostile or broken writer flips a body byte */
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 100), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, 100), 1);
    struct xpv_error err = {0};
    assert_int_equal(xpv_channel_snapshot(ch, &s, &err), -EILSEQ);
    assert_non_null(strstr(err.msg, "CRC"));
    assert_non_null(s); /* the last good one */
    assert_int_equal(xpv_snapshot_generation(s), g);
    assert_int_equal(tu_view_matches(xpv_snapshot_view(s), 6), 0);
    xpv_snapshot_put(s);
    /* garbage everywhere: still an error, still the last good snapshot */
    uint8_t junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    assert_true(xpv_channel_snapshot(ch, &s, NULL) < 0);
    assert_int_equal(xpv_snapshot_generation(s), g);
    xpv_snapshot_put(s);
    close(fd);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
    unlink(path); /* the next test starts afresh */
}

static void test_open_errors(void **state)
{
    (void)state;
    struct xpv_channel *ch = NULL;
    struct xpv_error err = {0};
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    assert_int_equal(xpv_channel_open(missing, &ch, &err), -ENOENT);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "publisher"));
    assert_int_equal(xpv_channel_open("/etc/hostname", &ch, &err), -EBADMSG);
    assert_null(ch);
    setenv("XPV_RECORD", "/tmp/elsewhere", 1);
    assert_string_equal(xpv_channel_default_path(), "/tmp/elsewhere");
    unsetenv("XPV_RECORD");
    assert_string_equal(xpv_channel_default_path(), XPV_CHANNEL_DEFAULT_PATH);
}

/* Is thread tid of this process blocked in futex() on the page holding addr? seen gets what
 * /proc/self/task/TID/syscall says: the syscall number and its arguments while the thread is
 * blocked in one ("running" otherwise). */
static bool blocked_in_futex_on(pid_t tid, const void *addr, char *seen, size_t len)
{
    char file[64];
    snprintf(file, sizeof(file), "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(file, "r");
    seen[0] = 0;
    if (!f || !fgets(seen, (int)len, f)) {
        snprintf(seen, len, "cannot read %s", file);
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    seen[strcspn(seen, "\n")] = 0;
    long nr = -1;
    unsigned long long uaddr = 0;
    uintptr_t page = (uintptr_t)addr & ~(uintptr_t)4095;
    return sscanf(seen, "%ld %llx", &nr, &uaddr) == 2 && nr == SYS_futex &&
           (uintptr_t)(uaddr & ~4095ull) == page;
}

struct later {
    struct xpv_publisher *p;
    uint64_t k;
    pid_t waiter;           /* the thread in xpv_channel_wait() */
    const void *word;       /* on the channel's mapping (the page its futex is on) */
    bool blocked;           /* the waiter was seen blocked there before the publish */
    char seen[256];         /* what was last seen of the waiter */
};

/* Publish once the waiter is blocked in the channel's futex (so the publish is what wakes
 * it), or after 10 s (test_wait then fails, saying what it last saw). */
static void *publish_later(void *arg)
{
    struct later *l = arg;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        l->blocked = blocked_in_futex_on(l->waiter, l->word, l->seen, sizeof(l->seen));
        if (l->blocked)
            break;
        struct timespec poll = {0, 1000000};
        nanosleep(&poll, NULL); /* not a wait: the poll interval of this deadline loop */
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < 10);
    publish(l->p, l->k);
    return NULL;
}

static void test_wait(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open();
    struct xpv_channel *ch = ch_open();
    uint64_t g = publish(p, 7);
    assert_int_equal(xpv_channel_wait(ch, g, 20), -ETIMEDOUT);
    assert_int_equal(xpv_channel_wait(ch, g - 1, 0), 0); /* already different */
    pthread_t th;
    struct later l = {p, 8, gettid(), xpv_channel_generation_word(ch), false, ""};
    pthread_create(&th, NULL, publish_later, &l);
    assert_int_equal(xpv_channel_wait(ch, g, 20000), 0);
    assert_int_equal(xpv_channel_generation(ch), g + 1);
    pthread_join(th, NULL);
    if (!l.blocked)
        fail_msg("the waiting thread was never seen blocked in futex() on the channel: "
                 "last saw '%s'", l.seen);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

struct seen {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t last;
    int calls, bad;
    int unsubscribed; /* set once xpv_channel_unsubscribe() has returned */
    int late;         /* callbacks that started after that */
};

static void on_change(const struct xpv_snapshot *s, void *arg)
{
    struct seen *sn = arg;
    pthread_mutex_lock(&sn->lock);
    if (sn->unsubscribed)
        sn->late++;
    if (s)
        sn->last = xpv_snapshot_generation(s);
    else
        sn->bad++;
    sn->calls++;
    pthread_cond_broadcast(&sn->cond);
    pthread_mutex_unlock(&sn->lock);
}

/* Wait until sn has seen generation gen (calls < 0) or until its call count is no longer
 * calls, at most ms ms; whether it happened. */
static bool seen_within(struct seen *sn, uint64_t gen, int calls, int ms)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end); /* the condition variable's clock */
    end.tv_sec += ms / 1000;
    end.tv_nsec += (long)(ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sn->lock);
    int rc = 0;
    while (!(calls < 0 ? sn->last >= gen : sn->calls != calls) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&sn->cond, &sn->lock, &end);
    bool happened = calls < 0 ? sn->last >= gen : sn->calls != calls;
    pthread_mutex_unlock(&sn->lock);
    return happened;
}

static void test_subscribe(void **state)
{
    (void)state;
    struct xpv_publisher *p = pub_open();
    struct xpv_channel *ch = ch_open(), *ch2 = ch_open();
    struct seen sn = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};
    struct seen ctl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};
    uint64_t g = publish(p, 9);
    assert_int_equal(xpv_channel_subscribe(ch, on_change, &sn, NULL), 0);
    assert_int_equal(xpv_channel_subscribe(ch, on_change, &sn, NULL), -EBUSY);
    assert_int_equal(xpv_channel_subscribe(ch2, on_change, &ctl, NULL), 0); /* stays */
    uint64_t want = publish(p, 10);
    assert_true(want > g);
    if (!seen_within(&sn, want, -1, 10000))
        fail_msg("no callback for generation %llu in 10 s (last %llu, %d calls)",
                 (unsigned long long)want, (unsigned long long)sn.last, sn.calls);

    /* When unsubscribe returns no callback runs or will run: a publish after it reaches the
     * watcher still subscribed on ch2, and nothing on ch. A watcher left running on ch (an
     * unsubscribe that does not stop and join it) would have called back by the time ch2's
     * did, or within the half second after. */
    xpv_channel_unsubscribe(ch);
    pthread_mutex_lock(&sn.lock);
    sn.unsubscribed = 1;
    int calls = sn.calls;
    pthread_mutex_unlock(&sn.lock);
    uint64_t after = publish(p, 11);
    if (!seen_within(&ctl, after, -1, 10000))
        fail_msg("the subscriber on another handle did not see generation %llu in 10 s",
                 (unsigned long long)after);
    if (seen_within(&sn, 0, calls, 500) || sn.late)
        fail_msg("a callback ran after xpv_channel_unsubscribe() returned: %d calls, then %d "
                 "(last generation %llu), %d started after it returned",
                 calls, sn.calls, (unsigned long long)sn.last, sn.late);
    assert_int_equal(sn.bad, 0);
    xpv_channel_unsubscribe(ch2);
    xpv_channel_close(ch2);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

/* The watcher's wake-up path checks the file's size once (wait_change's fstat before it loads
 * the generation; the snapshot that follows trusts it), not twice: each fstat is a syscall
 * between the publish and the callback (docs/bench-channel.md). Counted with the handle's
 * size-check counter: before each publish the watcher has made its check before sleeping;
 * the callback reads the counter, so the difference is what the wake-up path cost. */
struct wake_checks {
    struct xpv_channel *ch;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    uint64_t at_call; /* the counter when the last callback ran */
};

static void on_change_checks(const struct xpv_snapshot *s, void *arg)
{
    struct wake_checks *w = arg;
    (void)s;
    pthread_mutex_lock(&w->lock);
    w->at_call = xpv__channel_size_checks(w->ch);
    w->calls++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t now_ms_test(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_wake_one_size_check(void **state)
{
    (void)state;
    enum { N = 20 };
    struct xpv_publisher *p = pub_open();
    publish(p, 1);
    struct xpv_channel *ch = ch_open();
    struct wake_checks w = {ch, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    assert_int_equal(xpv_channel_subscribe(ch, on_change_checks, &w, NULL), 0);
    uint64_t delta[N], prev_call = 0;
    for (int i = 0; i < N; i++) {
        /* the watcher has checked the size before going to sleep (the subscribe's first
         * wait, or the wait after the previous callback) */
        uint64_t end = now_ms_test() + 10000;
        while (xpv__channel_size_checks(ch) < prev_call + 1) {
            if (now_ms_test() > end)
                fail_msg("the watcher did not go back to waiting within 10 s");
            sched_yield();
        }
        uint64_t base = xpv__channel_size_checks(ch);
        publish(p, (uint64_t)i + 2);
        pthread_mutex_lock(&w.lock);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 10;
        int rc = 0;
        while (w.calls < i + 1 && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w.cond, &w.lock, &dl);
        bool called = w.calls >= i + 1;
        prev_call = w.at_call;
        pthread_mutex_unlock(&w.lock);
        if (!called)
            fail_msg("no callback for publish %d within 10 s", i + 1);
        delta[i] = prev_call - base;
    }
    xpv_channel_unsubscribe(ch);
    xpv_channel_close(ch);
    xpv_publisher_close(p); /* before judging: a failure leaves no publisher to later tests */
    qsort(delta, N, sizeof(delta[0]), cmp_u64);
    /* the median: a 250 ms wait timeout inside one sample adds a check to that sample only */
    if (delta[N / 2] > 1)
        fail_msg("the wake-up path made %llu size checks (median of %d wake-ups; min %llu, max "
                 "%llu), want 1",
                 (unsigned long long)delta[N / 2], N, (unsigned long long)delta[0],
                 (unsigned long long)delta[N - 1]);
}

/* Node ids 10, 20, 30; CPU 0 on 10, CPU 1 on 20 (which backs no memory), CPU 2 on 30. */
static void test_effective_node(void **state)
{
    (void)state;
    static const uint32_t ids[] = {10, 20, 30};
    static const uint16_t cpu_p[] = {0, 1, 2, XPV_RECORD_NONE}, cpu_v[] = {0, 0, 1, 1};
    static const uint16_t dist[] = {10, 30, 20, 30, 10, 15, 20, 15, 10};
    static const struct xpv_record_backing bk[] = {{0, 0, 1 << 20}, {1, 2, 2 << 20}};
    struct xpv_record_desc d = {3, 2, 4, 2, ids, cpu_p, cpu_v, bk, dist};
    struct xpv_publisher *p = pub_open();
    assert_int_equal(xpv_publisher_publish(p, &d, NULL, NULL), 0);
    struct xpv_channel *ch = ch_open();
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    assert_int_equal(xpv_snapshot_nr_nodes(s), 3);
    assert_int_equal(xpv_snapshot_node_id(s, 2), 30);
    assert_int_equal(xpv_snapshot_cpu_node(s, 1), 20);
    assert_int_equal(xpv_snapshot_effective_node(s, 0), 10);
    assert_int_equal(xpv_snapshot_effective_node(s, 1), 30); /* nearest node with memory */
    assert_int_equal(xpv_snapshot_effective_node(s, 3), -ENOENT);
    assert_int_equal(xpv_snapshot_effective_node(s, 99), -ENOENT);
    struct xpv_bitmap cpus;
    assert_int_equal(xpv_snapshot_node_cpus(s, 30, &cpus), 0);
    assert_int_equal(xpv_bitmap_weight(&cpus), 1);
    assert_true(xpv_bitmap_isset(&cpus, 2));
    assert_int_equal(xpv_snapshot_node_cpus(s, 5, &cpus), -ENODEV);
    assert_int_equal(xpv_snapshot_distance(s, 20, 30), 15);
    assert_int_equal(xpv_snapshot_distance(s, 20, 31), -ENODEV);
    assert_int_equal(xpv_snapshot_node_memory(s, 30), 2 << 20);
    assert_int_equal(xpv_snapshot_node_memory(s, 20), 0);
    int node = -1;
    assert_int_equal(xpv_channel_current_node(ch, &node, NULL), 0);
    assert_true(node == 10 || node == 30); /* this host's CPU 0 or 1 (test machines: 2+ CPUs) */
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

/* A vCPU on a node without the domain's memory, equally far from two nodes with memory:
 * it goes to the one backing its own virtual node, not to the lowest id. */
static void test_effective_node_tie(void **state)
{
    (void)state;
    static const uint32_t ids[] = {0, 1, 2};
    static const uint16_t cpu_p[] = {2, 2}, cpu_v[] = {0, 1};
    static const uint16_t dist[] = {10, 20, 16, 20, 10, 16, 16, 16, 10};
    static const struct xpv_record_backing bk[] = {{0, 0, 1 << 20}, {1, 1, 1 << 20}};
    struct xpv_record_desc d = {3, 2, 2, 2, ids, cpu_p, cpu_v, bk, dist};
    struct xpv_publisher *p = pub_open();
    assert_int_equal(xpv_publisher_publish(p, &d, NULL, NULL), 0);
    struct xpv_channel *ch = ch_open();
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    assert_int_equal(xpv_snapshot_effective_node(s, 0), 0);
    assert_int_equal(xpv_snapshot_effective_node(s, 1), 1);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

static void test_memory_channel(void **state)
{
    (void)state;
    static uint64_t region[65536 / 8]; /* stands for an ivshmem BAR */
    struct xpv_publisher *p = NULL;
    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_publisher_open_mem(region, sizeof(region), &p, NULL), 0);
    assert_int_equal(xpv_channel_open_mem(region, sizeof(region), &ch, NULL), 0);
    assert_int_equal(publish(p, 12), 1);
    struct xpv_snapshot *s;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    assert_int_equal(tu_view_matches(xpv_snapshot_view(s), 12), 0);
    xpv_snapshot_put(s);
    assert_int_equal(xpv_channel_wait(ch, 1, 5), -ETIMEDOUT); /* polls: no futex across VMs */
    struct xpv_channel *tiny = NULL;
    assert_int_equal(xpv_channel_open_mem(region, 16, &tiny, NULL), -EINVAL);
    assert_null(tiny);
    /* a record larger than the region is refused; the old one stays */
    struct xpv_publisher *small = NULL;
    assert_int_equal(xpv_publisher_open_mem(region, 256, &small, NULL), 0);
    struct tu_desc t;
    tu_desc_make(&t, 13);
    assert_int_equal(xpv_publisher_publish(small, &t.d, NULL, NULL), -ENOSPC);
    assert_int_equal(xpv_channel_generation(ch), 1);
    xpv_publisher_close(small);
    xpv_channel_close(ch);
    xpv_publisher_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_publish_and_read),
            cmocka_unit_test(test_generation_survives_restart),
            cmocka_unit_test(test_one_publisher),
            cmocka_unit_test(test_bad_desc_keeps_record),
            cmocka_unit_test(test_corrupt_keeps_last_good),
            cmocka_unit_test(test_open_errors),
            cmocka_unit_test(test_wait),
            cmocka_unit_test(test_subscribe),
            cmocka_unit_test(test_wake_one_size_check),
            cmocka_unit_test(test_effective_node),
            cmocka_unit_test(test_effective_node_tie),
            cmocka_unit_test(test_memory_channel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
