/*
 * vg_arena.h - a bump allocator reset once per batch, so decoding a batch
 * of events costs no malloc after warm-up. Plugs into protobuf-c as a
 * ProtobufCAllocator.
 */
#ifndef VG_ARENA_H
#define VG_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct vg_arena_s vg_arena_t;

/* Caller frees with vg_arena_destroy(). chunk: bytes per chunk. */
vg_arena_t *vg_arena_new(size_t chunk);
void vg_arena_destroy(vg_arena_t *a);

/* Memory for n bytes, 16-aligned; NULL only on out of memory. */
void *vg_arena_alloc(vg_arena_t *a, size_t n);

/* Forget every allocation; keeps the chunks for reuse. */
void vg_arena_reset(vg_arena_t *a);

/* The protobuf-c view of a; borrowed, valid until destroy. */
ProtobufCAllocator *vg_arena_allocator(vg_arena_t *a);

#endif
