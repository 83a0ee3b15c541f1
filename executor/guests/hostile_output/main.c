/* Adversarial: writes the output named by its input ("MODE COUNT") to stdout, to attack settlement:
 * ctrl, nul, badutf8, quotes, backslash, fill, emoji, brackets, nested, digits, jsonstr, bin, nan, bigfloat. */
#include <stdio.h>
#include <string.h>

static void rep(const char *s, int n) {
    size_t len = strlen(s);
    for (int i = 0; i < n; i++) fwrite(s, 1, len, stdout);
}

static void bytes(unsigned char b, int n) {
    for (int i = 0; i < n; i++) fputc(b, stdout);
}

int main(void) {
    char mode[16] = "";
    int n = 0;
    if (scanf("%15s %d", mode, &n) < 1) return 2;
    if (!strcmp(mode, "ctrl")) bytes(0x01, n);
    else if (!strcmp(mode, "nul")) bytes(0x00, n);
    else if (!strcmp(mode, "badutf8")) bytes(0xff, n);
    else if (!strcmp(mode, "quotes")) rep("\"", n);
    else if (!strcmp(mode, "backslash")) rep("\\", n);
    else if (!strcmp(mode, "fill")) rep("a", n);
    else if (!strcmp(mode, "emoji")) rep("\xf0\x9f\x98\x80", n);
    else if (!strcmp(mode, "brackets")) rep("[", n);
    else if (!strcmp(mode, "nested")) { rep("[", n); rep("]", n); }
    else if (!strcmp(mode, "digits")) rep("9", n);
    else if (!strcmp(mode, "jsonstr")) { rep("[\"", 1); rep("x", n); rep("\"]", 1); }
    else if (!strcmp(mode, "bin")) for (int i = 0; i < n; i++) fputc(i & 0xff, stdout);
    else if (!strcmp(mode, "nan")) rep("NaN", 1);
    else if (!strcmp(mode, "bigfloat")) rep("1e999", 1);
    else return 3;
    return 0;
}
