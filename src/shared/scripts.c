/* The script table (see scripts.h). */
#include "shared/scripts.h"

struct tg_redis_script tg_shared_scripts[TG_SCRIPT__COUNT] = {
    [TG_SCRIPT_LIMIT_ADMIT] = {tg_limit_admit_lua, ""},
    [TG_SCRIPT_LIMIT_SETTLE] = {tg_limit_settle_lua, ""},
    [TG_SCRIPT_IDEM_CLAIM] = {tg_idem_claim_lua, ""},
    [TG_SCRIPT_IDEM_FINISH] = {tg_idem_finish_lua, ""},
    [TG_SCRIPT_CACHE_PUT] = {tg_cache_put_lua, ""},
};
