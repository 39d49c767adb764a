/* Strict JSON (RFC 8259) in one pass, without building anything: the
 * validator every JSON text goes through before cJSON sees it, and the
 * member scanner built on it, so that what the gateway parses, what it
 * splices and what a provider reads are the same document.
 *
 * Accepted: exactly one value with optional SP/HT/LF/CR around it; numbers
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; strings of valid UTF-8
 * (no overlongs, no encoded surrogates, nothing above U+10FFFF) without raw
 * bytes below 0x20 and with only the RFC escapes; true, false, null.
 * Decisions where the RFC leaves room (tests/data/json/i_*, decisions.txt):
 * - a byte order mark is refused (RFC 8259 section 8.1: never sent);
 * - numbers are at most TG_JSON_MAX_NUMBER_LEN characters (cJSON 1.7.15
 *   reads no more), nesting at most TG_JSON_MAX_DEPTH containers;
 * - with TG_JSON_NO_ODD_ESCAPES, \u escapes must name a character: a lone
 *   surrogate (\uD800 alone, or a low one first) and \u0000 are refused.
 *   Only client bodies set it: cJSON cannot hold them (it fails on the
 *   first, cuts the string at the second), so the gateway would read another
 *   request than the provider does ("model\u0000x" is "model" to cJSON).
 *   Providers' and models' texts keep them (a model asked to print U+0000
 *   writes \u0000): refusing would fail a good answer, and the gateway
 *   relays their bytes as they came;
 * - with TG_JSON_NO_DUP_KEYS, an object must not name a member twice, keys
 *   compared as cJSON reads them ("a" and "\u0061" are the same key, a lone
 *   surrogate reads as U+FFFD, a key ends at \u0000).
 * Which rules apply to whose text is util/json.h's choice.
 * The common case allocates nothing; objects with more than 64 keys open at
 * once, or more than 256 bytes of escaped keys, grow heap stacks, linear in
 * the text. Duplicates cost O(n log n) in the keys of an object whatever the
 * keys are (they are sorted when the object closes; no hash to collide). */
#ifndef TG_UTIL_JSON_SCAN_H
#define TG_UTIL_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

enum {
    TG_JSON_MAX_DEPTH = 256,
    TG_JSON_MAX_NUMBER_LEN = 63,
};

enum tg_json_flags {
    TG_JSON_NO_DUP_KEYS = 1u << 0,
    TG_JSON_NO_ODD_ESCAPES = 1u << 1, /* refuse \u0000 and lone surrogates */
};

/* Why a text was refused: `what` is a static phrase ("leading zero in a
 * number"), `offset` the byte where the problem was seen. */
struct tg_json_error {
    size_t offset;
    const char *what;
};

/* A member of the top-level object, as offsets into the text. */
struct tg_json_member {
    size_t key_start, key_end;     /* the key token, quotes included */
    size_t value_start, value_end; /* the value's bytes */
};

/* Called for each top-level member, in document order, while the rest of
 * the document is still unchecked: a caller must not act on what it saw
 * until tg_json_check has returned true. */
typedef void (*tg_json_member_cb)(void *ctx, const char *text, const struct tg_json_member *m);

struct tg_json_check_opts {
    unsigned flags; /* enum tg_json_flags */
    tg_json_member_cb on_member;
    void *ctx;
};

/* true when p[0..len) is strict JSON; else false with *err (when err is not
 * NULL) saying what and where. opts may be NULL (no flags, no callback). */
bool tg_json_check(const char *p, size_t len, const struct tg_json_check_opts *opts,
                   struct tg_json_error *err);

/* Whether the key token of m (in text), unescaped, is key[0..klen). */
bool tg_json_member_key_is(const char *text, const struct tg_json_member *m, const char *key,
                           size_t klen);

/* Walks the bytes cJSON reads for a string token of checked text (quotes at
 * text[tok_start] and text[tok_end - 1]): escapes decoded, a surrogate pair
 * joined, a lone surrogate read as U+FFFD, and the end at \u0000, where
 * cJSON's C string ends. */
struct tg_json_unesc {
    const unsigned char *p, *end; /* inside the quotes */
    unsigned char buf[4];
    int n, i;
};

void tg_json_unesc_init(struct tg_json_unesc *u, const char *text, size_t tok_start,
                        size_t tok_end);
/* The next byte, or -1 at the end. */
int tg_json_unesc_next(struct tg_json_unesc *u);

/* Finds the value of top-level member `key` in p[0..len): [*start, *end)
 * covers its bytes. False unless p follows the client rules (strict, no
 * duplicate keys, no odd escapes: tg_json_parse_client) and is an object
 * with that member. Keys are compared unescaped, as cJSON reads them. */
bool tg_json_find_member(const char *p, size_t len, const char *key, size_t *start, size_t *end);

/* Rewrites each lone surrogate escape of p[0..len) (\uD800 without a low
 * half, or a low half alone) to \uFFFD, in place: the length and every
 * offset stay. p must have passed tg_json_check. cJSON 1.7.15 fails a whole
 * document on a lone surrogate; the mended copy is what it can read. Returns
 * how many were rewritten. */
size_t tg_json_mend_surrogates(char *p, size_t len);

#endif
