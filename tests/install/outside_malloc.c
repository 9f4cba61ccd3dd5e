/* outside_malloc.c — a program outside the tree linked with an installed libxpv-malloc
 * (`pkg-config --cflags --libs libxpv-malloc`; test install.prefix): allocates through the
 * xpv-malloc API and the standard names and prints what the heap saw. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xpv/xpv_malloc.h>

int main(void)
{
    char *p = xpv_malloc(4096), *q = malloc(100);
    struct xpv_malloc_stats st;
    if (!p || !q || !xpv_malloc_heap() || xpv_malloc_stats(&st) < 0)
        return 1;
    memset(p, 1, 4096);
    printf("heap: %u node arenas, %llu binds\n", st.nr_nodes, (unsigned long long)st.binds);
    free(q);
    xpv_free(p);
    return 0;
}
