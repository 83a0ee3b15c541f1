/* Adversarial: asks the host to sleep an hour (WASI poll_oneoff), which epoch interruption could not stop. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int rc = sleep(3600);
    printf("{\"slept\":%s}", rc == 0 ? "true" : "false");
    return 0;
}
