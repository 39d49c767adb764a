/* Header blocks and Retry-After (see headers.h). */
#include "util/headers.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *tg_headers_find(const char *block, size_t block_len, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = block, *end = block + block_len;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && (size_t)(colon - p) == nlen && strncasecmp(p, name, nlen) == 0) {
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
                ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* Digits with an optional fraction ("2", "1.5"); -1 otherwise. The C
 * number syntax strtod takes (hex, exponents, "inf") is not HTTP's. */
static double decimal(const char *s)
{
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != '\0' || p == s || p - s > 15)
        return -1;
    return strtod(s, NULL);
}

int64_t tg_retry_after_ms(const char *value, size_t len, int64_t now_unix_ms)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';
    if (isdigit((unsigned char)buf[0])) {
        double s = decimal(buf);
        return s < 0 || s > 1e9 ? -1 : (int64_t)llround(s * 1000.0); /* > 31 years: nonsense */
    }
    /* HTTP-date: IMF-fixdate, and the two obsolete forms recipients must
     * still accept (RFC 9110 section 5.6.7). */
    static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                          "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *rest = strptime(buf, formats[i], &tm);
        if (!rest || *rest != '\0')
            continue;
        int64_t at_ms = (int64_t)timegm(&tm) * 1000;
        return at_ms > now_unix_ms ? at_ms - now_unix_ms : 0;
    }
    return -1;
}

/* n decimal digits at p as a number; -1 unless all n are digits. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* An RFC 3339 date-time (section 5.6: "2026-11-22T10:00:30Z", with an
 * optional fraction and a numeric offset), in unix ms; -1 when v[0..len) is
 * not exactly one. Reads v in place and only within len (the value comes from
 * a provider: no copy that a long value could overrun); the fraction may be
 * any length, only its first three digits count. A time before 1970 is 0. */
static int64_t rfc3339_ms(const char *v, size_t len)
{
    /* full-date "T" partial-time: "YYYY-MM-DDTHH:MM:SS" is 19 bytes. */
    if (len < 20 || v[4] != '-' || v[7] != '-' || (v[10] != 'T' && v[10] != 't') ||
        v[13] != ':' || v[16] != ':')
        return -1;
    int year = digits(v, 4), month = digits(v + 5, 2), day = digits(v + 8, 2);
    int hour = digits(v + 11, 2), minute = digits(v + 14, 2), second = digits(v + 17, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
        return -1;
    size_t i = 19;
    int64_t frac_ms = 0;
    if (v[i] == '.') {
        size_t first = ++i;
        while (i < len && isdigit((unsigned char)v[i])) {
            if (i - first < 3)
                frac_ms = frac_ms * 10 + (v[i] - '0');
            i++;
        }
        if (i == first)
            return -1;
        for (size_t n = i - first; n < 3; n++)
            frac_ms *= 10;
    }
    if (i >= len)
        return -1;
    int64_t offset_s = 0;
    if (v[i] == 'Z' || v[i] == 'z') {
        i++;
    } else if (v[i] == '+' || v[i] == '-') {
        /* time-numoffset: exactly "+HH:MM". */
        if (len - i != 6 || v[i + 3] != ':')
            return -1;
        int oh = digits(v + i + 1, 2), om = digits(v + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset_s = (v[i] == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second; /* a leap second (60) is the next minute's first */
    int64_t ms = ((int64_t)timegm(&tm) - offset_s) * 1000 + frac_ms;
    return ms < 0 ? 0 : ms;
}

/* Anthropic's anthropic-ratelimit-<limit>-remaining / -reset pairs: the wait
 * is until the latest reset of a limit that has run out. -1 when none has. */
static int64_t anthropic_reset_ms(const char *block, size_t block_len, int64_t now_unix_ms)
{
    static const char *const limits[] = {"requests", "tokens", "input-tokens", "output-tokens"};
    int64_t wait = -1;
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        char name[64];
        size_t len;
        snprintf(name, sizeof(name), "anthropic-ratelimit-%s-remaining", limits[i]);
        const char *rem = tg_headers_find(block, block_len, name, &len);
        if (!rem || len != 1 || rem[0] != '0')
            continue;
        snprintf(name, sizeof(name), "anthropic-ratelimit-%s-reset", limits[i]);
        const char *reset = tg_headers_find(block, block_len, name, &len);
        int64_t at = reset ? rfc3339_ms(reset, len) : -1;
        if (at < 0)
            continue;
        int64_t w = at > now_unix_ms ? at - now_unix_ms : 0;
        if (w > wait)
            wait = w;
    }
    return wait;
}

int64_t tg_headers_retry_after(const char *block, size_t block_len, int64_t now_unix_ms)
{
    size_t len;
    const char *v = tg_headers_find(block, block_len, "retry-after-ms", &len);
    if (v && len > 0 && len < 32) {
        char buf[32];
        memcpy(buf, v, len);
        buf[len] = '\0';
        double ms = decimal(buf);
        if (ms >= 0)
            return (int64_t)llround(ms);
    }
    v = tg_headers_find(block, block_len, "retry-after", &len);
    if (v) {
        int64_t ms = tg_retry_after_ms(v, len, now_unix_ms);
        if (ms >= 0)
            return ms;
    }
    return anthropic_reset_ms(block, block_len, now_unix_ms);
}
