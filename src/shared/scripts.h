/* Every Lua script the gateway runs in Redis, in one table the link loads
 * on each connection (shared/redis.h). Each text lives beside the code that
 * calls it; this file only gives each its index. */
#ifndef TG_SHARED_SCRIPTS_H
#define TG_SHARED_SCRIPTS_H

#include "shared/redis.h"

enum tg_script {
    TG_SCRIPT_LIMIT_ADMIT,  /* limits/shared.c */
    TG_SCRIPT_LIMIT_SETTLE, /* limits/shared.c */
    TG_SCRIPT_IDEM_CLAIM,   /* shared/idempotency.c */
    TG_SCRIPT_IDEM_FINISH,  /* shared/idempotency.c */
    TG_SCRIPT_CACHE_PUT,    /* shared/cache.c */
    TG_SCRIPT__COUNT
};

extern const char tg_limit_admit_lua[], tg_limit_settle_lua[];
extern const char tg_idem_claim_lua[], tg_idem_finish_lua[];
extern const char tg_cache_put_lua[];

/* The table tg_redis_new takes (its SHA-1s filled in there). */
extern struct tg_redis_script tg_shared_scripts[TG_SCRIPT__COUNT];

#endif
