/* Hierarchical timer wheel (see wheel.h).
 *
 * A pending timer sits at the level of the highest 6-bit group in which its
 * expiry differs from the wheel's present, in the slot named by that group of
 * its expiry. So a level-L timer's expiry, shifted right by 6L bits, is 1..63
 * ahead of the present shifted alike: the level's hand reaches its slot before
 * wrapping. When the hand reaches it, the timer is placed again relative to the
 * new present: one level lower, or fired when due. */
#include "util/wheel.h"

#include <assert.h>

#define SLOT_MASK (TG_WHEEL_SLOTS - 1)
#define MAX_SPAN ((UINT64_C(1) << (TG_WHEEL_BITS * TG_WHEEL_LEVELS)) - 1)

void tg_wheel_init(struct tg_wheel *w, uint64_t now_ms)
{
    w->now_ms = now_ms;
    w->run_to_ms = 0;
    w->count = 0;
    for (int l = 0; l < TG_WHEEL_LEVELS; l++) {
        w->occupied[l] = 0;
        for (unsigned s = 0; s < TG_WHEEL_SLOTS; s++)
            tg_list_init(&w->slots[l][s]);
    }
}

void tg_timer_init(struct tg_timer *t, tg_timer_cb cb)
{
    tg_list_init(&t->link);
    t->expire_ms = 0;
    t->cb = cb;
    t->bucket = TG_TIMER_IDLE;
}

static void place(struct tg_wheel *w, struct tg_timer *t)
{
    uint64_t diff = t->expire_ms ^ w->now_ms;
    assert(t->expire_ms > w->now_ms);
    int level = (63 - __builtin_clzll(diff)) / TG_WHEEL_BITS;
    if (level >= TG_WHEEL_LEVELS)
        level = TG_WHEEL_LEVELS - 1; /* beyond the top: re-placed each time its slot comes up */
    unsigned slot = (unsigned)(t->expire_ms >> (level * TG_WHEEL_BITS)) & SLOT_MASK;
    tg_list_push_back(&w->slots[level][slot], &t->link);
    w->occupied[level] |= UINT64_C(1) << slot;
    t->bucket = (int16_t)(level * TG_WHEEL_SLOTS + slot);
}

void tg_wheel_add(struct tg_wheel *w, struct tg_timer *t, uint64_t expire_ms)
{
    if (tg_timer_pending(t))
        tg_wheel_cancel(w, t);
    /* Inside tg_wheel_run, "now" is where the run will end: a callback that
     * re-arms in the past fires in the next run, not once per millisecond of
     * this one. */
    uint64_t floor = w->run_to_ms > w->now_ms ? w->run_to_ms : w->now_ms;
    if (expire_ms <= floor)
        expire_ms = floor + 1;
    if (expire_ms - w->now_ms > MAX_SPAN)
        expire_ms = w->now_ms + MAX_SPAN;
    t->expire_ms = expire_ms;
    place(w, t);
    w->count++;
}

void tg_wheel_cancel(struct tg_wheel *w, struct tg_timer *t)
{
    if (!tg_timer_pending(t))
        return;
    if (t->bucket == TG_TIMER_DUE) {
        tg_list_remove(&t->link);
        t->bucket = TG_TIMER_IDLE;
        w->count--;
        return;
    }
    int level = t->bucket / (int)TG_WHEEL_SLOTS;
    int slot = t->bucket % (int)TG_WHEEL_SLOTS;
    tg_list_remove(&t->link);
    if (tg_list_empty(&w->slots[level][slot]))
        w->occupied[level] &= ~(UINT64_C(1) << slot);
    t->bucket = TG_TIMER_IDLE;
    w->count--;
}

static inline uint64_t rotl64(uint64_t x, unsigned k)
{
    k &= 63;
    return k ? (x << k) | (x >> (64 - k)) : x;
}

static inline uint64_t rotr64(uint64_t x, unsigned k)
{
    k &= 63;
    return k ? (x >> k) | (x << (64 - k)) : x;
}

uint64_t tg_wheel_next(const struct tg_wheel *w)
{
    uint64_t best = UINT64_MAX;
    for (int l = 0; l < TG_WHEEL_LEVELS; l++) {
        if (!w->occupied[l])
            continue;
        unsigned shift = (unsigned)l * TG_WHEEL_BITS;
        uint64_t hand = w->now_ms >> shift;
        /* Distance (1..64) from the hand to the next occupied slot. */
        uint64_t rot = rotr64(w->occupied[l], (unsigned)((hand + 1) & SLOT_MASK));
        uint64_t k = (uint64_t)__builtin_ctzll(rot) + 1;
        uint64_t at = (hand + k) << shift;
        if (at < best)
            best = at;
    }
    return best;
}

/* Moves the present to `to`, taking every timer whose slot a hand passed or
 * reached into `todo`, in slot order. */
static void advance(struct tg_wheel *w, uint64_t to, struct tg_list *todo)
{
    for (int l = 0; l < TG_WHEEL_LEVELS; l++) {
        unsigned shift = (unsigned)l * TG_WHEEL_BITS;
        uint64_t from_hand = w->now_ms >> shift, to_hand = to >> shift;
        if (from_hand == to_hand)
            break; /* this level's hand did not move, nor did any above it */
        uint64_t passed;
        unsigned start = (unsigned)((from_hand + 1) & SLOT_MASK);
        if (to_hand - from_hand >= TG_WHEEL_SLOTS)
            passed = UINT64_MAX;
        else
            passed = rotl64((UINT64_C(1) << (to_hand - from_hand)) - 1, start);
        /* Walk from the first slot the hand passed, so earlier slots come first. */
        uint64_t take = rotr64(passed & w->occupied[l], start);
        while (take) {
            unsigned s = ((unsigned)__builtin_ctzll(take) + start) & SLOT_MASK;
            take &= take - 1;
            tg_list_splice_back(todo, &w->slots[l][s]);
            w->occupied[l] &= ~(UINT64_C(1) << s);
        }
    }
    w->now_ms = to;
}

size_t tg_wheel_run(struct tg_wheel *w, uint64_t now_ms)
{
    size_t fired = 0;
    struct tg_list todo, due;
    tg_list_init(&todo);
    tg_list_init(&due);
    w->run_to_ms = now_ms;
    while (now_ms > w->now_ms) {
        uint64_t next = tg_wheel_next(w);
        uint64_t step = next < now_ms ? next : now_ms;
        advance(w, step, &todo);
        /* Due timers fire; the others go one level down (a cascade). */
        while (!tg_list_empty(&todo)) {
            struct tg_timer *t = tg_container_of(tg_list_first(&todo), struct tg_timer, link);
            tg_list_remove(&t->link);
            if (t->expire_ms <= w->now_ms) {
                t->bucket = TG_TIMER_DUE; /* still pending: a callback may cancel it */
                tg_list_push_back(&due, &t->link);
            } else {
                place(w, t);
            }
        }
        /* A callback may cancel or re-arm a timer still in `due`, so take
         * them one at a time. */
        while (!tg_list_empty(&due)) {
            struct tg_timer *t = tg_container_of(tg_list_first(&due), struct tg_timer, link);
            tg_list_remove(&t->link);
            t->bucket = TG_TIMER_IDLE;
            w->count--;
            fired++;
            t->cb(t);
        }
    }
    w->run_to_ms = 0;
    return fired;
}
