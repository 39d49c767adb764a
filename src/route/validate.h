/* Validation of 200 answers (SPEC [validate] and the `invalid` row of
 * section 4): providers return 200 with nothing, a refusal, a cut-off answer
 * or JSON that is not JSON. Chat completions only. Pure. */
#ifndef TG_ROUTE_VALIDATE_H
#define TG_ROUTE_VALIDATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

enum tg_invalid {
    TG_VALID = 0,
    TG_INVALID_EMPTY,     /* no content and no tool call */
    TG_INVALID_REFUSAL,   /* opens with a refusal phrase, or a refusal field */
    TG_INVALID_TRUNCATED, /* finish_reason "length" with truncation = "fail" */
    TG_INVALID_JSON,      /* response_format asked for JSON; content is not JSON */
    TG_INVALID_SCHEMA,    /* json_schema: a required key missing or of the wrong type */
    TG_INVALID__COUNT
};

const char *tg_invalid_name(enum tg_invalid r);

/* What the request asked of the answer. `schema` points into the request's
 * JSON (valid while it lives). */
struct tg_expect {
    bool json;
    const cJSON *schema; /* json_schema's "schema", or NULL */
};

void tg_expect_from_request(const cJSON *request, struct tg_expect *out);

struct tg_verdict {
    enum tg_invalid invalid;
    bool truncated;      /* finish_reason "length" (flagged or failed per config) */
    bool content_filter; /* finish_reason "content_filter": class content_policy */
};

/* Validates a chat.completion answer (already parsed). */
void tg_validate_chat(const struct tg_validate_cfg *cfg, const struct tg_expect *expect,
                      const cJSON *answer, struct tg_verdict *out);

/* Whether text (content so far, leading whitespace allowed) opens with one
 * of the phrases, case-insensitively: 1 yes, 0 no, -1 not yet known (the
 * text is a prefix of a phrase: a stream must wait for more). */
int tg_refusal_match(const struct tg_strlist *phrases, const char *text, size_t len);

/* Checks content against the expectation (JSON parse, schema's required keys). */
enum tg_invalid tg_validate_json_content(const struct tg_expect *expect, const char *content,
                                         size_t len);

#endif
