/* shared.redis_url (see redis_url.h). */
#include "util/redis_url.h"

#include <stdio.h>
#include <string.h>

/* A decimal in [lo, hi] spelling all of s[0..n); -1 otherwise. */
static long decimal(const char *s, size_t n, long lo, long hi)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

static int refuse(char *why, size_t why_len, const char *what)
{
    snprintf(why, why_len, "%s", what);
    return -1;
}

int tg_redis_url_parse(const char *url, struct tg_redis_addr *out, char *why, size_t why_len)
{
    static const char scheme[] = "redis://";
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0)
        return refuse(why, why_len,
                      "rediss:// (Redis over TLS) is not supported: use redis:// "
                      "on a trusted network or a local TLS tunnel");
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return refuse(why, why_len, "it must start with redis://");
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strcspn(p, "/?#");
    if (*end == '?' || *end == '#')
        return refuse(why, why_len, "a query or fragment means nothing here");
    if (memchr(p, '@', (size_t)(end - p)))
        return refuse(why, why_len,
                      "no user or password in the URL: name the environment "
                      "variable holding the password in shared.password_env");
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return refuse(why, why_len, "an IPv6 address without its closing ]");
        if (host_end + 1 < end) {
            if (host_end[1] != ':')
                return refuse(why, why_len, "only :port may follow an IPv6 address");
            port = host_end + 2;
        }
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (host_end)
            port = host_end + 1;
        else
            host_end = end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0)
        return refuse(why, why_len, "no host");
    if (host_len >= sizeof(out->host))
        return refuse(why, why_len, "the host is longer than 255 bytes");
    for (size_t i = 0; i < host_len; i++) {
        char c = host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || (c == ':' && *p == '[')))
            return refuse(why, why_len, "the host has a byte a host name or address cannot have");
    }
    memcpy(out->host, host, host_len);
    if (port) {
        long v = decimal(port, (size_t)(end - port), 1, 65535);
        if (v < 0)
            return refuse(why, why_len, "the port is not a number from 1 to 65535");
        out->port = (int)v;
    }
    if (*end == '/' && end[1]) {
        /* Redis's own limit is its `databases` setting (16 by default). */
        long v = decimal(end + 1, strlen(end + 1), 0, 1000000);
        if (v < 0)
            return refuse(why, why_len, "the path must be the db number (redis://host:6379/0)");
        out->db = (int)v;
    }
    return 0;
}
