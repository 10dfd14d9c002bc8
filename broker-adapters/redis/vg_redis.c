#include "vg_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Compare-and-set of one slot group's states (one events partition),
 * all or nothing, in one script call (redis/redis#7382: a script's fixed
 * cost is several times that of a call inside it, so one per partition
 * rather than one per customer), with the partition's applied-offset
 * marker. ARGV[1]: TTL in ms; ARGV[2]: the marker's new value ("" : no
 * marker; else KEYS[1] is the marker); ARGV[3]: the least marker expected
 * ("" : none). Then KEYS: n state keys, then their n deadline index keys
 * (for none, the state key again, with due "-": every key in the group's
 * slot);
 * ARGV from 4: 3 per state: expected version, the value to store
 * ("<new version>\n<bytes>", made by the adapter), due ms (0: removed
 * from the index; "-": left as it is).
 * The stored version is the value's header, read by the rule of
 * vg_redis_state_header(); a missing key, or a value without a valid
 * header, is "0" (the loader reports the latter as version 0 too, so the
 * write that resets it matches). A hash of the earlier layout answers GET
 * with WRONGTYPE: its version is its field v ("0" if none), and the SET
 * replaces it. Versions compare as strings: both sides are canonical
 * decimals. Each state is written with one SET PX (value and TTL).
 * Returns 0; the 1-based index of the first state whose version moved;
 * or, when the marker is below what was expected (Redis lost writes),
 * -2 - marker (-1: none). Nothing is written but on 0. Any other error
 * is returned as it is. The marker only grows. */
static const char vg_redis_cas_script[] =
    "local o = 0\n"
    "local m = -1\n"
    "if ARGV[2] ~= '' then\n"
    "  o = 1\n"
    "  m = tonumber(redis.call('GET', KEYS[1]) or '-1')\n"
    "  if ARGV[3] ~= '' and m < tonumber(ARGV[3]) then return -2 - m end\n"
    "end\n"
    "local n = (#KEYS - o) / 2\n"
    "for i = 1, n do\n"
    "  local k = KEYS[o + i]\n"
    "  local s = redis.pcall('GET', k)\n"
    "  local v\n"
    "  if type(s) == 'table' then\n"
    "    if string.sub(s.err or '', 1, 9) ~= 'WRONGTYPE' then return s end\n"
    "    v = redis.call('HGET', k, 'v')\n"
    "  elseif s then\n"
    "    v = string.match(s, '^([1-9]%d*)\\n')\n"
    "    if v and (#v > 20 or (#v == 20 and v > '18446744073709551615')) then v = nil end\n"
    "  end\n"
    "  if (v or '0') ~= ARGV[(i - 1) * 3 + 4] then return i end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local b = (i - 1) * 3 + 3\n"
    "  local k = KEYS[o + i]\n"
    "  redis.call('SET', k, ARGV[b + 2], 'PX', ARGV[1])\n"
    "  local d = KEYS[o + n + i]\n"
    "  if d ~= '' and ARGV[b + 3] ~= '-' then\n"
    "    if ARGV[b + 3] ~= '0' then redis.call('ZADD', d, ARGV[b + 3], k)\n"
    "    else redis.call('ZREM', d, k) end\n"
    "  end\n"
    "end\n"
    "if o == 1 and m < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end\n"
    "return 0\n";

/* One server: the standalone one, the master Sentinel names, or one node
 * of a cluster. */
typedef struct vg_redis_node_s {
    char host[256];
    int port;
    redisContext *c;
    uint32_t pending;          /* replies owed in the current round trip */
} vg_redis_node_t;

/* Where a command goes: a slot (>= 0), any node (VG_ROUTE_ANY) or one
 * node (VG_ROUTE_NODE(i)). */
#define VG_ROUTE_ANY (-1)
#define VG_ROUTE_NODE(i) (-2 - (int)(i))

/* Appends command i (argv form) to c; REDIS_OK or REDIS_ERR (memory). */
typedef int (*vg_redis_append_fn)(redisContext *c, void *ctx, size_t i);

struct vg_redis_s {
    vg_log_t *log;
    vg_redis_mode_t mode;
    vg_redis_node_t nodes[VG_REDIS_NODES_MAX];
    size_t n_nodes;            /* standalone and sentinel: 1 */
    char seeds[1024];          /* cluster: "host:port,..." */
    uint8_t *slots;            /* cluster: node index per slot, VG_NO_NODE when unknown */
    bool map_stale;            /* cluster: read the slot map before the next call */
    char map_said[512];        /* the map as last logged */
    char *user;
    char *password;
    char *sentinel_user;       /* the sentinels' own AUTH (NULL: none) */
    char *sentinel_password;
    int db;
    int timeout_ms;
    char probe_key[128];
    char sentinels[1024];
    char master_name[128];
    int min_replicas_acked, wait_timeout_ms;
    SSL_CTX *tls_ctx;          /* from redis.tls*, when either side below speaks TLS */
    bool tls;                  /* TLS to the data nodes */
    bool sentinel_tls;         /* TLS to the sentinels */
    char tls_server_name[256]; /* SNI and the name verified ("" : each node's host) */
    bool tls_skip_hostname;
    char sha[41];
    vg_redis_problem_t problem;
    uint64_t round_trips;
    size_t n_replies;
    redisReply *replies[VG_REDIS_PIPE_MAX];
    uint8_t node_of[VG_REDIS_PIPE_MAX]; /* the node command i went to last */
    /* A load's first round trip, when a second one read hashes of the
     * earlier layout: the states loaded point into these. Freed at the
     * next load. */
    size_t n_held;
    redisReply *held[VG_REDIS_PIPE_MAX];
    const char *legacy_keys[VG_REDIS_PIPE_MAX]; /* that second round trip's keys */
    uint32_t legacy_of[VG_REDIS_PIPE_MAX];      /* and their indexes in the load */
    /* The store's values ("<version>\n<bytes>"), one after another:
     * grown to the largest batch, kept for the next. */
    char *values;
    size_t values_cap;
};

#define VG_NO_NODE 0xff

static void vg_redis_free_replies(vg_redis_t *r) {
    for (size_t i = 0; i < r->n_replies; i++) {
        if (r->replies[i])
            freeReplyObject(r->replies[i]);
        r->replies[i] = NULL;
    }
    r->n_replies = 0;
}

static void vg_redis_free_held(vg_redis_t *r) {
    for (size_t i = 0; i < r->n_held; i++) {
        if (r->held[i])
            freeReplyObject(r->held[i]);
        r->held[i] = NULL;
    }
    r->n_held = 0;
}

/* Close node n's connection (the next call on it connects again). In a
 * cluster a node lost may mean a failover: read the slot map again. */
static void vg_redis_drop(vg_redis_t *r, vg_redis_node_t *n) {
    if (n->c) {
        redisFree(n->c);
        n->c = NULL;
    }
    n->pending = 0;
    if (r->mode == VG_REDIS_MODE_CLUSTER)
        r->map_stale = true;
}

static void vg_redis_drop_all(vg_redis_t *r) {
    for (size_t i = 0; i < r->n_nodes; i++)
        vg_redis_drop(r, &r->nodes[i]);
}

static const char *const vg_redis_problems[VG_REDIS_PROBLEM__COUNT] = {
    "none",    "unreachable", "tls_port", "plain_port", "tls",   "auth",
    "noperm",  "cluster",     "replica",  "loading",    "oom",   "replicas",
    "sentinel", "other"};

const char *vg_redis_problem_name(vg_redis_problem_t p) {
    return p >= 0 && p < VG_REDIS_PROBLEM__COUNT ? vg_redis_problems[p] : "other";
}

vg_redis_problem_t vg_redis_problem(const vg_redis_t *r) { return r->problem; }

/* CRC16-CCITT (XMODEM, polynomial 0x1021), as Redis Cluster computes key
 * slots, a byte at a time from a table (as Redis's crc16.c): it runs for
 * every key a worker loads or stores, and bit by bit it was 2% of a
 * worker's CPU. */
static const uint16_t vg_redis_crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

static uint16_t vg_redis_crc16(const char *buf, size_t len) {
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ vg_redis_crc16_table[((crc >> 8) ^ (unsigned char)buf[i]) & 0xff]);
    return crc;
}

unsigned vg_redis_slot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len), *close;

    if (open && (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) &&
        close > open + 1)
        return vg_redis_crc16(open + 1, (size_t)(close - open - 1)) & (VG_REDIS_SLOTS - 1);
    return vg_redis_crc16(key, len) & (VG_REDIS_SLOTS - 1);
}

/* Name the problem behind an error reply from node n (Lua wraps the
 * inner error, so look anywhere in it) and say it in errstr. A
 * server-state problem drops the connection: the next connect checks the
 * server again. */
static vg_err_t vg_redis_reply_error(vg_redis_t *r, vg_redis_node_t *n, const char *what,
                                     const char *msg, char *errstr, size_t errstr_size) {
    static const struct {
        const char *token;
        vg_redis_problem_t problem;
        const char *says;
    } known[] = {
        {"READONLY", VG_REDIS_PROBLEM_REPLICA,
         "the server is a replica (after a failover?): writes need the master"},
        {"MOVED", VG_REDIS_PROBLEM_CLUSTER,
         "the server is a Redis Cluster node: set redis.mode=cluster"},
        {"ASK ", VG_REDIS_PROBLEM_CLUSTER,
         "the server is a Redis Cluster node: set redis.mode=cluster"},
        {"CLUSTERDOWN", VG_REDIS_PROBLEM_CLUSTER,
         "the cluster is down, or a slot has no master (a failover under way?)"},
        {"TRYAGAIN", VG_REDIS_PROBLEM_CLUSTER,
         "the slot is being migrated (resharding): tried again, still split"},
        {"CROSSSLOT", VG_REDIS_PROBLEM_CLUSTER,
         "one call's keys are in different slots (redis.key_prefix with braces?)"},
        {"OOM", VG_REDIS_PROBLEM_OOM,
         "the server is out of memory (maxmemory reached, writes refused)"},
        {"LOADING", VG_REDIS_PROBLEM_LOADING, "the server is loading its dataset"},
        {"NOAUTH", VG_REDIS_PROBLEM_AUTH,
         "the server requires authentication: set redis.password (and redis.user)"},
        {"WRONGPASS", VG_REDIS_PROBLEM_AUTH, "authentication refused"},
        {"NOPERM", VG_REDIS_PROBLEM_NOPERM,
         "the ACL user may not do this: give it the commands and key pattern in "
         "docs/configuration.md (\"Redis ACL\")"},
    };

    r->problem = VG_REDIS_PROBLEM_OTHER;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (msg && strstr(msg, known[i].token)) {
            r->problem = known[i].problem;
            vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s (%s: %.120s)", n->host, n->port,
                          known[i].says, what, msg);
            if (r->problem != VG_REDIS_PROBLEM_AUTH && r->problem != VG_REDIS_PROBLEM_NOPERM)
                vg_redis_drop(r, n);
            return VG_ERR_REDIS;
        }
    }
    vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s: %.160s", n->host, n->port, what,
                  msg ? msg : "unexpected reply");
    return VG_ERR_REDIS;
}

/* The server checks after a connect: its mode (a cluster node, as
 * configured?), its role (a replica?) and whether it takes a write (out
 * of memory?). A cluster node's role is not checked: a replica answers
 * MOVED for the keys of its master, which the slot map follows. */
static vg_err_t vg_redis_check_server(vg_redis_t *r, vg_redis_node_t *n, char *errstr,
                                      size_t errstr_size) {
    bool cluster = r->mode == VG_REDIS_MODE_CLUSTER;
    redisReply *rep = redisCommand(n->c, "INFO cluster");
    vg_err_t err = VG_OK;

    if (!rep)
        return VG_ERR_REDIS;
    if (rep->type == REDIS_REPLY_ERROR) {
        err = vg_redis_reply_error(r, n, "INFO", rep->str, errstr, errstr_size);
    } else if (rep->type == REDIS_REPLY_STRING &&
               (strstr(rep->str, "cluster_enabled:1") != NULL) != cluster) {
        r->problem = VG_REDIS_PROBLEM_CLUSTER;
        vg_errstr_set(errstr, errstr_size,
                      cluster ? "redis %s:%d: not a Redis Cluster node (cluster_enabled:0), but "
                                "redis.mode=cluster: set redis.mode=standalone"
                              : "redis %s:%d: the server is a Redis Cluster node "
                                "(cluster_enabled:1): set redis.mode=cluster",
                      n->host, n->port);
        err = VG_ERR_REDIS;
    }
    freeReplyObject(rep);
    if (err || cluster)
        return err;
    if (!(rep = redisCommand(n->c, "ROLE")))
        return VG_ERR_REDIS;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "master")) {
        r->problem = VG_REDIS_PROBLEM_REPLICA;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d: the server is a replica (role %s): writes need the master "
                      "(after a failover, point redis.host at the new master)",
                      n->host, n->port, rep->element[0]->str);
        err = VG_ERR_REDIS;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        err = vg_redis_reply_error(r, n, "ROLE", rep->str, errstr, errstr_size);
    }
    freeReplyObject(rep);
    if (err)
        return err;
    /* A write that expires at once: refused with OOM when maxmemory is
     * reached (reads still work, so PING cannot tell). */
    if (!(rep = redisCommand(n->c, "SET %s 1 PX 1000", r->probe_key)))
        return VG_ERR_REDIS;
    if (rep->type == REDIS_REPLY_ERROR)
        err = vg_redis_reply_error(r, n, "SET", rep->str, errstr, errstr_size);
    freeReplyObject(rep);
    return err;
}
/* The TLS context, made once from the configured files: a file that
 * cannot be used is refused here, naming it and OpenSSL's reason. */
static vg_err_t vg_redis_tls_init(vg_redis_t *r, const vg_redis_tls_t *t, char *errstr,
                                  size_t errstr_size) {
    const char *what = NULL, *file = NULL;

    if ((t->cert_file && *t->cert_file) != (t->key_file && *t->key_file)) {
        vg_errstr_set(errstr, errstr_size,
                      "redis.tls_cert_file and redis.tls_key_file go together (mutual TLS): "
                      "set both or neither");
        return VG_ERR_CONFIG;
    }
    {
        const char *files[] = {t->ca_file, t->ca_dir, t->cert_file, t->key_file};
        const char *names[] = {"redis.tls_ca_file", "redis.tls_ca_dir", "redis.tls_cert_file",
                               "redis.tls_key_file"};
        for (size_t i = 0; i < 4; i++) {
            if (files[i] && *files[i] && access(files[i], R_OK) != 0) {
                vg_errstr_set(errstr, errstr_size, "redis TLS: %s: cannot read %s: %s",
                              names[i], files[i], strerror(errno));
                return VG_ERR_CONFIG;
            }
        }
    }
    redisInitOpenSSL();
    ERR_clear_error();
    if (!(r->tls_ctx = SSL_CTX_new(TLS_client_method()))) {
        what = "SSL_CTX_new";
    } else if (!SSL_CTX_set_min_proto_version(r->tls_ctx, TLS1_2_VERSION)) {
        what = "TLS 1.2 minimum";
    } else if ((t->ca_file && *t->ca_file) || (t->ca_dir && *t->ca_dir)) {
        file = t->ca_file && *t->ca_file ? t->ca_file : t->ca_dir;
        if (!SSL_CTX_load_verify_locations(r->tls_ctx,
                                           t->ca_file && *t->ca_file ? t->ca_file : NULL,
                                           t->ca_dir && *t->ca_dir ? t->ca_dir : NULL))
            what = "redis.tls_ca_file/redis.tls_ca_dir";
    } else if (!SSL_CTX_set_default_verify_paths(r->tls_ctx)) {
        what = "the system's CA store";
    }
    if (!what && t->cert_file && *t->cert_file) {
        file = t->cert_file;
        if (!SSL_CTX_use_certificate_chain_file(r->tls_ctx, t->cert_file)) {
            what = "redis.tls_cert_file";
        } else {
            file = t->key_file;
            if (!SSL_CTX_use_PrivateKey_file(r->tls_ctx, t->key_file, SSL_FILETYPE_PEM))
                what = "redis.tls_key_file";
            else if (!SSL_CTX_check_private_key(r->tls_ctx))
                what = "redis.tls_key_file (does not match redis.tls_cert_file)";
        }
    }
    if (what) {
        unsigned long e = ERR_peek_last_error();
        vg_errstr_set(errstr, errstr_size, "redis TLS: %s%s%s%s: %s", what, file ? " (" : "",
                      file ? file : "", file ? ")" : "",
                      e ? ERR_reason_error_string(e) : "failed");
        return VG_ERR_CONFIG;
    }
    SSL_CTX_set_verify(r->tls_ctx, SSL_VERIFY_PEER, NULL);
    snprintf(r->tls_server_name, sizeof(r->tls_server_name), "%s",
             t->server_name && *t->server_name ? t->server_name : "");
    r->tls_skip_hostname = t->skip_hostname;
    return VG_OK;
}

/* Does the server answer a plain-text PING (any RESP reply)? Asked after
 * a failed handshake: OpenSSL's reason for a plain-text peer varies. */
static bool vg_redis_speaks_plain(const vg_redis_t *r, const vg_redis_node_t *n) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(n->host, n->port, tv);
    redisReply *rep = NULL;

    if (c && !c->err) {
        redisSetTimeout(c, tv);
        rep = redisCommand(c, "PING");
    }
    if (rep)
        freeReplyObject(rep);
    if (c)
        redisFree(c);
    return rep != NULL;
}

/* The settings a connection's failure points to: a data node's, or a
 * sentinel's. */
typedef struct vg_redis_side_s {
    const char *who;      /* before host:port in a message */
    const char *tls;      /* the setting that turns TLS on */
    const char *named;    /* what the server's certificate must name */
    const char *user;
    const char *password;
} vg_redis_side_t;

static const vg_redis_side_t vg_redis_data_side = {
    "redis", "redis.tls", "redis.tls_server_name or redis.host", "redis.user", "redis.password"};
static const vg_redis_side_t vg_redis_sentinel_side = {
    "redis sentinel", "redis.sentinel_tls",
    "redis.tls_server_name or the sentinel's host in redis.sentinels", "redis.sentinel_user",
    "redis.sentinel_password"};

/* TLS over the fresh connection: SNI (for a name, not an address), the
 * certificate chain verified, and the name (or address) checked against
 * it. A failure is named: a plain-text port, a certificate refused (and
 * why), or the handshake's own reason. */
static vg_err_t vg_redis_tls_handshake(vg_redis_t *r, vg_redis_node_t *n,
                                       const vg_redis_side_t *side, char *errstr,
                                       size_t errstr_size) {
    const char *name = r->tls_server_name[0] ? r->tls_server_name : n->host;
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    SSL *ssl = SSL_new(r->tls_ctx);
    long verify;

    if (!ssl) {
        vg_errstr_set(errstr, errstr_size, "redis TLS: out of memory");
        vg_redis_drop(r, n);
        return VG_ERR_REDIS;
    }
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, name);
    if (!r->tls_skip_hostname) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, name);
        else
            SSL_set1_host(ssl, name);
    }
    if (redisInitiateSSL(n->c, ssl) == REDIS_OK)
        return VG_OK; /* the context owns ssl now */
    verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        bool misnamed =
            verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH;
        r->problem = VG_REDIS_PROBLEM_TLS;
        vg_errstr_set(errstr, errstr_size,
                      "%s %s:%d: TLS: the server's certificate was refused: %s (%s%s)",
                      side->who, n->host, n->port, X509_verify_cert_error_string(verify),
                      misnamed ? "the certificate does not name "
                               : "check redis.tls_ca_file: is it the CA that signed the "
                                 "server's certificate?",
                      misnamed ? side->named : "");
    } else if (vg_redis_speaks_plain(r, n)) {
        r->problem = VG_REDIS_PROBLEM_PLAIN_PORT;
        vg_errstr_set(errstr, errstr_size,
                      "%s %s:%d: TLS handshake failed: the port speaks plain text, not "
                      "TLS: set %s=false, or use the server's tls-port",
                      side->who, n->host, n->port, side->tls);
    } else {
        r->problem = VG_REDIS_PROBLEM_TLS;
        vg_errstr_set(errstr, errstr_size, "%s %s:%d: TLS handshake failed: %s", side->who,
                      n->host, n->port, n->c->errstr[0] ? n->c->errstr : "no reason given");
    }
    SSL_free(ssl);
    vg_redis_drop(r, n);
    return VG_ERR_REDIS;
}

/* The first exchange on n's fresh connection (to a data node or, by
 * side, a sentinel): TLS if that side speaks it, then AUTH with that
 * side's user and password, or else PING. The first command also tells
 * a TLS-only port: it drops a connection whose first bytes are not a TLS
 * handshake. A failure is named (r->problem, errstr, with the settings
 * to check, never the password) and drops n. */
static vg_err_t vg_redis_greet(vg_redis_t *r, vg_redis_node_t *n, const vg_redis_side_t *side,
                               char *errstr, size_t errstr_size) {
    bool sentinel = side == &vg_redis_sentinel_side;
    bool tls = sentinel ? r->sentinel_tls : r->tls;
    const char *user = sentinel ? r->sentinel_user : r->user;
    const char *password = sentinel ? r->sentinel_password : r->password;
    redisReply *rep;

    if (tls && vg_redis_tls_handshake(r, n, side, errstr, errstr_size))
        return VG_ERR_REDIS;
    rep = password ? user ? redisCommand(n->c, "AUTH %s %s", user, password)
                          : redisCommand(n->c, "AUTH %s", password)
                   : redisCommand(n->c, "PING");
    if (!rep && tls) {
        /* TLS 1.3 sends the client's certificate after the handshake, so
         * a server that wanted one (and got none, or one it does not
         * trust) closes the connection at the first command. */
        r->problem = VG_REDIS_PROBLEM_TLS;
        vg_errstr_set(errstr, errstr_size,
                      "%s %s:%d closed the TLS connection at the first command (%s): does "
                      "it require a client certificate (tls-auth-clients)? set "
                      "redis.tls_cert_file and redis.tls_key_file to one its CA signed",
                      side->who, n->host, n->port, n->c->errstr[0] ? n->c->errstr : "no reply");
    } else if (!rep) {
        r->problem = VG_REDIS_PROBLEM_TLS_PORT;
        vg_errstr_set(errstr, errstr_size,
                      "%s %s:%d closed the connection at the first command (%s): is it a "
                      "TLS-only port spoken to in plain text? (set %s=true)",
                      side->who, n->host, n->port, n->c->errstr[0] ? n->c->errstr : "no reply",
                      side->tls);
    } else if (rep->type == REDIS_REPLY_ERROR && password) {
        /* Say whose authentication failed, never with what. */
        r->problem = VG_REDIS_PROBLEM_AUTH;
        vg_errstr_set(errstr, errstr_size,
                      "%s %s:%d: AUTH refused for user \"%s\": check %s and %s", side->who,
                      n->host, n->port, user ? user : "default", side->user, side->password);
    } else if (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOAUTH")) {
        r->problem = VG_REDIS_PROBLEM_AUTH;
        vg_errstr_set(errstr, errstr_size,
                      "%s %s:%d: the server requires authentication: set %s (and %s)",
                      side->who, n->host, n->port, side->password, side->user);
    } else if (rep->type == REDIS_REPLY_ERROR) {
        vg_redis_reply_error(r, n, "PING", rep->str, errstr, errstr_size);
    } else {
        freeReplyObject(rep);
        return VG_OK;
    }
    if (rep)
        freeReplyObject(rep);
    vg_redis_drop(r, n);
    return VG_ERR_REDIS;
}

/* Ask the sentinel at host:port (over TLS and with AUTH when so
 * configured) for the master's address, into nodes[0]. A failure is
 * named in r->problem and why. */
static vg_err_t vg_redis_ask_sentinel(vg_redis_t *r, const char *host, int port, char *why,
                                      size_t why_size) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    vg_redis_node_t s = {.port = port};
    vg_redis_node_t *m = &r->nodes[0];
    redisReply *rep;
    vg_err_t err = VG_ERR_REDIS;

    snprintf(s.host, sizeof(s.host), "%s", host);
    s.c = redisConnectWithTimeout(host, port, tv);
    if (!s.c || s.c->err) {
        r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
        vg_errstr_set(why, why_size, "sentinel %s:%d: %s", host, port,
                      s.c ? s.c->errstr : "out of memory");
        vg_redis_drop(r, &s);
        return VG_ERR_REDIS;
    }
    redisSetTimeout(s.c, tv);
    if (vg_redis_greet(r, &s, &vg_redis_sentinel_side, why, why_size))
        return VG_ERR_REDIS;
    rep = redisCommand(s.c, "SENTINEL get-master-addr-by-name %s", r->master_name);
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING) {
        int mport = atoi(rep->element[1]->str);
        if (strcmp(m->host, rep->element[0]->str) || m->port != mport)
            VG_INFO(r->log, "redis", "sentinel %s:%d: master %s is %s:%d", host, port,
                    r->master_name, rep->element[0]->str, mport);
        snprintf(m->host, sizeof(m->host), "%s", rep->element[0]->str);
        m->port = mport;
        err = VG_OK;
    } else {
        r->problem = VG_REDIS_PROBLEM_SENTINEL;
        vg_errstr_set(why, why_size, "sentinel %s:%d: %s", host, port,
                      !rep                             ? "no reply"
                      : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                       : "does not know this master");
    }
    if (rep)
        freeReplyObject(rep);
    vg_redis_drop(r, &s);
    return err;
}

/* Sentinel mode: the master's address, from the first sentinel that
 * knows it, into nodes[0]. When none does, the problem is that of a
 * sentinel refused for a setting of ours (TLS, AUTH), which only the
 * configuration fixes, before that of a sentinel down or not knowing the
 * master (sentinel). */
static vg_err_t vg_redis_discover(vg_redis_t *r, char *errstr, size_t errstr_size) {
    char list[sizeof(r->sentinels)], *save = NULL, why[400] = "no sentinel listed";
    vg_redis_problem_t problem = VG_REDIS_PROBLEM_SENTINEL;

    snprintf(list, sizeof(list), "%s", r->sentinels);
    for (char *s = strtok_r(list, ", ", &save); s; s = strtok_r(NULL, ", ", &save)) {
        char *colon = strrchr(s, ':'), one[sizeof(why)];
        bool named;
        if (!colon) {
            if (problem == VG_REDIS_PROBLEM_SENTINEL)
                snprintf(why, sizeof(why), "\"%s\" is not host:port", s);
            continue;
        }
        *colon = '\0';
        if (!vg_redis_ask_sentinel(r, s, atoi(colon + 1), one, sizeof(one)))
            return VG_OK;
        named = r->problem != VG_REDIS_PROBLEM_UNREACHABLE &&
                r->problem != VG_REDIS_PROBLEM_SENTINEL && r->problem != VG_REDIS_PROBLEM_OTHER;
        if (named || problem == VG_REDIS_PROBLEM_SENTINEL) {
            snprintf(why, sizeof(why), "%s", one);
            if (named)
                problem = r->problem;
        }
    }
    r->problem = problem;
    if (problem == VG_REDIS_PROBLEM_SENTINEL)
        vg_errstr_set(errstr, errstr_size,
                      "redis sentinel: no sentinel gave the address of master \"%s\" "
                      "(redis.sentinel_master) from redis.sentinels %s; last: %s",
                      r->master_name, r->sentinels, why);
    else
        vg_errstr_set(errstr, errstr_size,
                      "%s (no sentinel in redis.sentinels %s gave the address of master \"%s\")",
                      why, r->sentinels, r->master_name);
    return VG_ERR_REDIS;
}

static vg_err_t vg_redis_connect(vg_redis_t *r, vg_redis_node_t *n, char *errstr,
                                 size_t errstr_size) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisReply *rep;

    if (n->c)
        return VG_OK;
    if (r->mode == VG_REDIS_MODE_SENTINEL && vg_redis_discover(r, errstr, errstr_size))
        return VG_ERR_REDIS;
    n->c = redisConnectWithTimeout(n->host, n->port, tv);
    if (!n->c || n->c->err) {
        r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
        vg_errstr_set(errstr, errstr_size, "connect to redis %s:%d: %s", n->host, n->port,
                      n->c ? n->c->errstr : "out of memory");
        vg_redis_drop(r, n);
        return VG_ERR_REDIS;
    }
    redisSetTimeout(n->c, tv);
    if (vg_redis_greet(r, n, &vg_redis_data_side, errstr, errstr_size))
        return VG_ERR_REDIS;
    if (vg_redis_check_server(r, n, errstr, errstr_size)) {
        if (r->problem == VG_REDIS_PROBLEM_NONE)
            r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
        vg_redis_drop(r, n);
        return VG_ERR_REDIS;
    }
    if (r->db && r->mode != VG_REDIS_MODE_CLUSTER) {
        rep = redisCommand(n->c, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            vg_errstr_set(errstr, errstr_size, "redis SELECT %d failed", r->db);
            if (rep)
                freeReplyObject(rep);
            vg_redis_drop(r, n);
            return VG_ERR_REDIS;
        }
        freeReplyObject(rep);
    }
    rep = redisCommand(n->c, "SCRIPT LOAD %s", vg_redis_cas_script);
    if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        vg_errstr_set(errstr, errstr_size, "redis SCRIPT LOAD failed: %s",
                      rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "I/O error");
        if (rep)
            freeReplyObject(rep);
        vg_redis_drop(r, n);
        return VG_ERR_REDIS;
    }
    memcpy(r->sha, rep->str, 40);
    r->sha[40] = '\0';
    freeReplyObject(rep);
    VG_INFO(r->log, "redis", "connected to %s:%d%s%s", n->host, n->port, r->tls ? " (TLS)" : "",
            r->mode == VG_REDIS_MODE_CLUSTER ? " (cluster node)" : "");
    r->problem = VG_REDIS_PROBLEM_NONE;
    return VG_OK;
}


/* --- cluster: nodes and the slot map ------------------------------------ */

/* The node at host:port, added if new; NULL when VG_REDIS_NODES_MAX are
 * known already. */
static vg_redis_node_t *vg_redis_node(vg_redis_t *r, const char *host, size_t host_len, int port) {
    vg_redis_node_t *n;

    if (host_len >= sizeof(r->nodes[0].host))
        return NULL;
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].port == port && strlen(r->nodes[i].host) == host_len &&
            memcmp(r->nodes[i].host, host, host_len) == 0)
            return &r->nodes[i];
    if (r->n_nodes == VG_REDIS_NODES_MAX)
        return NULL;
    n = &r->nodes[r->n_nodes++];
    memset(n, 0, sizeof(*n));
    memcpy(n->host, host, host_len);
    n->host[host_len] = '\0';
    n->port = port;
    return n;
}

/* "host:port" (the port after the last ':', for IPv6) into the node list. */
static vg_redis_node_t *vg_redis_node_addr(vg_redis_t *r, const char *addr, size_t len) {
    const char *colon = NULL;

    for (size_t i = 0; i < len; i++)
        if (addr[i] == ':')
            colon = addr + i;
    if (!colon || colon == addr)
        return NULL;
    return vg_redis_node(r, addr, (size_t)(colon - addr), atoi(colon + 1));
}

/* The value of field name in a RESP2 flat map (name, value, ...), or NULL. */
static const redisReply *vg_redis_field(const redisReply *map, const char *name) {
    if (map->type != REDIS_REPLY_ARRAY && map->type != REDIS_REPLY_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2)
        if (map->element[i]->type == REDIS_REPLY_STRING && strcmp(map->element[i]->str, name) == 0)
            return map->element[i + 1];
    return NULL;
}

/* Take the slot map from one CLUSTER SHARDS reply: for each shard, its
 * slot ranges and the master that serves them. False if it holds no
 * usable shard. */
static bool vg_redis_take_shards(vg_redis_t *r, const redisReply *rep) {
    size_t covered = 0;

    if (rep->type != REDIS_REPLY_ARRAY)
        return false;
    memset(r->slots, VG_NO_NODE, VG_REDIS_SLOTS);
    for (size_t s = 0; s < rep->elements; s++) {
        const redisReply *ranges = vg_redis_field(rep->element[s], "slots");
        const redisReply *nodes = vg_redis_field(rep->element[s], "nodes");
        vg_redis_node_t *master = NULL;
        if (!ranges || !nodes || ranges->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t k = 0; k < nodes->elements && !master; k++) {
            const redisReply *role = vg_redis_field(nodes->element[k], "role");
            const redisReply *health = vg_redis_field(nodes->element[k], "health");
            const redisReply *ep = vg_redis_field(nodes->element[k], "endpoint");
            const redisReply *ip = vg_redis_field(nodes->element[k], "ip");
            const redisReply *port = vg_redis_field(nodes->element[k], r->tls ? "tls-port" : "port");
            const redisReply *host = ep && ep->type == REDIS_REPLY_STRING && ep->len &&
                                             strcmp(ep->str, "?")
                                         ? ep
                                         : ip;
            if (!role || role->type != REDIS_REPLY_STRING || strcmp(role->str, "master") ||
                !host || host->type != REDIS_REPLY_STRING || !port ||
                port->type != REDIS_REPLY_INTEGER)
                continue;
            if (health && health->type == REDIS_REPLY_STRING && !strcmp(health->str, "fail"))
                continue; /* failed over soon: its slots stay unknown until then */
            master = vg_redis_node(r, host->str, host->len, (int)port->integer);
        }
        if (!master)
            continue;
        for (size_t k = 0; k + 1 < ranges->elements; k += 2) {
            long long lo = ranges->element[k]->integer, hi = ranges->element[k + 1]->integer;
            for (long long slot = lo; slot <= hi && slot < VG_REDIS_SLOTS; slot++)
                if (slot >= 0) {
                    r->slots[slot] = (uint8_t)(master - r->nodes);
                    covered++;
                }
        }
    }
    return covered > 0;
}

/* Read the slot map (CLUSTER SHARDS) from the first node that answers:
 * the known nodes, connected ones first, then the seeds. */
static vg_err_t vg_redis_refresh(vg_redis_t *r, char *errstr, size_t errstr_size) {
    char why[512] = "no node answered";
    size_t order[VG_REDIS_NODES_MAX], n_order = 0;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->n_nodes; i++)
            if ((r->nodes[i].c != NULL) == (pass == 0))
                order[n_order++] = i;
    for (size_t k = 0; k < n_order; k++) {
        vg_redis_node_t *n = &r->nodes[order[k]];
        redisReply *rep;
        if (vg_redis_connect(r, n, why, sizeof(why)))
            continue;
        if (!(rep = redisCommand(n->c, "CLUSTER SHARDS"))) {
            snprintf(why, sizeof(why), "redis %s:%d: %s", n->host, n->port,
                     n->c->errstr[0] ? n->c->errstr : "connection lost");
            vg_redis_drop(r, n);
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(why, sizeof(why), "redis %s:%d: CLUSTER SHARDS: %s", n->host, n->port,
                     rep->str);
        } else if (vg_redis_take_shards(r, rep)) {
            char map[512];
            freeReplyObject(rep);
            r->map_stale = false;
            r->round_trips++;
            /* Said once per change: a failover or a resharding shows. */
            vg_redis_describe(r, map, sizeof(map));
            if (strcmp(map, r->map_said)) {
                VG_INFO(r->log, "redis", "cluster slot map (from %s:%d): %s", n->host, n->port,
                        map);
                snprintf(r->map_said, sizeof(r->map_said), "%s", map);
            }
            return VG_OK;
        } else {
            snprintf(why, sizeof(why), "redis %s:%d: CLUSTER SHARDS names no master", n->host,
                     n->port);
        }
        freeReplyObject(rep);
    }
    if (r->problem == VG_REDIS_PROBLEM_NONE)
        r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
    vg_errstr_set(errstr, errstr_size, "redis cluster: no slot map from any node (%s); last: %s",
                  r->seeds, why);
    return VG_ERR_REDIS;
}

void vg_redis_describe(const vg_redis_t *r, char *out, size_t size) {
    size_t counts[VG_REDIS_NODES_MAX] = {0}, o = 0;

    if (size)
        out[0] = '\0';
    if (r->mode != VG_REDIS_MODE_CLUSTER)
        return;
    for (size_t s = 0; s < VG_REDIS_SLOTS; s++)
        if (r->slots[s] != VG_NO_NODE)
            counts[r->slots[s]]++;
    for (size_t i = 0; i < r->n_nodes && o < size; i++)
        if (counts[i]) {
            int w = snprintf(out + o, size - o, "%s%s:%d=%zu", o ? "," : "", r->nodes[i].host,
                             r->nodes[i].port, counts[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
}

/* The node a command goes to. */
static vg_redis_node_t *vg_redis_route(vg_redis_t *r, int route) {
    if (route <= VG_ROUTE_NODE(0))
        return &r->nodes[VG_ROUTE_NODE(0) - route];
    if (r->mode != VG_REDIS_MODE_CLUSTER)
        return &r->nodes[0];
    if (route >= 0 && r->slots[route] != VG_NO_NODE)
        return &r->nodes[r->slots[route]];
    /* Unknown: any node (one that does not serve the slot says MOVED). */
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].c)
            return &r->nodes[i];
    return &r->nodes[0];
}

/* --- one round trip, across nodes --------------------------------------- */

/* What a cluster error reply asks: MOVED/ASK to a node, TRYAGAIN, or
 * nothing (0). NOSCRIPT too: the node lost its script cache (restarted),
 * nothing ran, so sending again after a reconnect (which loads it) is
 * safe. */
enum { VG_REDIR_NONE, VG_REDIR_MOVED, VG_REDIR_ASK, VG_REDIR_TRYAGAIN, VG_REDIR_NOSCRIPT };

static int vg_redis_redirect(const vg_redis_t *r, const redisReply *rep, unsigned *slot,
                             const char **addr, size_t *addr_len) {
    const char *sp;

    if (!rep || rep->type != REDIS_REPLY_ERROR)
        return VG_REDIR_NONE;
    if (strncmp(rep->str, "NOSCRIPT", 8) == 0)
        return VG_REDIR_NOSCRIPT;
    if (r->mode != VG_REDIS_MODE_CLUSTER)
        return VG_REDIR_NONE;
    if (strncmp(rep->str, "TRYAGAIN", 8) == 0)
        return VG_REDIR_TRYAGAIN;
    if (strncmp(rep->str, "MOVED ", 6) && strncmp(rep->str, "ASK ", 4))
        return VG_REDIR_NONE;
    /* "MOVED <slot> <host>:<port>" */
    sp = strchr(rep->str, ' ');
    *slot = (unsigned)strtoul(sp + 1, NULL, 10) & (VG_REDIS_SLOTS - 1);
    if (!(sp = strchr(sp + 1, ' ')))
        return VG_REDIR_NONE;
    *addr = sp + 1;
    *addr_len = strlen(sp + 1);
    return rep->str[0] == 'M' ? VG_REDIR_MOVED : VG_REDIR_ASK;
}

/* Follow the redirections of command i, one at a time (rare: a slot that
 * moved, or a failover). */
static vg_err_t vg_redis_follow(vg_redis_t *r, size_t i, const int *route, vg_redis_append_fn fn,
                                void *ctx, char *errstr, size_t errstr_size) {
    for (int tries = 0; tries < 16; tries++) {
        unsigned slot = 0;
        const char *addr = NULL;
        size_t addr_len = 0, n_read;
        int kind = vg_redis_redirect(r, r->replies[i], &slot, &addr, &addr_len);
        vg_redis_node_t *n = &r->nodes[r->node_of[i]];
        void *rep = NULL;
        vg_err_t err;

        if (kind == VG_REDIR_NONE)
            return VG_OK;
        if (kind == VG_REDIR_MOVED || kind == VG_REDIR_ASK) {
            if (!(n = vg_redis_node_addr(r, addr, addr_len))) {
                r->problem = VG_REDIS_PROBLEM_CLUSTER;
                vg_errstr_set(errstr, errstr_size, "redis cluster: %s names an unusable node",
                              r->replies[i]->str);
                return VG_ERR_REDIS;
            }
            if (kind == VG_REDIR_MOVED) {
                /* The slot moved for good: take it now, and the whole map
                 * before the next call (a failover moves many). */
                r->slots[slot] = (uint8_t)(n - r->nodes);
                r->map_stale = true;
            }
        } else if (kind == VG_REDIR_TRYAGAIN) {
            /* A migrating slot whose keys are split for now: a moment. */
            usleep(10000u * (unsigned)(tries + 1));
            n = vg_redis_route(r, route[i]);
        } else {
            vg_redis_drop(r, n);
        }
        if ((err = vg_redis_connect(r, n, errstr, errstr_size)))
            return err;
        n_read = kind == VG_REDIR_ASK ? 2 : 1;
        if ((kind == VG_REDIR_ASK && redisAppendCommand(n->c, "ASKING") != REDIS_OK) ||
            fn(n->c, ctx, i) != REDIS_OK) {
            vg_redis_drop(r, n);
            vg_errstr_set(errstr, errstr_size, "redis: out of memory");
            return VG_ERR_NOMEM;
        }
        freeReplyObject(r->replies[i]);
        r->replies[i] = NULL;
        r->node_of[i] = (uint8_t)(n - r->nodes);
        for (size_t k = 0; k < n_read; k++) {
            if (rep)
                freeReplyObject(rep);
            rep = NULL;
            if (redisGetReply(n->c, &rep) != REDIS_OK || !rep) {
                r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
                vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s", n->host, n->port,
                              n->c->errstr[0] ? n->c->errstr : "connection lost");
                vg_redis_drop(r, n);
                return VG_ERR_REDIS;
            }
        }
        r->replies[i] = rep;
        r->round_trips++;
    }
    /* Named, or the stall's first line would say the problem of before
     * ("none" after a good call). */
    r->problem = VG_REDIS_PROBLEM_CLUSTER;
    vg_errstr_set(errstr, errstr_size, "redis cluster: still redirected after 16 tries: %s",
                  r->replies[i]->str);
    return VG_ERR_REDIS;
}

/* Send n commands, each to the node its route names, pipelined: every
 * node's commands are written before any reply is read, so the nodes work
 * at once. Reply i lands in r->replies[i] (valid until the next call),
 * after any MOVED, ASK, TRYAGAIN or NOSCRIPT was followed. An I/O error
 * drops every node with replies still owed, and the call fails. */
static vg_err_t vg_redis_exec(vg_redis_t *r, size_t n, const int *route, vg_redis_append_fn fn,
                              void *ctx, char *errstr, size_t errstr_size) {
    vg_err_t err;

    vg_redis_free_replies(r);
    if (n > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu commands in one round trip, more than %d", n,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    if (r->mode == VG_REDIS_MODE_CLUSTER && r->map_stale &&
        (err = vg_redis_refresh(r, errstr, errstr_size)))
        return err;
    /* Every node first connected, then the commands appended: a node that
     * cannot be reached (a master just killed) must not cost the others
     * their connections, as commands already appended to them would
     * (their replies would be owed). */
    for (size_t i = 0; i < n; i++)
        if ((err = vg_redis_connect(r, vg_redis_route(r, route[i]), errstr, errstr_size)))
            return err;
    for (size_t i = 0; i < n; i++) {
        vg_redis_node_t *node = vg_redis_route(r, route[i]);
        if ((err = vg_redis_connect(r, node, errstr, errstr_size)))
            goto fail;
        if (fn(node->c, ctx, i) != REDIS_OK) {
            vg_errstr_set(errstr, errstr_size, "redis: out of memory");
            err = VG_ERR_NOMEM;
            goto fail;
        }
        r->node_of[i] = (uint8_t)(node - r->nodes);
        node->pending++;
    }
    for (size_t k = 0; k < r->n_nodes; k++) {
        vg_redis_node_t *node = &r->nodes[k];
        int done = 0;
        while (node->pending && !done) {
            if (redisBufferWrite(node->c, &done) != REDIS_OK) {
                r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
                vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s", node->host, node->port,
                              node->c->errstr[0] ? node->c->errstr : "connection lost");
                err = VG_ERR_REDIS;
                goto fail;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        vg_redis_node_t *node = &r->nodes[r->node_of[i]];
        void *rep = NULL;
        if (redisGetReply(node->c, &rep) != REDIS_OK || !rep) {
            r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
            vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s", node->host, node->port,
                          node->c->errstr[0] ? node->c->errstr : "connection lost");
            err = VG_ERR_REDIS;
            goto fail;
        }
        node->pending--;
        r->replies[r->n_replies++] = rep;
    }
    r->round_trips++;
    for (size_t i = 0; i < n; i++)
        if ((err = vg_redis_follow(r, i, route, fn, ctx, errstr, errstr_size)))
            return err;
    return VG_OK;
fail:
    /* Replies still owed would answer the next call's commands. */
    for (size_t k = 0; k < r->n_nodes; k++)
        if (r->nodes[k].pending || (err == VG_ERR_REDIS && r->nodes[k].c &&
                                    r->nodes[k].c->err))
            vg_redis_drop(r, &r->nodes[k]);
    return err;
}

/* --- the handle ----------------------------------------------------------- */

static vg_redis_t *vg_redis_new_impl(const vg_redis_conf_t *conf, vg_log_t *log, char *errstr,
                                     size_t errstr_size, bool lazy) {
    vg_redis_t *r = calloc(1, sizeof(*r));
    vg_err_t err;

    if (!r) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    r->log = log;
    r->mode = conf->mode;
    if (r->mode == VG_REDIS_MODE_STANDALONE && conf->sentinels && *conf->sentinels)
        r->mode = VG_REDIS_MODE_SENTINEL;
    r->n_nodes = 1;
    snprintf(r->nodes[0].host, sizeof(r->nodes[0].host), "%s", conf->host ? conf->host : "127.0.0.1");
    r->nodes[0].port = conf->port ? conf->port : 6379;
    r->user = conf->user ? strdup(conf->user) : NULL;
    r->password = conf->password ? strdup(conf->password) : NULL;
    r->sentinel_user = conf->sentinel_user ? strdup(conf->sentinel_user) : NULL;
    r->sentinel_password = conf->sentinel_password ? strdup(conf->sentinel_password) : NULL;
    r->db = conf->db;
    r->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 2000;
    snprintf(r->sentinels, sizeof(r->sentinels), "%s", conf->sentinels ? conf->sentinels : "");
    snprintf(r->master_name, sizeof(r->master_name), "%s",
             conf->master_name && *conf->master_name ? conf->master_name : "mymaster");
    r->min_replicas_acked = conf->min_replicas_acked > 0 ? conf->min_replicas_acked : 0;
    r->wait_timeout_ms = conf->wait_timeout_ms > 0 ? conf->wait_timeout_ms : 1000;
    snprintf(r->probe_key, sizeof(r->probe_key), "%s:health:probe",
             conf->key_prefix && *conf->key_prefix ? conf->key_prefix : "vigil");
    if (r->mode == VG_REDIS_MODE_CLUSTER) {
        /* The seeds are the first nodes; the slot map adds the rest. */
        char list[sizeof(r->seeds)], *save = NULL;
        if (conf->cluster_nodes && *conf->cluster_nodes)
            snprintf(r->seeds, sizeof(r->seeds), "%s", conf->cluster_nodes);
        else
            snprintf(r->seeds, sizeof(r->seeds), "%s:%d", r->nodes[0].host, r->nodes[0].port);
        r->n_nodes = 0;
        snprintf(list, sizeof(list), "%s", r->seeds);
        for (char *s = strtok_r(list, ", ", &save); s; s = strtok_r(NULL, ", ", &save)) {
            if (!vg_redis_node_addr(r, s, strlen(s))) {
                vg_errstr_set(errstr, errstr_size,
                              "redis.cluster_nodes: \"%s\" is not host:port", s);
                vg_redis_destroy(r);
                return NULL;
            }
        }
        r->map_stale = true;
        if (!r->n_nodes || !(r->slots = malloc(VG_REDIS_SLOTS))) {
            vg_errstr_set(errstr, errstr_size, r->n_nodes ? "out of memory"
                                                          : "redis.cluster_nodes names no node");
            vg_redis_destroy(r);
            return NULL;
        }
        memset(r->slots, VG_NO_NODE, VG_REDIS_SLOTS);
    }
    /* One context for both sides: the sentinels are checked with the
     * same CA, and shown the same client certificate. */
    r->tls = conf->tls.enabled;
    r->sentinel_tls = r->mode == VG_REDIS_MODE_SENTINEL && conf->sentinel_tls;
    if ((r->tls || r->sentinel_tls) && vg_redis_tls_init(r, &conf->tls, errstr, errstr_size)) {
        vg_redis_destroy(r);
        return NULL;
    }
    err = r->mode == VG_REDIS_MODE_CLUSTER ? vg_redis_refresh(r, errstr, errstr_size)
                                           : vg_redis_connect(r, &r->nodes[0], errstr, errstr_size);
    if (err) {
        if (!lazy) {
            vg_redis_destroy(r);
            return NULL;
        }
        VG_WARN(log, "redis", "%s; will retry", errstr);
    }
    return r;
}

vg_redis_t *vg_redis_new(const vg_redis_conf_t *conf, vg_log_t *log, char *errstr,
                         size_t errstr_size) {
    return vg_redis_new_impl(conf, log, errstr, errstr_size, false);
}

vg_redis_t *vg_redis_new_lazy(const vg_redis_conf_t *conf, vg_log_t *log, char *errstr,
                              size_t errstr_size) {
    return vg_redis_new_impl(conf, log, errstr, errstr_size, true);
}

/* A secret's memory is cleared before it is freed. */
static void vg_redis_free_secret(char *s) {
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

void vg_redis_destroy(vg_redis_t *r) {
    if (!r)
        return;
    vg_redis_free_replies(r);
    vg_redis_free_held(r);
    vg_redis_drop_all(r);
    if (r->tls_ctx)
        SSL_CTX_free(r->tls_ctx);
    free(r->slots);
    free(r->values);
    free(r->user);
    free(r->sentinel_user);
    vg_redis_free_secret(r->password);
    vg_redis_free_secret(r->sentinel_password);
    free(r);
}

bool vg_redis_connected(const vg_redis_t *r) {
    if (r->mode != VG_REDIS_MODE_CLUSTER)
        return r->nodes[0].c != NULL;
    if (r->map_stale)
        return false;
    for (size_t s = 0; s < VG_REDIS_SLOTS; s++)
        if (r->slots[s] == VG_NO_NODE || !r->nodes[r->slots[s]].c)
            return false;
    return true;
}

uint64_t vg_redis_round_trips(const vg_redis_t *r) { return r->round_trips; }

/* --- commands ------------------------------------------------------------- */

/* A command given whole as argv: for one-off commands. */
typedef struct vg_redis_argv_s {
    int argc;
    const char **argv;
    const size_t *argvlen;
} vg_redis_argv_t;

static int vg_redis_append_argv(redisContext *c, void *ctx, size_t i) {
    const vg_redis_argv_t *a = (const vg_redis_argv_t *)ctx + i;

    return redisAppendCommandArgv(c, a->argc, a->argv, a->argvlen);
}

static int vg_redis_append_ping(redisContext *c, void *ctx, size_t i) {
    (void)ctx, (void)i;
    return redisAppendCommand(c, "PING");
}

vg_err_t vg_redis_ping(vg_redis_t *r, char *errstr, size_t errstr_size) {
    int route[VG_REDIS_NODES_MAX];
    size_t n = 0;
    vg_err_t err;

    if (r->mode == VG_REDIS_MODE_CLUSTER) {
        /* Every master that serves slots, and every slot served. */
        bool serves[VG_REDIS_NODES_MAX] = {false};
        if (r->map_stale && (err = vg_redis_refresh(r, errstr, errstr_size)))
            return err;
        for (size_t s = 0; s < VG_REDIS_SLOTS; s++) {
            if (r->slots[s] == VG_NO_NODE) {
                r->problem = VG_REDIS_PROBLEM_CLUSTER;
                r->map_stale = true;
                vg_errstr_set(errstr, errstr_size,
                              "redis cluster: slot %zu has no master (a failover under way?)", s);
                return VG_ERR_REDIS;
            }
            serves[r->slots[s]] = true;
        }
        for (size_t k = 0; k < r->n_nodes; k++)
            if (serves[k])
                route[n++] = VG_ROUTE_NODE(k);
    } else {
        route[n++] = VG_ROUTE_ANY;
    }
    if ((err = vg_redis_exec(r, n, route, vg_redis_append_ping, NULL, errstr, errstr_size)))
        return err;
    for (size_t i = 0; i < n; i++)
        if (r->replies[i]->type == REDIS_REPLY_ERROR)
            return vg_redis_reply_error(r, &r->nodes[r->node_of[i]], "PING", r->replies[i]->str,
                                        errstr, errstr_size);
    r->problem = VG_REDIS_PROBLEM_NONE;
    return VG_OK;
}

size_t vg_redis_state_header(const void *value, size_t len, uint64_t *version) {
    const unsigned char *s = value;
    uint64_t v = 0;
    size_t i = 0;

    if (len == 0 || s[0] < '1' || s[0] > '9')
        return 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = s[i] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return 0; /* above UINT64_MAX, so more than 20 digits too */
        v = v * 10 + d;
    }
    if (i == len || s[i] != '\n')
        return 0;
    *version = v;
    return i + 1;
}

/* What a state without a valid header loads as: field number 0 is not
 * valid in the protobuf wire format, so no CustomerState decoder takes
 * these bytes, and the caller's path for an unreadable state follows. */
static const unsigned char vg_redis_unreadable[1] = {0x00};

static int vg_redis_append_get(redisContext *c, void *ctx, size_t i) {
    const char *const *keys = ctx;
    const char *argv[] = {"GET", keys[i]};
    size_t argvlen[] = {3, strlen(keys[i])};

    return redisAppendCommandArgv(c, 2, argv, argvlen);
}

/* A state of the earlier layout: a hash {v: version, s: bytes}. */
static int vg_redis_append_hmget(redisContext *c, void *ctx, size_t i) {
    const char *const *keys = ctx;
    const char *argv[] = {"HMGET", keys[i], "v", "s"};
    size_t argvlen[] = {5, strlen(keys[i]), 1, 1};

    return redisAppendCommandArgv(c, 4, argv, argvlen);
}

/* Routes by key slot into route[0..n). */
static void vg_redis_routes(const vg_redis_t *r, const char *const *keys, size_t n, int *route) {
    for (size_t i = 0; i < n; i++)
        route[i] = r->mode == VG_REDIS_MODE_CLUSTER ? (int)vg_redis_slot(keys[i], strlen(keys[i]))
                                                    : VG_ROUTE_ANY;
}

/* A GET reply, a string value, into *out (which borrows it). A value
 * without a valid header is said once here, with its key (pseudonymised),
 * and loaded as found with version 0 and unreadable bytes: the store's
 * script reads it as version 0 too, so the caller's reset can replace
 * it. */
static void vg_redis_take_value(vg_redis_t *r, const char *key, const redisReply *rep,
                                vg_redis_state_t *out) {
    size_t header = vg_redis_state_header(rep->str, rep->len, &out->version);

    out->found = true;
    if (header == 0) {
        VG_WARN(r->log, "redis",
                "state %s: a value of %zu bytes without the \"<version>\\n\" header: read as "
                "unreadable", key, rep->len);
        out->version = 0;
        out->data = vg_redis_unreadable;
        out->len = sizeof(vg_redis_unreadable);
        return;
    }
    out->data = rep->str + header;
    out->len = rep->len - header;
}

/* The second round trip of a load: the keys that answered GET with
 * WRONGTYPE (r->legacy_keys, n of them) are hashes of the earlier layout,
 * read with HMGET. The first round trip's replies are kept (r->held):
 * the other states point into them. */
static vg_err_t vg_redis_load_legacy(vg_redis_t *r, size_t n, int *route, vg_redis_state_t *out,
                                     char *errstr, size_t errstr_size) {
    vg_err_t err;

    memcpy(r->held, r->replies, r->n_replies * sizeof(*r->replies));
    r->n_held = r->n_replies;
    memset(r->replies, 0, r->n_replies * sizeof(*r->replies));
    r->n_replies = 0;
    vg_redis_routes(r, r->legacy_keys, n, route);
    if ((err = vg_redis_exec(r, n, route, vg_redis_append_hmget, (void *)r->legacy_keys, errstr,
                             errstr_size)))
        return err;
    for (size_t j = 0; j < n; j++) {
        const redisReply *rep = r->replies[j];
        vg_redis_state_t *o = &out[r->legacy_of[j]];
        /* WRONGTYPE here: a string since the GET, written by another
         * worker (a zombie, or the partition moved); failing makes the
         * caller redo the batch, which reads it again. */
        if (rep->type == REDIS_REPLY_ERROR)
            return vg_redis_reply_error(r, &r->nodes[r->node_of[j]], "HMGET", rep->str, errstr,
                                        errstr_size);
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
            continue;
        if (rep->element[0]->type == REDIS_REPLY_STRING &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            o->found = true;
            o->version = strtoull(rep->element[0]->str, NULL, 10);
            o->data = rep->element[1]->str;
            o->len = rep->element[1]->len;
        }
    }
    return VG_OK;
}

vg_err_t vg_redis_load(vg_redis_t *r, const char *const *keys, size_t n, vg_redis_state_t *out,
                       char *errstr, size_t errstr_size) {
    static _Thread_local int route[VG_REDIS_PIPE_MAX];
    size_t n_legacy = 0;
    vg_err_t err;

    vg_redis_free_held(r);
    if (n > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu keys in one round trip, more than %d", n,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    vg_redis_routes(r, keys, n, route);
    if ((err = vg_redis_exec(r, n, route, vg_redis_append_get, (void *)keys, errstr,
                             errstr_size)))
        return err;
    for (size_t i = 0; i < n; i++) {
        const redisReply *rep = r->replies[i];
        memset(&out[i], 0, sizeof(out[i]));
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "WRONGTYPE", 9) == 0) {
            r->legacy_keys[n_legacy] = keys[i];
            r->legacy_of[n_legacy++] = (uint32_t)i;
        } else if (rep->type == REDIS_REPLY_ERROR) {
            return vg_redis_reply_error(r, &r->nodes[r->node_of[i]], "GET", rep->str, errstr,
                                        errstr_size);
        } else if (rep->type == REDIS_REPLY_STRING) {
            vg_redis_take_value(r, keys[i], rep, &out[i]);
        }
    }
    return n_legacy ? vg_redis_load_legacy(r, n_legacy, route, out, errstr, errstr_size) : VG_OK;
}

/* Decimal of v into out (24 bytes); its length. printf's machinery was
 * a tenth of a worker's time at three numbers per state. */
static size_t vg_redis_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0, i = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out[i++] = tmp[--n];
    out[i] = '\0';
    return i;
}

/* One write or marker, ordered by slot and hash tag for grouping: a
 * group is one partition (two partitions' tags may share a slot; they
 * still make two calls). */
typedef struct vg_redis_item_s {
    uint32_t slot;
    uint32_t index;            /* into the writes, or the marks */
    bool mark;
    const char *tag;           /* the hash tag's bytes in the key */
    size_t tag_len;
} vg_redis_item_t;

static void vg_redis_tag(const char *key, const char **tag, size_t *len) {
    const char *open = strchr(key, '{'), *close = open ? strchr(open + 1, '}') : NULL;

    if (close && close > open + 1) {
        *tag = open + 1;
        *len = (size_t)(close - open - 1);
    } else {
        *tag = key;
        *len = strlen(key);
    }
}

static int vg_redis_item_cmp(const void *a, const void *b) {
    const vg_redis_item_t *x = a, *y = b;
    int c;

    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    if (x->tag_len != y->tag_len)
        return x->tag_len < y->tag_len ? -1 : 1;
    if ((c = memcmp(x->tag, y->tag, x->tag_len)))
        return c;
    if (x->mark != y->mark)
        return x->mark ? -1 : 1; /* the marker first */
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool vg_redis_same_group(const vg_redis_item_t *x, const vg_redis_item_t *y) {
    return x->slot == y->slot && x->tag_len == y->tag_len &&
           memcmp(x->tag, y->tag, x->tag_len) == 0;
}

/* The store's script calls: group g is argv[off[g] .. off[g] + argc[g]),
 * its items items[first[g] ..]. */
typedef struct vg_redis_calls_s {
    const char **argv;
    size_t *argvlen;
    size_t *off;
    int *argc;
    size_t *first;
    size_t *n_states;
    int *mark;                 /* index into the marks, or -1 */
} vg_redis_calls_t;

/* A command in RESP, written here and handed to hiredis whole: its
 * redisAppendCommandArgv formats every argument's header with
 * sdscatfmt, which cost more than the rest of the store's formatting for
 * a call of a few hundred arguments (benchmarks/RESULTS.md). */
static int vg_redis_append_resp(redisContext *c, int argc, const char **argv,
                                const size_t *argvlen) {
    size_t size = 16, n = 0;
    char *buf;
    int rc;

    for (int i = 0; i < argc; i++)
        size += 1 + 20 + 2 + argvlen[i] + 2;
    if (!(buf = malloc(size)))
        return REDIS_ERR;
    buf[n++] = '*';
    n += vg_redis_u64(buf + n, (uint64_t)argc);
    buf[n++] = '\r', buf[n++] = '\n';
    for (int i = 0; i < argc; i++) {
        buf[n++] = '$';
        n += vg_redis_u64(buf + n, argvlen[i]);
        buf[n++] = '\r', buf[n++] = '\n';
        memcpy(buf + n, argv[i], argvlen[i]);
        n += argvlen[i];
        buf[n++] = '\r', buf[n++] = '\n';
    }
    rc = redisAppendFormattedCommand(c, buf, n);
    free(buf);
    return rc;
}

static int vg_redis_append_call(redisContext *c, void *ctx, size_t g) {
    const vg_redis_calls_t *calls = ctx;

    return vg_redis_append_resp(c, calls->argc[g], calls->argv + calls->off[g],
                                calls->argvlen + calls->off[g]);
}

static int vg_redis_append_wait(redisContext *c, void *ctx, size_t i) {
    const vg_redis_t *r = ctx;

    (void)i;
    return redisAppendCommand(c, "WAIT %d %d", r->min_replicas_acked, r->wait_timeout_ms);
}

/* WAIT on every node that took a write of the last store (groups' replies
 * in r->node_of[0..n_groups)): fewer replicas than min_replicas_acked is
 * an error. */
static vg_err_t vg_redis_wait(vg_redis_t *r, size_t n_groups, char *errstr, size_t errstr_size) {
    bool wrote[VG_REDIS_NODES_MAX] = {false};
    int route[VG_REDIS_NODES_MAX];
    size_t n = 0;
    vg_err_t err;

    for (size_t g = 0; g < n_groups; g++)
        wrote[r->node_of[g]] = true;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    struct timeval tv_wait = {(r->timeout_ms + r->wait_timeout_ms) / 1000,
                              ((r->timeout_ms + r->wait_timeout_ms) % 1000) * 1000};

    /* WAIT may take wait_timeout_ms by design: the read waits that long
     * on top of the usual timeout, or a slow WAIT would read as a lost
     * connection. */
    for (size_t k = 0; k < r->n_nodes; k++)
        if (wrote[k]) {
            route[n++] = VG_ROUTE_NODE(k);
            if (r->nodes[k].c)
                redisSetTimeout(r->nodes[k].c, tv_wait);
        }
    err = vg_redis_exec(r, n, route, vg_redis_append_wait, r, errstr, errstr_size);
    for (size_t k = 0; k < r->n_nodes; k++)
        if (wrote[k] && r->nodes[k].c)
            redisSetTimeout(r->nodes[k].c, tv);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        const redisReply *w = r->replies[i];
        const vg_redis_node_t *node = &r->nodes[r->node_of[i]];
        if (w->type != REDIS_REPLY_INTEGER || w->integer < r->min_replicas_acked) {
            /* Written on the master, not (yet) on enough replicas: not
             * durable as configured. The caller redoes the batch (the
             * replay rule makes that exact) and commits nothing now. */
            r->problem = VG_REDIS_PROBLEM_REPLICAS;
            vg_errstr_set(errstr, errstr_size,
                          "redis %s:%d: WAIT: %lld of %d replica(s) acknowledged the state write "
                          "within %d ms (redis.min_replicas_acked); not committing",
                          node->host, node->port,
                          w->type == REDIS_REPLY_INTEGER ? w->integer : -1LL,
                          r->min_replicas_acked, r->wait_timeout_ms);
            return VG_ERR_REDIS;
        }
    }
    return VG_OK;
}

/* The store's buffer of values, at least size bytes: grown, never
 * shrunk, so a worker's batches reuse the largest one's. NULL when out
 * of memory. */
static char *vg_redis_values(vg_redis_t *r, size_t size) {
    if (size > r->values_cap) {
        size_t cap = size > 2 * r->values_cap ? size : 2 * r->values_cap;
        char *v = realloc(r->values, cap);
        if (!v)
            return NULL;
        r->values = v;
        r->values_cap = cap;
    }
    return r->values;
}

/* The stored form of w into out (VG_REDIS_VERSION_DIGITS + 1 + w->len
 * bytes at most): "<new version>\n<bytes>". Its length. */
static size_t vg_redis_value(char *out, const vg_redis_write_t *w) {
    size_t len = vg_redis_u64(out, w->expect_version + 1);

    out[len++] = '\n';
    if (w->len)
        memcpy(out + len, w->data, w->len);
    return len + w->len;
}

vg_err_t vg_redis_store(vg_redis_t *r, const vg_redis_write_t *w, size_t n,
                        vg_redis_mark_t *marks, size_t n_marks, int64_t ttl_ms, size_t *conflict,
                        size_t *behind, char *errstr, size_t errstr_size) {
    /* Per group of m writes one EVALSHA: 6 + 2m keys and arguments (with
     * its marker) before 3m more, the numbers formatted into one scratch
     * buffer (24 bytes each), the values into r->values: 12 per item at
     * most in all. */
    size_t n_items = n + n_marks, n_groups = 0, k = 0, values_size = 0, used = 0;
    vg_redis_item_t *items = NULL;
    vg_redis_calls_t calls = {0};
    int *route = NULL;
    char *num = NULL, *gnum = NULL, *values = NULL, ttl[24];
    vg_err_t err = VG_OK;

    if (n_items == 0)
        return VG_OK;
    if (n_items > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu states in one store, more than %d", n_items,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    items = malloc(n_items * sizeof(*items));
    calls.argv = malloc(12 * n_items * sizeof(*calls.argv));
    calls.argvlen = malloc(12 * n_items * sizeof(*calls.argvlen));
    calls.off = malloc(n_items * sizeof(*calls.off));
    calls.argc = malloc(n_items * sizeof(*calls.argc));
    calls.first = malloc(n_items * sizeof(*calls.first));
    calls.n_states = malloc(n_items * sizeof(*calls.n_states));
    calls.mark = malloc(n_items * sizeof(*calls.mark));
    route = malloc(n_items * sizeof(*route));
    num = malloc(n_items * 2 * 24);
    gnum = malloc(n_items * 24);
    for (size_t i = 0; i < n; i++)
        values_size += VG_REDIS_VERSION_DIGITS + 1 + w[i].len;
    values = n ? vg_redis_values(r, values_size) : NULL;
    if (!items || !calls.argv || !calls.argvlen || !calls.off || !calls.argc || !calls.first ||
        !calls.n_states || !calls.mark || !route || !num || !gnum || (n && !values)) {
        vg_errstr_set(errstr, errstr_size, "redis: out of memory");
        err = VG_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n_items; i++) {
        vg_redis_item_t *it = &items[i];
        const char *key = i < n ? w[i].key : marks[i - n].key;
        it->mark = i >= n;
        it->index = (uint32_t)(i < n ? i : i - n);
        it->slot = vg_redis_slot(key, strlen(key));
        vg_redis_tag(key, &it->tag, &it->tag_len);
    }
    qsort(items, n_items, sizeof(*items), vg_redis_item_cmp);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    for (size_t a = 0, b; a < n_items; a = b) {
        const vg_redis_mark_t *mk = items[a].mark ? &marks[items[a].index] : NULL;
        size_t m, s0 = a + (mk != NULL);
        char *nk = gnum + n_groups * 24, *mv = num + a * 2 * 24, *me = mv + 24;
        for (b = a + 1; b < n_items && vg_redis_same_group(&items[a], &items[b]) &&
                        !items[b].mark;
             b++)
            ;
        m = b - s0;
        calls.off[n_groups] = k;
        calls.first[n_groups] = s0;
        calls.n_states[n_groups] = m;
        calls.mark[n_groups] = mk ? (int)items[a].index : -1;
        calls.argc[n_groups] = (int)(6 + (mk != NULL) + 5 * m);
        route[n_groups] = (int)items[a].slot;
        calls.argv[k] = "EVALSHA", calls.argvlen[k++] = 7;
        calls.argv[k] = r->sha, calls.argvlen[k++] = 40;
        calls.argv[k] = nk, calls.argvlen[k++] = vg_redis_u64(nk, 2 * m + (mk != NULL));
        if (mk)
            calls.argv[k] = mk->key, calls.argvlen[k++] = strlen(mk->key);
        for (size_t j = s0; j < b; j++) {
            const vg_redis_write_t *x = &w[items[j].index];
            calls.argv[k] = x->key, calls.argvlen[k] = strlen(x->key);
            /* No index: the state key stands in (its due is "-", so the
             * script leaves it alone). "" would be a key of slot 0, and
             * a cluster refuses a script whose keys span slots
             * (CROSSSLOT). */
            calls.argv[k + m] = x->due_key ? x->due_key : x->key;
            calls.argvlen[k + m] = strlen(x->due_key ? x->due_key : x->key);
            k++;
        }
        k += m;
        calls.argv[k] = ttl, calls.argvlen[k++] = strlen(ttl);
        calls.argv[k] = mv;
        calls.argvlen[k++] = mk ? vg_redis_u64(mv, (uint64_t)(mk->value > 0 ? mk->value : 0)) : 0;
        calls.argv[k] = me;
        calls.argvlen[k++] =
            mk && mk->expect >= 0 ? vg_redis_u64(me, (uint64_t)mk->expect) : 0;
        for (size_t j = s0; j < b; j++) {
            const vg_redis_write_t *x = &w[items[j].index];
            char *e = num + j * 2 * 24, *d = e + 24;
            calls.argv[k] = e, calls.argvlen[k++] = vg_redis_u64(e, x->expect_version);
            calls.argv[k] = values + used, calls.argvlen[k] = vg_redis_value(values + used, x);
            used += calls.argvlen[k++];
            if (x->due_unchanged || !x->due_key) {
                d[0] = '-', d[1] = '\0';
                calls.argv[k] = d, calls.argvlen[k++] = 1;
            } else {
                calls.argv[k] = d;
                calls.argvlen[k++] =
                    vg_redis_u64(d, x->due_key && x->due_ms > 0 ? (uint64_t)x->due_ms : 0);
            }
        }
        n_groups++;
    }
    /* hiredis copies the arguments into its output buffers. The script's
     * SHA is the same on every node; each connect loads it (before the
     * first connect r->sha is empty, but exec connects before appending). */
    if ((err = vg_redis_exec(r, n_groups, route, vg_redis_append_call, &calls, errstr,
                             errstr_size)))
        goto done;
    for (size_t g = 0; g < n_groups; g++) {
        const redisReply *rep = r->replies[g];
        if (rep->type != REDIS_REPLY_INTEGER || rep->integer > (long long)calls.n_states[g] ||
            (rep->integer < 0 && calls.mark[g] < 0)) {
            if (!err)
                err = vg_redis_reply_error(r, &r->nodes[r->node_of[g]], "EVALSHA",
                                           rep->type == REDIS_REPLY_ERROR ? rep->str : NULL,
                                           errstr, errstr_size);
        } else if (rep->integer < 0) {
            /* Behind: first, it decides what the caller does. */
            marks[calls.mark[g]].found = -2 - rep->integer;
            if (behind && err != VG_ERR_BEHIND)
                *behind = (size_t)calls.mark[g];
            if (err != VG_ERR_BEHIND)
                vg_errstr_set(errstr, errstr_size,
                              "%s holds %lld, below the %lld expected: Redis lost writes",
                              marks[calls.mark[g]].key, (long long)marks[calls.mark[g]].found,
                              (long long)marks[calls.mark[g]].expect);
            err = VG_ERR_BEHIND;
        } else if (rep->integer > 0 && err != VG_ERR_BEHIND && err != VG_ERR_CONFLICT) {
            if (conflict)
                *conflict = items[calls.first[g] + (size_t)rep->integer - 1].index;
            err = VG_ERR_CONFLICT;
        }
    }
    if (!err && r->min_replicas_acked)
        err = vg_redis_wait(r, n_groups, errstr, errstr_size);
done:
    free(items);
    free(calls.argv);
    free(calls.argvlen);
    free(calls.off);
    free(calls.argc);
    free(calls.first);
    free(calls.n_states);
    free(calls.mark);
    free(route);
    free(num);
    free(gnum);
    return err;
}

/* One command in its own round trip, routed by key; its reply is
 * r->replies[0]. */
static vg_err_t vg_redis_command(vg_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                                 char *errstr, size_t errstr_size) {
    vg_redis_argv_t a = {argc, argv, argvlen};
    int route = VG_ROUTE_ANY;

    if (r->mode == VG_REDIS_MODE_CLUSTER && argc > 1)
        route = (int)vg_redis_slot(argv[1], argvlen[1]);
    return vg_redis_exec(r, 1, &route, vg_redis_append_argv, &a, errstr, errstr_size);
}

vg_err_t vg_redis_del(vg_redis_t *r, const char *key, char *errstr, size_t errstr_size) {
    const char *argv[] = {"DEL", key};
    size_t argvlen[] = {3, strlen(key)};

    return vg_redis_command(r, 2, argv, argvlen, errstr, errstr_size);
}

typedef struct vg_redis_due_ctx_s {
    const char *const *keys;
    const int64_t *max_due_ms;
    const char *limit;
} vg_redis_due_ctx_t;

static int vg_redis_append_due(redisContext *c, void *ctx, size_t i) {
    const vg_redis_due_ctx_t *d = ctx;
    char max[24];
    const char *argv[7] = {"ZRANGEBYSCORE", d->keys[i], "-inf", max, "LIMIT", "0", d->limit};
    size_t argvlen[7] = {13, strlen(d->keys[i]), 4, 0, 5, 1, strlen(d->limit)};

    snprintf(max, sizeof(max), "%" PRId64, d->max_due_ms[i]);
    argvlen[3] = strlen(max);
    return redisAppendCommandArgv(c, 7, argv, argvlen);
}

vg_err_t vg_redis_due(vg_redis_t *r, const char *const *index_keys, const int64_t *max_due_ms,
                      size_t n, size_t limit, vg_redis_due_t *out, char *errstr,
                      size_t errstr_size) {
    static _Thread_local int route[VG_REDIS_PIPE_MAX];
    char lim[24];
    vg_redis_due_ctx_t ctx = {index_keys, max_due_ms, lim};
    vg_err_t err;

    if (n > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu keys in one round trip, more than %d", n,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    snprintf(lim, sizeof(lim), "%zu", limit);
    vg_redis_routes(r, index_keys, n, route);
    if ((err = vg_redis_exec(r, n, route, vg_redis_append_due, &ctx, errstr, errstr_size)))
        return err;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = r->replies[i];
        if (rep->type != REDIS_REPLY_ARRAY) {
            vg_errstr_set(errstr, errstr_size, "redis ZRANGEBYSCORE: %s",
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            return VG_ERR_REDIS;
        }
        out[i].n = rep->elements;
        out[i].members = rep->element;
    }
    return VG_OK;
}

const char *vg_redis_due_member(const vg_redis_due_t *d, size_t i, size_t *len) {
    const redisReply *e = ((redisReply *const *)d->members)[i];

    if (e->type != REDIS_REPLY_STRING)
        return NULL;
    *len = e->len;
    return e->str;
}

vg_err_t vg_redis_unindex(vg_redis_t *r, const char *index_key, const char *member, char *errstr,
                          size_t errstr_size) {
    const char *argv[] = {"ZREM", index_key, member};
    size_t argvlen[] = {4, strlen(index_key), strlen(member)};

    return vg_redis_command(r, 3, argv, argvlen, errstr, errstr_size);
}
