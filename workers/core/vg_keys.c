#include "vg_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int vg_keys_done(int n, size_t size) { return n < 0 || (size_t)n >= size ? -1 : n; }

int vg_keys_state(char *out, size_t size, const char *prefix, const char *pseudonym) {
    return vg_keys_done(snprintf(out, size, "%s:{%s}", prefix, pseudonym), size);
}

int vg_keys_due(char *out, size_t size, const char *prefix, const char *topic, int32_t partition) {
    return vg_keys_done(snprintf(out, size, "%s:due:%s:%" PRId32, prefix, topic, partition), size);
}

int vg_keys_commit_metadata(char *out, size_t size, int64_t watermark_ms) {
    return vg_keys_done(snprintf(out, size, "wm=%" PRId64, watermark_ms), size);
}

int64_t vg_keys_parse_commit_metadata(const char *md) {
    long long wm;

    if (strncmp(md, "wm=", 3) != 0)
        return 0;
    wm = strtoll(md + 3, NULL, 10);
    return wm > 0 ? (int64_t)wm : 0;
}
