/* libFuzzer: vigilctl's JSON event input (one line of `vigilctl produce`). */
#include <stdint.h>
#include <stdlib.h>

#include "vg_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Vigil__V1__InteractionEvent *ev = NULL;
    char err[512];

    if (vg_json_to_event((const char *)data, size, &ev, err, sizeof(err)) == VG_OK) {
        char *back = vg_json_from_event(ev);
        free(back);
        vg_json_event_free(ev);
    }
    return 0;
}
