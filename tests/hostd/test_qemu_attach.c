/*
 * test_qemu_attach.c — attach to a real QEMU (qemu-system-x86_64 -accel tcg -S: no guest code
 * runs, no kernel needed) over QMP and check xpv_vm_describe against what was launched:
 * 3 vCPUs on 2 vNUMA nodes with a SLIT, a memory-backend-file on /dev/shm for node 0 and a
 * memory-backend-ram for node 1, an ivshmem-plain device on a /dev/shm file, and a named
 * virtserialport on a unix-socket chardev. The RAM ranges are proven, not just compared:
 * bytes written into QEMU at the reported host address are read back through the guest's
 * physical memory (QMP pmemsave) and through the backend's file. Then QEMU is killed and the
 * next QMP call must fail with -ECONNRESET (or -EPIPE). Exits 77 without qemu-system-x86_64.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "xpv/qmp.h"
#include "xpv/vmdesc.h"

#define M0_SIZE (64ull << 20)
#define M1_SIZE (128ull << 20)
#define IV_SIZE (1ull << 20)

struct vm {
    pid_t pid;
    char dir[64], qmp[128], ser[128], shm_m0[96], shm_iv[96];
    struct xpv_qmp *q;
    struct xpv_vm_desc *d;
};
static struct vm vm; /* the test program's one VM, shared by setup, tests and teardown */

static int find_qemu(char *path, size_t len)
{
    const char *p = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", p ? p : "/usr/bin:/bin");
    for (char *s = strtok(buf, ":"); s; s = strtok(NULL, ":")) {
        snprintf(path, len, "%s/qemu-system-x86_64", s);
        if (access(path, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* not a wait: a pause for the poll loop below (annotated there) */
static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL); /* not a wait: sleep_ms() itself */
}

static int launch(void **state)
{
    (void)state;
    char qemu[4096];
    if (find_qemu(qemu, sizeof(qemu)) < 0)
        return -1;
    snprintf(vm.dir, sizeof(vm.dir), "/tmp/xpv-qemu-attach-XXXXXX");
    if (!mkdtemp(vm.dir))
        return -1;
    snprintf(vm.qmp, sizeof(vm.qmp), "%s/qmp.sock", vm.dir);
    snprintf(vm.ser, sizeof(vm.ser), "%s/ser.sock", vm.dir);
    snprintf(vm.shm_m0, sizeof(vm.shm_m0), "/dev/shm/xpv-test-attach-%d-m0", (int)getpid());
    snprintf(vm.shm_iv, sizeof(vm.shm_iv), "/dev/shm/xpv-test-attach-%d-iv", (int)getpid());
    char o_m0[256], o_iv[256], chardev[256], qmp[256];
    snprintf(o_m0, sizeof(o_m0), "memory-backend-file,id=m0,size=%llu,mem-path=%s,share=on",
             (unsigned long long)M0_SIZE, vm.shm_m0);
    snprintf(o_iv, sizeof(o_iv), "memory-backend-file,id=ivm,size=%llu,mem-path=%s,share=on",
             (unsigned long long)IV_SIZE, vm.shm_iv);
    snprintf(chardev, sizeof(chardev), "socket,id=ch0,path=%s,server=on,wait=off", vm.ser);
    snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", vm.qmp);
    char *const argv[] = {
            qemu,          "-accel",
            "tcg",         "-S",
            "-display",    "none",
            "-nodefaults", "-no-user-config",
            "-name",       "xpv-attach-test",
            "-m",          "192M",
            "-smp",        "3",
            "-object",     o_m0,
            "-object",     "memory-backend-ram,id=m1,size=128M",
            "-numa",       "node,nodeid=0,cpus=0,memdev=m0",
            "-numa",       "node,nodeid=1,cpus=1-2,memdev=m1",
            "-numa",       "dist,src=0,dst=1,val=23",
            "-object",     o_iv,
            "-device",     "ivshmem-plain,memdev=ivm,id=iv0",
            "-device",     "virtio-serial-pci,id=vs0",
            "-chardev",    chardev,
            "-device",     "virtserialport,chardev=ch0,name=org.xpv.topology,id=port0",
            "-qmp",        qmp,
            NULL};
    fprintf(stderr, "launching:");
    for (int i = 0; argv[i]; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    vm.pid = fork();
    if (vm.pid < 0)
        return -1;
    if (vm.pid == 0) {
        execv(qemu, argv);
        _exit(127);
    }
    /* QEMU creates the socket early in its start-up; wait for it (30 s at most) */
    struct xpv_error err = {0};
    int rc = -ENOENT;
    for (int i = 0; i < 300; i++) {
        rc = xpv_qmp_open(vm.qmp, 10000, &vm.q, &err);
        if (rc != -ENOENT && rc != -ECONNREFUSED)
            break;
        if (waitpid(vm.pid, NULL, WNOHANG) == vm.pid) {
            vm.pid = 0;
            fprintf(stderr, "QEMU exited during start-up\n");
            return -1;
        }
        sleep_ms(100); /* not a wait: the poll interval of this 30 s loop (it prints the error) */
    }
    if (rc < 0) {
        fprintf(stderr, "attach: %s\n", xpv_error_str(&err, rc));
        return -1;
    }
    vm.d = calloc(1, sizeof(*vm.d));
    return vm.d ? 0 : -1;
}

static int cleanup(void **state)
{
    (void)state;
    xpv_qmp_close(vm.q);
    if (vm.pid > 0) {
        kill(vm.pid, SIGKILL);
        waitpid(vm.pid, NULL, 0);
    }
    free(vm.d);
    unlink(vm.shm_m0);
    unlink(vm.shm_iv);
    unlink(vm.qmp);
    unlink(vm.ser);
    rmdir(vm.dir);
    return 0;
}

/* The start of the mapping of `path` in /proc/PID/maps, read here independently. */
static uint64_t maps_start_of(pid_t pid, const char *path)
{
    char f[64], line[512];
    snprintf(f, sizeof(f), "/proc/%d/maps", (int)pid);
    FILE *m = fopen(f, "r");
    assert_non_null(m);
    uint64_t found = 0;
    while (fgets(line, sizeof(line), m)) {
        unsigned long long a, b, off;
        char p[300] = "";
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %299s", &a, &b, &off, p) >= 3 &&
            !strcmp(p, path) && off == 0)
            found = a;
    }
    fclose(m);
    return found;
}

static void test_describe(void **state)
{
    (void)state;
    struct xpv_vm_desc *d = vm.d;
    struct xpv_error err = {0};
    int rc = xpv_vm_describe(vm.q, "/", d, &err);
    if (rc)
        fprintf(stderr, "describe: %s\n", xpv_error_str(&err, rc));
    assert_int_equal(rc, 0);
    if (d->nr_notes)
        fprintf(stderr, "notes:\n%s", d->notes);
    assert_int_equal(d->nr_notes, 0);
    assert_int_equal(d->pid, vm.pid);
    assert_string_equal(d->name, "xpv-attach-test");
    assert_int_equal(d->version[0] >= 7, 1);

    /* vCPUs: real, distinct threads of QEMU, on the nodes asked for */
    static const int want_node[3] = {0, 1, 1};
    assert_int_equal(d->nr_vcpus, 3);
    for (unsigned i = 0; i < 3; i++) {
        char task[64];
        struct stat st;
        assert_int_equal(d->vcpu[i].index, i);
        assert_int_equal(d->vcpu[i].vnode, want_node[i]);
        assert_int_equal(d->vcpu[i].flags, 0);
        snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)vm.pid, (int)d->vcpu[i].tid);
        assert_int_equal(stat(task, &st), 0);
        assert_true(d->vcpu[i].tid != vm.pid);
        for (unsigned k = 0; k < i; k++)
            assert_true(d->vcpu[k].tid != d->vcpu[i].tid);
    }

    /* vNUMA */
    assert_int_equal(d->nr_vnodes, 2);
    assert_int_equal(d->vnode_mem[0], M0_SIZE);
    assert_int_equal(d->vnode_mem[1], M1_SIZE);
    assert_int_equal(d->vdist[0][0], 10);
    assert_int_equal(d->vdist[0][1], 23);
    assert_int_equal(d->vdist[1][0], 23);
    assert_int_equal(d->vdist[1][1], 10);

    /* guest RAM: the ivshmem backend is not in it */
    assert_int_equal(d->nr_ram, 2);
    struct xpv_vm_ram *m0 = NULL, *m1 = NULL;
    for (unsigned i = 0; i < d->nr_ram; i++) {
        if (!strcmp(d->ram[i].id, "m0"))
            m0 = &d->ram[i];
        if (!strcmp(d->ram[i].id, "m1"))
            m1 = &d->ram[i];
    }
    assert_non_null(m0);
    assert_non_null(m1);
    assert_string_equal(m0->type, "memory-backend-file");
    assert_string_equal(m0->mem_path, vm.shm_m0);
    assert_int_equal(m0->vnode, 0);
    assert_int_equal(m0->size, M0_SIZE);
    assert_int_equal(m0->flags, XPV_VM_RAM_HVA_BY_NAME);
    assert_int_equal(m0->hva, maps_start_of(vm.pid, vm.shm_m0));
    assert_string_equal(m1->type, "memory-backend-ram");
    assert_string_equal(m1->mem_path, "");
    assert_int_equal(m1->vnode, 1);
    assert_int_equal(m1->size, M1_SIZE);
    assert_int_equal(m1->flags, XPV_VM_RAM_HVA_BY_SIZE);
    assert_true(m1->hva != 0);

    /* channels */
    assert_string_equal(d->ivshmem_id, "ivm");
    assert_string_equal(d->ivshmem_path, vm.shm_iv);
    assert_int_equal(d->ivshmem_size, IV_SIZE);
    assert_int_equal(d->ivshmem_hva, maps_start_of(vm.pid, vm.shm_iv));
    assert_string_equal(d->serial_name, "org.xpv.topology");
    assert_string_equal(d->serial_chardev, "ch0");
    assert_string_equal(d->serial_socket, vm.ser);

    json_t *j = xpv_vm_desc_json(d);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "vcpus")), 3);
    assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(j, "ram"), 1), "hva_found_by")),
                        d->ram[1].flags & XPV_VM_RAM_HVA_BY_NAME ? "mem-path" : "size");
    json_decref(j);

    /* a serial port asked for by a name that does not exist: a note, not a failure */
    struct xpv_vm_describe_opts o = {.serial_name = "org.other"};
    assert_int_equal(xpv_vm_describe_ex(vm.q, &o, d, &err), 0);
    assert_string_equal(d->serial_name, "");
    assert_non_null(strstr(d->notes, "no virtserialport named org.other"));
    assert_int_equal(xpv_vm_describe(vm.q, "/", d, &err), 0);
}

/* Write a pattern into QEMU at hva+off, read it back as guest-physical memory (pmemsave). */
static void check_range(uint64_t hva, uint64_t gpa, const char *tag)
{
    unsigned char pat[4096], back[4096];
    srand((unsigned)time(NULL) ^ (unsigned)hva);
    for (size_t i = 0; i < sizeof(pat); i++)
        pat[i] = (unsigned char)rand();
    struct iovec local = {pat, sizeof(pat)},
                 remote = {(void *)(uintptr_t)(hva + (1u << 20)), sizeof(pat)};
    ssize_t w = process_vm_writev(vm.pid, &local, 1, &remote, 1, 0);
    if (w < 0 && (errno == EPERM || errno == ENOSYS)) {
        fprintf(stderr, "%s: process_vm_writev: %s: range not proven by content\n", tag,
                strerror(errno));
        return;
    }
    assert_int_equal(w, (ssize_t)sizeof(pat));
    char file[160];
    snprintf(file, sizeof(file), "%s/pmem-%s", vm.dir, tag);
    struct xpv_error err = {0};
    int rc = xpv_qmp_call(vm.q, "pmemsave",
                          json_pack("{s:I, s:I, s:s}", "val", (json_int_t)(gpa + (1u << 20)),
                                    "size", (json_int_t)sizeof(pat), "filename", file),
                          NULL, &err);
    if (rc)
        fprintf(stderr, "pmemsave: %s\n", xpv_error_str(&err, rc));
    assert_int_equal(rc, 0);
    int fd = open(file, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
    close(fd);
    unlink(file);
    assert_memory_equal(pat, back, sizeof(pat));
}

static void test_ranges_hold_guest_ram(void **state)
{
    (void)state;
    struct xpv_vm_desc *d = vm.d;
    /* -numa node order lays the pc machine's low RAM out as m0 then m1 (info mtree) */
    for (unsigned i = 0; i < d->nr_ram; i++) {
        int is_m0 = !strcmp(d->ram[i].id, "m0");
        check_range(d->ram[i].hva, is_m0 ? 0 : M0_SIZE, d->ram[i].id);
    }
    /* and m0's file holds what QEMU has at its host address */
    unsigned char pat[64] = "xpv test: the file under m0", back[64];
    int fd = open(vm.shm_m0, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, pat, sizeof(pat), 8192), (ssize_t)sizeof(pat));
    close(fd);
    uint64_t hva = 0;
    for (unsigned i = 0; i < d->nr_ram; i++)
        if (!strcmp(d->ram[i].id, "m0"))
            hva = d->ram[i].hva;
    struct iovec local = {back, sizeof(back)},
                 remote = {(void *)(uintptr_t)(hva + 8192), sizeof(back)};
    if (process_vm_readv(vm.pid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(back))
        assert_memory_equal(pat, back, sizeof(pat));
}

static void test_qemu_dies(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    json_t *ret;
    assert_int_equal(xpv_qmp_call(vm.q, "query-status", NULL, &ret, &err), 0);
    assert_string_equal(json_string_value(json_object_get(ret, "status")), "prelaunch");
    json_decref(ret);
    assert_int_equal(kill(vm.pid, SIGKILL), 0);
    assert_int_equal(waitpid(vm.pid, NULL, 0), vm.pid);
    vm.pid = 0;
    int rc = xpv_qmp_call(vm.q, "query-status", NULL, &ret, &err);
    fprintf(stderr, "after SIGKILL: %d (%s)\n", rc, xpv_error_str(&err, rc));
    assert_true(rc == -ECONNRESET || rc == -EPIPE);
    assert_int_equal(xpv_vm_describe(vm.q, "/", vm.d, &err), rc);
    /* QEMU's socket file stays behind: connecting again is refused, cleanly */
    struct xpv_qmp *q2;
    rc = xpv_qmp_open(vm.qmp, 1000, &q2, &err);
    assert_true(rc == -ECONNREFUSED || rc == -ENOENT);
}

int main(void)
{
    char qemu[4096];
    if (find_qemu(qemu, sizeof(qemu)) < 0) {
        printf("skip: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_describe),
            cmocka_unit_test(test_ranges_hold_guest_ram),
            cmocka_unit_test(test_qemu_dies),
    };
    return cmocka_run_group_tests(tests, launch, cleanup);
}
