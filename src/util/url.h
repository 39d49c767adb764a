/* Pieces of the URLs the config reads (shared.redis_url,
 * telemetry.otlp_endpoint): decimals and a URL's authority. Pure. */
#ifndef TG_UTIL_URL_H
#define TG_UTIL_URL_H

#include <stddef.h>

#define TG_URL_HOST_CAP 256

/* A decimal in [lo, hi] spelling all of s[0..n); -1 otherwise. */
long tg_url_decimal(const char *s, size_t n, long lo, long hi);

/* The authority p[0..n) (no userinfo): a host name, an IPv4 address or a
 * bracketed IPv6 one, and an optional ":port" from 1 to 65535. 0 with the
 * host (without brackets) and *port (0 when none is given), or -1 with
 * why[] saying what is wrong. */
int tg_url_authority(const char *p, size_t n, char host[TG_URL_HOST_CAP], int *port, char *why,
                     size_t why_len);

#endif
