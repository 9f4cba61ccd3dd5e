/*
 * numa_work.c — xpv-numa-work, the C workload of the lab test e2e.numa.cprog
 * (tests/lab/e2e_runtimes.c): a plain program, dynamically linked against libnuma, that picks
 * where to allocate the way NUMA-aware programs do — numa_node_of_cpu(sched_getcpu()) — each
 * time it allocates. The test runs it as it is (the real libnuma) and with the libnuma.so.1 shim
 * of libxpv-numa first on LD_LIBRARY_PATH (docs/runtimes.md), across an `xpv move vm --vcpu`.
 *
 *   xpv-numa-work            reads commands on stdin, one a line; exits at EOF
 *
 * For every line read ("alloc"): cpu = sched_getcpu(), node = numa_node_of_cpu(cpu); 1 MiB
 * from numa_alloc_onnode(size, node) (mmap + mbind to node), every page written, then asked
 * where each page is (move_pages with no target: a query). Prints one line and flushes:
 *   alloc cpu=C node=N pages=P on_node=K
 * (K: how many of the P pages are on N). The memory is kept until exit. Exit 0, 1 when libnuma
 * is unavailable or an allocation fails.
 */
#define _GNU_SOURCE
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SIZE  (1u << 20)
#define PAGES (SIZE / 4096u)

int main(void)
{
    if (numa_available() < 0) {
        fprintf(stderr, "xpv-numa-work: libnuma says NUMA is not available\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        int cpu = sched_getcpu();
        int node = numa_node_of_cpu(cpu);
        if (node < 0) {
            fprintf(stderr, "xpv-numa-work: numa_node_of_cpu(%d) = %d\n", cpu, node);
            return 1;
        }
        char *p = numa_alloc_onnode(SIZE, node);
        if (!p) {
            fprintf(stderr, "xpv-numa-work: numa_alloc_onnode(%u, %d) failed\n", SIZE, node);
            return 1;
        }
        memset(p, 0x5a, SIZE);
        void *pages[PAGES];
        int status[PAGES];
        for (unsigned i = 0; i < PAGES; i++)
            pages[i] = p + (size_t)i * 4096u;
        int on = 0;
        if (move_pages(0, PAGES, pages, NULL, status, 0) == 0)
            for (unsigned i = 0; i < PAGES; i++)
                on += status[i] == node;
        printf("alloc cpu=%d node=%d pages=%u on_node=%d\n", cpu, node, PAGES, on);
    }
    return 0;
}
