/*
 * fuzz_seeds.c — write seed corpora for the fuzz targets: valid records of several shapes
 * (DIR/record/) and frame streams (DIR/frame/), so the fuzzers start from inputs that reach
 * deep into the decoders instead of dying at the magic check.
 *
 *   fuzz-seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tu_record.h" /* tests/channel, on the include path */
#include "xpv/frame.h"
#include "xpv/record.h"

static int write_file(const char *dir, const char *kind, unsigned i, const void *buf, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/seed-%03u", dir, kind, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n) {
        fprintf(stderr, "fuzz-seeds: cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

int main(int argc, char **argv)
{
    static uint8_t rec[XPV_RECORD_MAP_SIZE], frames[2 * XPV_RECORD_MAP_SIZE];
    char sub[4096];
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seeds DIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    snprintf(sub, sizeof(sub), "%s/record", argv[1]);
    mkdir(sub, 0755);
    snprintf(sub, sizeof(sub), "%s/frame", argv[1]);
    mkdir(sub, 0755);
    snprintf(sub, sizeof(sub), "%s/guestd", argv[1]);
    mkdir(sub, 0755);
    /* fuzz_guestd: 0 + a uevent; 1 + a frame stream */
    static const char ue[][64] = {"\0add@/devices/system/cpu/cpu4\0ACTION=add\0SUBSYSTEM=cpu",
                                  "\0add@/devices/system/memory/memory33\0ACTION=add"};
    for (unsigned i = 0; i < 2; i++)
        if (write_file(argv[1], "guestd", i, ue[i], sizeof(ue[i])) < 0)
            return 1;
    for (unsigned k = 0; k < 16; k++) {
        struct tu_desc t;
        tu_desc_make(&t, k);
        long n = xpv_record_encode(&t.d, k + 1, k, rec, sizeof(rec), NULL);
        if (n < 0 || write_file(argv[1], "record", k, rec, (size_t)n) < 0)
            return 1;
        /* fuzz_frame reads two settings bytes first: 0, 0 = one whole feed, default max
         * payload, the rest is the raw stream. Then: garbage, a record frame, a ping, an ack. */
        size_t off = 2;
        frames[0] = frames[1] = 0;
        memset(frames + off, 0x5a, 7);
        off += k % 8;
        long m = xpv_frame_encode(XPV_FRAME_RECORD, rec, (size_t)n, frames + off,
                                  sizeof(frames) - off);
        if (m < 0)
            return 1;
        off += (size_t)m;
        m = xpv_frame_encode(XPV_FRAME_PING, NULL, 0, frames + off, sizeof(frames) - off);
        off += (size_t)m;
        uint64_t gen = k + 1;
        m = xpv_frame_encode(XPV_FRAME_ACK, &gen, sizeof(gen), frames + off, sizeof(frames) - off);
        off += (size_t)m;
        if (write_file(argv[1], "frame", k, frames, off) < 0)
            return 1;
        frames[1] = 1; /* the same stream for fuzz_guestd, after its selector byte */
        if (write_file(argv[1], "guestd", 2 + k, frames + 1, off - 1) < 0)
            return 1;
    }
    return 0;
}
