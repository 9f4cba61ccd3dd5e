/* outside.c — a program outside the tree, built against an installed libxpv with
 * `pkg-config --cflags --libs libxpv` (tests install.prefix and install.deb; docs/install.md
 * shows it): prints the generation and size of the record at argv[1]. */
#include <stdio.h>
#include <xpv/channel.h>

int main(int argc, char **argv)
{
    struct xpv_channel *ch;
    struct xpv_snapshot *s = NULL;
    struct xpv_error err = {0};
    int rc = xpv_channel_open(argc > 1 ? argv[1] : NULL, &ch, &err);
    if (rc < 0 || (rc = xpv_channel_snapshot(ch, &s, &err)) < 0) {
        fprintf(stderr, "%s\n", xpv_error_str(&err, rc));
        return 1;
    }
    printf("generation %llu: %u nodes, %u cpus\n", (unsigned long long)xpv_channel_generation(ch),
           xpv_snapshot_nr_nodes(s), xpv_snapshot_nr_cpus(s));
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    return 0;
}
