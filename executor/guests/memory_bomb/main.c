/* Adversarial: allocates and touches 1 MiB blocks until malloc fails, then aborts like xmalloc does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile newest; /* escapes, so the compiler cannot drop the allocations */

int main(void) {
    size_t total = 0;
    void *head = NULL;
    for (;;) {
        void **block = malloc(1 << 20);
        if (!block) {
            fprintf(stderr, "malloc failed after %zu MiB\n", total >> 20);
            abort();
        }
        memset(block, 0xA5, 1 << 20);
        *block = head;
        head = block;
        newest = head;
        total += 1 << 20;
    }
}
