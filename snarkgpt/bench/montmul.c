/* Baseline for `snarkgpt bench primitives`: the same CIOS Montgomery multiply for BN254 Fr in
   C with unsigned __int128, timed as a dependent chain. Built with gcc -O3 -march=native by
   snarkgpt/bench/primitives.py, which passes the modulus limbs P0..P3 (least significant
   first) and INV = -p^-1 mod 2^64 from snarkgpt/field/params.py as -D definitions. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if !defined(P0) || !defined(P1) || !defined(P2) || !defined(P3) || !defined(INV_P)
#error "compile with -DP0=.. -DP1=.. -DP2=.. -DP3=.. -DINV_P=.. (see snarkgpt/bench/primitives.py)"
#endif

typedef unsigned __int128 u128;
static const uint64_t P[4] = {P0, P1, P2, P3};
static const uint64_t INV = INV_P;

static inline void montmul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
    uint64_t t[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u128 acc = 0; uint64_t c = 0;
        for (int j = 0; j < 4; j++) {
            acc = (u128)a[i] * b[j] + t[j] + c;
            t[j] = (uint64_t)acc; c = (uint64_t)(acc >> 64);
        }
        t[4] += c;
        uint64_t m = t[0] * INV;
        acc = (u128)m * P[0] + t[0]; c = (uint64_t)(acc >> 64);
        for (int j = 1; j < 4; j++) {
            acc = (u128)m * P[j] + t[j] + c;
            t[j - 1] = (uint64_t)acc; c = (uint64_t)(acc >> 64);
        }
        t[3] = t[4] + c; t[4] = 0;
    }
    uint64_t s[4]; uint64_t borrow = 0;
    for (int j = 0; j < 4; j++) {
        u128 d = (u128)t[j] - P[j] - borrow;
        s[j] = (uint64_t)d; borrow = (uint64_t)(d >> 64) & 1;
    }
    for (int j = 0; j < 4; j++) r[j] = borrow ? t[j] : s[j];
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    uint64_t a[4] = {1234567, 89, 1011, 1213}, b[4] = {1415, 1617, 1819, 2021};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) montmul(a, a, b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    printf("%.4f %llu\n", s / n * 1e9, (unsigned long long)a[0]);
    return 0;
}
