/* libFuzzer: customer-state decode (bytes read back from Redis), by the
 * codec written by hand (vg_state_wire.c) against protobuf-c's generated
 * code, the reference:
 * - whatever the bytes, the decoder by hand neither crashes nor reads out
 *   of bounds, and a state it accepts re-encodes within
 *   vg_state_encoded_max() and decodes again;
 * - what protobuf-c accepts, it accepts too, as the same state (compared
 *   by protobuf-c's encoding of each), and both encoders write the same
 *   bytes for it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vg_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static vg_state_t st, ref, back;
    static uint8_t buf[sizeof(vg_state_t) + 8192], buf2[sizeof(vg_state_t) + 8192];
    size_t len = 0, len2 = 0;
    vg_err_t mine = vg_state_decode(&st, data, size, NULL, 0);

    if (mine == VG_OK) {
        if (vg_state_encode(&st, buf, vg_state_encoded_max(), &len) != VG_OK)
            abort(); /* the bound is documented as always enough */
        if (vg_state_decode(&back, buf, len, NULL, 0) != VG_OK)
            abort();
    }
    if (vg_state_decode_pb(&ref, data, size, NULL, 0) != VG_OK)
        return 0;
    if (mine != VG_OK)
        abort(); /* protobuf-c reads it: so must the codec by hand */
    if (vg_state_encode_pb(&st, buf, sizeof(buf), &len) != VG_OK ||
        vg_state_encode_pb(&ref, buf2, sizeof(buf2), &len2) != VG_OK || len != len2 ||
        memcmp(buf, buf2, len) != 0)
        abort(); /* read as another state */
    if (vg_state_encode(&ref, buf2, sizeof(buf2), &len2) != VG_OK || len != len2 ||
        memcmp(buf, buf2, len) != 0)
        abort(); /* the encoders differ */
    return 0;
}
