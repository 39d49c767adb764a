/* Intrusive doubly-linked circular list, and container_of. Header-only: the
 * operations are a few pointer moves, and inlining them matters on the hot path. */
#ifndef TG_UTIL_LIST_H
#define TG_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define tg_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tg_list {
    struct tg_list *prev, *next;
};

static inline void tg_list_init(struct tg_list *head)
{
    head->prev = head->next = head;
}

static inline bool tg_list_empty(const struct tg_list *head)
{
    return head->next == head;
}

/* A node that is not on any list points at itself (after init or remove). */
static inline bool tg_list_linked(const struct tg_list *node)
{
    return node->next != node && node->next != NULL;
}

static inline void tg_list_insert_before(struct tg_list *at, struct tg_list *node)
{
    node->next = at;
    node->prev = at->prev;
    at->prev->next = node;
    at->prev = node;
}

static inline void tg_list_push_back(struct tg_list *head, struct tg_list *node)
{
    tg_list_insert_before(head, node);
}

static inline void tg_list_push_front(struct tg_list *head, struct tg_list *node)
{
    tg_list_insert_before(head->next, node);
}

static inline void tg_list_remove(struct tg_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* Moves every node of `from` to the end of `to`; `from` ends empty. */
static inline void tg_list_splice_back(struct tg_list *to, struct tg_list *from)
{
    if (tg_list_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    tg_list_init(from);
}

#define tg_list_first(head) ((head)->next)
#define tg_list_foreach(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define tg_list_foreach_safe(pos, tmp, head)                                                       \
    for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif
