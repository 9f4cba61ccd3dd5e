/*
 * fuzz_hostd_http.c — libFuzzer target for the metrics endpoint's decoders of outside bytes
 * (src/hostd/hostd_metrics.c; docs/hostd.md "Metrics"). The first byte picks one:
 *   0: an HTTP request head (hostd_http_parse), fed as the endpoint receives it, one prefix
 *      after another: each answer is 0 (incomplete), 200, 400, 404, 405 or 431; 0 only below
 *      HOSTD_MET_REQ_MAX bytes and 431 only at it; once a prefix is complete, every longer
 *      one gives the same answer (the endpoint answers at the first complete prefix, so
 *      what follows the head cannot change it); 200 only for a GET or HEAD of /metrics;
 *   1: a metrics_listen address (hostd_metrics_addr): accepted as IPv4 or IPv6 with a port
 *      in 1..65535, or refused with a message.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hostd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        if (n > HOSTD_MET_REQ_MAX + 64)
            n = HOSTD_MET_REQ_MAX + 64;
        int first = 0;
        for (size_t len = 0; len <= n; len++) {
            int st = hostd_http_parse(p, len);
            if (st != 0 && st != 200 && st != 400 && st != 404 && st != 405 && st != 431)
                abort();
            if (st == 0 && len >= HOSTD_MET_REQ_MAX)
                abort();
            if (st == 431 && len < HOSTD_MET_REQ_MAX)
                abort();
            if (first && st != first)
                abort();
            if (st == 200 && !(len >= 4 && (!memcmp(p, "GET ", 4) || !memcmp(p, "HEAD ", 5))))
                abort();
            if (!first && st)
                first = st;
        }
        return 0;
    }
    char text[96];
    if (n >= sizeof(text))
        n = sizeof(text) - 1;
    memcpy(text, p, n);
    text[n] = 0;
    struct sockaddr_storage sa;
    unsigned salen = 0;
    struct xpv_error err = {0};
    int rc = hostd_metrics_addr(text, &sa, &salen, &err);
    if (rc == 0) {
        if (sa.ss_family == AF_INET) {
            if (salen != sizeof(struct sockaddr_in) || !((struct sockaddr_in *)&sa)->sin_port)
                abort();
        } else if (sa.ss_family != AF_INET6 || salen != sizeof(struct sockaddr_in6) ||
                   !((struct sockaddr_in6 *)&sa)->sin6_port) {
            abort();
        }
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
