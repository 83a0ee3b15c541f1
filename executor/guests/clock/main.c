/* Clock: reads the wall clock and the monotonic clock, sleeps (WASI poll_oneoff), reads them again.
 * On the platform both clocks are virtual: they start at the request's block time and advance only by
 * what the guest does (each read, each sleep), so the output is reproducible and a sleep never blocks. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct timespec wall0, mono0, wall1, mono1;
    clock_gettime(CLOCK_REALTIME, &wall0);
    clock_gettime(CLOCK_MONOTONIC, &mono0);
    int rc = sleep(3600);
    clock_gettime(CLOCK_REALTIME, &wall1);
    clock_gettime(CLOCK_MONOTONIC, &mono1);
    long long slept_ns = (long long)(mono1.tv_sec - mono0.tv_sec) * 1000000000LL + (mono1.tv_nsec - mono0.tv_nsec);
    printf("{\"start_s\": %lld, \"start_ns\": %ld, \"end_s\": %lld, \"slept_ns\": %lld, \"rc\": %d}",
           (long long)wall0.tv_sec, wall0.tv_nsec, (long long)wall1.tv_sec, slept_ns, rc);
    return 0;
}
