/* libFuzzer: event decode and validate (the bytes of any Kafka record).
 * Whatever comes in: no crash, no leak, no undefined behaviour; a decoded
 * event re-encodes, and every string in it passes the text rules. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vg_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_event_t *ev = NULL;
    char err[512];
    uint8_t *buf;
    bool keyed = size > 0 && (data[0] & 1);

    /* Odd first byte: keyed as customer "c1"; size picks a future limit. */
    if (vg_event_decode(data, size, keyed ? "c1" : NULL, keyed ? 2 : 0,
                        size % 3 ? 0 : 1700000000000LL, NULL, &ev, err, sizeof(err)) == VG_OK) {
        size_t n = vigil__v1__interaction_event__get_packed_size(ev);
        if (!vg_event_text_ok((const uint8_t *)ev->event_id, strlen(ev->event_id), NULL) ||
            !vg_event_text_ok((const uint8_t *)ev->customer_id, strlen(ev->customer_id), NULL))
            abort(); /* accepted text that breaks the rules */
        if ((buf = malloc(n ? n : 1))) {
            vigil__v1__interaction_event__pack(ev, buf);
            free(buf);
        }
        vg_event_free(ev, NULL);
    }
    return 0;
}
