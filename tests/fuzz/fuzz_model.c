/* libFuzzer: the model loader (YAML text): refused with a reason, or a
 * model that scores an event without crashing. */
#include <stdint.h>
#include <stdlib.h>

#include "vg_model.h"
#include "vg_score.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static vg_model_t m;
    char err[512];

    (void)vg_model_parse(&m, (const char *)data, size, "fuzz", err, sizeof(err));
    return 0;
}
