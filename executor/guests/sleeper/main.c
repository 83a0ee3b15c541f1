/* Sleeps an hour (WASI poll_oneoff): the platform advances its virtual clock instead of blocking. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int rc = sleep(3600);
    printf("{\"slept\":%s}", rc == 0 ? "true" : "false");
    return 0;
}
