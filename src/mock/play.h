/* Plays a mock plan in time on the loop: the answer's head and body (or its
 * stream's pieces) go to a sink when they are due, with the plan's faults
 * (hang, reset after N bytes). The same player drives `tailgate mock` over
 * HTTP and in-process mock deployments, so both behave alike. */
#ifndef TG_MOCK_PLAY_H
#define TG_MOCK_PLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "mock/engine.h"

/* Where the answer goes. After `end` or `reset` the player makes no more
 * calls, and the sink may free the player from inside either. */
struct tg_mock_sink {
    /* Once, before any data. body_len is the full length when not streamed. */
    void (*head)(void *ctx, int status, const char *headers, size_t headers_len, bool stream,
                 size_t body_len);
    void (*data)(void *ctx, const char *p, size_t n);
    void (*end)(void *ctx);
    /* The connection breaks here (reset_after_bytes). */
    void (*reset)(void *ctx);
};

enum tg_mock_play_state {
    TG_MOCK_PLAY_WAITING = 0, /* before the head is due */
    TG_MOCK_PLAY_STREAMING,   /* head sent, pieces follow */
    TG_MOCK_PLAY_HANGING,     /* the plan says: go silent */
    TG_MOCK_PLAY_DONE,
};

struct tg_mock_play {
    struct tg_loop *loop;
    struct tg_mock *mock;
    struct tg_mock_plan plan;
    const struct tg_mock_sink *sink;
    void *ctx;
    enum tg_mock_play_state state;
    struct tg_timer timer;
    struct tg_deferred kick; /* a 0 ms answer: next loop pass, not 1 ms later */
    uint64_t start_ms;
    size_t next_piece;
    size_t sent; /* body bytes delivered */
    bool paused; /* the sink is congested */
};

/* Plans the answer to `body` and starts playing it; nothing is delivered
 * before the next loop iteration. */
void tg_mock_play_start(struct tg_mock_play *play, struct tg_loop *loop, struct tg_mock *mock,
                        enum tg_mock_api api, const char *body, size_t len,
                        const struct tg_mock_sink *sink, void *ctx);
/* The receiver went away: stop, count it as cancelled, free the plan. */
void tg_mock_play_cancel(struct tg_mock_play *play);
void tg_mock_play_pause(struct tg_mock_play *play);
void tg_mock_play_resume(struct tg_mock_play *play);

#endif
