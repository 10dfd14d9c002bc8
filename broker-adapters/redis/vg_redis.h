/*
 * vg_redis.h - Vigil's Redis state store: one key per customer, read and
 * written in pipelined round trips, every write a version compare-and-set
 * done by a server-side script (DESIGN.md, "State").
 *
 * Key layout: a string, the version in canonical decimal, '\n', then the
 * encoded CustomerState ("<version>\n<bytes>", vg_redis_state_header()).
 * The TTL is refreshed on every write. A hash {v: version, s: bytes} of
 * the earlier layout is still read, and replaced by the string at its
 * next write. Keys are named by vg_keys.h; their hash tag is the events
 * partition.
 *
 * Three modes: one standalone server, the master a set of sentinels name
 * (asked on every connect, with their own TLS and AUTH settings), or a
 * Redis Cluster. In a cluster every command goes to the node that
 * serves its key's slot (CRC16 of the hash tag, the slot map from CLUSTER
 * SHARDS), one pipeline per node in the same round trip; MOVED updates the
 * map and ASK is followed once, both sent again at once.
 *
 * Locality: one thread owns a handle. Connections are re-established
 * lazily: after an I/O error the next call reconnects first.
 */
#ifndef VG_REDIS_H
#define VG_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"
#include "vg_log.h"

/* The most commands Vigil sends in one pipelined round trip (keys loaded
 * or stored per batch). */
#define VG_REDIS_PIPE_MAX 4096

/* Every command the adapter sends, its script included, as an ACL rule
 * list: a user with these and the key pattern <key_prefix>:* needs
 * nothing else (docs/configuration.md, "Redis ACL"; integration test 0060
 * runs a worker as exactly that user). +hmget and +hget read states of
 * the earlier hash layout (the upgrade path); +hset and +pexpire are
 * used only by builds of that layout, kept so that both builds can run
 * as one user during a rolling upgrade. */
#define VG_REDIS_ACL_COMMANDS                                                                    \
    "-@all +ping +info +role +select +script|load +evalsha +hmget +zrangebyscore +zrem "       \
    "+get +set +hget +hset +pexpire +zadd +wait +cluster|shards +asking"

typedef struct vg_redis_s vg_redis_t;

/* The number of hash slots of a Redis Cluster. */
#define VG_REDIS_SLOTS 16384

/* The most cluster nodes a handle keeps (masters and replicas seen). */
#define VG_REDIS_NODES_MAX 64

typedef enum vg_redis_mode_e {
    VG_REDIS_MODE_STANDALONE = 0,
    VG_REDIS_MODE_SENTINEL,
    VG_REDIS_MODE_CLUSTER,
} vg_redis_mode_t;

/* The Redis Cluster slot of key (len bytes): CRC16 (XMODEM) of its hash
 * tag (the bytes between the first '{' and the next '}', when not empty),
 * else of the whole key, mod 16384. */
unsigned vg_redis_slot(const char *key, size_t len);

/* The most digits of a stored version (UINT64_MAX has 20). */
#define VG_REDIS_VERSION_DIGITS 20

/* The header of a stored state value of len bytes, "<version>\n": the
 * version in canonical decimal (1 to UINT64_MAX, no sign, no leading
 * zero) into *version. Returns the header's length, '\n' included (the
 * state's bytes follow it), or 0 when value has no valid header. The
 * store's script reads the header by the same rule. */
size_t vg_redis_state_header(const void *value, size_t len, uint64_t *version);

/* What is wrong with the server, named in the first error line and in the
 * metric label (docs/runbook.md, "Redis problems"). */
typedef enum vg_redis_problem_e {
    VG_REDIS_PROBLEM_NONE = 0,
    VG_REDIS_PROBLEM_UNREACHABLE, /* no TCP connection, or it broke */
    VG_REDIS_PROBLEM_TLS_PORT,    /* plain text to a port that speaks only TLS */
    VG_REDIS_PROBLEM_PLAIN_PORT,  /* TLS to a port that speaks only plain text */
    VG_REDIS_PROBLEM_TLS,         /* TLS handshake failed: certificate refused, or other */
    VG_REDIS_PROBLEM_AUTH,        /* authentication refused or required */
    VG_REDIS_PROBLEM_NOPERM,      /* the ACL user may not run a command or touch a key */
    VG_REDIS_PROBLEM_CLUSTER,     /* a Redis Cluster node; cluster mode is not configured */
    VG_REDIS_PROBLEM_REPLICA,     /* a replica: writes need the master */
    VG_REDIS_PROBLEM_LOADING,     /* loading its dataset */
    VG_REDIS_PROBLEM_OOM,         /* maxmemory reached, writes refused */
    VG_REDIS_PROBLEM_REPLICAS,    /* WAIT: fewer replicas acknowledged than required */
    VG_REDIS_PROBLEM_SENTINEL,    /* no sentinel answered, or none knows the master */
    VG_REDIS_PROBLEM_OTHER,
    VG_REDIS_PROBLEM__COUNT
} vg_redis_problem_t;

const char *vg_redis_problem_name(vg_redis_problem_t p);

/* TLS to the server (redis.tls*): the server's certificate is always
 * verified, against ca_file/ca_dir or else the system's store. */
typedef struct vg_redis_tls_s {
    bool enabled;
    const char *ca_file;       /* PEM bundle of trusted CAs, or NULL */
    const char *ca_dir;        /* c_rehash'ed directory of CAs, or NULL */
    const char *cert_file;     /* client certificate (mutual TLS), or NULL */
    const char *key_file;      /* its private key, or NULL */
    const char *server_name;   /* SNI and the name checked; NULL: host */
    bool skip_hostname;        /* verify the chain only, not the name (not advised) */
} vg_redis_tls_t;

typedef struct vg_redis_conf_s {
    vg_redis_mode_t mode;      /* SENTINEL is also implied by sentinels */
    /* Cluster: "host:port,host:port..." seed nodes (NULL or "": host:port). */
    const char *cluster_nodes;
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* default 6379 */
    const char *user;          /* ACL user, or NULL */
    const char *password;      /* or NULL; never logged */
    int db;
    int timeout_ms;            /* connect and command timeout */
    const char *key_prefix;    /* the health probe's key is <prefix>:health:probe; NULL: vigil */
    vg_redis_tls_t tls;
    /* Sentinel: "host:port,host:port..." (NULL or "": host/port are the
     * server). Every (re)connect asks them for master_name's address. */
    const char *sentinels;
    const char *master_name;
    /* The sentinels' own authentication (requirepass, or an ACL user, on
     * the sentinels): AUTH before asking; NULL: none. Never logged. */
    const char *sentinel_user;
    const char *sentinel_password;
    /* TLS to the sentinels, with tls's files and checks (each sentinel's
     * certificate must name its host in sentinels, or tls.server_name),
     * whether or not tls.enabled. */
    bool sentinel_tls;
    /* Durability: every state write waits (WAIT) until this many replicas
     * have it, up to wait_timeout_ms; fewer is an error (nothing is
     * committed to Kafka, the batch is redone). 0: no WAIT. */
    int min_replicas_acked;
    int wait_timeout_ms;
} vg_redis_conf_t;

/* One loaded state: data is borrowed, valid until the next call on r.
 * A stored value without a valid header is found, with version 0 and
 * data that no CustomerState decoder accepts: the caller treats it as
 * any unreadable state. */
typedef struct vg_redis_state_s {
    bool found;
    uint64_t version;
    const void *data;
    size_t len;
} vg_redis_state_t;

/* One write: store data as version new_version if the stored version is
 * still expect_version (0 = the key must not exist). */
typedef struct vg_redis_write_s {
    const char *key;
    uint64_t expect_version;
    const void *data;
    size_t len;
    /* Optional: the deadline index (a sorted set) that lists key with
     * score due_ms, set in the same atomic step as the state (due_ms 0
     * removes key from it). NULL: no index change. */
    const char *due_key;
    int64_t due_ms;
    /* The index entry is already due_ms (or absent, for 0): skip it. */
    bool due_unchanged;
} vg_redis_write_t;

/* Members of one deadline index up to a score (vg_redis_due). */
typedef struct vg_redis_due_s {
    size_t n;
    void *members;             /* adapter-private; read with vg_redis_due_member() */
} vg_redis_due_t;

/* Connect. conf strings are copied; TLS files are read here, once (a
 * file that cannot be read is an error even for vg_redis_new_lazy).
 * Returns NULL with errstr on failure. Caller frees with
 * vg_redis_destroy(). */
vg_redis_t *vg_redis_new(const vg_redis_conf_t *conf, vg_log_t *log, char *errstr,
                         size_t errstr_size);
void vg_redis_destroy(vg_redis_t *r);

/* The same, but an unreachable server is not an error: the handle is
 * returned unconnected (vg_redis_connected() false) and every call tries
 * again. NULL only when out of memory or a TLS file is unusable. */
vg_redis_t *vg_redis_new_lazy(const vg_redis_conf_t *conf, vg_log_t *log, char *errstr,
                              size_t errstr_size);

/* True after a successful round trip, false after an I/O error (cluster:
 * every node that serves slots is connected and the map is current). */
bool vg_redis_connected(const vg_redis_t *r);

vg_err_t vg_redis_ping(vg_redis_t *r, char *errstr, size_t errstr_size);

/* Cluster: the slot map's masters and their slot counts, for logs and
 * tests ("127.0.0.1:7001=5461,..."); "" in other modes. */
void vg_redis_describe(const vg_redis_t *r, char *out, size_t size);

/* The problem behind the last failed call (NONE after a successful
 * connect or ping). A server-state problem (replica, cluster, OOM,
 * loading) drops the connection, so the next call connects again and
 * checks the server's role, mode and memory before it is used. */
vg_redis_problem_t vg_redis_problem(const vg_redis_t *r);

/* Load n keys in one pipelined round trip; a second one when some are
 * hashes of the earlier layout (until each such customer's next write). */
vg_err_t vg_redis_load(vg_redis_t *r, const char *const *keys, size_t n, vg_redis_state_t *out,
                       char *errstr, size_t errstr_size);

/* A partition's applied-offset marker (state healing, docs/guarantees.md),
 * written in the same script call as the partition's states: the next
 * offset to apply. The stored marker only grows. */
typedef struct vg_redis_mark_s {
    const char *key;           /* vg_keys_mark() */
    int64_t value;             /* stored when above the stored one */
    int64_t expect;            /* the stored one must be at least this; -1: anything */
    int64_t found;             /* out, on VG_ERR_BEHIND: the stored one (-1: none) */
} vg_redis_mark_t;

/* Store n states and n_marks partition markers, one script call per slot
 * group (the keys that share a hash tag: one events partition; a marker
 * may come alone), all pipelined in one round trip. Each group is all or
 * nothing: its marker must hold at least its expect, and every state's
 * stored version must still be its expect_version (compare-and-set); then
 * each state is written with version expect_version + 1, its TTL and its
 * deadline index entry, and the marker is raised to its value. With
 * min_replicas_acked, WAIT follows on every node written.
 * VG_ERR_BEHIND (and *behind, the index of a mark whose stored marker is
 * below its expect, in marks[*behind].found): Redis lost writes that Kafka
 * counts as done. VG_ERR_CONFLICT (and *conflict, the index of a write
 * whose version moved). Either way that group wrote nothing; other groups
 * may have been written. Any other error: nothing is known. In every case
 * the caller publishes nothing and reloads (a group written and then
 * redone replays its triggers under the same ids: DESIGN rule 3). */
vg_err_t vg_redis_store(vg_redis_t *r, const vg_redis_write_t *w, size_t n,
                        vg_redis_mark_t *marks, size_t n_marks, int64_t ttl_ms, size_t *conflict,
                        size_t *behind, char *errstr, size_t errstr_size);

/* For each of n deadline indexes, up to limit members with a score at or
 * below max_due_ms[i], in one pipelined round trip. out[i] is valid until
 * the next call on r. */
vg_err_t vg_redis_due(vg_redis_t *r, const char *const *index_keys, const int64_t *max_due_ms,
                      size_t n, size_t limit, vg_redis_due_t *out, char *errstr,
                      size_t errstr_size);

/* The i-th member of d (not NUL-terminated-safe for binary: *len is its
 * length), or NULL. */
const char *vg_redis_due_member(const vg_redis_due_t *d, size_t i, size_t *len);

/* Remove member from a deadline index (its state expired). */
vg_err_t vg_redis_unindex(vg_redis_t *r, const char *index_key, const char *member, char *errstr,
                          size_t errstr_size);

/* Delete keys (tests and vigilctl). */
vg_err_t vg_redis_del(vg_redis_t *r, const char *key, char *errstr, size_t errstr_size);

/* Round trips made so far (for metrics). */
uint64_t vg_redis_round_trips(const vg_redis_t *r);

#endif
