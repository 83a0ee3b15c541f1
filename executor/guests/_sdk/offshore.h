/* offshore.h - guest HTTP for NEAR Offshore WASI preview-1 guests (C). One file: copy it next to
 * your sources and #include "offshore.h". The host (executor/_hostapi.py) enforces the request's
 * `http_hosts`, `max_http_calls` and `max_http_kb`, https only, public addresses only, and a time cap
 * per call; every call is metered, billed and recorded for replay (requests as hashes only).
 *
 *   char body[4096]; int status;
 *   int n = offshore_http_get("https://api.example.com/price", body, sizeof body - 1, &status);
 *   if (n < 0) { char msg[256]; int m = offshore_http_error(msg, sizeof msg); ... }
 */
#ifndef OFFSHORE_H
#define OFFSHORE_H

#include <stdint.h>
#include <string.h>

/* Negative results of offshore_http_request (and of the helpers below). */
#define OFFSHORE_E_INVALID (-1)    /* bad method, URL or header line */
#define OFFSHORE_E_DENIED (-2)     /* scheme, host or address refused by policy */
#define OFFSHORE_E_BUDGET (-3)     /* the request's max_http_calls is used up */
#define OFFSHORE_E_TIMEOUT (-4)    /* the call (or the run's wall clock) ran out of time */
#define OFFSHORE_E_TOO_LARGE (-5)  /* request or response over the byte limits */
#define OFFSHORE_E_NETWORK (-6)    /* DNS, connect, TLS or protocol failure */
#define OFFSHORE_E_BAD_HANDLE (-7)

#define OFFSHORE_IMPORT(name) __attribute__((import_module("offshore"), import_name(name)))

/* Sends one request; returns a handle (>= 1) or a negative error. `headers`: "Name: value\n" lines. */
OFFSHORE_IMPORT("http_request")
int32_t offshore_http_request(const char *method, int32_t method_len, const char *url, int32_t url_len,
                              const char *headers, int32_t headers_len, const void *body, int32_t body_len);
/* HTTP status of a response. */
OFFSHORE_IMPORT("http_status") int32_t offshore_http_status(int32_t handle);
/* Body length in bytes. */
OFFSHORE_IMPORT("http_body_len") int32_t offshore_http_body_len(int32_t handle);
/* Copies up to `cap` bytes of "name: value\n" lines (lowercase names); returns the full length. */
OFFSHORE_IMPORT("http_headers") int32_t offshore_http_headers(int32_t handle, char *buf, int32_t cap);
/* Reads the next body bytes (at most `cap`); 0 at the end. */
OFFSHORE_IMPORT("http_body_read") int32_t offshore_http_body_read(int32_t handle, void *buf, int32_t cap);
/* Copies the message of the last failed request (never contains the URL); returns its full length. */
OFFSHORE_IMPORT("http_error") int32_t offshore_http_error(char *buf, int32_t cap);
/* Frees a response. */
OFFSHORE_IMPORT("http_close") int32_t offshore_http_close(int32_t handle);

/* GET `url` into `buf` (at most `cap` bytes, NUL-terminated if room is left); returns the body
 * length or a negative error; *status gets the HTTP status. */
static inline int32_t offshore_http_get(const char *url, char *buf, int32_t cap, int32_t *status) {
    int32_t h = offshore_http_request("GET", 3, url, (int32_t)strlen(url), "", 0, "", 0);
    if (h < 0) return h;
    if (status) *status = offshore_http_status(h);
    int32_t total = 0, n;
    while (total < cap && (n = offshore_http_body_read(h, buf + total, cap - total)) > 0) total += n;
    if (total < cap) buf[total] = 0;
    offshore_http_close(h);
    return total;
}

#endif
