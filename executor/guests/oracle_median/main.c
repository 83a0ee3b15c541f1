/* Price oracle: GETs each URL on stdin (one per line), reads the number after "price": in each JSON
 * answer, prints {"median": M, "sources": N}. A source that fails is reported on stderr and left
 * out; no source at all is exit 2. Shows guest HTTP (offshore.h) and the demo's oracle request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offshore.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    char line[2048];
    double prices[16];
    int n = 0, index = 0;
    static char body[65536];
    while (n < 16 && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        index++;
        int32_t status = 0;
        int32_t len = offshore_http_get(line, body, sizeof body - 1, &status);
        if (len < 0) {
            char msg[256];
            int32_t m = offshore_http_error(msg, sizeof msg - 1);
            msg[m < 0 ? 0 : (m > 255 ? 255 : m)] = 0;
            fprintf(stderr, "source %d: error %d (%s)\n", index, (int)len, msg);
            continue;
        }
        const char *at = strstr(body, "\"price\":");
        if (status != 200 || !at) {
            fprintf(stderr, "source %d: status %d, no price\n", index, (int)status);
            continue;
        }
        prices[n++] = strtod(at + 8, NULL);
    }
    if (n == 0) {
        fprintf(stderr, "no source answered\n");
        return 2;
    }
    qsort(prices, n, sizeof prices[0], cmp);
    double median = n % 2 ? prices[n / 2] : (prices[n / 2 - 1] + prices[n / 2]) / 2;
    printf("{\"median\": %.6g, \"sources\": %d}\n", median, n);
    return 0;
}
