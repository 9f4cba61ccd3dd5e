/*
 * xpv/rng.h — the small deterministic random source shared by the policy core and the
 * simulator (splitmix64): results depend only on the seed, never on libc's rand().
 */
#ifndef XPV_RNG_H
#define XPV_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The next 64 random bits; *state is the whole generator. */
static inline uint64_t xpv_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double xpv_rng_uniform(uint64_t *state)
{
    return (double)(xpv_rng_next(state) >> 11) * 0x1.0p-53;
}

/* A Poisson draw: Knuth's method below a mean of 30, the normal approximation above. */
static inline double xpv_rng_poisson(uint64_t *state, double mean)
{
    if (mean <= 0)
        return 0;
    if (mean < 30) {
        double l = exp(-mean), p = 1;
        unsigned k = 0;
        do {
            k++;
            p *= xpv_rng_uniform(state);
        } while (p > l);
        return k - 1;
    }
    double u1 = xpv_rng_uniform(state), u2 = xpv_rng_uniform(state);
    double z = sqrt(-2 * log(u1 > 0 ? u1 : 1e-300)) * cos(2 * M_PI * u2);
    double v = floor(mean + sqrt(mean) * z + 0.5);
    return v < 0 ? 0 : v;
}

#ifdef __cplusplus
}
#endif
#endif
