/* Validation of 200 answers (route/validate.c): the request's expectation
 * (response_format, text.format, tools) against any answer read in any
 * format, with every validate setting, and the refusal match on any text,
 * whole and as it streams in. Input: one byte of settings (bits 5-7: the
 * api), then the request JSON, a NUL, the answer. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "route/validate.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static char *phrases[] = {"I can't help with", "I cannot help with", "I'm sorry, but I can",
                              "I am unable to", "As an AI"};
    struct tg_validate_cfg cfg = {
        .empty = data[0] & 1,
        .refusal = data[0] & 2,
        .refusal_phrases = {phrases, sizeof(phrases) / sizeof(phrases[0])},
        .truncation = (enum tg_truncation)((data[0] >> 2) % 3),
        .json = data[0] & 16,
    };
    const char *p = (const char *)data + 1;
    size_t len = size - 1;
    const char *nul = memchr(p, '\0', len);
    size_t req_len = nul ? (size_t)(nul - p) : len;
    const char *ans = nul ? nul + 1 : p + len;
    size_t ans_len = len - req_len - (nul ? 1 : 0);

    cJSON *request = tg_json_parse_client(p, req_len, NULL);
    struct tg_json_doc doc = {p, req_len, NULL};
    cJSON *answer = tg_json_parse_provider(ans, ans_len);
    enum tg_api api = (enum tg_api)((data[0] >> 5) % TG_API__COUNT);
    struct tg_expect expect = {false, NULL, NULL};
    if (request)
        tg_expect_from_request(api, &doc, &expect);
    struct tg_answer_facts f;
    int rc = tg_read_answer(api, ans, ans_len, &f);
    /* the reader checks the text as strictly as a provider's answer is parsed */
    FUZZ_CHECK(answer || rc == -1, "read an answer that does not parse");
    if (answer) {
        struct tg_verdict v;
        memset(&v, 0xff, sizeof(v));
        tg_validate_answer(&cfg, &expect, &f, &v);
        FUZZ_CHECK((unsigned)v.invalid < TG_INVALID__COUNT, "verdict %d", (int)v.invalid);
        FUZZ_CHECK(tg_invalid_name(v.invalid) != NULL, "name");
    }
    tg_answer_facts_free(&f);
    /* The answer's bytes as content: JSON check and refusal match. */
    char *content = malloc(ans_len ? ans_len : 1); /* exact: reads past the end show */
    memcpy(content, ans, ans_len);
    enum tg_invalid j = tg_validate_json_content(&expect, content, ans_len);
    FUZZ_CHECK((unsigned)j < TG_INVALID__COUNT, "json verdict %d", (int)j);
    int whole = tg_refusal_match(&cfg.refusal_phrases, content, ans_len);
    FUZZ_CHECK(whole >= -1 && whole <= 1, "match %d", whole);
    /* As a stream sees it: a prefix that matches stays a match, one that
     * is not a refusal stays not one. */
    int last = -1;
    for (size_t n = 0; n <= ans_len && n < 256; n++) {
        int m = tg_refusal_match(&cfg.refusal_phrases, content, n);
        FUZZ_CHECK(last == -1 || m == last, "prefix %zu: %d after %d", n, m, last);
        last = m;
    }
    free(content);
    cJSON_Delete(request);
    tg_json_doc_free(&doc);
    cJSON_Delete(answer);
    return 0;
}
