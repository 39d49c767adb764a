/* JSON helpers over cJSON: strict parsing (RFC 8259 checked by
 * util/json_scan.h before cJSON reads anything), typed getters, and output.
 * The member scanner (tg_json_find_member) lives in util/json_scan.h. */
#ifndef TG_UTIL_JSON_H
#define TG_UTIL_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "util/json_scan.h"
#include "util/json_view.h"

/* Strict JSON (json_scan.h) parsed by cJSON, with rules that depend on whose
 * text it is. Each returns NULL unless p[0..len) follows them.
 *
 * A client's request body: no duplicate keys and no odd escapes (\u0000, a
 * lone surrogate), because the gateway routes on what it reads and the
 * provider must read the same request. *err (when not NULL) says what is
 * wrong and at which byte. */
cJSON *tg_json_parse_client(const char *p, size_t len, struct tg_json_error *err);
/* A provider's envelope (an answer, a stream event, an error body; the
 * mock's requests and scripts): its serializer makes the keys, so none is
 * named twice; odd escapes are a model's content and are accepted. In the
 * tree a lone surrogate reads as U+FFFD and a string ends at \u0000
 * (cJSON's C strings); relayed bytes are the provider's, untouched. */
cJSON *tg_json_parse_provider(const char *p, size_t len);
/* JSON a model wrote (content checked against response_format, tool-call
 * arguments): a model may name a key twice; cJSON keeps both and its
 * lookups find the first. Odd escapes as for a provider. */
cJSON *tg_json_parse_generated(const char *p, size_t len);

/* A client's request body as the gateway reads it: text that passed the
 * client rules, read through views on the data path, and its cJSON tree,
 * built on the first ask by what needs the document (a translation, a
 * schema to validate against, an edit of stream_options). A chat request
 * passed through never builds it. */
struct tg_json_doc {
    const char *text;
    size_t len;
    cJSON *tree;
};

static inline struct tg_jv tg_json_doc_root(const struct tg_json_doc *d)
{
    return tg_jv_root(d->text, d->len);
}
/* The tree (built now if need be); NULL only when memory ran out. */
const cJSON *tg_json_doc_tree(struct tg_json_doc *d);
void tg_json_doc_free(struct tg_json_doc *d);

/* Member `key` of an object when it has the wanted type; NULL otherwise. */
const char *tg_json_get_str(const cJSON *obj, const char *key);
bool tg_json_get_num(const cJSON *obj, const char *key, double *out);
/* true/false when the member is a boolean, else `dflt`. */
bool tg_json_get_bool(const cJSON *obj, const char *key, bool dflt);

/* Appends "s" as a JSON string, quotes included. */
void tg_buf_json_str(struct tg_buf *b, const char *s, size_t n);
/* Appends cJSON's compact text of item. */
void tg_buf_json_item(struct tg_buf *b, const cJSON *item);

#endif
