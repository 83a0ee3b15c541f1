/* Reads the API_KEY secret from the environment; reports its length and FNV-1a-64 hash (never the
 * value), how many env vars it can see, and whether it can open any file (it should not). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(void) {
    int env_count = 0;
    for (char **e = environ; e && *e; e++) env_count++;
    FILE *f = fopen("/etc/passwd", "r");
    int can_open = f != NULL;
    const char *key = getenv("API_KEY");
    if (!key) {
        printf("{\"present\":false,\"env_count\":%d,\"can_open_files\":%s}", env_count, can_open ? "true" : "false");
        return 0;
    }
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
    printf("{\"present\":true,\"length\":%zu,\"fnv1a64\":\"%016llx\",\"env_count\":%d,\"can_open_files\":%s}",
           strlen(key), (unsigned long long)h, env_count, can_open ? "true" : "false");
    return 0;
}
