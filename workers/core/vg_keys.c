#include "vg_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int vg_keys_done(int n, size_t size) { return n < 0 || (size_t)n >= size ? -1 : n; }

int vg_keys_state(char *out, size_t size, const char *prefix, const char *pseudonym) {
    /* Once per record: plain copies, not printf's machinery. */
    size_t np = strlen(prefix), nq = strlen(pseudonym), n = np + nq + 3;

    if (n >= size)
        return -1;
    memcpy(out, prefix, np);
    out[np] = ':';
    out[np + 1] = '{';
    memcpy(out + np + 2, pseudonym, nq);
    out[n - 1] = '}';
    out[n] = '\0';
    return (int)n;
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
