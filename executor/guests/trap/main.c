/* Adversarial: integer division by zero (divisor from the input, default 0), a wasm trap. */
#include <stdio.h>

int main(void) {
    int divisor = 0;
    if (scanf("%d", &divisor) != 1) divisor = 0;
    printf("%d\n", 100 / divisor);
    return 0;
}
