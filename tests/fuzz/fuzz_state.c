/* libFuzzer: customer-state decode (bytes read back from Redis). A state
 * that decodes re-encodes within vg_state_encoded_max() and decodes again. */
#include <stdint.h>
#include <stdlib.h>

#include "vg_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static vg_state_t st, back;
    static uint8_t buf[sizeof(vg_state_t) + 8192];
    size_t len = 0;

    if (vg_state_decode(&st, data, size, NULL, 0) != VG_OK)
        return 0;
    if (vg_state_encode(&st, buf, vg_state_encoded_max(), &len) != VG_OK)
        abort(); /* the bound is documented as always enough */
    if (vg_state_decode(&back, buf, len, NULL, 0) != VG_OK)
        abort();
    return 0;
}
