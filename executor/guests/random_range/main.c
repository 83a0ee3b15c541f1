/* Random integer in [min, max] from {"min": a, "max": b}, drawn with WASI random_get. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int field(const char *doc, const char *name, long long *out) {
    const char *at = strstr(doc, name);
    if (!at) return 0;
    at = strchr(at + strlen(name), ':');
    if (!at) return 0;
    char *end;
    *out = strtoll(at + 1, &end, 10);
    return end != at + 1;
}

int main(void) {
    static char doc[4096];
    size_t n = fread(doc, 1, sizeof doc - 1, stdin);
    doc[n] = 0;
    long long lo = 0, hi = 100;
    if (n && (!field(doc, "\"min\"", &lo) || !field(doc, "\"max\"", &hi))) {
        fputs("expected {\"min\": int, \"max\": int}\n", stderr);
        return 2;
    }
    if (hi < lo) {
        fputs("max < min\n", stderr);
        return 2;
    }
    uint64_t span = (uint64_t)(hi - lo) + 1, r;
    if (getentropy(&r, sizeof r) != 0) return 3;
    long long value = span ? lo + (long long)(r % span) : (long long)r;
    printf("{\"value\": %lld}", value);
    return 0;
}
