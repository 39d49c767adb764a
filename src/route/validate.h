/* Validation of 200 answers (SPEC [validate] and the `invalid` row of
 * section 4): providers return 200 with nothing, a refusal, a cut-off answer
 * or JSON that is not JSON. Any client format: the answer is read into
 * formats/read.h's facts first, in whatever format the upstream spoke. Pure. */
#ifndef TG_ROUTE_VALIDATE_H
#define TG_ROUTE_VALIDATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "formats/api.h"
#include "formats/read.h"
#include "util/json.h"

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

/* What the request asked of the answer. Pointers borrow from the request's
 * JSON (valid while it lives). */
struct tg_expect {
    bool json;           /* the text must be JSON */
    const cJSON *schema; /* ... of this schema, or NULL */
    const cJSON *tools;  /* Messages: the request's tools (name, input_schema) that
                          * every tool call's input must fit, or NULL */
};

/* Reads what a request of `api` asks: chat's response_format json_object /
 * json_schema, Responses' text.format json_object / json_schema (the schema
 * inside the format), Messages' tools. */
/* The request's tree is built only when it holds one of those members: out
 * then borrows from it, and lives as long as the request's doc. */
void tg_expect_from_request(enum tg_api api, struct tg_json_doc *request, struct tg_expect *out);

struct tg_verdict {
    enum tg_invalid invalid;
    bool truncated;      /* finish_reason "length" (flagged or failed per config) */
    bool content_filter; /* finish_reason "content_filter": class content_policy */
};

/* Validates an answer's facts: content_filter first, then an explicit
 * refusal, empty (no text and no call), a refusal phrase, truncation, and
 * (validate.json) the text against the JSON expectation or, when the
 * request listed tools, every call's input against its tool's schema. */
void tg_validate_answer(const struct tg_validate_cfg *cfg, const struct tg_expect *expect,
                        const struct tg_answer_facts *f, struct tg_verdict *out);

/* Whether text (content so far, leading whitespace allowed) opens with one
 * of the phrases, case-insensitively: 1 yes, 0 no, -1 not yet known (the
 * text is a prefix of a phrase: a stream must wait for more). */
int tg_refusal_match(const struct tg_strlist *phrases, const char *text, size_t len);

/* Checks content against the expectation (JSON parse, schema's required keys). */
enum tg_invalid tg_validate_json_content(const struct tg_expect *expect, const char *content,
                                         size_t len);

#endif
