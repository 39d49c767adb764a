/* Operational log lines on stderr (see log.h). Each line is formatted whole
 * and written with one write(2), so lines from several workers never interleave. */
#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/buf.h"

/* A longer string value is cut (and ends in "..."), so one line stays one
 * write an operator's pipe or journal takes whole. */
#define VALUE_MAX 1024

static enum tg_log_level min_level = TG_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tg_log_set_level(enum tg_log_level level)
{
    min_level = level;
}

int tg_log_parse_level(const char *name, enum tg_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum tg_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* logfmt takes a value bare only when it has no space, '=', '"' or control
 * byte (and is not empty); a backslash is quoted too, so it reads back as one. */
static bool needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

/* `in_quotes`: fmt already put a '"' on each side. */
static void put_value(struct tg_buf *b, const char *s, size_t n, bool in_quotes)
{
    bool cut = n > VALUE_MAX;
    if (cut)
        n = VALUE_MAX;
    if (!in_quotes && !cut && !needs_quotes(s, n)) {
        tg_buf_append(b, s, n);
        return;
    }
    if (!in_quotes)
        tg_buf_putc(b, '"');
    tg_buf_json_escape(b, s, n); /* logfmt's escapes are JSON's */
    if (cut)
        tg_buf_puts(b, "...");
    if (!in_quotes)
        tg_buf_putc(b, '"');
}

/* The caller's format was checked by the compiler (log.h's attribute); each
 * conversion spec is cut from it and formatted alone with its argument. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* False for a conversion it does not know (%n, %m, %ls, ...): nothing was
 * consumed, and nothing after it can be, or the arguments would misalign. */
static bool put_conversion(struct tg_buf *b, const char *spec, char conv, const char *len,
                           va_list *ap)
{
    bool is_signed = conv == 'd' || conv == 'i';
    if (strchr("diouxXc", conv)) {
        if (conv == 'c' || len[0] == '\0' || strcmp(len, "h") == 0 || strcmp(len, "hh") == 0) {
            if (is_signed || conv == 'c')
                tg_buf_printf(b, spec, va_arg(*ap, int));
            else
                tg_buf_printf(b, spec, va_arg(*ap, unsigned));
        } else if (strcmp(len, "l") == 0) {
            if (is_signed)
                tg_buf_printf(b, spec, va_arg(*ap, long));
            else
                tg_buf_printf(b, spec, va_arg(*ap, unsigned long));
        } else if (strcmp(len, "ll") == 0) {
            if (is_signed)
                tg_buf_printf(b, spec, va_arg(*ap, long long));
            else
                tg_buf_printf(b, spec, va_arg(*ap, unsigned long long));
        } else if (strcmp(len, "z") == 0) {
            if (is_signed)
                tg_buf_printf(b, spec, va_arg(*ap, ssize_t));
            else
                tg_buf_printf(b, spec, va_arg(*ap, size_t));
        } else if (strcmp(len, "j") == 0) {
            if (is_signed)
                tg_buf_printf(b, spec, va_arg(*ap, intmax_t));
            else
                tg_buf_printf(b, spec, va_arg(*ap, uintmax_t));
        } else { /* "t" */
            tg_buf_printf(b, spec, va_arg(*ap, ptrdiff_t));
        }
    } else if (strchr("fFeEgGaA", conv)) {
        if (strcmp(len, "L") == 0)
            tg_buf_printf(b, spec, va_arg(*ap, long double));
        else
            tg_buf_printf(b, spec, va_arg(*ap, double));
    } else if (conv == 'p') {
        tg_buf_printf(b, spec, va_arg(*ap, void *));
    } else {
        return false;
    }
    return true;
}
#pragma GCC diagnostic pop

static void format_fields(struct tg_buf *b, const char *fmt, va_list *ap)
{
    const char *p = fmt;
    while (*p) {
        const char *pct = strchr(p, '%');
        if (!pct) {
            tg_buf_puts(b, p);
            return;
        }
        tg_buf_append(b, p, (size_t)(pct - p));
        p = pct + 1;
        if (*p == '%') {
            tg_buf_putc(b, '%');
            p++;
            continue;
        }
        /* %[flags][width][.precision][length]conv; a '*' becomes its number. */
        char spec[64] = "%";
        size_t sl = 1;
        int precision = -1;
        while (*p && strchr("-+ #0", *p) && sl < 8)
            spec[sl++] = *p++;
        if (*p == '*') {
            sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%d", va_arg(*ap, int));
            p++;
        }
        while (*p >= '0' && *p <= '9' && sl < 24)
            spec[sl++] = *p++;
        if (*p == '.') {
            p++;
            precision = 0;
            if (*p == '*') {
                precision = va_arg(*ap, int);
                p++;
            }
            while (*p >= '0' && *p <= '9')
                precision = precision * 10 + (*p++ - '0');
            if (precision >= 0) /* a negative '*' is no precision */
                sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, ".%d", precision);
        }
        char len[3] = "";
        size_t ll = 0;
        while (*p && strchr("hlzjtL", *p) && ll < 2)
            len[ll++] = *p++;
        char conv = *p;
        if (conv == '\0')
            return;
        p++;
        if (conv == 's' && ll == 0) {
            const char *s = va_arg(*ap, const char *);
            if (!s)
                s = "(null)";
            size_t n = precision >= 0 ? strnlen(s, (size_t)precision) : strlen(s);
            bool in_quotes = b->len > 0 && b->data[b->len - 1] == '"' && *p == '"';
            put_value(b, s, n, in_quotes);
            continue;
        }
        memcpy(spec + sl, len, ll);
        sl += ll;
        spec[sl++] = conv;
        spec[sl] = '\0';
        if (!put_conversion(b, spec, conv, len, ap)) {
            tg_buf_puts(b, pct); /* the rest as written: an error a reader sees */
            return;
        }
    }
}

void tg_log(enum tg_log_level level, const char *event, const char *fmt, ...)
{
    if (level < min_level)
        return;
    struct tg_buf line = TG_BUF_INIT;
    tg_buf_reserve(&line, 256);
    tg_buf_puts(&line, "ts=");
    tg_buf_utc_now(&line);
    tg_buf_printf(&line, " level=%s pid=%d event=%s ", level_names[level], (int)getpid(), event);
    va_list ap;
    va_start(ap, fmt);
    format_fields(&line, fmt, &ap);
    va_end(ap);
    while (line.len > 0 && line.data[line.len - 1] == ' ')
        line.len--;
    tg_buf_putc(&line, '\n');
    ssize_t w = write(STDERR_FILENO, line.data, line.len);
    (void)w;
    tg_buf_free(&line);
}
