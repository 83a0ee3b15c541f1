/* Adversarial: unbounded recursion through a function pointer (no tail-call rewrite) overflows the wasm stack. */
#include <stdio.h>

static unsigned depth(unsigned n);
static unsigned (*volatile next)(unsigned) = depth;

static unsigned depth(unsigned n) { return next(n + 1) * 3u + n; }

int main(void) {
    printf("%u\n", depth(0));
    return 0;
}
