/* sha256 of stdin, printed as 64 lowercase hex digits (no newline). */
#include <stdio.h>
#include "sha256_impl.h"

int main(void) {
    static uint8_t buf[65536];
    sha256_ctx ctx;
    uint8_t digest[32];
    size_t n;
    sha256_init(&ctx);
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) sha256_update(&ctx, buf, n);
    sha256_final(&ctx, digest);
    for (int i = 0; i < 32; i++) printf("%02x", digest[i]);
    return 0;
}
