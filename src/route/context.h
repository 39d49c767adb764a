/* The pre-call context check (SPEC section 4): whether a deployment can hold
 * a request's estimated prompt plus max_tokens, by its configured
 * context_tokens or by what its own context-length errors taught, and how
 * one such error teaches it. Pure (no I/O, no clock).
 *
 * Estimates are SPEC section 8's prompt bytes / 4 (plus the request's own
 * max_tokens). They undercount some prompts badly: CJK text runs near one
 * token per 3 bytes, an image by URL is a few bytes for a thousand tokens.
 * So one error can say the estimate was wrong rather than the window small;
 * learning is bounded so that such an error never shuts a deployment out of
 * ordinary requests (see tg_context_learn). */
#ifndef TG_ROUTE_CONTEXT_H
#define TG_ROUTE_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

/* A context-length error is only taken as the window's measure when the
 * request was estimated at this many tokens or more: no model worth routing
 * to has a smaller window, so an overflow below it is an estimate that
 * undercounts, not a window. */
#define TG_CONTEXT_LEARN_FLOOR 2048

/* What a deployment learned from its context-length errors. */
struct tg_context_learned {
    int64_t tokens; /* an estimate this big or bigger does not fit; 0: nothing learned */
};

/* Whether `need` (estimated prompt plus the request's max_tokens) fits: it
 * must not exceed `configured` (0: unknown) and must stay below what was
 * learned. */
bool tg_context_fits(int64_t configured, const struct tg_context_learned *l, int64_t need);

/* The deployment answered context_overflow to a request estimated at
 * `need`; `stated` is the window its error message gave (0: it gave none).
 * A stated window is the provider's word and is learned as it is. Without
 * one the estimate is learned, but only at or above TG_CONTEXT_LEARN_FLOOR,
 * and, when the window is configured, only at or above half of it (the
 * operator's figure; an overflow far below it is an undercount). The
 * smallest limit learned is kept. Returns true when the limit went down. */
bool tg_context_learn(struct tg_context_learned *l, int64_t configured, int64_t need,
                      int64_t stated);

/* The window a context-length error message states, in tokens, or 0:
 * OpenAI's (and vLLM's, Azure's) "maximum context length is N tokens",
 * Anthropic's "prompt is too long: X tokens > N maximum" and "input length
 * and `max_tokens` exceed context limit: X + Y > N", Gemini's "the maximum
 * number of tokens allowed (N)". */
int64_t tg_context_stated_limit(const char *message);

#endif
