/* The pre-call context check and its learning (see context.h). */
#include "route/context.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Windows above this are not windows (a misparse, or a number meant for
 * something else). */
#define MAX_WINDOW_TOKENS 1000000000LL

bool tg_context_fits(int64_t configured, const struct tg_context_learned *l, int64_t need)
{
    if (configured > 0 && need > configured)
        return false;
    return l->tokens <= 0 || need < l->tokens;
}

bool tg_context_learn(struct tg_context_learned *l, int64_t configured, int64_t need,
                      int64_t stated)
{
    int64_t limit;
    if (stated > 0) {
        limit = stated;
    } else {
        if (need < TG_CONTEXT_LEARN_FLOOR)
            return false;
        if (configured > 0 && need < configured / 2)
            return false;
        limit = need;
    }
    if (l->tokens > 0 && l->tokens <= limit)
        return false;
    l->tokens = limit;
    return true;
}

/* The number after `after` (case-insensitive) in s, skipping spaces and an
 * opening parenthesis; 0 when absent or out of range. */
static int64_t number_after(const char *s, const char *after)
{
    const char *p = strcasestr(s, after);
    if (!p)
        return 0;
    p += strlen(after);
    while (*p == ' ' || *p == '(')
        p++;
    int64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return 0;
    for (; isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > MAX_WINDOW_TOKENS)
            return 0;
    }
    return v;
}

int64_t tg_context_stated_limit(const char *message)
{
    if (!message)
        return 0;
    int64_t v = number_after(message, "maximum context length is");
    if (v == 0)
        v = number_after(message, "maximum number of tokens allowed");
    if (v == 0 && strcasestr(message, "prompt is too long")) {
        /* "prompt is too long: 210000 tokens > 200000 maximum" */
        v = number_after(message, "tokens >");
    }
    if (v == 0 && strcasestr(message, "exceed context limit")) {
        /* "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000" */
        const char *gt = strchr(strcasestr(message, "exceed context limit"), '>');
        v = gt ? number_after(gt, ">") : 0;
    }
    return v;
}
