/* Dice: rolls N six-sided dice (N from stdin, default 1) with WASI random_get and prints them.
 * On the platform random_get is seeded from the request's randomness proof: the same request always
 * rolls the same numbers (verifiable), two requests roll independent ones. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int roll(void) {
    uint8_t byte;
    do {
        if (getentropy(&byte, 1) != 0) exit(3);
    } while (byte >= 252); /* 252 = 6 * 42: no modulo bias */
    return 1 + byte % 6;
}

int main(void) {
    char buf[32] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    long count = n ? strtol(buf, NULL, 10) : 1;
    if (count < 1 || count > 1000) {
        fputs("expected a number of dice, 1 to 1000\n", stderr);
        return 2;
    }
    printf("{\"dice\": [");
    for (long i = 0; i < count; i++) printf(i ? ", %d" : "%d", roll());
    printf("]}");
    return 0;
}
