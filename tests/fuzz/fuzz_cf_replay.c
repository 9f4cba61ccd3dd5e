/*
 * fuzz_cf_replay.c — libFuzzer target for Carrefour's recorded-samples parser: any input
 * parses cleanly or is refused with an error naming a line inside it; a parsed file's every
 * round converts into pages and counters the engine accepts, by 4 KiB page for the ASPLOS
 * profile and with 2 MiB pages for the LP one (sorted, unique keys; splits only there).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/cf_replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xpv_cf_page pages[256];
    static struct xpv_cf_decision dec[256];
    struct xpv_cf_replay *r = NULL;
    struct xpv_error err = {0};
    if (xpv_cf_replay_parse((const char *)data, size, "fuzz", &r, &err) < 0) {
        if (r || strncmp(err.msg, "fuzz", 4) != 0)
            abort();
        return 0;
    }
    for (int lp = 0; lp < 2; lp++) {
        struct xpv_cf_params p;
        if (lp)
            xpv_cf_params_lp(&p);
        else
            xpv_cf_params_asplos(&p);
        for (size_t i = 0; i < r->nr_rounds && i < 64; i++) {
            struct xpv_cf_counters c;
            struct xpv_cf_metrics m;
            struct xpv_cf_round rd;
            unsigned np;
            uint64_t rng = i;
            if (xpv_cf_replay_round_thp(r, i, p.thp, &c, pages, 256, &np) < 0 || np > 256)
                abort();
            /* sorted by key, unique; huge pages only with thp, keyed by their first 4 KiB page */
            for (unsigned k = 0; k < np; k++)
                if ((k && pages[k].key <= pages[k - 1].key) ||
                    (pages[k].huge && (!p.thp || pages[k].key % 512)) ||
                    pages[k].node >= r->nr_nodes)
                    abort();
            if (xpv_cf_metrics(&p, &c, &m) < 0)
                abort();
            if (xpv_cf_decide(&p, &m, pages, np, &rng, dec, 256, &rd) < 0 || rd.nr_decisions > 256)
                abort();
            for (unsigned k = 0; k < rd.nr_decisions; k++)
                if (dec[k].to >= r->nr_nodes || dec[k].from >= r->nr_nodes ||
                    (dec[k].fate == XPV_CF_SPLIT && !p.thp))
                    abort();
        }
    }
    xpv_cf_replay_free(r);
    return 0;
}
