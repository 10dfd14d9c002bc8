/*
 * vg_explain.h - the whole computation behind a customer's latest
 * decision, in words (vigilctl explain): the event, the signals it
 * matched, the windows and their ladder levels, every score term with its
 * weight and contribution, the propensity, the value and priority, and
 * for each intervention whether it was eligible and why it fired or not.
 *
 * When the latest decision was a deadline's (an absence whose time ran
 * out), it explains that one instead: the deadline, the watermark that
 * passed it, and the same score, terms and verdicts.
 *
 * It re-runs vg_score_compute() on the stored state as it was right after
 * the event (the fire the event caused, and anything a later deadline
 * fired, taken out of the fire ledgers), so the numbers are the worker's.
 */
#ifndef VG_EXPLAIN_H
#define VG_EXPLAIN_H

#include <stdio.h>

#include "vg_model.h"
#include "vg_state.h"

/* Print the explanation to out. VG_ERR_NOT_FOUND if the state holds no
 * latest event (written before explain existed, or too large to keep). */
vg_err_t vg_explain(const vg_state_t *st, const vg_model_t *m, FILE *out);

#endif
