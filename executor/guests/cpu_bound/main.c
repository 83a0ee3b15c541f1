/* CPU-bound benchmark guest; also builds natively (gcc -O2 main.c) for the fuel-vs-native ratio.
 * Input: "hash N" (N chained sha256 compressions) or "sieve N" (primes below N). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sha256_impl.h"

static void hash_loop(unsigned long n) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t block[64] = {0};
    for (unsigned long i = 0; i < n; i++) {
        for (int j = 0; j < 8; j++) {
            block[4 * j] = (uint8_t)(h[j] >> 24); block[4 * j + 1] = (uint8_t)(h[j] >> 16);
            block[4 * j + 2] = (uint8_t)(h[j] >> 8); block[4 * j + 3] = (uint8_t)h[j];
        }
        sha256_block(h, block);
    }
    printf("{\"mode\":\"hash\",\"n\":%lu,\"result\":\"", n);
    for (int j = 0; j < 8; j++) printf("%08x", h[j]);
    printf("\"}");
}

static void sieve(unsigned long n) {
    unsigned char *composite = calloc(n + 1, 1);
    unsigned long count = 0;
    if (!composite) { fputs("out of memory\n", stderr); exit(3); }
    for (unsigned long i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        if ((unsigned long long)i * i >= n) continue; /* long is 32-bit on wasm32: no i*i overflow */
        for (unsigned long j = i * i; j < n; j += i) composite[j] = 1;
    }
    free(composite);
    printf("{\"mode\":\"sieve\",\"n\":%lu,\"result\":%lu}", n, count);
}

int main(void) {
    char mode[16] = "hash";
    unsigned long n = 100000;
    if (scanf("%15s %lu", mode, &n) < 1) { /* empty input: defaults */ }
    if (strcmp(mode, "sieve") == 0) sieve(n);
    else if (strcmp(mode, "hash") == 0) hash_loop(n);
    else { fputs("mode must be hash or sieve\n", stderr); return 2; }
    return 0;
}
