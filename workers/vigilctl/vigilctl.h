/*
 * vigilctl.h - what the subcommands of vigilctl share: the parsed
 * configuration, the command's own arguments, option readers.
 * One file per group of subcommands:
 *   ctl_kafka.c   produce, gen, tail, topics
 *   ctl_state.c   state, explain, model check
 *   ctl_demo.c    demo
 */
#ifndef VIGILCTL_H
#define VIGILCTL_H

#include <stdbool.h>

#include "vg_config.h"
#include "vg_gen.h"
#include "vg_kafka.h"
#include "vg_kafka_producer.h"

typedef struct vg_ctl_s {
    vg_config_t cfg;
    vg_kafka_props_t props;
    int argc;
    char **argv; /* the command's own arguments */
} vg_ctl_t;

/* Option value of --name in the command's arguments, or def. */
const char *vg_ctl_opt(const vg_ctl_t *c, const char *name, const char *def);
/* Non-negative integer option (exit 2 with a message if it is not). */
long long vg_ctl_num(const vg_ctl_t *c, const char *name, long long def);
/* A number in [0,1] (exit 2 with a message if it is not). */
double vg_ctl_real(const vg_ctl_t *c, const char *name, double def);
double vg_ctl_now(void);
/* Fill c->props from the kafka.* settings. */
void vg_ctl_props(vg_ctl_t *c);
/* A plain producer on the configured cluster (exit 1 if it cannot be made). */
vg_kafka_producer_t *vg_ctl_producer(vg_ctl_t *c);
/* gen's and demo's traffic settings from the options. */
void vg_ctl_gen_conf(const vg_ctl_t *c, vg_gen_conf_t *gc, long long def_events);
/* Produce generated records, pacing to rate records/s (0: as fast as
 * possible). Returns records sent. */
size_t vg_ctl_send_gen(vg_kafka_producer_t *p, const char *topic, vg_gen_t *g, long long rate);

int vg_ctl_produce(vg_ctl_t *c);
int vg_ctl_gen(vg_ctl_t *c);
int vg_ctl_tail(vg_ctl_t *c);
int vg_ctl_verify(vg_ctl_t *c);
int vg_ctl_topics(vg_ctl_t *c);
int vg_ctl_state(vg_ctl_t *c);
int vg_ctl_explain(vg_ctl_t *c);
int vg_ctl_model(vg_ctl_t *c);
int vg_ctl_demo(vg_ctl_t *c);

#endif
