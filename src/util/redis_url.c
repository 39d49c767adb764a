/* shared.redis_url (see redis_url.h). */
#include "util/redis_url.h"

#include <stdio.h>
#include <string.h>

#include "util/url.h"

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
    int port;
    if (tg_url_authority(p, (size_t)(end - p), out->host, &port, why, why_len) < 0)
        return -1;
    if (port)
        out->port = port;
    if (*end == '/' && end[1]) {
        /* Redis's own limit is its `databases` setting (16 by default). */
        long v = tg_url_decimal(end + 1, strlen(end + 1), 0, 1000000);
        if (v < 0)
            return refuse(why, why_len, "the path must be the db number (redis://host:6379/0)");
        out->db = (int)v;
    }
    return 0;
}
