/*
 * vigilctl - the operator's and analyst's tool.
 *
 *   vigilctl [--config FILE] [--set name=value]... COMMAND [options]
 *
 *   produce [--file F]          JSON lines (one InteractionEvent each) to
 *                               topic.events, keyed by customer_id
 *   gen [--events N] [--customers N] [--seed N] [--rate N/s]
 *       [--trouble-rate X] [--malformed-rate X]
 *                               synthetic traffic to topic.events
 *   tail [--topic T] [--max N] [--timeout-ms N]
 *                               triggers as JSON lines, from the start
 *   state CUSTOMER [--tenant T] [--partition N]  a customer's Redis state as JSON
 *   topics [--partitions N] [--replication N]
 *                               create the events, triggers and
 *                               dead-letter topics
 *   demo [--events N] [--kafka BOOTSTRAP]
 *                               run a worker in-process against the
 *                               embedded mock Kafka (or a real one), drive
 *                               generated traffic through it, summarise
 *
 * Connection settings come from the same configuration as the worker
 * (docs/configuration.md): kafka.bootstrap.servers, topic.*, redis.*,
 * pseudonym.key.
 */
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

extern char **environ;

double vg_ctl_now(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Option value of --name in the command's arguments, or def. */
const char *vg_ctl_opt(const vg_ctl_t *c, const char *name, const char *def) {
    for (int i = 0; i + 1 < c->argc; i++)
        if (strcmp(c->argv[i], name) == 0)
            return c->argv[i + 1];
    return def;
}

long long vg_ctl_num(const vg_ctl_t *c, const char *name, long long def) {
    const char *v = vg_ctl_opt(c, name, NULL);
    char *end;
    long long n;

    if (!v)
        return def;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || *end || n < 0) {
        fprintf(stderr, "vigilctl: %s: \"%s\" is not a non-negative integer\n", name, v);
        exit(2);
    }
    return n;
}

double vg_ctl_real(const vg_ctl_t *c, const char *name, double def) {
    const char *v = vg_ctl_opt(c, name, NULL);
    char *end;
    double d;

    if (!v)
        return def;
    d = strtod(v, &end);
    if (*end || d < 0 || d > 1) {
        fprintf(stderr, "vigilctl: %s: \"%s\" is not a number in [0,1]\n", name, v);
        exit(2);
    }
    return d;
}

void vg_ctl_props(vg_ctl_t *c) {
    c->props.n = 0;
    for (int i = 0; i < c->cfg.n_kafka; i++)
        vg_kafka_props_add(&c->props, c->cfg.kafka_keys[i], c->cfg.kafka_vals[i]);
}

vg_kafka_producer_t *vg_ctl_producer(vg_ctl_t *c) {
    char err[512];
    vg_kafka_producer_t *p = vg_kafka_producer_new(&c->props, NULL, NULL, err, sizeof(err));

    if (!p) {
        fprintf(stderr, "vigilctl: producer: %s\n", err);
        exit(1);
    }
    return p;
}

/* --- produce ---------------------------------------------------------- */

/* --- the commands ------------------------------------------------------ */

typedef struct vg_ctl_cmd_s {
    const char *name;
    const char *args;          /* after the name, for the usage line */
    const char *summary;       /* one line for vigilctl --help */
    const char *const options[8]; /* --name VALUE options it takes, with their meaning */
    const char *example;
    bool needs_kafka;
    int (*run)(vg_ctl_t *c);
} vg_ctl_cmd_t;

static const vg_ctl_cmd_t vg_ctl_cmds[] = {
    {"produce", "[--file F]", "JSON lines (one InteractionEvent each) to topic.events",
     {"--file", "read from F instead of standard input"},
     "vigilctl --set kafka.bootstrap.servers=HOST:9092 produce --file events.jsonl", true,
     vg_ctl_produce},
    {"gen", "[--events N] [--customers N] [--seed N] [--rate N] [--trouble-rate X] "
            "[--malformed-rate X]",
     "synthetic traffic to topic.events",
     {"--events", "how many (100000)", "--customers", "distinct customers", "--seed",
      "the generator's seed", "--rate", "events/s (0: as fast as possible)"},
     "vigilctl --set kafka.bootstrap.servers=HOST:9092 gen --events 100000 --rate 2000", true,
     vg_ctl_gen},
    {"tail", "[--topic T] [--max N] [--timeout-ms N]", "triggers as JSON lines, from the start",
     {"--topic", "the topic (topic.triggers)", "--max", "stop after N records", "--timeout-ms",
      "stop after N ms without a record"},
     "vigilctl --set kafka.bootstrap.servers=HOST:9092 tail --max 10", true, vg_ctl_tail},
    {"verify", "[--topic T] [--keys FILE] [--max N] [--timeout-ms N]",
     "check every record's signature, from the start (exit 1 if any fails)",
     {"--topic", "the topic (topic.triggers; or topic.dead_letter)", "--keys",
      "key file (signing.keys_file)", "--max", "stop after N records", "--timeout-ms",
      "stop after N ms without a record (3000)"},
     "vigilctl --set kafka.bootstrap.servers=HOST:9092 verify --keys /etc/vigil/signing.keys",
     true, vg_ctl_verify},
    {"state", "CUSTOMER [--tenant T] [--partition N]", "a customer's whole Redis state as JSON",
     {"--tenant", "the customer's tenant (acme)", "--partition",
      "its events partition (default: every partition of topic.events is tried; asks Kafka)"},
     "vigilctl --set redis.host=redis.internal state c-42 --tenant acme", false, vg_ctl_state},
    {"explain", "CUSTOMER [--tenant T] [--partition N] [--model FILE] [--timeout-ms MS]",
     "the whole computation of a customer's latest decision (an event's or a deadline's); "
     "the event is read back from topic.events, while retention keeps it",
     {"--tenant", "the customer's tenant (acme)", "--partition",
      "its events partition (default: every partition is tried)", "--model",
      "the model (model.file or the default)", "--timeout-ms",
      "how long to wait for Kafka to return the event (10000)"},
     "vigilctl explain c-42 --tenant acme", false, vg_ctl_explain},
    {"model", "check FILE", "model check FILE: validate a model; errors name the line at fault",
     {NULL},
     "vigilctl model check workers/models/default.yaml", false, vg_ctl_model},
    {"topics", "[--partitions N] [--replication N]",
     "create the events, triggers and dead-letter topics",
     {"--partitions", "partitions of each (12)", "--replication", "replication factor (1)"},
     "vigilctl --set kafka.bootstrap.servers=HOST:9092 topics --partitions 12 --replication 3",
     true, vg_ctl_topics},
    {"demo", "[--events N] [--kafka BOOTSTRAP]",
     "a worker in-process against the embedded mock Kafka (or a real one), summarised",
     {"--events", "how many generated events (200000)", "--kafka", "a real cluster instead"},
     "vigilctl --set redis.port=6379 demo --events 20000", false, vg_ctl_demo},
};
#define VG_CTL_N_CMDS (sizeof(vg_ctl_cmds) / sizeof(vg_ctl_cmds[0]))

/* Options every generating command takes beside its own. */
static const char *const vg_ctl_gen_options[] = {"--events",       "--customers", "--seed",
                                                 "--rate",         "--trouble-rate",
                                                 "--malformed-rate", NULL};

static void vg_ctl_help(FILE *out) {
    fprintf(out, "usage: vigilctl [--config FILE] [--set name=value]... COMMAND [options]\n\n"
                 "commands:\n");
    for (size_t i = 0; i < VG_CTL_N_CMDS; i++)
        fprintf(out, "  %-8s %s\n", vg_ctl_cmds[i].name, vg_ctl_cmds[i].summary);
    fprintf(out, "\n`vigilctl COMMAND --help` shows a command's options and an example.\n"
                 "Connection settings are the worker's (docs/configuration.md): "
                 "kafka.bootstrap.servers, topic.*, redis.*, pseudonym.key; from --config, "
                 "VIGIL_* variables or --set.\n");
}

static void vg_ctl_cmd_help(const vg_ctl_cmd_t *cmd, FILE *out) {
    fprintf(out, "usage: vigilctl [--config FILE] [--set name=value]... %s %s\n\n%s\n", cmd->name,
            cmd->args, cmd->summary);
    if (cmd->options[0]) {
        fprintf(out, "\noptions:\n");
        for (size_t k = 0; k + 1 < 8 && cmd->options[k]; k += 2)
            fprintf(out, "  %-18s %s\n", cmd->options[k], cmd->options[k + 1]);
    }
    fprintf(out, "\nexample:\n  %s\n", cmd->example);
}

/* Every --option of the command's arguments must be one it takes. */
static bool vg_ctl_known_option(const vg_ctl_cmd_t *cmd, const char *opt) {
    for (size_t k = 0; k + 1 < 8 && cmd->options[k]; k += 2)
        if (!strcmp(cmd->options[k], opt))
            return true;
    if (!strcmp(cmd->name, "gen") || !strcmp(cmd->name, "demo"))
        for (size_t k = 0; vg_ctl_gen_options[k]; k++)
            if (!strcmp(vg_ctl_gen_options[k], opt))
                return true;
    return !strcmp(cmd->name, "demo") && !strcmp(opt, "--kafka");
}

static int vg_ctl_check_options(const vg_ctl_cmd_t *cmd, int argc, char **argv) {
    for (int k = 0; k < argc; k++) {
        if (strncmp(argv[k], "--", 2) != 0)
            continue;
        if (!vg_ctl_known_option(cmd, argv[k])) {
            fprintf(stderr, "vigilctl %s: unknown option %s (see vigilctl %s --help)\n",
                    cmd->name, argv[k], cmd->name);
            return 2;
        }
        if (k + 1 >= argc) {
            fprintf(stderr, "vigilctl %s: option %s needs a value\n", cmd->name, argv[k]);
            return 2;
        }
        k++; /* its value */
    }
    return 0;
}

/* Global options: --config FILE and --set name=value, in order. */
static int vg_ctl_configure(vg_ctl_t *c, int argc, char **argv, int *first) {
    char err[1024];
    int i;

    vg_config_defaults(&c->cfg);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc &&
            vg_config_load_file(&c->cfg, argv[i + 1], err, sizeof(err))) {
            fprintf(stderr, "vigilctl: %s\n", err);
            return 2;
        }
    if (vg_config_load_env(&c->cfg, environ, err, sizeof(err))) {
        fprintf(stderr, "vigilctl: %s\n", err);
        return 2;
    }
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        char kv[1024], *eq;
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--set") != 0 || i + 1 >= argc) {
            fprintf(stderr, "vigilctl: unknown option %s (see vigilctl --help)\n", argv[i]);
            return 2;
        }
        snprintf(kv, sizeof(kv), "%s", argv[++i]);
        if (!(eq = strchr(kv, '='))) {
            fprintf(stderr, "vigilctl: --set %s: expected name=value\n", kv);
            return 2;
        }
        *eq = '\0';
        if (vg_config_set(&c->cfg, kv, eq + 1, "--set", err, sizeof(err))) {
            fprintf(stderr, "vigilctl: %s\n", err);
            return 2;
        }
    }
    *first = i;
    return 0;
}

int main(int argc, char **argv) {
    static vg_ctl_t c;
    const vg_ctl_cmd_t *cmd = NULL;
    int i, rc;

    for (i = 1; i < argc && argv[i][0] == '-'; i += 2)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            vg_ctl_help(stdout);
            return 0;
        }
    /* COMMAND --help needs no configuration at all. */
    for (size_t k = 0; i < argc && k < VG_CTL_N_CMDS; k++)
        if (!strcmp(argv[i], vg_ctl_cmds[k].name))
            cmd = &vg_ctl_cmds[k];
    for (int k = i + 1; cmd && k < argc; k++)
        if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
            vg_ctl_cmd_help(cmd, stdout);
            return 0;
        }
    if ((rc = vg_ctl_configure(&c, argc, argv, &i)))
        return rc;
    if (i >= argc) {
        vg_ctl_help(stderr);
        return 2;
    }
    if (!cmd) {
        fprintf(stderr, "vigilctl: unknown command %s\n\n", argv[i]);
        vg_ctl_help(stderr);
        return 2;
    }
    c.argc = argc - i - 1;
    c.argv = argv + i + 1;
    if ((rc = vg_ctl_check_options(cmd, c.argc, c.argv)))
        return rc;
    vg_ctl_props(&c);
    if (cmd->needs_kafka && c.props.n == 0) {
        fprintf(stderr, "vigilctl %s: kafka.bootstrap.servers is not set (--set "
                        "kafka.bootstrap.servers=HOST:PORT or VIGIL_KAFKA__BOOTSTRAP_SERVERS)\n",
                cmd->name);
        return 2;
    }
    return cmd->run(&c);
}
