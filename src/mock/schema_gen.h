/* Made-up JSON for the mock's structured answers: values that fit a JSON
 * Schema (response_format json_schema, a tool's parameters or input_schema)
 * and free-form JSON objects (response_format json_object).
 *
 * Pure: a schema and a seeded random source in, JSON text out; the same seed
 * gives the same text. The generator covers what structured-output schemas
 * use: type (one or a list), properties / required / additionalProperties,
 * items and prefixItems with minItems / maxItems, enum, const, anyOf / oneOf
 * / allOf, $ref into the same document ($defs, definitions, "#"), numeric
 * bounds and multipleOf, string lengths and common formats. `pattern` is not
 * honoured. Recursion is bounded: past a depth only required members and
 * minItems elements are made, and a union prefers its null branch. */
#ifndef TG_MOCK_SCHEMA_GEN_H
#define TG_MOCK_SCHEMA_GEN_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/buf.h"
#include "util/rand.h"

/* Appends one JSON value that validates against `schema` (NULL or an empty
 * schema: a short string). */
void tg_mock_schema_gen(const cJSON *schema, struct tg_rand *rand, struct tg_buf *out);

/* Appends a JSON object of about `tokens` tokens: members with word keys and
 * string, number, boolean or array values. */
void tg_mock_json_object_gen(struct tg_rand *rand, int64_t tokens, struct tg_buf *out);

/* One word of the mock's vocabulary (lower-case ASCII). */
const char *tg_mock_word(struct tg_rand *rand);

#endif
