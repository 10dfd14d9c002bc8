/*
 * test_keys: the Redis key layout (vg_keys) and the cluster slot of a key
 * (vg_redis_slot). The slot values are the ones the Redis documentation
 * gives for CLUSTER KEYSLOT ("somekey" 11058, "foo{hash_tag}" 2515) and
 * the CRC16/XMODEM check value of "123456789" (0x31C3).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vg_keys.h"
#include "vg_redis.h"

static unsigned slot_of(const char *key) { return vg_redis_slot(key, strlen(key)); }

Test(keys, layout) {
    char k[VG_KEYS_MAX];

    cr_assert_eq(vg_keys_state(k, sizeof(k), "vigil", "vigil.events", 17, "0a1b"), 28);
    cr_assert_str_eq(k, "vigil:{vigil.events:17}:0a1b");
    cr_assert_eq(vg_keys_due(k, sizeof(k), "vigil", "vigil.events", 0), 26);
    cr_assert_str_eq(k, "vigil:{vigil.events:0}:due");
    cr_assert_eq(vg_keys_state(k, 20, "vigil", "vigil.events", 17, "0a1b"), -1);
    cr_assert_eq(vg_keys_due(k, 26, "vigil", "vigil.events", 0), -1);
}

Test(keys, slots_match_redis) {
    cr_assert_eq(slot_of("somekey"), 11058);
    cr_assert_eq(slot_of("foo{hash_tag}"), 2515);
    cr_assert_eq(slot_of("bar{hash_tag}"), 2515);
    cr_assert_eq(slot_of("123456789"), 0x31C3 & 16383);
    cr_assert_eq(slot_of("{123456789}x"), 0x31C3 & 16383);
    /* An empty tag is no tag: the whole key is hashed. */
    cr_assert_eq(slot_of("{}123456789"), vg_redis_slot("{}123456789", 11));
    cr_assert_neq(slot_of("{}123456789"), slot_of("123456789"));
}

Test(keys, a_partition_is_one_slot) {
    char a[VG_KEYS_MAX], b[VG_KEYS_MAX], due[VG_KEYS_MAX];
    unsigned seen[4] = {0};

    for (int p = 0; p < 4; p++) {
        vg_keys_state(a, sizeof(a), "vigil", "ev", p, "00ff");
        vg_keys_state(b, sizeof(b), "vigil", "ev", p, "ee11");
        vg_keys_due(due, sizeof(due), "vigil", "ev", p);
        cr_assert_eq(slot_of(a), slot_of(b));
        cr_assert_eq(slot_of(a), slot_of(due));
        seen[p] = slot_of(a);
    }
    cr_assert_neq(seen[0], seen[1]);
}
