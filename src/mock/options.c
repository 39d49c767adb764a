/* The mock provider's options and their bounds (see options.h). */
#include "mock/options.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define OPT(name, kind, lo, hi, help) {#name, kind, offsetof(struct tg_mock_options, name), lo, hi, help}

const struct tg_mock_option_desc tg_mock_option_descs[] = {
    OPT(latency_ms, TG_MOCK_OPT_DOUBLE, 0, 3600000,
        "median latency to the full answer or first chunk (ms)"),
    OPT(latency_p99_ms, TG_MOCK_OPT_DOUBLE, 0, 3600000, "p99 latency (ms); 0 = always the median"),
    OPT(tokens_per_s, TG_MOCK_OPT_DOUBLE, 0, 1e9,
        "streaming pace in tokens (chunks) per second; 0 = no pacing"),
    OPT(output_tokens, TG_MOCK_OPT_INT64, 0, 1000000, "tokens in a generated answer"),
    OPT(error_rate, TG_MOCK_OPT_DOUBLE, 0, 1, "fraction of requests that fail with error_status"),
    OPT(error_status, TG_MOCK_OPT_INT64, 100, 599, "HTTP status of those failures"),
    OPT(seed, TG_MOCK_OPT_UINT64, 0, 9007199254740991.0, "random seed, so runs repeat"),
    OPT(stall_rate, TG_MOCK_OPT_DOUBLE, 0, 1,
        "fraction of answers that stall (a provider's queue), beyond SPEC"),
    OPT(stall_ms, TG_MOCK_OPT_DOUBLE, 0, 3600000, "how much longer a stalled answer takes (ms)"),
};
const int tg_mock_option_count = (int)(sizeof(tg_mock_option_descs) / sizeof(tg_mock_option_descs[0]));

void tg_mock_options_default(struct tg_mock_options *o)
{
    o->latency_ms = 50;
    o->latency_p99_ms = 0;
    o->tokens_per_s = 0;
    o->output_tokens = 16;
    o->error_rate = 0;
    o->error_status = 503;
    o->seed = 1;
    o->stall_rate = 0;
    o->stall_ms = 0;
}

static int name_eq(const char *desc, const char *name)
{
    for (; *desc && *name; desc++, name++) {
        char c = *name == '-' ? '_' : *name;
        if (c != *desc)
            return 0;
    }
    return *desc == '\0' && *name == '\0';
}

const struct tg_mock_option_desc *tg_mock_option_find(const char *name)
{
    for (int i = 0; i < tg_mock_option_count; i++)
        if (name_eq(tg_mock_option_descs[i].name, name))
            return &tg_mock_option_descs[i];
    return NULL;
}

int tg_mock_option_set(struct tg_mock_options *o, const char *name, double v)
{
    const struct tg_mock_option_desc *d = tg_mock_option_find(name);
    if (!d)
        return -1;
    if (!(v >= d->min && v <= d->max))
        return -2;
    if (d->kind != TG_MOCK_OPT_DOUBLE && floor(v) != v)
        return -2;
    char *field = (char *)o + d->offset;
    switch (d->kind) {
    case TG_MOCK_OPT_DOUBLE: *(double *)field = v; break;
    case TG_MOCK_OPT_INT64: *(int64_t *)field = (int64_t)v; break;
    case TG_MOCK_OPT_UINT64: *(uint64_t *)field = (uint64_t)v; break;
    }
    return 0;
}
