/* The JSON views (util/json_view.c) against cJSON, differentially: any input
 * the validator accepts (no flags: duplicate keys, \u0000 and lone
 * surrogates included, as a model may write them) is walked as a view and as
 * cJSON's tree (json_view_walk.h); any disagreement aborts with its path. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "json_view_walk.h"
#include "util/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    if (!tg_json_check(text, size, NULL, NULL))
        return 0;
    struct jv_walk w;
    FUZZ_CHECK(jv_walk_doc(&w, text, size), "%s", w.why);
    return 0;
}
