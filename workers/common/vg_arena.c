#include "vg_arena.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct vg_arena_chunk_s {
    struct vg_arena_chunk_s *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
} vg_arena_chunk_t;

struct vg_arena_s {
    size_t chunk;
    vg_arena_chunk_t *head;   /* chunks in use, current first */
    vg_arena_chunk_t *spare;  /* chunks kept from earlier batches */
    ProtobufCAllocator pa;
};

static void *vg_arena_pa_alloc(void *data, size_t n) { return vg_arena_alloc(data, n); }

/* Frees are no-ops: everything goes at the next reset. */
static void vg_arena_pa_free(void *data, void *p) {
    (void)data;
    (void)p;
}

vg_arena_t *vg_arena_new(size_t chunk) {
    vg_arena_t *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->chunk = chunk < 4096 ? 4096 : chunk;
    a->pa.alloc = vg_arena_pa_alloc;
    a->pa.free = vg_arena_pa_free;
    a->pa.allocator_data = a;
    return a;
}

static void vg_arena_free_list(vg_arena_chunk_t *c) {
    while (c) {
        vg_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

void vg_arena_destroy(vg_arena_t *a) {
    if (!a)
        return;
    vg_arena_free_list(a->head);
    vg_arena_free_list(a->spare);
    free(a);
}

void *vg_arena_alloc(vg_arena_t *a, size_t n) {
    vg_arena_chunk_t *c = a->head;
    size_t need = (n + 15) & ~(size_t)15;

    if (!c || c->cap - c->used < need) {
        if (a->spare && a->spare->cap >= need) {
            c = a->spare;
            a->spare = c->next;
        } else {
            size_t cap = need > a->chunk ? need : a->chunk;
            c = malloc(sizeof(*c) + cap);
            if (!c)
                return NULL;
            c->cap = cap;
        }
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    c->used += need;
    return c->data + c->used - need;
}

void vg_arena_reset(vg_arena_t *a) {
    while (a->head) {
        vg_arena_chunk_t *c = a->head;
        a->head = c->next;
        c->next = a->spare;
        a->spare = c;
    }
}

ProtobufCAllocator *vg_arena_allocator(vg_arena_t *a) { return &a->pa; }
