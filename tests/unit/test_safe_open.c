/* test_safe_open.c — xpv/safe_open.h: the directory rule and the file open discipline (what
 * the host daemon and the publisher open their files with; docs/security.md). The cases that
 * need a file or directory of another owner (chown) run as root only, apart. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tu_cmocka.h"
#include "xpv/safe_open.h"

struct fx {
    char dir[64];
    int dfd;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/xpv-test-safe-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->dfd = xpv_dir_open(f->dir, 0, 0, NULL);
    assert_true(f->dfd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    close(f->dfd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void path_of(const struct fx *f, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", f->dir, name);
}

/* Created with O_EXCL and sized; opened again, it is adopted (ours, 0600, one link). */
static void test_create_then_adopt(void **state)
{
    struct fx *f = *state;
    bool created = false;
    int fd = xpv_safe_openat(f->dfd, "r", O_RDWR, XPV_SAFE_CREATE, 0600, 8192, "r", &created, NULL);
    assert_true(fd >= 0);
    assert_true(created);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 8192);
    assert_true(st.st_blocks * 512 >= 8192); /* reserved, not sparse */
    close(fd);
    fd = xpv_safe_openat(f->dfd, "r", O_RDWR, XPV_SAFE_CREATE, 0600, 8192, "r", &created, NULL);
    assert_true(fd >= 0);
    assert_false(created);
    close(fd);
    struct xpv_error err = {0};
    assert_int_equal(xpv_safe_openat(f->dfd, "r", O_RDWR, XPV_SAFE_EXCL, 0600, 0, "r", NULL, &err),
                     -EEXIST);
    assert_int_equal(xpv_safe_openat(f->dfd, "none", O_RDONLY, 0, 0, 0, "none", NULL, NULL),
                     -ENOENT);
    assert_int_equal(xpv_safe_openat(f->dfd, "../x", O_RDONLY, 0, 0, 0, "../x", NULL, NULL),
                     -EINVAL);
}

/* A symlink, a hard link, a group-writable file and a FIFO are refused, saying why; the
 * symlink's target is untouched. */
static void test_refused(void **state)
{
    struct fx *f = *state;
    char target[128], p[128];
    path_of(f, "target", target, sizeof(target));
    FILE *fp = fopen(target, "w");
    assert_non_null(fp);
    fputs("secret\n", fp);
    fclose(fp);
    chmod(target, 0600);
    path_of(f, "sym", p, sizeof(p));
    assert_int_equal(symlink(target, p), 0);
    struct xpv_error err = {0};
    assert_int_equal(
            xpv_safe_openat(f->dfd, "sym", O_RDWR, XPV_SAFE_CREATE, 0644, 4096, "sym", NULL, &err),
            -ELOOP);
    assert_non_null(strstr(err.msg, "symbolic link"));
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 7);

    path_of(f, "hard", p, sizeof(p));
    assert_int_equal(link(target, p), 0);
    assert_int_equal(xpv_safe_openat(f->dfd, "hard", O_RDWR, XPV_SAFE_CREATE, 0644, 4096, "hard",
                                     NULL, &err),
                     -EPERM);
    assert_non_null(strstr(err.msg, "links"));
    unlink(p);

    path_of(f, "gw", p, sizeof(p));
    fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    chmod(p, 0664);
    assert_int_equal(
            xpv_safe_openat(f->dfd, "gw", O_RDWR, XPV_SAFE_CREATE, 0644, 0, "gw", NULL, &err),
            -EPERM);
    assert_non_null(strstr(err.msg, "group/world-writable"));

    path_of(f, "fifo", p, sizeof(p));
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(xpv_safe_openat(f->dfd, "fifo", O_RDONLY, 0, 0, 0, "fifo", NULL, &err),
                     -EPERM); /* O_NONBLOCK: it does not wait for a writer */
    assert_non_null(strstr(err.msg, "not a regular file"));
}

/* The directory rule: world-writable without the sticky bit refused, with it accepted (not
 * when private); a missing directory made with the mode asked. */
static void test_dir_rule(void **state)
{
    struct fx *f = *state;
    char p[128];
    struct xpv_error err = {0};
    path_of(f, "open", p, sizeof(p));
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chmod(p, 0777), 0);
    assert_int_equal(xpv_dir_open(p, 0, 0, &err), -EPERM);
    assert_non_null(strstr(err.msg, "without the sticky bit"));
    char below[160]; /* a directory below it is refused too: its parent is */
    snprintf(below, sizeof(below), "%s/sub", p);
    assert_int_equal(mkdir(below, 0700), 0);
    assert_int_equal(xpv_dir_open(below, 0, 0, &err), -EPERM);
    assert_int_equal(chmod(p, 01777), 0);
    int fd = xpv_dir_open(p, 0, 0, &err);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(xpv_dir_open(p, XPV_DIR_PRIVATE, 0, &err), -EPERM);
    path_of(f, "made", p, sizeof(p));
    assert_int_equal(xpv_dir_open(p, 0, 0, &err), -ENOENT);
    mode_t um = umask(077); /* the mode asked for, whatever the umask */
    fd = xpv_dir_open(p, XPV_DIR_CREATE, 0711, &err);
    umask(um);
    assert_true(fd >= 0);
    close(fd);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0711);
    path_of(f, "made/file", p, sizeof(p));
    fd = xpv_safe_open(p, O_RDWR, XPV_SAFE_CREATE, 0600, 0, NULL, &err);
    assert_true(fd >= 0);
    close(fd);
}

/* Of another owner (root only): a file refused, unless foreign (then only when large
 * enough, never grown); a directory refused. */
static void test_other_owner(void **state)
{
    struct fx *f = *state;
    if (geteuid() != 0) {
        xpv_skip("needs root (chown to uid 65534)");
    }
    char p[128];
    struct xpv_error err = {0};
    path_of(f, "theirs", p, sizeof(p));
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(truncate(p, 4096), 0);
    assert_int_equal(chown(p, 65534, 65534), 0);
    assert_int_equal(xpv_safe_openat(f->dfd, "theirs", O_RDWR, XPV_SAFE_CREATE, 0644, 4096,
                                     "theirs", NULL, &err),
                     -EPERM);
    assert_non_null(strstr(err.msg, "belongs to uid 65534"));
    int fd = xpv_safe_openat(f->dfd, "theirs", O_RDWR, XPV_SAFE_FOREIGN, 0, 4096, "theirs", NULL,
                             &err);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(xpv_safe_openat(f->dfd, "theirs", O_RDWR, XPV_SAFE_FOREIGN, 0, 8192, "theirs",
                                     NULL, &err),
                     -EPERM);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 4096);

    path_of(f, "theirdir", p, sizeof(p));
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(chown(p, 65534, 65534), 0);
    assert_int_equal(xpv_dir_open(p, 0, 0, &err), -EPERM);
    assert_non_null(strstr(err.msg, "belongs to uid 65534"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_create_then_adopt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dir_rule, setup, teardown),
            cmocka_unit_test_setup_teardown(test_other_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
