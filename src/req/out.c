/* Where a request's answer goes: straight to its client's exchange (its
 * headers then already hold the client's own lines, tg_answer_headers), or,
 * when others may read it too (share.c), onto the request's tape, which its
 * own client reads like everyone else. The rest of req/ writes answers only
 * through these calls and never asks which of the two it is. */
#include "req/internal.h"

bool tg_out_pending(const struct tg_req *r)
{
    return r->tape ? r->tape->state != TG_TAPE_DONE : r->x != NULL;
}

void tg_out_respond(struct tg_req *r, int status, const struct tg_buf *headers, const char *body,
                    size_t len)
{
    if (r->tape) {
        tg_tape_begin(r->tape, status, false, headers->data, headers->len);
        tg_tape_write(r->tape, body, len);
        tg_tape_end(r->tape);
        tg_share_answer_done(r);
        return;
    }
    if (!r->x)
        return;
    tg_http_respond(r->x, status, headers->data, headers->len, body, len);
    r->x = NULL;
}

void tg_out_stream_begin(struct tg_req *r, int status, const struct tg_buf *headers)
{
    if (r->tape) {
        tg_tape_begin(r->tape, status, true, headers->data, headers->len);
        return;
    }
    if (r->x)
        tg_http_stream_begin(r->x, status, headers->data, headers->len);
}

void tg_out_stream_write(struct tg_req *r, const char *data, size_t len)
{
    if (r->tape)
        tg_tape_write(r->tape, data, len);
    else if (r->x)
        tg_http_stream_write(r->x, data, len);
}

void tg_out_stream_end(struct tg_req *r)
{
    if (r->tape) {
        tg_tape_end(r->tape);
        tg_share_answer_done(r);
        return;
    }
    if (r->x)
        tg_http_stream_end(r->x);
    r->x = NULL;
}

bool tg_out_congested(const struct tg_req *r)
{
    if (r->tape)
        return tg_tape_congested(r->tape);
    return r->x && tg_http_congested(r->x);
}
