/* libFuzzer: event decode and validate (the bytes of any Kafka record), by
 * the decoder written by hand (vg_event_wire.c) against protobuf-c's
 * generated code and the wire check, the reference (vg_event_decode_pb):
 * - whatever the bytes, no crash, no leak, no undefined behaviour;
 * - both give the same verdict and the same error text;
 * - an event both accept is the same event (protobuf-c's encoding of each,
 *   the unknown fields protobuf-c keeps left out), and every string in it
 *   passes the text rules. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vg_event.h"

static unsigned *unknown_count(vg_event_t *ev, size_t k) {
    if (k == 0)
        return &ev->base.n_unknown_fields;
    if (k == 1)
        return ev->descriptive ? &ev->descriptive->base.n_unknown_fields : NULL;
    return k - 2 < ev->n_attributes ? &ev->attributes[k - 2]->base.n_unknown_fields : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t pa[2 * VG_EVENT_MAX_BYTES], pb[2 * VG_EVENT_MAX_BYTES];
    unsigned keep[2 + VG_EVENT_MAX_ATTRIBUTES], *c;
    size_t na, nb;
    vg_event_t *a = NULL, *b = NULL;
    char e1[512] = "", e2[512] = "";
    bool keyed = size > 0 && (data[0] & 1);
    const char *key = keyed ? "c1" : NULL;
    int64_t not_after = size % 3 ? 0 : 1700000000000LL;

    /* Odd first byte: keyed as customer "c1"; size picks a future limit. */
    vg_err_t ra = vg_event_decode(data, size, key, keyed ? 2 : 0, not_after, NULL, &a, e1, sizeof(e1));
    vg_err_t rb =
        vg_event_decode_pb(data, size, key, keyed ? 2 : 0, not_after, NULL, &b, e2, sizeof(e2));

    if (ra != rb || (ra && strcmp(e1, e2) != 0))
        abort(); /* another verdict, or another error */
    if (ra)
        return 0;
    if (!vg_event_text_ok((const uint8_t *)a->event_id, strlen(a->event_id), NULL) ||
        !vg_event_text_ok((const uint8_t *)a->customer_id, strlen(a->customer_id), NULL))
        abort(); /* accepted text that breaks the rules */
    for (size_t k = 0; k < 2 + VG_EVENT_MAX_ATTRIBUTES; k++)
        if ((c = unknown_count(b, k)))
            keep[k] = *c, *c = 0;
    na = vigil__v1__interaction_event__get_packed_size(a);
    nb = vigil__v1__interaction_event__get_packed_size(b);
    if (na != nb || na > sizeof(pa))
        abort();
    vigil__v1__interaction_event__pack(a, pa);
    vigil__v1__interaction_event__pack(b, pb);
    if (memcmp(pa, pb, na) != 0)
        abort(); /* read as another event */
    for (size_t k = 0; k < 2 + VG_EVENT_MAX_ATTRIBUTES; k++)
        if ((c = unknown_count(b, k)))
            *c = keep[k];
    vg_event_free(a, NULL);
    vg_event_free_pb(b, NULL);
    return 0;
}
