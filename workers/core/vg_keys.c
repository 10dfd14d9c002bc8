#include "vg_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int vg_keys_done(int n, size_t size) { return n < 0 || (size_t)n >= size ? -1 : n; }

/* "<prefix>:{<topic>:<partition>}" into out; its length, or -1. Once per
 * record: plain copies, not printf's machinery. */
static int vg_keys_slot_group(char *out, size_t size, const char *prefix, const char *topic,
                              int32_t partition) {
    size_t np = strlen(prefix), nt = strlen(topic), n = 0;
    char digits[12];
    size_t nd = 0;
    uint32_t v = partition < 0 ? 0 : (uint32_t)partition;

    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (np + nt + nd + 4 >= size)
        return -1;
    memcpy(out, prefix, np), n = np;
    out[n++] = ':';
    out[n++] = '{';
    memcpy(out + n, topic, nt), n += nt;
    out[n++] = ':';
    while (nd)
        out[n++] = digits[--nd];
    out[n++] = '}';
    out[n] = '\0';
    return (int)n;
}

int vg_keys_state(char *out, size_t size, const char *prefix, const char *topic,
                  int32_t partition, const char *pseudonym) {
    int n = vg_keys_slot_group(out, size, prefix, topic, partition);
    size_t nq = strlen(pseudonym);

    if (n < 0 || (size_t)n + 1 + nq >= size)
        return -1;
    out[n] = ':';
    memcpy(out + n + 1, pseudonym, nq + 1);
    return n + 1 + (int)nq;
}

/* "<prefix>:{<topic>:<partition>}<suffix>": a partition's own keys. */
static int vg_keys_of_partition(char *out, size_t size, const char *prefix, const char *topic,
                                int32_t partition, const char *suffix) {
    int n = vg_keys_slot_group(out, size, prefix, topic, partition);
    size_t ns = strlen(suffix);

    if (n < 0 || (size_t)n + ns >= size)
        return -1;
    memcpy(out + n, suffix, ns + 1);
    return n + (int)ns;
}

int vg_keys_due(char *out, size_t size, const char *prefix, const char *topic, int32_t partition) {
    return vg_keys_of_partition(out, size, prefix, topic, partition, ":due");
}

int vg_keys_mark(char *out, size_t size, const char *prefix, const char *topic, int32_t partition) {
    return vg_keys_of_partition(out, size, prefix, topic, partition, ":applied");
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
