/* Writes a diagnostic to stderr and exits with status 3. */
#include <stdio.h>

int main(void) {
    fputs("exit_code: refusing on purpose\n", stderr);
    return 3;
}
