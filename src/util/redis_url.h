/* SPEC section 8 `shared.redis_url`: "redis://host[:port][/db]". The host is
 * a name, an IPv4 address or a bracketed IPv6 one; the port defaults to
 * 6379 and the db to 0. A password never rides in the URL (it would land in
 * logs and `tailgate check` output): it comes from `password_env`. Pure. */
#ifndef TG_UTIL_REDIS_URL_H
#define TG_UTIL_REDIS_URL_H

#include <stddef.h>

struct tg_redis_addr {
    char host[256]; /* without brackets */
    int port;
    int db;
};

/* 0 and *out, or -1 with why[] saying what is wrong. */
int tg_redis_url_parse(const char *url, struct tg_redis_addr *out, char *why, size_t why_len);

#endif
