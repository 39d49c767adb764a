/* Operational log: one logfmt line per event on stderr, for operators.
 * (The per-request access log is server/access_log.c.) */
#ifndef TG_CORE_LOG_H
#define TG_CORE_LOG_H

enum tg_log_level { TG_LOG_DEBUG = 0, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR };

void tg_log_set_level(enum tg_log_level level);
/* Returns 0, or -1 for a name that is not a level. */
int tg_log_parse_level(const char *name, enum tg_log_level *out);
/* `event` is a short snake_case name; fmt continues with key=value pairs,
 * `key=%s` for any string value: tg_log writes it bare when it is a plain
 * token, else quoted with '"', '\\' and control bytes escaped (\n, \t,
 * \u00XX), so an error message, a peer or a path never breaks the line.
 * (A `key="%s"` in fmt gets the escaping without a second pair of quotes.)
 * Other conversions are printf's; keep their output free of spaces. */
void tg_log(enum tg_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tg_log_debug(ev, ...) tg_log(TG_LOG_DEBUG, ev, __VA_ARGS__)
#define tg_log_info(ev, ...) tg_log(TG_LOG_INFO, ev, __VA_ARGS__)
#define tg_log_warn(ev, ...) tg_log(TG_LOG_WARN, ev, __VA_ARGS__)
#define tg_log_error(ev, ...) tg_log(TG_LOG_ERROR, ev, __VA_ARGS__)

#endif
