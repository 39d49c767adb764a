/* URL pieces (see url.h). */
#include "util/url.h"

#include <stdio.h>
#include <string.h>

long tg_url_decimal(const char *s, size_t n, long lo, long hi)
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

int tg_url_authority(const char *p, size_t n, char host_out[TG_URL_HOST_CAP], int *port_out,
                     char *why, size_t why_len)
{
    const char *end = p + n, *host = p, *host_end, *port = NULL;
    if (n > 0 && *p == '[') {
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
        host_end = memchr(p, ':', n);
        if (host_end)
            port = host_end + 1;
        else
            host_end = end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0)
        return refuse(why, why_len, "no host");
    if (host_len >= TG_URL_HOST_CAP)
        return refuse(why, why_len, "the host is longer than 255 bytes");
    for (size_t i = 0; i < host_len; i++) {
        char c = host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || (c == ':' && *p == '[')))
            return refuse(why, why_len, "the host has a byte a host name or address cannot have");
    }
    memcpy(host_out, host, host_len);
    host_out[host_len] = '\0';
    *port_out = 0;
    if (port) {
        long v = tg_url_decimal(port, (size_t)(end - port), 1, 65535);
        if (v < 0)
            return refuse(why, why_len, "the port is not a number from 1 to 65535");
        *port_out = (int)v;
    }
    return 0;
}
