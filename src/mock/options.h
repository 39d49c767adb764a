/* Options of the mock provider (SPEC section 7): the same set whether given as
 * `tailgate mock --flag` or as `mock = {key = ...}` on a provider of kind mock. */
#ifndef TG_MOCK_OPTIONS_H
#define TG_MOCK_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

struct tg_mock_options {
    double latency_ms;     /* median time to the full answer, or to the first chunk */
    double latency_p99_ms; /* 0: no spread; else log-normal with this p99 */
    double tokens_per_s;   /* streaming chunk pacing; 0 = as fast as possible */
    int64_t output_tokens; /* tokens in a generated answer */
    double error_rate;     /* this fraction of requests fail ... */
    int64_t error_status;  /* ... with this status */
    double stall_rate;     /* this fraction of answers stall (a provider's queue) ... */
    double stall_ms;       /* ... for this much longer */
    uint64_t seed;
};

void tg_mock_options_default(struct tg_mock_options *o);

/* How an option is stored in struct tg_mock_options. */
enum tg_mock_opt_kind { TG_MOCK_OPT_DOUBLE, TG_MOCK_OPT_INT64, TG_MOCK_OPT_UINT64 };

/* The option table shared by the CLI and the config loader. */
struct tg_mock_option_desc {
    const char *name; /* snake_case; the flag is --name with '-' for '_' */
    enum tg_mock_opt_kind kind;
    size_t offset; /* in struct tg_mock_options */
    double min, max;
    const char *help;
};

extern const struct tg_mock_option_desc tg_mock_option_descs[];
extern const int tg_mock_option_count;

/* Sets option `name`; returns 0, -1 for an unknown name, -2 for a value out
 * of range or (for integer options) not whole. */
int tg_mock_option_set(struct tg_mock_options *o, const char *name, double value);
/* Looks an option up by name (snake_case, or the flag's kebab-case). */
const struct tg_mock_option_desc *tg_mock_option_find(const char *name);

#endif
