/* Adversarial: floods stdout forever, ignoring write errors ("stderr" input: 4 MiB to stderr, then exit 0). */
#include <stdio.h>
#include <string.h>

int main(void) {
    static char line[4096];
    char mode[16] = "";
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 2] = '\n';
    if (scanf("%15s", mode) == 1 && strcmp(mode, "stderr") == 0) {
        for (int i = 0; i < 1024; i++) fputs(line, stderr);
        puts("done");
        return 0;
    }
    for (;;) fputs(line, stdout);
}
