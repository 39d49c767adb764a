/* The request state machine's objects (internal to req/): struct tg_req, one
 * client request, and its children struct tg_attempt, one upstream attempt
 * each (first tries, retries, hedges). See req.c for the states. */
#ifndef TG_REQ_INTERNAL_H
#define TG_REQ_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "dlq/writer.h"
#include "gateway/gateway.h"
#include "limits/store.h"
#include "req/idempotency.h"
#include "shared/cache.h"
#include "shared/idempotency.h"
#include "req/req.h"
#include "req/tape.h"
#include "route/classify.h"
#include "route/cost.h"
#include "route/validate.h"
#include "server/http.h"
#include "upstream/provider.h"
#include "formats/convert.h"
#include "formats/read.h"
#include "upstream/transfer.h"
#include "util/sse.h"
#include "util/traceparent.h"

enum tg_req_state {
    TG_REQ_ADMIT = 0, /* waiting for its rate limits and spend caps to admit or refuse it */
    TG_REQ_CLAIM,     /* asking the shared store about its Idempotency-Key (share.c) */
    TG_REQ_ROUTE,     /* choose the next deployment, or run out of them */
    TG_REQ_ATTEMPT,   /* attempts in flight: wait for an outcome */
    TG_REQ_BACKOFF,   /* before a retry on the same deployment */
    TG_REQ_STREAM,    /* committed to one streaming attempt, relaying it */
    TG_REQ_DEGRADE,   /* every path failed: kept answer, stale cache, degraded, error */
    TG_REQ_FOLLOW,    /* reading another request's answer (share.c): no upstream call */
    TG_REQ_DRAIN,     /* its answer is recorded; its client is still reading it */
    TG_REQ_DLQ,       /* background: its final error waits for the dead-letter line's fsync */
    TG_REQ_DONE,      /* answered or abandoned; freed on a later loop pass */
    TG_REQ__COUNT
};

enum tg_attempt_state { TG_ATTEMPT_RUNNING = 0, TG_ATTEMPT_FINISHED, TG_ATTEMPT_CANCELLED };

/* Why a request ended, first cause wins (access log, metrics). */
enum tg_req_term {
    TG_TERM_NONE = 0,
    TG_TERM_ANSWERED,     /* an upstream answer (or cache hit) went out */
    TG_TERM_PASSED,       /* an upstream error was passed through */
    TG_TERM_DEGRADED,     /* stale cache or degraded message */
    TG_TERM_FAILED,       /* 502/503: every path failed */
    TG_TERM_DEADLINE,     /* 504 */
    TG_TERM_CLIENT_GONE,  /* the client disconnected */
    TG_TERM_STREAM_BROKE, /* a committed stream failed midway */
    TG_TERM_RATE_LIMITED, /* refused by its key's rpm/tpm: no upstream call */
    TG_TERM_BUDGET_EXCEEDED, /* refused by a spend cap: no upstream call */
};

/* A request's admission (admission.c, SPEC section 8): the counters it was
 * checked against, what it charged them, and the store's answer. */
struct tg_req_admission {
    bool done;    /* the store has answered */
    bool settled; /* charges returned or settled (once, whatever the path) */
    /* Which of result.state is which counter (-1: not checked). */
    int rpm, tpm, spend_key, spend_gw;
    int64_t est_tokens; /* charged to tpm */
    int64_t reserved;   /* nano-USD, the worst case, charged to each spend cap */
    struct tg_admission result;
};

/* One line of the attempts list (errors, x-tailgate-trace, access log). */
struct tg_attempt_log {
    const char *deployment; /* in the request's runtime config */
    enum tg_class cls;
    int status;
    uint64_t ms;
    bool hedge;
    bool done;
    bool skipped;   /* not an attempt: the deployment could not serve the request */
    bool retry_after_known; /* a rate_limited answer that said when (Retry-After) */
    char note[32];  /* why it was skipped */
};

struct tg_req;

/* A request's trace context (trace.c, SPEC section 9). */
enum tg_trace_mode {
    TG_TRACE_NONE = 0, /* no tracer, and the client sent no context: nothing goes upstream */
    TG_TRACE_PASS,     /* no tracer: the client's traceparent goes upstream as it came */
    TG_TRACE_OWN,      /* the tracer's: a span per request and attempt (exported when
                        * sampled), each attempt's own traceparent upstream */
};

struct tg_req_trace {
    enum tg_trace_mode mode;
    struct tg_trace_ctx ctx; /* PASS: the client's; OWN: this request's span */
    bool has_parent;         /* OWN: the client's span is this one's parent */
    uint8_t parent_id[8];
    char *tracestate; /* the client's, passed on (and the spans'); owned */
};

struct tg_attempt {
    struct tg_list link; /* req->attempts, then req->graveyard */
    struct tg_req *req;
    const struct tg_deployment_cfg *dcfg;
    struct tg_dep *dep;
    size_t slot;         /* index in the route's deployments */
    int try_no;          /* 1: first attempt on this deployment for this request */
    bool hedge;
    uint32_t probe;      /* a half-open breaker probe's ticket, or 0 */
    enum tg_attempt_state state;
    enum tg_class cls;
    int64_t retry_after_ms;
    uint64_t start_ms;
    uint64_t start_ns;
    uint64_t first_content_ns; /* streams: first content-bearing chunk */
    uint64_t end_ns;
    struct tg_timer timer; /* attempt_ms, or for a stream first_byte_ms, then stream_idle_ms */
    bool timed_out;
    bool idle_timed_out;   /* a stream past its first content went silent */
    uint64_t last_byte_ms; /* streams: when the upstream last sent bytes */
    struct tg_upstream_req up;
    struct tg_transfer xfer;
    size_t log_index;
    uint8_t span_id[8]; /* its client span (TG_TRACE_OWN) */
    /* The answer. */
    struct tg_buf body;     /* whole body (not streamed, or a streamed error) */
    bool sse;               /* 200 to a stream request: parsed as events */
    struct tg_sse_parser parser;
    struct tg_buf held;     /* events before the commit point */
    struct tg_buf out;      /* relayed events not yet written to the client */
    struct tg_deferred out_flush; /* writes out on the next loop pass */
    bool committed;         /* bytes of this attempt reached the client */
    bool keep_transcript;   /* streams: keep what was relayed, for the cache */
    struct tg_buf transcript;
    bool saw_content;
    bool saw_done;          /* the format's terminator ([DONE], message_stop, response.completed) */
    bool stream_error;      /* an error event, or an unparseable chunk */
    char *stream_error_json; /* the upstream's error object, for the client */
    char finish_reason[32];
    double cost_usd;       /* usage times the deployment's prices, once finished */
    struct tg_usage_facts usage; /* as reported so far */
    /* The answer from the wire's API to the client's (formats/convert.h). */
    struct tg_convert conv;
    struct tg_buf xlate; /* one stream event for the client */
    /* Validation (chat, Messages and Responses answers). */
    enum tg_invalid invalid;
    bool truncated;
    struct tg_buf opening; /* a stream's first content, while it might be a refusal */
};

struct tg_req {
    struct tg_list link; /* gw->requests */
    struct tg_gateway *gw;
    struct tg_runtime *rt;
    struct tg_http_exchange *x; /* NULL once answered or the client left */
    enum tg_req_state state;
    enum tg_api api;
    char id[TG_REQ_ID_CAP];
    uint64_t serial;     /* unique in this process, never 0 (breaker evidence by request) */
    const char *method;  /* static (llhttp's name) */
    char *path;          /* owned; for the access log */
    char client[64];     /* peer "IP:PORT" */
    struct tg_req_trace trace;
    /* The auth key (in rt's config, which the request holds), or NULL. */
    const struct tg_key_cfg *key;
    struct tg_req_admission adm; /* its limits and spend caps (TG_REQ_ADMIT) */
    const struct tg_route_cfg *first_route;
    const struct tg_route_cfg *route;
    const struct tg_policy *policy;
    int route_no;
    /* Routes still to try, and those already entered. */
    const struct tg_route_cfg **queue;
    size_t q_head, q_len, q_cap;
    bool *visited; /* by route index */
    /* The current route's group. */
    uint64_t tried;      /* bit per slot: deployments given up on */
    size_t cur_slot;
    int tries_on_cur;
    /* The request. */
    char *body;
    size_t body_len;
    struct tg_json_doc doc; /* body, read through views; its tree built when needed */
    bool stream;
    char *passed_header;    /* tg_api_passed_header's value, for pass-through attempts; owned */
    bool validate;          /* chat completions: answers are validated */
    struct tg_expect expect; /* what the request asked of the answer */
    bool debug;
    bool cache_bypass;
    /* x-tailgate-mode: background (in rt's config), or NULL. */
    const struct tg_background_cfg *background;
    /* TG_REQ_DLQ: the final error, held until its dead-letter line is on
     * disk (or could not be written); then sent, x-tailgate-dlq: 1 if saved. */
    struct {
        struct tg_dlq_job job;
        bool done;              /* the writer called back */
        bool saved;             /* x-tailgate-dlq: 1 */
        int status;
        const char *code;       /* static */
        char *message;          /* owned */
        enum tg_req_term term;
    } dlq;
    uint8_t cache_key[TG_CACHE_KEY_LEN]; /* of cache_key_route and the body */
    const struct tg_route_cfg *cache_key_route; /* NULL until computed */
    uint64_t start_ms;
    uint64_t start_ns;
    uint64_t deadline_ms;
    struct tg_timer deadline_timer;
    struct tg_timer step_timer; /* backoff */
    struct tg_timer hedge_timer;
    struct tg_deferred kick;    /* run the machine / free on a later pass */
    /* Events recorded by callbacks for req_step. */
    bool ev_client_gone;
    bool ev_deadline;
    bool ev_step;
    bool ev_hedge;
    /* Attempts. */
    struct tg_list attempts;  /* running */
    struct tg_list finished;  /* finished, waiting for req_step */
    struct tg_list graveyard; /* done with; freed on a later pass */
    struct tg_attempt *winner;
    size_t winner_log;         /* 1-based index in log of the answer sent; 0: none */
    uint64_t round_failed;     /* slots whose attempt failed since the last first try */
    struct tg_attempt_log *log;
    size_t n_log, cap_log;
    int n_started;
    int skipped_open;      /* deployments passed over with an open breaker */
    /* The last invalid answer, kept in case every path gives one. */
    struct {
        bool set;
        int status;
        struct tg_buf body;
        const char *deployment;
        enum tg_invalid invalid;
        bool stream; /* body holds SSE events */
    } kept;
    /* Outcome. */
    enum tg_req_term term;
    /* On the gateway's own final errors (SPEC section 3): the official SDKs
     * read these, so their retries do not multiply the gateway's. Neither,
     * either, or both (a spend cap: not before the hour ends, and not by an
     * SDK's own retries meanwhile). */
    bool retry_never;      /* x-should-retry: false */
    int64_t retry_after_s; /* > 0: Retry-After */
    int status;
    const char *served_by;
    const char *served_route;
    const char *cache_result; /* "hit", "stale" or NULL */
    /* [shared]: the entry another instance may have stored, fetched once
     * into this instance's cache (for the key it was asked for): on
     * entering ROUTE in mode "on" (ROUTE waits: cache_wait), else in DEGRADE
     * for a stale answer (DEGRADE waits). */
    struct tg_shared_cache_fetch cache_fetch;
    uint8_t cache_fetch_key[TG_CACHE_KEY_LEN];
    bool cache_fetched;
    bool cache_wait;
    bool degraded;
    bool truncated;         /* x-tailgate-truncated: 1 */
    enum tg_invalid sent_invalid; /* x-tailgate-validation: the last answer, every path invalid */
    bool hedge_won;
    int64_t input_tokens, output_tokens;
    /* Cost (SPEC section 8): of every finished attempt that reported usage
     * on a priced deployment; cost_known once one did. */
    double cost_usd;
    bool cost_known;
    /* The cost ceiling (0: none), and the request's worst-case shape. */
    double cost_ceiling;
    int64_t max_out_tokens; /* max_tokens, or the default the estimate uses */
    /* Shared answers (share.c). A request whose answer others may read
     * records it on `tape` and its own client reads it through `reader`
     * (x is then NULL); a follower's reader reads another request's tape. */
    struct tg_tape *tape;           /* written by this request, or NULL: answers go to x */
    struct tg_tape_reader *reader;  /* the client reading a tape */
    struct tg_idem_entry *idem;     /* the Idempotency-Key entry this request answers */
    /* The Idempotency-Key across instances (shared/idempotency.h): the
     * claim out, whether this request owns the key in Redis (its answer is
     * kept there when done), and whether its answer may be kept at all (not
     * a refusal made while claiming). */
    struct tg_idem_claim claim;
    uint8_t idem_key[TG_KEYMAP_KEY_LEN], idem_fp[TG_KEYMAP_KEY_LEN];
    bool idem_owner;
    bool idem_unkept;
    struct tg_keymap_node coalesce; /* in gw->coalescing while others may join */
    bool coalescing;
    enum { TG_JOINED_NONE = 0, TG_JOINED_IDEMPOTENT, TG_JOINED_COALESCED } joined;
    bool ev_reader_done;            /* the client has the whole answer, or was cut off */
    bool reader_cut;
    int reader_status;              /* the status its client was sent (0: none) */
    /* The pre-call context check (SPEC section 4): the estimated prompt plus
     * the request's own max_tokens (none when it sets none: a provider only
     * refuses a prompt plus the maximum it was asked for), and whether a
     * deployment of the current route was too small for it. */
    int64_t context_need;
    bool too_long_here;
};

enum tg_share_verdict {
    TG_SHARE_ALONE = 0, /* the request makes its own upstream calls */
    TG_SHARE_ANSWERED,  /* refused (bad or reused Idempotency-Key): answered */
    TG_SHARE_FOLLOWS,   /* it reads another request's answer: TG_REQ_FOLLOW */
    TG_SHARE_ASKING,    /* the shared store is asked: TG_REQ_CLAIM, tg_req_shared later */
    TG_SHARE_REPLAYED,  /* answered with the answer another instance kept */
};

/* req.c */
void tg_req_admitted(struct tg_req *r);             /* the store has answered */
/* What share.c decided for the request: go on alone, wait (ASKING: in
 * CLAIM), follow, or it was answered. */
void tg_req_shared(struct tg_req *r, enum tg_share_verdict v);
void tg_req_attempt_finished(struct tg_attempt *a); /* a result is ready */
void tg_req_attempt_commit(struct tg_attempt *a);    /* a stream reached its commit point */
bool tg_req_client_congested(const struct tg_req *r);
void tg_req_log_attempt(struct tg_req *r, struct tg_attempt *a);
/* Whether another deployment than `except` could serve this request now
 * (the current route's group or a fallback still to try, breaker closed or
 * half-open). */
bool tg_req_has_alternative(const struct tg_req *r, const struct tg_dep *except);

/* attempt.c */
/* NULL when the deployment cannot serve the request (why says what). */
struct tg_attempt *tg_attempt_start(struct tg_req *r, size_t slot, int try_no, bool hedge,
                                    uint32_t probe, uint64_t timeout_ms, char *why,
                                    size_t why_len);
struct tg_prices tg_deployment_prices(const struct tg_deployment_cfg *d);
/* Why a deployment cannot serve a request before anything is sent (SPEC
 * section 4); the name is the trace's `ineligible(NAME)`. */
enum tg_ineligible {
    TG_ELIGIBLE = 0,
    TG_INELIGIBLE_COST,    /* its worst case exceeds the cost ceiling (section 8) */
    TG_INELIGIBLE_CONTEXT, /* its context window, configured or learned, is too small */
    TG_INELIGIBLE__COUNT
};
const char *tg_ineligible_name(enum tg_ineligible why);
/* The one eligibility test: picking, starting an attempt and
 * tg_req_has_alternative all ask it. */
enum tg_ineligible tg_attempt_eligibility(const struct tg_req *r,
                                          const struct tg_deployment_cfg *d);
void tg_attempt_cancel(struct tg_attempt *a);
void tg_attempt_resume(struct tg_attempt *a);
void tg_attempt_free(struct tg_attempt *a);
/* Sends what the attempt holds to the client as the start of the stream. */
void tg_attempt_flush_held(struct tg_attempt *a);
/* Moves an attempt nobody needs any more to the graveyard, freed on a later
 * pass (never inside the callbacks that reported it). */
void tg_req_bury(struct tg_req *r, struct tg_attempt *a);
/* Writes the relayed bytes still queued; before anything else reaches the
 * client (the end of the stream, an error event). */
void tg_attempt_send_out(struct tg_attempt *a);

/* The client's reader ended (cut: it was too slow for a shared answer). */
void tg_req_reader_ended(struct tg_req *r, bool cut);
/* The last client reading the request's tape left. */
void tg_req_unread(struct tg_req *r);
/* A client reading the request's tape can take more: a stream paused for
 * its readers may go on. */
void tg_req_upstream_may_resume(struct tg_req *r);

/* out.c: where the answer goes (the client's exchange, or the request's tape). */
bool tg_out_pending(const struct tg_req *r); /* not yet ended, and someone may read it */
void tg_out_respond(struct tg_req *r, int status, const struct tg_buf *headers, const char *body,
                    size_t len);
void tg_out_stream_begin(struct tg_req *r, int status, const struct tg_buf *headers);
void tg_out_stream_write(struct tg_req *r, const char *data, size_t len);
void tg_out_stream_end(struct tg_req *r);
bool tg_out_congested(const struct tg_req *r);

/* share.c */
/* Idempotency-Key (h: the header, or NULL): a key seen before is followed
 * (its answer replayed, or read live while in flight); a new one makes the
 * request record its answer for the next ones with it. */
enum tg_share_verdict tg_share_idempotency(struct tg_req *r, const struct tg_http_header *h);
/* In CLAIM, on the step timer: ask the shared store again. */
void tg_share_claim_again(struct tg_req *r);
/* In CLAIM, past the deadline: give up waiting for the other instance. */
void tg_share_claim_expired(struct tg_req *r);
/* cache.mode "on": follow an identical request in flight, or become the one
 * others may join. */
enum tg_share_verdict tg_share_coalesce(struct tg_req *r, const uint8_t *cache_key);
/* The request's tape ended (out.c). */
void tg_share_answer_done(struct tg_req *r);
/* On DONE: keep the answer for replay or not, stop taking followers. */
void tg_share_request_done(struct tg_req *r);
void tg_share_free(struct tg_req *r);

/* admission.c: the key's rate limits and the spend caps (SPEC section 8) */
/* Whether the request falls under any limit or cap, so it waits in ADMIT. */
bool tg_admission_needed(const struct tg_req *r);
/* Asks the store to admit it; the answer reaches tg_req_admitted(), now or
 * later. */
void tg_admission_start(struct tg_req *r);
/* Answers a refused request (429) and says why it ended. */
enum tg_req_term tg_admission_refuse(struct tg_req *r);
/* The client left before the request was routed: every charge goes back. */
void tg_admission_return(struct tg_req *r);
/* Once the request is done: tpm to the usage reported, the spend counters to
 * what it cost. Nothing is settled twice (returned charges included). */
void tg_admission_settle(struct tg_req *r);

/* trace.c: the request's and its attempts' spans (SPEC section 9) */
/* Its context, from the client's traceparent and tracestate (hr's headers). */
void tg_trace_request_begin(struct tg_req *r, const struct tg_http_request *hr);
/* The attempt's span id, and the traceparent and tracestate it sends
 * upstream (traceparent: NULL when none goes). */
void tg_trace_attempt_begin(struct tg_attempt *a, char traceparent[TG_TRACEPARENT_LEN + 1],
                            const char **traceparent_out, const char **tracestate_out);
/* The attempt's span, once booked (why: what went wrong, or ""). */
void tg_trace_attempt_end(const struct tg_attempt *a, const char *why);
/* The request's span, on DONE. */
void tg_trace_request_end(const struct tg_req *r);

/* answer.c */
/* The answer's headers (what every reader of a shared answer gets). */
void tg_answer_headers(struct tg_req *r, struct tg_buf *h, const char *content_type);
/* The client's own headers: its x-request-id, its rate limits, and how a
 * follower got its answer. */
void tg_answer_own_headers(const struct tg_req *r, struct tg_buf *h);
/* The attempts list of the error body (and the dead-letter line), a JSON array. */
void tg_answer_attempts_json(const struct tg_req *r, struct tg_buf *b);
void tg_answer_error(struct tg_req *r, int status, const char *code, const char *message);
/* A whole answer (JSON, or a stream's events all at once), then the
 * exchange is done with. */
void tg_answer_whole(struct tg_req *r, int status, bool stream, const char *body, size_t len);
void tg_answer_access_log(struct tg_req *r);
/* Why a request ended, as the access log and its span say it. */
const char *tg_req_term_name(enum tg_req_term t);
/* The key's x-ratelimit-* headers (OpenAI's names), once it was admitted or
 * refused. */
void tg_answer_limit_headers(const struct tg_req *r, struct tg_buf *h);
void tg_answer_degraded(struct tg_req *r);
/* Ends the winner's committed stream with the client format's in-band
 * error (error_json: an OpenAI error object). */
void tg_answer_stream_error(struct tg_req *r, const char *error_json);

#endif
