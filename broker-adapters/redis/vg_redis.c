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

/* Compare-and-set of a batch of customers' states, all or nothing, in one
 * script call (redis/redis#7382: a script's fixed cost is several times
 * that of a call inside it, so one per batch rather than one per
 * customer). KEYS: n state keys, then their n deadline index keys ("" for
 * none). ARGV[1]: TTL in ms; then 4 per state: expected version, new
 * version, bytes, due ms (0: removed from the index; "-": left as it is).
 * Versions compare as
 * strings: both sides are canonical decimals. Returns 0, or the 1-based
 * index of the first state whose version moved (nothing written). */
static const char vg_redis_cas_script[] =
    "local n = #KEYS / 2\n"
    "for i = 1, n do\n"
    "  local v = redis.call('HGET', KEYS[i], 'v')\n"
    "  if (v or '0') ~= ARGV[(i - 1) * 4 + 2] then return i end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local b = (i - 1) * 4 + 1\n"
    "  redis.call('HSET', KEYS[i], 'v', ARGV[b + 2], 's', ARGV[b + 3])\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[1])\n"
    "  local d = KEYS[n + i]\n"
    "  if d ~= '' and ARGV[b + 4] ~= '-' then\n"
    "    if ARGV[b + 4] ~= '0' then redis.call('ZADD', d, ARGV[b + 4], KEYS[i])\n"
    "    else redis.call('ZREM', d, KEYS[i]) end\n"
    "  end\n"
    "end\n"
    "return 0\n";

struct vg_redis_s {
    redisContext *c;
    vg_log_t *log;
    char host[256];
    int port;
    char *user;
    char *password;
    int db;
    int timeout_ms;
    char probe_key[128];
    char sentinels[1024];      /* "" : not in Sentinel mode */
    char master_name[128];
    int min_replicas_acked, wait_timeout_ms;
    SSL_CTX *tls;              /* NULL: plain text */
    char tls_name[256];        /* SNI and the name verified ("" : none) */
    bool tls_skip_hostname;
    char sha[41];
    vg_redis_problem_t problem;
    uint64_t round_trips;
    size_t n_replies;
    redisReply *replies[VG_REDIS_PIPE_MAX];
};

static void vg_redis_free_replies(vg_redis_t *r) {
    for (size_t i = 0; i < r->n_replies; i++)
        freeReplyObject(r->replies[i]);
    r->n_replies = 0;
}

static void vg_redis_drop(vg_redis_t *r) {
    vg_redis_free_replies(r);
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
}

static const char *const vg_redis_problems[VG_REDIS_PROBLEM__COUNT] = {
    "none",    "unreachable", "tls_port", "plain_port", "tls",   "auth",
    "noperm",  "cluster",     "replica",  "loading",    "oom",   "replicas",
    "sentinel", "other"};

const char *vg_redis_problem_name(vg_redis_problem_t p) {
    return p >= 0 && p < VG_REDIS_PROBLEM__COUNT ? vg_redis_problems[p] : "other";
}

vg_redis_problem_t vg_redis_problem(const vg_redis_t *r) { return r->problem; }

/* Name the problem behind an error reply (Lua wraps the inner error, so
 * look anywhere in it) and say it in errstr. A server-state problem drops
 * the connection: the next connect checks the server again. */
static vg_err_t vg_redis_reply_error(vg_redis_t *r, const char *what, const char *msg,
                                     char *errstr, size_t errstr_size) {
    static const struct {
        const char *token;
        vg_redis_problem_t problem;
        const char *says;
    } known[] = {
        {"READONLY", VG_REDIS_PROBLEM_REPLICA,
         "the server is a replica (after a failover?): writes need the master"},
        {"MOVED", VG_REDIS_PROBLEM_CLUSTER,
         "the server is a Redis Cluster node; cluster mode is not supported yet"},
        {"ASK ", VG_REDIS_PROBLEM_CLUSTER,
         "the server is a Redis Cluster node; cluster mode is not supported yet"},
        {"CLUSTERDOWN", VG_REDIS_PROBLEM_CLUSTER,
         "the server is a Redis Cluster node; cluster mode is not supported yet"},
        {"CROSSSLOT", VG_REDIS_PROBLEM_CLUSTER,
         "the server is a Redis Cluster node; cluster mode is not supported yet"},
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
            vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s (%s: %.120s)", r->host, r->port,
                          known[i].says, what, msg);
            if (r->problem != VG_REDIS_PROBLEM_AUTH && r->problem != VG_REDIS_PROBLEM_NOPERM)
                vg_redis_drop(r);
            return VG_ERR_REDIS;
        }
    }
    vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s: %.160s", r->host, r->port, what,
                  msg ? msg : "unexpected reply");
    return VG_ERR_REDIS;
}

/* The server checks after a connect: its mode (a cluster node?), its
 * role (a replica?) and whether it takes a write (out of memory?). */
static vg_err_t vg_redis_check_server(vg_redis_t *r, char *errstr, size_t errstr_size) {
    redisReply *rep = redisCommand(r->c, "INFO cluster");
    vg_err_t err = VG_OK;

    if (!rep)
        return VG_ERR_REDIS;
    if (rep->type == REDIS_REPLY_ERROR) {
        err = vg_redis_reply_error(r, "INFO", rep->str, errstr, errstr_size);
    } else if (rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_enabled:1")) {
        r->problem = VG_REDIS_PROBLEM_CLUSTER;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d: the server is a Redis Cluster node (cluster_enabled:1); "
                      "cluster mode is not supported yet: point redis.host at a standalone "
                      "server",
                      r->host, r->port);
        err = VG_ERR_REDIS;
    }
    freeReplyObject(rep);
    if (err)
        return err;
    if (!(rep = redisCommand(r->c, "ROLE")))
        return VG_ERR_REDIS;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "master")) {
        r->problem = VG_REDIS_PROBLEM_REPLICA;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d: the server is a replica (role %s): writes need the master "
                      "(after a failover, point redis.host at the new master)",
                      r->host, r->port, rep->element[0]->str);
        err = VG_ERR_REDIS;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        err = vg_redis_reply_error(r, "ROLE", rep->str, errstr, errstr_size);
    }
    freeReplyObject(rep);
    if (err)
        return err;
    /* A write that expires at once: refused with OOM when maxmemory is
     * reached (reads still work, so PING cannot tell). */
    if (!(rep = redisCommand(r->c, "SET %s 1 PX 1000", r->probe_key)))
        return VG_ERR_REDIS;
    if (rep->type == REDIS_REPLY_ERROR)
        err = vg_redis_reply_error(r, "SET", rep->str, errstr, errstr_size);
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
    if (!(r->tls = SSL_CTX_new(TLS_client_method()))) {
        what = "SSL_CTX_new";
    } else if (!SSL_CTX_set_min_proto_version(r->tls, TLS1_2_VERSION)) {
        what = "TLS 1.2 minimum";
    } else if ((t->ca_file && *t->ca_file) || (t->ca_dir && *t->ca_dir)) {
        file = t->ca_file && *t->ca_file ? t->ca_file : t->ca_dir;
        if (!SSL_CTX_load_verify_locations(r->tls, t->ca_file && *t->ca_file ? t->ca_file : NULL,
                                           t->ca_dir && *t->ca_dir ? t->ca_dir : NULL))
            what = "redis.tls_ca_file/redis.tls_ca_dir";
    } else if (!SSL_CTX_set_default_verify_paths(r->tls)) {
        what = "the system's CA store";
    }
    if (!what && t->cert_file && *t->cert_file) {
        file = t->cert_file;
        if (!SSL_CTX_use_certificate_chain_file(r->tls, t->cert_file)) {
            what = "redis.tls_cert_file";
        } else {
            file = t->key_file;
            if (!SSL_CTX_use_PrivateKey_file(r->tls, t->key_file, SSL_FILETYPE_PEM))
                what = "redis.tls_key_file";
            else if (!SSL_CTX_check_private_key(r->tls))
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
    SSL_CTX_set_verify(r->tls, SSL_VERIFY_PEER, NULL);
    snprintf(r->tls_name, sizeof(r->tls_name), "%s",
             t->server_name && *t->server_name ? t->server_name : r->host);
    r->tls_skip_hostname = t->skip_hostname;
    return VG_OK;
}

/* Does the server answer a plain-text PING (any RESP reply)? Asked after
 * a failed handshake: OpenSSL's reason for a plain-text peer varies. */
static bool vg_redis_speaks_plain(const vg_redis_t *r) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
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

/* TLS over the fresh connection: SNI (for a name, not an address), the
 * certificate chain verified, and the name (or address) checked against
 * it. A failure is named: a plain-text port, a certificate refused (and
 * why), or the handshake's own reason. */
static vg_err_t vg_redis_tls_handshake(vg_redis_t *r, char *errstr, size_t errstr_size) {
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, r->tls_name, addr) == 1 ||
                 inet_pton(AF_INET6, r->tls_name, addr) == 1;
    SSL *ssl = SSL_new(r->tls);
    long verify;

    if (!ssl) {
        vg_errstr_set(errstr, errstr_size, "redis TLS: out of memory");
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, r->tls_name);
    if (!r->tls_skip_hostname) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, r->tls_name);
        else
            SSL_set1_host(ssl, r->tls_name);
    }
    if (redisInitiateSSL(r->c, ssl) == REDIS_OK)
        return VG_OK; /* the context owns ssl now */
    verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        r->problem = VG_REDIS_PROBLEM_TLS;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d: TLS: the server's certificate was refused: %s (%s)",
                      r->host, r->port, X509_verify_cert_error_string(verify),
                      verify == X509_V_ERR_HOSTNAME_MISMATCH ||
                              verify == X509_V_ERR_IP_ADDRESS_MISMATCH
                          ? "the certificate does not name redis.tls_server_name or redis.host"
                          : "check redis.tls_ca_file: is it the CA that signed the server's "
                            "certificate?");
    } else if (vg_redis_speaks_plain(r)) {
        r->problem = VG_REDIS_PROBLEM_PLAIN_PORT;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d: TLS handshake failed: the port speaks plain text, not "
                      "TLS: set redis.tls=false, or use the server's tls-port",
                      r->host, r->port);
    } else {
        r->problem = VG_REDIS_PROBLEM_TLS;
        vg_errstr_set(errstr, errstr_size, "redis %s:%d: TLS handshake failed: %s", r->host,
                      r->port, r->c->errstr[0] ? r->c->errstr : "no reason given");
    }
    SSL_free(ssl);
    vg_redis_drop(r);
    return VG_ERR_REDIS;
}

/* Sentinel mode: the master's address, from the first sentinel that
 * knows it, into r->host / r->port. */
static vg_err_t vg_redis_discover(vg_redis_t *r, char *errstr, size_t errstr_size) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    char list[sizeof(r->sentinels)], *save = NULL, why[160] = "no sentinel listed";

    snprintf(list, sizeof(list), "%s", r->sentinels);
    for (char *s = strtok_r(list, ", ", &save); s; s = strtok_r(NULL, ", ", &save)) {
        char *colon = strrchr(s, ':');
        redisContext *c;
        redisReply *rep = NULL;
        if (!colon) {
            snprintf(why, sizeof(why), "\"%s\" is not host:port", s);
            continue;
        }
        *colon = '\0';
        c = redisConnectWithTimeout(s, atoi(colon + 1), tv);
        if (c && !c->err) {
            redisSetTimeout(c, tv);
            rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", r->master_name);
        }
        if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_STRING &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            int port = atoi(rep->element[1]->str);
            if (strcmp(r->host, rep->element[0]->str) || r->port != port)
                VG_INFO(r->log, "redis", "sentinel %s:%s: master %s is %s:%d", s, colon + 1,
                        r->master_name, rep->element[0]->str, port);
            snprintf(r->host, sizeof(r->host), "%s", rep->element[0]->str);
            r->port = port;
            freeReplyObject(rep);
            redisFree(c);
            return VG_OK;
        }
        snprintf(why, sizeof(why), "sentinel %s:%s: %s", s, colon + 1,
                 !c || c->err ? (c ? c->errstr : "out of memory")
                 : !rep       ? "no reply"
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                  : "does not know this master");
        if (rep)
            freeReplyObject(rep);
        if (c)
            redisFree(c);
    }
    r->problem = VG_REDIS_PROBLEM_SENTINEL;
    vg_errstr_set(errstr, errstr_size,
                  "redis sentinel: no sentinel gave the address of master \"%s\" "
                  "(redis.sentinel_master) from redis.sentinels %s; last: %s",
                  r->master_name, r->sentinels, why);
    return VG_ERR_REDIS;
}

static vg_err_t vg_redis_connect(vg_redis_t *r, char *errstr, size_t errstr_size) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisReply *rep;

    if (r->c)
        return VG_OK;
    if (r->sentinels[0] && vg_redis_discover(r, errstr, errstr_size))
        return VG_ERR_REDIS;
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->c || r->c->err) {
        r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
        vg_errstr_set(errstr, errstr_size, "connect to redis %s:%d: %s", r->host, r->port,
                      r->c ? r->c->errstr : "out of memory");
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    redisSetTimeout(r->c, tv);
    if (r->tls && vg_redis_tls_handshake(r, errstr, errstr_size))
        return VG_ERR_REDIS;
    /* The first command tells a TLS-only port: it drops a connection
     * whose first bytes are not a TLS handshake. */
    rep = r->password ? r->user ? redisCommand(r->c, "AUTH %s %s", r->user, r->password)
                                : redisCommand(r->c, "AUTH %s", r->password)
                      : redisCommand(r->c, "PING");
    if (!rep && r->tls) {
        /* TLS 1.3 sends the client's certificate after the handshake, so
         * a server that wanted one (and got none, or one it does not
         * trust) closes the connection at the first command. */
        r->problem = VG_REDIS_PROBLEM_TLS;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d closed the TLS connection at the first command (%s): does "
                      "it require a client certificate (tls-auth-clients)? set "
                      "redis.tls_cert_file and redis.tls_key_file to one its CA signed",
                      r->host, r->port, r->c->errstr[0] ? r->c->errstr : "no reply");
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    if (!rep) {
        r->problem = VG_REDIS_PROBLEM_TLS_PORT;
        vg_errstr_set(errstr, errstr_size,
                      "redis %s:%d closed the connection at the first command (%s): is it a "
                      "TLS-only port spoken to in plain text? (set redis.tls=true)",
                      r->host, r->port, r->c->errstr[0] ? r->c->errstr : "no reply");
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        if (r->password) {
            /* Say whose authentication failed, never with what. */
            r->problem = VG_REDIS_PROBLEM_AUTH;
            vg_errstr_set(errstr, errstr_size, "redis %s:%d: AUTH refused for user \"%s\"",
                          r->host, r->port, r->user ? r->user : "default");
        } else {
            vg_redis_reply_error(r, "PING", rep->str, errstr, errstr_size);
        }
        freeReplyObject(rep);
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    freeReplyObject(rep);
    if (vg_redis_check_server(r, errstr, errstr_size)) {
        if (r->problem == VG_REDIS_PROBLEM_NONE)
            r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    if (r->db) {
        rep = redisCommand(r->c, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            vg_errstr_set(errstr, errstr_size, "redis SELECT %d failed", r->db);
            if (rep)
                freeReplyObject(rep);
            vg_redis_drop(r);
            return VG_ERR_REDIS;
        }
        freeReplyObject(rep);
    }
    rep = redisCommand(r->c, "SCRIPT LOAD %s", vg_redis_cas_script);
    if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        vg_errstr_set(errstr, errstr_size, "redis SCRIPT LOAD failed: %s",
                      rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "I/O error");
        if (rep)
            freeReplyObject(rep);
        vg_redis_drop(r);
        return VG_ERR_REDIS;
    }
    memcpy(r->sha, rep->str, 40);
    r->sha[40] = '\0';
    freeReplyObject(rep);
    VG_INFO(r->log, "redis", "connected to %s:%d%s", r->host, r->port, r->tls ? " (TLS)" : "");
    r->problem = VG_REDIS_PROBLEM_NONE;
    return VG_OK;
}

static vg_redis_t *vg_redis_new_impl(const vg_redis_conf_t *conf, vg_log_t *log, char *errstr,
                                     size_t errstr_size, bool lazy) {
    vg_redis_t *r = calloc(1, sizeof(*r));

    if (!r) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    r->log = log;
    snprintf(r->host, sizeof(r->host), "%s", conf->host ? conf->host : "127.0.0.1");
    r->port = conf->port ? conf->port : 6379;
    r->user = conf->user ? strdup(conf->user) : NULL;
    r->password = conf->password ? strdup(conf->password) : NULL;
    r->db = conf->db;
    r->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 2000;
    snprintf(r->sentinels, sizeof(r->sentinels), "%s", conf->sentinels ? conf->sentinels : "");
    snprintf(r->master_name, sizeof(r->master_name), "%s",
             conf->master_name && *conf->master_name ? conf->master_name : "mymaster");
    r->min_replicas_acked = conf->min_replicas_acked > 0 ? conf->min_replicas_acked : 0;
    r->wait_timeout_ms = conf->wait_timeout_ms > 0 ? conf->wait_timeout_ms : 1000;
    snprintf(r->probe_key, sizeof(r->probe_key), "%s:health:probe",
             conf->key_prefix && *conf->key_prefix ? conf->key_prefix : "vigil");
    if (conf->tls.enabled && vg_redis_tls_init(r, &conf->tls, errstr, errstr_size)) {
        vg_redis_destroy(r);
        return NULL;
    }
    if (vg_redis_connect(r, errstr, errstr_size)) {
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

void vg_redis_destroy(vg_redis_t *r) {
    if (!r)
        return;
    vg_redis_drop(r);
    if (r->tls)
        SSL_CTX_free(r->tls);
    free(r->user);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
    free(r);
}

bool vg_redis_connected(const vg_redis_t *r) { return r->c != NULL; }

uint64_t vg_redis_round_trips(const vg_redis_t *r) { return r->round_trips; }

/* Read n pipelined replies into r->replies; on an I/O error the connection
 * is dropped so the next call reconnects. */
static vg_err_t vg_redis_read(vg_redis_t *r, size_t n, char *errstr, size_t errstr_size) {
    vg_redis_free_replies(r);
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r->c, &rep) != REDIS_OK || !rep) {
            r->problem = VG_REDIS_PROBLEM_UNREACHABLE;
            vg_errstr_set(errstr, errstr_size, "redis %s:%d: %s", r->host, r->port,
                          r->c->errstr[0] ? r->c->errstr : "connection lost");
            vg_redis_drop(r);
            return VG_ERR_REDIS;
        }
        r->replies[r->n_replies++] = rep;
    }
    r->round_trips++;
    return VG_OK;
}

vg_err_t vg_redis_ping(vg_redis_t *r, char *errstr, size_t errstr_size) {
    vg_err_t err;

    if ((err = vg_redis_connect(r, errstr, errstr_size)))
        return err;
    if (redisAppendCommand(r->c, "PING") != REDIS_OK)
        return VG_ERR_REDIS;
    if ((err = vg_redis_read(r, 1, errstr, errstr_size)))
        return err;
    if (r->replies[0]->type == REDIS_REPLY_ERROR)
        return vg_redis_reply_error(r, "PING", r->replies[0]->str, errstr, errstr_size);
    r->problem = VG_REDIS_PROBLEM_NONE;
    return VG_OK;
}

vg_err_t vg_redis_load(vg_redis_t *r, const char *const *keys, size_t n, vg_redis_state_t *out,
                       char *errstr, size_t errstr_size) {
    vg_err_t err;

    if (n > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu keys in one round trip, more than %d", n,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    if ((err = vg_redis_connect(r, errstr, errstr_size)))
        return err;
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"HMGET", keys[i], "v", "s"};
        size_t argvlen[] = {5, strlen(keys[i]), 1, 1};
        if (redisAppendCommandArgv(r->c, 4, argv, argvlen) != REDIS_OK) {
            vg_errstr_set(errstr, errstr_size, "redis: out of memory");
            vg_redis_drop(r);
            return VG_ERR_NOMEM;
        }
    }
    if ((err = vg_redis_read(r, n, errstr, errstr_size)))
        return err;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = r->replies[i];
        memset(&out[i], 0, sizeof(out[i]));
        if (rep->type == REDIS_REPLY_ERROR)
            return vg_redis_reply_error(r, "HMGET", rep->str, errstr, errstr_size);
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
            continue;
        if (rep->element[0]->type == REDIS_REPLY_STRING &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            out[i].found = true;
            out[i].version = strtoull(rep->element[0]->str, NULL, 10);
            out[i].data = rep->element[1]->str;
            out[i].len = rep->element[1]->len;
        }
    }
    return VG_OK;
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

vg_err_t vg_redis_store(vg_redis_t *r, const vg_redis_write_t *w, size_t n, int64_t ttl_ms,
                        size_t *conflict, char *errstr, size_t errstr_size) {
    /* One EVALSHA: 3 + 2n keys + 1 + 4n arguments, the numbers formatted
     * into one scratch buffer (24 bytes each). */
    size_t argc = 4 + 6 * n, k;
    const char **argv = NULL;
    size_t *argvlen = NULL;
    char *num = NULL, nkeys[24], ttl[24];
    redisReply *rep;
    vg_err_t err;
    bool retried = false;

    if (n == 0)
        return VG_OK;
    if (n > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu states in one script call, more than %d", n,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    argv = malloc(argc * sizeof(*argv));
    argvlen = malloc(argc * sizeof(*argvlen));
    num = malloc(n * 3 * 24);
    if (!argv || !argvlen || !num) {
        vg_errstr_set(errstr, errstr_size, "redis: out of memory");
        err = VG_ERR_NOMEM;
        goto done;
    }
again:
    if ((err = vg_redis_connect(r, errstr, errstr_size)))
        goto done;
    snprintf(nkeys, sizeof(nkeys), "%zu", 2 * n);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    argv[0] = "EVALSHA", argvlen[0] = 7;
    argv[1] = r->sha, argvlen[1] = 40;
    argv[2] = nkeys, argvlen[2] = strlen(nkeys);
    for (size_t i = 0; i < n; i++) {
        argv[3 + i] = w[i].key, argvlen[3 + i] = strlen(w[i].key);
        argv[3 + n + i] = w[i].due_key ? w[i].due_key : "";
        argvlen[3 + n + i] = w[i].due_key ? strlen(w[i].due_key) : 0;
    }
    k = 3 + 2 * n;
    argv[k] = ttl, argvlen[k] = strlen(ttl), k++;
    for (size_t i = 0; i < n; i++) {
        char *e = num + i * 3 * 24, *nx = e + 24, *d = e + 48;
        size_t le = vg_redis_u64(e, w[i].expect_version);
        size_t ln = vg_redis_u64(nx, w[i].expect_version + 1);
        size_t ld;
        if (w[i].due_unchanged) {
            d[0] = '-', d[1] = '\0', ld = 1;
        } else {
            ld = vg_redis_u64(d, w[i].due_key && w[i].due_ms > 0 ? (uint64_t)w[i].due_ms : 0);
        }
        argv[k] = e, argvlen[k] = le, k++;
        argv[k] = nx, argvlen[k] = ln, k++;
        argv[k] = w[i].data, argvlen[k] = w[i].len, k++;
        argv[k] = d, argvlen[k] = ld, k++;
    }
    /* hiredis copies the arguments into its output buffer here. With
     * redis.min_replicas_acked, WAIT follows in the same round trip. */
    if (redisAppendCommandArgv(r->c, (int)argc, argv, argvlen) != REDIS_OK ||
        (r->min_replicas_acked &&
         redisAppendCommand(r->c, "WAIT %d %d", r->min_replicas_acked, r->wait_timeout_ms) !=
             REDIS_OK)) {
        vg_redis_drop(r);
        vg_errstr_set(errstr, errstr_size, "redis: out of memory");
        err = VG_ERR_NOMEM;
        goto done;
    }
    if ((err = vg_redis_read(r, r->min_replicas_acked ? 2 : 1, errstr, errstr_size)))
        goto done;
    rep = r->replies[0];
    if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 && !retried) {
        /* The server lost its script cache (it restarted between our
         * connect and this call): nothing was written, so reconnecting
         * (which loads the script again) and sending it again is safe. */
        retried = true;
        vg_redis_drop(r);
        goto again;
    }
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0 || (size_t)rep->integer > n) {
        err = vg_redis_reply_error(r, "EVALSHA",
                                   rep->type == REDIS_REPLY_ERROR ? rep->str : NULL, errstr,
                                   errstr_size);
    } else if (rep->integer > 0) {
        if (conflict)
            *conflict = (size_t)rep->integer - 1;
        err = VG_ERR_CONFLICT;
    } else if (r->min_replicas_acked) {
        redisReply *w = r->replies[1];
        if (w->type != REDIS_REPLY_INTEGER || w->integer < r->min_replicas_acked) {
            /* Written on the master, not (yet) on enough replicas: not
             * durable as configured. The caller redoes the batch (the
             * replay rule makes that exact) and commits nothing now. */
            r->problem = VG_REDIS_PROBLEM_REPLICAS;
            vg_errstr_set(errstr, errstr_size,
                          "redis %s:%d: WAIT: %lld of %d replica(s) acknowledged the state write "
                          "within %d ms (redis.min_replicas_acked); not committing",
                          r->host, r->port, w->type == REDIS_REPLY_INTEGER ? w->integer : -1LL,
                          r->min_replicas_acked, r->wait_timeout_ms);
            err = VG_ERR_REDIS;
        }
    }
done:
    free(argv);
    free(argvlen);
    free(num);
    return err;
}

/* One command in its own round trip; its reply is r->replies[0]. */
static vg_err_t vg_redis_command(vg_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                                 char *errstr, size_t errstr_size) {
    vg_err_t err;

    if ((err = vg_redis_connect(r, errstr, errstr_size)))
        return err;
    if (redisAppendCommandArgv(r->c, argc, argv, argvlen) != REDIS_OK)
        return VG_ERR_NOMEM;
    return vg_redis_read(r, 1, errstr, errstr_size);
}

vg_err_t vg_redis_del(vg_redis_t *r, const char *key, char *errstr, size_t errstr_size) {
    const char *argv[] = {"DEL", key};
    size_t argvlen[] = {3, strlen(key)};

    return vg_redis_command(r, 2, argv, argvlen, errstr, errstr_size);
}

vg_err_t vg_redis_due(vg_redis_t *r, const char *const *index_keys, const int64_t *max_due_ms,
                      size_t n, size_t limit, vg_redis_due_t *out, char *errstr,
                      size_t errstr_size) {
    char lim[24];
    vg_err_t err;

    if (n > VG_REDIS_PIPE_MAX) {
        vg_errstr_set(errstr, errstr_size, "%zu keys in one round trip, more than %d", n,
                      VG_REDIS_PIPE_MAX);
        return VG_ERR_OVERFLOW;
    }
    if ((err = vg_redis_connect(r, errstr, errstr_size)))
        return err;
    snprintf(lim, sizeof(lim), "%zu", limit);
    for (size_t i = 0; i < n; i++) {
        char max[24];
        const char *argv[7];
        size_t argvlen[7];
        snprintf(max, sizeof(max), "%" PRId64, max_due_ms[i]);
        argv[0] = "ZRANGEBYSCORE", argvlen[0] = 13;
        argv[1] = index_keys[i], argvlen[1] = strlen(index_keys[i]);
        argv[2] = "-inf", argvlen[2] = 4;
        argv[3] = max, argvlen[3] = strlen(max);
        argv[4] = "LIMIT", argvlen[4] = 5;
        argv[5] = "0", argvlen[5] = 1;
        argv[6] = lim, argvlen[6] = strlen(lim);
        if (redisAppendCommandArgv(r->c, 7, argv, argvlen) != REDIS_OK) {
            vg_redis_drop(r);
            return VG_ERR_NOMEM;
        }
    }
    if ((err = vg_redis_read(r, n, errstr, errstr_size)))
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
