/* vigilctl state, explain, model check: what Redis holds and why. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vigilctl.h"
#include "vg_explain.h"
#include "vg_json.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_consumer.h"
#include "vg_keys.h"
#include "vg_model.h"
#include "vg_pseudo.h"
#include "vg_redis.h"
#include "vg_state.h"
#include "vigil/v1/state.pb-c.h"

/* Connect to Redis and load the stored state of (tenant, customer). Its
 * key holds the events partition (vg_keys.h): --partition N names it,
 * else every partition of topic.events is tried (Kafka is asked how many)
 * in one pipelined round trip. Returns 0 with *r (caller destroys), key
 * and *st (valid while *r lives), or the exit status after saying why: 1
 * Redis or Kafka, 2 setup, 3 no state for this customer. */
static int vg_ctl_fetch_state(const vg_ctl_t *c, const char *cmd, const char *customer,
                              const char *tenant, char *key, size_t key_size, vg_redis_t **r,
                              vg_redis_state_t *st) {
    const char *key_secret = c->cfg.pseudonym_key[0] ? c->cfg.pseudonym_key : VG_PSEUDO_DEV_KEY;
    const char *only = vg_ctl_opt(c, "--partition", NULL);
    vg_redis_conf_t rc;
    char err[512], pseudo[VG_PSEUDO_LEN], (*keys)[VG_KEYS_MAX] = NULL;
    const char **kp = NULL;
    vg_redis_state_t *loaded = NULL;
    int first = 0, n = 1, found = -1, n_found = 0, rc_exit = 0;
    vg_pseudo_t *ps;

    *r = NULL;
    if (!(ps = vg_pseudo_new(key_secret, strlen(key_secret), err, sizeof(err)))) {
        fprintf(stderr, "vigilctl %s: %s\n", cmd, err);
        return 2;
    }
    vg_pseudo_id(ps, tenant, customer, pseudo);
    vg_pseudo_destroy(ps);
    if (only) {
        first = (int)vg_ctl_num(c, "--partition", 0);
    } else if ((n = vg_kafka_admin_partitions(&c->props, c->cfg.topic_events, 10000, err,
                                              sizeof(err))) < 1) {
        fprintf(stderr, "vigilctl %s: %s (the state key holds the partition: give it with "
                        "--partition N)\n", cmd, err);
        return 1;
    }
    if (n > VG_REDIS_PIPE_MAX)
        n = VG_REDIS_PIPE_MAX;
    keys = calloc((size_t)n, sizeof(*keys));
    kp = calloc((size_t)n, sizeof(*kp));
    loaded = calloc((size_t)n, sizeof(*loaded));
    if (!keys || !kp || !loaded) {
        fprintf(stderr, "vigilctl %s: out of memory\n", cmd);
        rc_exit = 2;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        vg_keys_state(keys[i], sizeof(keys[i]), c->cfg.redis_key_prefix, c->cfg.topic_events,
                      first + i, pseudo);
        kp[i] = keys[i];
    }
    vg_config_redis(&c->cfg, &rc);
    if (!(*r = vg_redis_new(&rc, NULL, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl %s: %s\n", cmd, err);
        rc_exit = 1;
        goto done;
    }
    if (vg_redis_load(*r, kp, (size_t)n, loaded, err, sizeof(err))) {
        fprintf(stderr, "vigilctl %s: %s\n", cmd, err);
        rc_exit = 1;
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (loaded[i].found && n_found++ == 0)
            found = i;
    if (found < 0) {
        fprintf(stderr, "vigilctl %s: no state for this customer (key %s%s)\n", cmd, keys[0],
                n > 1 ? " and the other partitions' keys" : "");
        rc_exit = 3;
        goto done;
    }
    if (n_found > 1)
        fprintf(stderr, "vigilctl %s: this customer has states on %d partitions (its events "
                        "were keyed differently, or the partition count changed); showing %s\n",
                cmd, n_found, keys[found]);
    snprintf(key, key_size, "%s", keys[found]);
    *st = loaded[found];
done:
    if (rc_exit && *r) {
        vg_redis_destroy(*r);
        *r = NULL;
    }
    free(keys);
    free(kp);
    free(loaded);
    return rc_exit;
}

/* Open a sealed latest event in place (data, *len: at most cap bytes), with
 * the configured pseudonym key. False (and says why) if it does not open. */
static bool vg_ctl_open_last_event(const vg_ctl_t *c, const char *cmd, uint8_t *data, size_t *len,
                                   size_t cap) {
    const char *secret = c->cfg.pseudonym_key[0] ? c->cfg.pseudonym_key : VG_PSEUDO_DEV_KEY;
    char err[256];
    uint8_t *plain = malloc(cap);
    vg_pseudo_t *ps = vg_pseudo_new(secret, strlen(secret), err, sizeof(err));
    size_t pl = 0;
    bool ok = plain && ps && vg_pseudo_open_bytes(ps, data, *len, plain, cap, &pl) == VG_OK;

    if (ok) {
        memcpy(data, plain, pl);
        *len = pl;
    } else {
        fprintf(stderr, "vigilctl %s: a sealed part of the state (latest event or kept trigger) "
                        "is sealed under another pseudonym.key (or altered): not shown\n", cmd);
    }
    vg_pseudo_destroy(ps);
    free(plain);
    return ok;
}

static bool vg_ctl_open_sealed_state(const vg_ctl_t *c, vg_state_t *st) {
    size_t n = st->last_event_len;

    if (!vg_ctl_open_last_event(c, "explain", st->last_event, &n, sizeof(st->last_event)))
        return false;
    st->last_event_len = (uint32_t)n;
    st->last_event_sealed = false;
    return true;
}

/* The latest event's bytes, read back from the events topic at the offset
 * a state points to (workers keep where it is, not its bytes) into buf
 * (cap bytes). False (and says why) when Kafka no longer has it, or
 * cannot be asked. */
static bool vg_ctl_read_last_event(const vg_ctl_t *c, const char *cmd, int32_t partition,
                                   int64_t next, uint8_t *buf, size_t cap, size_t *len,
                                   int64_t *record_ms) {
    char err[768];

    if (c->props.n == 0) {
        fprintf(stderr, "vigilctl %s: the latest event is in %s [%d] at offset %lld; set "
                        "kafka.bootstrap.servers to read it\n",
                cmd, c->cfg.topic_events, (int)partition, (long long)(next - 1));
        return false;
    }
    if (vg_kafka_read_at(&c->props, c->cfg.topic_events, partition, next - 1,
                         (int)vg_ctl_num(c, "--timeout-ms", 10000), buf, cap, len, record_ms,
                         err, sizeof(err))) {
        fprintf(stderr, "vigilctl %s: reading the latest event back from Kafka: %s\n", cmd, err);
        return false;
    }
    return true;
}

int vg_ctl_state(vg_ctl_t *c) {
    const char *customer = c->argc > 0 && c->argv[0][0] != '-' ? c->argv[0] : NULL;
    char key[VG_KEYS_MAX];
    vg_redis_t *r;
    vg_redis_state_t st;
    Vigil__V1__CustomerState *m;
    ProtobufCBinaryData kept = {0, NULL};
    uint8_t *event = NULL;
    size_t n_event = 0;
    int64_t record_ms = -1;
    char *json;
    int rc_exit;

    if (!customer) {
        fprintf(stderr, "usage: vigilctl state CUSTOMER [--tenant T] [--partition N]\n");
        return 2;
    }
    if ((rc_exit = vg_ctl_fetch_state(c, "state", customer, vg_ctl_opt(c, "--tenant", "acme"),
                                      key, sizeof(key), &r, &st)))
        return rc_exit;
    m = vigil__v1__customer_state__unpack(NULL, st.len, st.data);
    if (m)
        vg_state_msg_event_place(m);
    /* The latest event, read back from Kafka (shown in place of the bytes
     * older workers kept; the unpacked field is put back before it is
     * freed). */
    if (m && !m->last_event.len && m->last_event_next > 0 &&
        (event = malloc(VG_STATE_LAST_EVENT_MAX)) &&
        vg_ctl_read_last_event(c, "state", m->last_event_partition, m->last_event_next, event,
                               VG_STATE_LAST_EVENT_MAX, &n_event, &record_ms)) {
        kept = m->last_event;
        m->last_event.data = event;
        m->last_event.len = n_event;
        if (!m->last_record_ms && record_ms > 0)
            m->last_record_ms = record_ms;
    }
    if (m && m->last_event_sealed && m->last_event.len) {
        size_t n = m->last_event.len;
        if (vg_ctl_open_last_event(c, "state", m->last_event.data, &n, m->last_event.len))
            m->last_event.len = n, m->last_event_sealed = false;
        else
            m->last_event.len = 0;
    }
    for (size_t i = 0; m && i < m->n_decisions; i++) {
        Vigil__V1__Decision *d = m->decisions[i];
        size_t n = d->n_triggers ? d->triggers[0].len : 0;
        if (!d->sealed || !n)
            continue;
        if (vg_ctl_open_last_event(c, "state", d->triggers[0].data, &n, d->triggers[0].len))
            d->triggers[0].len = n, d->sealed = false;
        else
            d->triggers[0].len = 0;
    }
    json = m ? vg_json_from_state(m) : NULL;
    if (json) {
        printf("{\"key\":\"%s\",\"stored_version\":%" PRIu64 ",\"state\":%s}\n", key,
               st.version, json);
    } else {
        fprintf(stderr, "vigilctl state: stored state is not a CustomerState\n");
        rc_exit = 1;
    }
    free(json);
    if (m && event && m->last_event.data == event)
        m->last_event = kept;
    if (m)
        vigil__v1__customer_state__free_unpacked(m, NULL);
    free(event);
    vg_redis_destroy(r);
    return rc_exit;
}

/* --- model check and explain ------------------------------------------ */

int vg_ctl_model(vg_ctl_t *c) {
    char err[1024];
    vg_model_t *m;

    if (c->argc < 2 || strcmp(c->argv[0], "check") != 0) {
        fprintf(stderr, "usage: vigilctl model check FILE\n");
        return 2;
    }
    if (!(m = malloc(sizeof(*m))))
        return 1;
    if (vg_model_load(m, c->argv[1], err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        free(m);
        return 2;
    }
    printf("%s: valid\n", c->argv[1]);
    vg_model_summary(m, stdout);
    free(m);
    return 0;
}

int vg_ctl_explain(vg_ctl_t *c) {
    const char *customer = c->argc > 0 && c->argv[0][0] != '-' ? c->argv[0] : NULL;
    const char *tenant = vg_ctl_opt(c, "--tenant", "acme");
    char err[1024], key[256];
    vg_redis_state_t loaded;
    vg_redis_t *r;
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    size_t n_event = 0;
    int64_t record_ms = -1;
    int rc_exit = 0;

    if (!customer || !m || !st) {
        fprintf(stderr, "usage: vigilctl explain CUSTOMER [--tenant T] [--partition N] "
                        "[--model FILE] [--timeout-ms MS]\n");
        free(m);
        free(st);
        return 2;
    }
    /* The model the workers run: model.file (or --model), or the built-in one. */
    if (vg_model_load_or_default(m, vg_ctl_opt(c, "--model", c->cfg.model_file), err,
                                 sizeof(err))) {
        fprintf(stderr, "vigilctl: model: %s\n", err);
        rc_exit = 2;
    } else if (!(rc_exit = vg_ctl_fetch_state(c, "explain", customer, tenant, key, sizeof(key),
                                               &r, &loaded))) {
        vg_err_t e;
        if (vg_state_decode(st, loaded.data, loaded.len, err, sizeof(err))) {
            fprintf(stderr, "vigilctl explain: stored state: %s\n", err);
            rc_exit = 1;
        } else if (st->last_event_sealed && st->last_event_len &&
                   !vg_ctl_open_sealed_state(c, st)) {
            rc_exit = 1;
        } else if (!st->last_timer && !st->last_event_len && st->last_event_next > 0 &&
                   !vg_ctl_read_last_event(c, "explain", st->last_event_partition,
                                           st->last_event_next, st->last_event,
                                           sizeof(st->last_event), &n_event, &record_ms)) {
            rc_exit = 1;
        } else {
            if (!st->last_event_len && n_event)
                st->last_event_len = (uint32_t)n_event, st->last_event_sealed = false;
            if (!st->last_record_ms && record_ms > 0)
                st->last_record_ms = record_ms;
            printf("customer   %s (tenant %s, key %s)\n", customer, tenant, key);
            if ((e = vg_explain(st, m, stdout))) {
                fprintf(stderr, "vigilctl explain: %s\n",
                        e == VG_ERR_NOT_FOUND ? "the state holds no latest event to explain"
                                              : vg_err_str(e));
                rc_exit = 3;
            }
        }
        vg_redis_destroy(r);
    }
    free(st);
    free(m);
    return rc_exit;
}

