/*
 * vg_gen.c - deterministic synthetic interaction traffic (see vg_gen.h).
 *
 * Model. Each customer is idle or in exactly one journey. A journey is a
 * short program of steps (ops) planned when it starts; each op is a row of
 * vg_gen_tpls[] saying what the event looks like and how long after the
 * journey's previous event it happens. Active journeys sit in a min-heap
 * keyed by the event time of their next step.
 *
 * A global clock advances by step_ms (with jitter) per record. Each record
 * is the earliest due journey step if it is due by the clock; otherwise a
 * new journey starts, for a random idle customer, at the clock. Scheduled
 * times are therefore non-decreasing; emitted times are up to 2 x step_ms
 * (at most 5 s) earlier, so records are slightly out of order across
 * customers, as from several producers. This keeps
 * the record rate near one per step_ms whatever the journey lengths, while
 * the gaps inside a journey (which the trouble windows depend on) come only
 * from the templates, never from how busy the generator is.
 *
 * Per-customer order: steps of one journey are at least one second apart,
 * a new journey starts after the customer's last event, and a customer is
 * never in two journeys, so each customer's event times strictly increase.
 */
#include "vg_gen.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: xoshiro256**, seeded with splitmix64 ---------------------- */

static uint64_t vg_gen_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t vg_gen_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t vg_gen_rand(uint64_t s[4]) {
    uint64_t r = vg_gen_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = vg_gen_rotl(s[3], 45);
    return r;
}

/* Uniform in [0, n) for n < 2^32 (multiply-shift; the bias is far below
 * anything traffic statistics could show). */
static uint32_t vg_gen_below(uint64_t s[4], uint32_t n) {
    return (uint32_t)(((vg_gen_rand(s) >> 32) * (uint64_t)n) >> 32);
}

static uint32_t vg_gen_between(uint64_t s[4], uint32_t lo, uint32_t hi) {
    return lo + vg_gen_below(s, hi - lo + 1);
}

static double vg_gen_unit(uint64_t s[4]) {
    return (double)(vg_gen_rand(s) >> 11) * 0x1.0p-53;
}

/* ---- vocabulary ------------------------------------------------------- */

typedef struct vg_gen_list_s {
    const char *const *v;
    uint32_t n;
} vg_gen_list_t;

#define VG_GEN_LIST(arr) {arr, sizeof(arr) / sizeof(arr[0])}

static const char *const vg_gen_codes_payment[] = {
    "card_declined", "insufficient_funds", "3ds_failed", "processor_timeout",
    "expired_card"};
static const char *const vg_gen_codes_login[] = {
    "invalid_credentials", "otp_expired", "captcha_failed"};
static const char *const vg_gen_codes_account[] = {"validation_error",
                                                   "address_invalid"};
static const char *const vg_gen_codes_order[] = {"order_status_unavailable",
                                                 "http_500"};
static const char *const vg_gen_codes_chat[] = {"unresolved"};
static const char *const vg_gen_codes_call[] = {"no_resolution",
                                                "call_dropped"};

enum {
    VG_GEN_CODES_NONE = 0,
    VG_GEN_CODES_PAYMENT,
    VG_GEN_CODES_LOGIN,
    VG_GEN_CODES_ACCOUNT,
    VG_GEN_CODES_ORDER,
    VG_GEN_CODES_CHAT,
    VG_GEN_CODES_CALL,
    VG_GEN_CODES__COUNT
};

static const vg_gen_list_t vg_gen_codes[VG_GEN_CODES__COUNT] = {
    [VG_GEN_CODES_NONE] = {NULL, 0},
    [VG_GEN_CODES_PAYMENT] = VG_GEN_LIST(vg_gen_codes_payment),
    [VG_GEN_CODES_LOGIN] = VG_GEN_LIST(vg_gen_codes_login),
    [VG_GEN_CODES_ACCOUNT] = VG_GEN_LIST(vg_gen_codes_account),
    [VG_GEN_CODES_ORDER] = VG_GEN_LIST(vg_gen_codes_order),
    [VG_GEN_CODES_CHAT] = VG_GEN_LIST(vg_gen_codes_chat),
    [VG_GEN_CODES_CALL] = VG_GEN_LIST(vg_gen_codes_call),
};

static const char *const vg_gen_pages[] = {"/",     "/search",  "/product",
                                           "/cart", "/account", "/help"};
static const char *const vg_gen_devices_web[] = {"desktop", "mobile_web"};
static const char *const vg_gen_devices_app[] = {"ios", "android"};
static const char *const vg_gen_methods[] = {"card", "paypal", "apple_pay"};
static const char *const vg_gen_topics[] = {"billing", "delivery", "account",
                                            "technical"};
static const char *const vg_gen_segments[] = {"consumer", "smb", "enterprise",
                                              "student"};
static const char *const vg_gen_consent_names[] = {"service", "marketing",
                                                   "analytics"};

enum {
    VG_GEN_ATTRS_NONE = 0,
    VG_GEN_ATTRS_PAGE,     /* page, device */
    VG_GEN_ATTRS_DEVICE,   /* device */
    VG_GEN_ATTRS_CART,     /* cart_items, device */
    VG_GEN_ATTRS_PAYMENT,  /* amount_cents, method */
    VG_GEN_ATTRS_TOPIC,    /* topic */
    VG_GEN_ATTRS_NPS_LOW,  /* nps 0..6 */
    VG_GEN_ATTRS_NPS_HIGH, /* nps 7..10 */
};

#define VG_GEN_MAX_ATTRS 2

/* Most an event is emitted ahead of its journey's schedule (see
 * vg_gen_journey_step()); the trouble windows below keep this much slack. */
#define VG_GEN_MAX_LATE_MS 5000

/* ---- step templates --------------------------------------------------- */

typedef enum vg_gen_op_e {
    VG_GEN_OP_PAGE_VIEW = 0,
    VG_GEN_OP_LOGIN_OK,
    VG_GEN_OP_LOGIN_FAIL,
    VG_GEN_OP_CHECKOUT_START,
    VG_GEN_OP_CHECKOUT_ABANDONED,
    VG_GEN_OP_PAY_OK,
    VG_GEN_OP_PAY_FAIL,
    VG_GEN_OP_ORDER_EMAIL,
    VG_GEN_OP_CHAT_OK,
    VG_GEN_OP_CHAT_CONFUSED,
    VG_GEN_OP_CHAT_FRUSTRATED,
    VG_GEN_OP_CALL_OK,
    VG_GEN_OP_ACCOUNT_OK,
    VG_GEN_OP_ACCOUNT_FAIL,
    VG_GEN_OP_STORE_PURCHASE,
    VG_GEN_OP_EMAIL_OPEN,
    VG_GEN_OP_ORDER_STATUS_FAIL,
    VG_GEN_OP_CHAT_FAIL,
    VG_GEN_OP_CALL_FAIL,
    VG_GEN_OP_CALL_ANGRY_FAIL,
    VG_GEN_OP_SURVEY_PROMOTER,
    VG_GEN_OP_SURVEY_DETRACTOR,
    VG_GEN_OP__COUNT
} vg_gen_op_t;

typedef struct vg_gen_tpl_s {
    /* UNSPECIFIED means "the journey's own web or app session". */
    Vigil__V1__Channel channel;
    const char *event_type;
    Vigil__V1__Outcome outcome;
    uint8_t codes;
    Vigil__V1__Signal signal; /* UNSPECIFIED: no detection */
    uint8_t attrs;
    /* Gap after the journey's previous event. The minimum of 1 s is what
     * keeps each customer's event times strictly increasing. */
    uint32_t gap_min_ms, gap_max_ms;
} vg_gen_tpl_t;

#define VG_SES VIGIL__V1__CHANNEL__CHANNEL_UNSPECIFIED
#define VG_WEB VIGIL__V1__CHANNEL__CHANNEL_WEB
#define VG_APP VIGIL__V1__CHANNEL__CHANNEL_APP
#define VG_CHAT VIGIL__V1__CHANNEL__CHANNEL_CHAT
#define VG_PHONE VIGIL__V1__CHANNEL__CHANNEL_PHONE
#define VG_PAY VIGIL__V1__CHANNEL__CHANNEL_PAYMENT
#define VG_EMAIL VIGIL__V1__CHANNEL__CHANNEL_EMAIL
#define VG_STORE VIGIL__V1__CHANNEL__CHANNEL_STORE
#define VG_OK_ VIGIL__V1__OUTCOME__OUTCOME_SUCCESS
#define VG_FAIL VIGIL__V1__OUTCOME__OUTCOME_FAILURE
#define VG_ABND VIGIL__V1__OUTCOME__OUTCOME_ABANDONED
#define VG_PEND VIGIL__V1__OUTCOME__OUTCOME_PENDING
#define VG_NOSIG VIGIL__V1__SIGNAL__SIGNAL_UNSPECIFIED
#define VG_SEC(s) ((uint32_t)(s) * 1000u)
#define VG_MIN(m) ((uint32_t)(m) * 60000u)

static const vg_gen_tpl_t vg_gen_tpls[VG_GEN_OP__COUNT] = {
    [VG_GEN_OP_PAGE_VIEW] = {VG_SES, "page_view", VG_OK_, VG_GEN_CODES_NONE,
                             VG_NOSIG, VG_GEN_ATTRS_PAGE, VG_SEC(3),
                             VG_SEC(45)},
    [VG_GEN_OP_LOGIN_OK] = {VG_SES, "login", VG_OK_, VG_GEN_CODES_NONE,
                            VG_NOSIG, VG_GEN_ATTRS_DEVICE, VG_SEC(5),
                            VG_SEC(60)},
    [VG_GEN_OP_LOGIN_FAIL] = {VG_SES, "login", VG_FAIL, VG_GEN_CODES_LOGIN,
                              VG_NOSIG, VG_GEN_ATTRS_DEVICE, VG_SEC(5),
                              VG_SEC(60)},
    [VG_GEN_OP_CHECKOUT_START] = {VG_SES, "checkout", VG_PEND,
                                  VG_GEN_CODES_NONE, VG_NOSIG,
                                  VG_GEN_ATTRS_CART, VG_SEC(10), VG_SEC(120)},
    /* Upstream reports abandonment when the checkout session expires,
     * well after the 10-minute "no payment" absence window (and, with
     * lateness, still within 30 minutes of the start). */
    [VG_GEN_OP_CHECKOUT_ABANDONED] = {VG_SES, "checkout", VG_ABND,
                                      VG_GEN_CODES_NONE, VG_NOSIG,
                                      VG_GEN_ATTRS_CART, VG_MIN(11),
                                      VG_MIN(29)},
    /* Ordinary payments land within 4 minutes of checkout, so only planted
     * abandonment trips a 10-minute absence rule. */
    [VG_GEN_OP_PAY_OK] = {VG_PAY, "payment", VG_OK_, VG_GEN_CODES_NONE,
                          VG_NOSIG, VG_GEN_ATTRS_PAYMENT, VG_SEC(20),
                          VG_SEC(240)},
    /* Three failures span at most 2 x 200 s after the first: inside the
     * 10-minute window with room to spare. */
    [VG_GEN_OP_PAY_FAIL] = {VG_PAY, "payment", VG_FAIL, VG_GEN_CODES_PAYMENT,
                            VG_NOSIG, VG_GEN_ATTRS_PAYMENT, VG_SEC(20),
                            VG_SEC(200)},
    [VG_GEN_OP_ORDER_EMAIL] = {VG_EMAIL, "order_confirmation", VG_OK_,
                               VG_GEN_CODES_NONE, VG_NOSIG, VG_GEN_ATTRS_NONE,
                               VG_SEC(1), VG_SEC(10)},
    [VG_GEN_OP_CHAT_OK] = {VG_CHAT, "chat", VG_OK_, VG_GEN_CODES_NONE,
                           VG_NOSIG, VG_GEN_ATTRS_TOPIC, VG_SEC(5),
                           VG_SEC(60)},
    [VG_GEN_OP_CHAT_CONFUSED] = {VG_CHAT, "chat", VG_OK_, VG_GEN_CODES_NONE,
                                 VIGIL__V1__SIGNAL__SIGNAL_CONFUSION,
                                 VG_GEN_ATTRS_TOPIC, VG_SEC(5), VG_SEC(60)},
    /* Within 4 minutes of the last failure, lateness included. */
    [VG_GEN_OP_CHAT_FRUSTRATED] = {VG_CHAT, "chat", VG_PEND,
                                   VG_GEN_CODES_NONE,
                                   VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION,
                                   VG_GEN_ATTRS_TOPIC, VG_SEC(30),
                                   VG_SEC(230)},
    [VG_GEN_OP_CALL_OK] = {VG_PHONE, "call", VG_OK_, VG_GEN_CODES_NONE,
                           VG_NOSIG, VG_GEN_ATTRS_TOPIC, VG_SEC(30),
                           VG_SEC(300)},
    [VG_GEN_OP_ACCOUNT_OK] = {VG_SES, "account_update", VG_OK_,
                              VG_GEN_CODES_NONE, VG_NOSIG,
                              VG_GEN_ATTRS_DEVICE, VG_SEC(10), VG_SEC(90)},
    [VG_GEN_OP_ACCOUNT_FAIL] = {VG_SES, "account_update", VG_FAIL,
                                VG_GEN_CODES_ACCOUNT, VG_NOSIG,
                                VG_GEN_ATTRS_DEVICE, VG_SEC(10), VG_SEC(90)},
    [VG_GEN_OP_STORE_PURCHASE] = {VG_STORE, "purchase", VG_OK_,
                                  VG_GEN_CODES_NONE, VG_NOSIG,
                                  VG_GEN_ATTRS_PAYMENT, VG_SEC(60),
                                  VG_SEC(600)},
    [VG_GEN_OP_EMAIL_OPEN] = {VG_EMAIL, "email_open", VG_OK_,
                              VG_GEN_CODES_NONE, VG_NOSIG, VG_GEN_ATTRS_NONE,
                              VG_SEC(60), VG_SEC(600)},
    /* Channel hopping: web, then chat 2-8 min later, then phone 3-12 min
     * after that: at most 20 minutes end to end, inside a 30-minute
     * window. */
    [VG_GEN_OP_ORDER_STATUS_FAIL] = {VG_WEB, "order_status", VG_FAIL,
                                     VG_GEN_CODES_ORDER, VG_NOSIG,
                                     VG_GEN_ATTRS_PAGE, VG_SEC(5),
                                     VG_SEC(60)},
    [VG_GEN_OP_CHAT_FAIL] = {VG_CHAT, "chat", VG_FAIL, VG_GEN_CODES_CHAT,
                             VG_NOSIG, VG_GEN_ATTRS_TOPIC, VG_MIN(2),
                             VG_MIN(8)},
    [VG_GEN_OP_CALL_FAIL] = {VG_PHONE, "call", VG_FAIL, VG_GEN_CODES_CALL,
                             VG_NOSIG, VG_GEN_ATTRS_TOPIC, VG_MIN(3),
                             VG_MIN(12)},
    [VG_GEN_OP_CALL_ANGRY_FAIL] = {VG_PHONE, "call", VG_FAIL,
                                   VG_GEN_CODES_CALL,
                                   VIGIL__V1__SIGNAL__SIGNAL_ANGER,
                                   VG_GEN_ATTRS_TOPIC, VG_MIN(3), VG_MIN(12)},
    [VG_GEN_OP_SURVEY_PROMOTER] = {VG_EMAIL, "survey", VG_OK_,
                                   VG_GEN_CODES_NONE, VG_NOSIG,
                                   VG_GEN_ATTRS_NPS_HIGH, VG_MIN(1),
                                   VG_MIN(30)},
    [VG_GEN_OP_SURVEY_DETRACTOR] = {VG_EMAIL, "survey", VG_OK_,
                                    VG_GEN_CODES_NONE,
                                    VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR,
                                    VG_GEN_ATTRS_NPS_LOW, VG_MIN(1),
                                    VG_MIN(30)},
};

/* ---- journeys --------------------------------------------------------- */

#define VG_GEN_MAX_OPS 12
#define VG_GEN_NO_STEP 0xFF

typedef struct vg_gen_journey_s {
    int64_t due_ms; /* event time of the next step */
    uint64_t id;    /* 1-based start order */
    uint32_t cust;
    uint32_t amount_cents; /* one basket per journey: retries pay the same */
    uint8_t ops[VG_GEN_MAX_OPS];
    uint8_t n_ops;
    uint8_t step;        /* next op to emit */
    uint8_t trouble;     /* vg_gen_trouble_t */
    uint8_t complete_at; /* op index whose emission completes the trouble */
    uint8_t channel;     /* session channel: web or app */
    uint8_t device;
    uint8_t code; /* picks the error code: repeats share one */
    uint8_t topic;
} vg_gen_journey_t;

/* Stable per-customer data, derived from (seed, customer) by hashing so
 * it costs no memory and never changes between a customer's events. */
typedef struct vg_gen_profile_s {
    Vigil__V1__ValueTier tier;
    uint32_t tenure_months;
    uint32_t segment;
    uint32_t consents; /* bit i: vg_gen_consent_names[i] granted */
    double revenue_weight;
    double churn_risk;
} vg_gen_profile_t;

struct vg_gen_s {
    vg_gen_conf_t conf;
    char *tenant;
    uint64_t rng[4];
    uint64_t produced;
    int64_t clock_ms;
    int64_t *last_ms; /* per customer: last event time, 0 = none yet */
    uint32_t *idle;   /* customers not in a journey; order is irrelevant */
    uint32_t n_idle;
    vg_gen_journey_t *heap; /* min-heap on due_ms */
    size_t n_heap, cap_heap;
    vg_gen_stats_t stats;

    /* The event under construction. Its strings point into the buffers
     * below or at static vocabulary, so building one allocates nothing. */
    Vigil__V1__InteractionEvent ev;
    Vigil__V1__Descriptive desc;
    Vigil__V1__Attribute attr[VG_GEN_MAX_ATTRS];
    Vigil__V1__Attribute *attr_ptr[VG_GEN_MAX_ATTRS];
    Vigil__V1__Signal signals[1];
    char *consents[3];
    char event_id[64];
    size_t event_id_prefix; /* strlen("ev-<seed>-") */
    char cust_id[32];
    size_t cust_id_len;
    char attr_num[VG_GEN_MAX_ATTRS][24];

    uint8_t *buf; /* payload; sized once so packing never overflows */
    size_t buf_cap;
};

/* ---- small helpers ---------------------------------------------------- */

/* Decimal digits of v into dst (NUL-terminated); returns the length.
 * Hand-rolled because snprintf() per field would dominate the profile. */
static size_t vg_gen_utoa(char *dst, uint64_t v, size_t min_digits) {
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < min_digits)
        tmp[n++] = '0';
    for (i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    dst[n] = '\0';
    return n;
}

static double vg_gen_round(double x, double scale) {
    /* Rounded to a few decimals so JSON renderings stay short; IEEE
     * division makes the result the double nearest the printed decimal. */
    return (double)(int64_t)(x * scale + 0.5) / scale;
}

static void vg_gen_profile(const vg_gen_t *g, uint32_t cust,
                           vg_gen_profile_t *p) {
    uint64_t h = vg_gen_mix64(g->conf.seed ^ vg_gen_mix64(cust));
    uint64_t s[4];
    double u, base;

    s[0] = h;
    s[1] = vg_gen_mix64(h);
    s[2] = vg_gen_mix64(s[1]);
    s[3] = vg_gen_mix64(s[2]);
    /* Value skews to the low tiers, as in any consumer base. */
    u = vg_gen_unit(s);
    if (u < 0.55) {
        p->tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_BRONZE;
        base = 0.4;
    } else if (u < 0.83) {
        p->tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_SILVER;
        base = 1.0;
    } else if (u < 0.96) {
        p->tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_GOLD;
        base = 2.5;
    } else {
        p->tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_PLATINUM;
        base = 6.0;
    }
    /* Many customers are new; a long tail has been around for years. */
    p->tenure_months = (uint32_t)(vg_gen_unit(s) * vg_gen_unit(s) * 180.0);
    u = vg_gen_unit(s);
    p->segment = u < 0.72 ? 0 : u < 0.90 ? 1 : u < 0.94 ? 2 : 3;
    p->consents = 0;
    if (vg_gen_unit(s) < 0.94)
        p->consents |= 1u;
    if (vg_gen_unit(s) < 0.38)
        p->consents |= 2u;
    if (vg_gen_unit(s) < 0.55)
        p->consents |= 4u;
    p->revenue_weight =
        vg_gen_round(base * (0.6 + 0.8 * vg_gen_unit(s)), 100.0);
    u = vg_gen_unit(s);
    p->churn_risk = 0.05 + 0.45 * u * u + (p->tenure_months < 12 ? 0.15 : 0);
    if (p->churn_risk > 0.99)
        p->churn_risk = 0.99;
    p->churn_risk = vg_gen_round(p->churn_risk, 1000.0);
}

/* ---- heap ------------------------------------------------------------- */

static bool vg_gen_heap_push(vg_gen_t *g, const vg_gen_journey_t *j) {
    size_t i;

    if (g->n_heap == g->cap_heap) {
        /* Growth happens only while the number of concurrent journeys is
         * still rising: the warm-up. */
        size_t cap = g->cap_heap ? g->cap_heap * 2 : 1024;
        vg_gen_journey_t *h = realloc(g->heap, cap * sizeof(*h));

        if (!h)
            return false;
        g->heap = h;
        g->cap_heap = cap;
    }
    i = g->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (g->heap[parent].due_ms <= j->due_ms)
            break;
        g->heap[i] = g->heap[parent];
        i = parent;
    }
    g->heap[i] = *j;
    return true;
}

static void vg_gen_heap_pop(vg_gen_t *g, vg_gen_journey_t *out) {
    vg_gen_journey_t last;
    size_t i = 0, n;

    *out = g->heap[0];
    n = --g->n_heap;
    if (n == 0)
        return;
    last = g->heap[n];
    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= n)
            break;
        if (c + 1 < n && g->heap[c + 1].due_ms < g->heap[c].due_ms)
            c++;
        if (last.due_ms <= g->heap[c].due_ms)
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    g->heap[i] = last;
}

/* ---- journey planning ------------------------------------------------- */

static void vg_gen_op(vg_gen_journey_t *j, vg_gen_op_t op) {
    if (j->n_ops < VG_GEN_MAX_OPS)
        j->ops[j->n_ops++] = (uint8_t)op;
}

static void vg_gen_plan_trouble(vg_gen_t *g, vg_gen_journey_t *j) {
    uint64_t *s = g->rng;
    uint32_t u = vg_gen_below(s, 100), k, n;

    if (u < 30) {
        j->trouble = VG_GEN_TROUBLE_PAYMENT_REPEAT;
        vg_gen_op(j, VG_GEN_OP_PAGE_VIEW);
        vg_gen_op(j, VG_GEN_OP_CHECKOUT_START);
        n = vg_gen_between(s, 2, 3);
        for (k = 0; k < n; k++)
            vg_gen_op(j, VG_GEN_OP_PAY_FAIL);
        j->complete_at = (uint8_t)(j->n_ops - 1);
        if (vg_gen_below(s, 2))
            vg_gen_op(j, VG_GEN_OP_CHAT_FRUSTRATED);
    } else if (u < 50) {
        j->trouble = VG_GEN_TROUBLE_LOGIN_REPEAT;
        n = vg_gen_between(s, 3, 5);
        for (k = 0; k < n; k++)
            vg_gen_op(j, VG_GEN_OP_LOGIN_FAIL);
        j->complete_at = (uint8_t)(j->n_ops - 1);
    } else if (u < 70) {
        j->trouble = VG_GEN_TROUBLE_CHANNEL_HOP;
        vg_gen_op(j, VG_GEN_OP_ORDER_STATUS_FAIL);
        vg_gen_op(j, VG_GEN_OP_CHAT_FAIL);
        vg_gen_op(j, vg_gen_below(s, 10) < 3 ? VG_GEN_OP_CALL_ANGRY_FAIL
                                             : VG_GEN_OP_CALL_FAIL);
        j->complete_at = (uint8_t)(j->n_ops - 1);
    } else if (u < 90) {
        j->trouble = VG_GEN_TROUBLE_CHECKOUT_ABANDON;
        vg_gen_op(j, VG_GEN_OP_PAGE_VIEW);
        vg_gen_op(j, VG_GEN_OP_CHECKOUT_START);
        vg_gen_op(j, VG_GEN_OP_CHECKOUT_ABANDONED);
        j->complete_at = (uint8_t)(j->n_ops - 1);
    } else {
        j->trouble = VG_GEN_TROUBLE_DETRACTOR;
        if (vg_gen_below(s, 2))
            vg_gen_op(j, VG_GEN_OP_CALL_OK);
        vg_gen_op(j, VG_GEN_OP_SURVEY_DETRACTOR);
        j->complete_at = (uint8_t)(j->n_ops - 1);
    }
}

static void vg_gen_plan_ordinary(vg_gen_t *g, vg_gen_journey_t *j) {
    uint64_t *s = g->rng;
    uint32_t u = vg_gen_below(s, 100), k, n;

    /* The small failure shares below are the ordinary noise a detector
     * must not fire on: one-off trouble that resolves itself. */
    if (u < 30) {
        n = vg_gen_between(s, 1, 4);
        for (k = 0; k < n; k++)
            vg_gen_op(j, VG_GEN_OP_PAGE_VIEW);
    } else if (u < 55) {
        vg_gen_op(j, VG_GEN_OP_PAGE_VIEW);
        if (vg_gen_below(s, 100) < 5)
            vg_gen_op(j, VG_GEN_OP_LOGIN_FAIL);
        vg_gen_op(j, VG_GEN_OP_LOGIN_OK);
        vg_gen_op(j, VG_GEN_OP_CHECKOUT_START);
        if (vg_gen_below(s, 100) < 8)
            vg_gen_op(j, VG_GEN_OP_PAY_FAIL);
        vg_gen_op(j, VG_GEN_OP_PAY_OK);
        vg_gen_op(j, VG_GEN_OP_ORDER_EMAIL);
    } else if (u < 65) {
        k = vg_gen_below(s, 100);
        if (k < 30)
            vg_gen_op(j, VG_GEN_OP_CALL_OK);
        else if (k < 45)
            vg_gen_op(j, VG_GEN_OP_CHAT_CONFUSED);
        else
            vg_gen_op(j, VG_GEN_OP_CHAT_OK);
    } else if (u < 77) {
        vg_gen_op(j, VG_GEN_OP_LOGIN_OK);
        if (vg_gen_below(s, 100) < 6)
            vg_gen_op(j, VG_GEN_OP_ACCOUNT_FAIL);
        vg_gen_op(j, VG_GEN_OP_ACCOUNT_OK);
    } else if (u < 85) {
        vg_gen_op(j, VG_GEN_OP_STORE_PURCHASE);
    } else if (u < 95) {
        vg_gen_op(j, VG_GEN_OP_EMAIL_OPEN);
        if (vg_gen_below(s, 100) < 40)
            vg_gen_op(j, VG_GEN_OP_PAGE_VIEW);
    } else {
        vg_gen_op(j, VG_GEN_OP_SURVEY_PROMOTER);
    }
}

static void vg_gen_plan(vg_gen_t *g, vg_gen_journey_t *j, uint32_t cust) {
    uint64_t *s = g->rng;

    memset(j, 0, sizeof(*j));
    j->cust = cust;
    j->complete_at = VG_GEN_NO_STEP;
    j->channel = vg_gen_below(s, 10) < 6 ? VG_WEB : VG_APP;
    j->device = (uint8_t)vg_gen_below(s, 2);
    j->code = (uint8_t)vg_gen_below(s, 256);
    j->topic = (uint8_t)vg_gen_below(s, 4);
    j->amount_cents = vg_gen_between(s, 499, 24999);
    j->id = ++g->stats.journeys;
    if (g->conf.trouble_rate > 0 && vg_gen_unit(s) < g->conf.trouble_rate)
        vg_gen_plan_trouble(g, j);
    else
        vg_gen_plan_ordinary(g, j);
}

/* ---- building the event ----------------------------------------------- */

static void vg_gen_set_attr(vg_gen_t *g, const char *key, const char *value) {
    size_t i = g->ev.n_attributes++;

    g->attr[i].key = (char *)key;
    g->attr[i].value = (char *)value;
}

static void vg_gen_set_attr_num(vg_gen_t *g, const char *key, uint64_t v) {
    size_t i = g->ev.n_attributes;

    vg_gen_utoa(g->attr_num[i], v, 1);
    vg_gen_set_attr(g, key, g->attr_num[i]);
}

static void vg_gen_set_cust(vg_gen_t *g, uint32_t cust) {
    memcpy(g->cust_id, "cust-", 5);
    g->cust_id_len = 5 + vg_gen_utoa(g->cust_id + 5, cust, 6);
}

/* Fill g->ev for one step of journey j at event time t, record seq. */
static void vg_gen_fill(vg_gen_t *g, const vg_gen_journey_t *j,
                        const vg_gen_tpl_t *tpl, uint64_t seq, int64_t t) {
    Vigil__V1__InteractionEvent *ev = &g->ev;
    vg_gen_profile_t p;
    Vigil__V1__Channel ch;
    const vg_gen_list_t *codes = &vg_gen_codes[tpl->codes];
    const char *device;
    size_t i;

    vg_gen_utoa(g->event_id + g->event_id_prefix, seq, 1);
    vg_gen_set_cust(g, j->cust);
    ev->event_time_ms = t;
    ch = tpl->channel == VG_SES ? (Vigil__V1__Channel)j->channel
                                : tpl->channel;
    ev->channel = ch;
    ev->event_type = (char *)tpl->event_type;
    ev->outcome = tpl->outcome;
    ev->error_code = codes->n ? (char *)codes->v[j->code % codes->n]
                              : (char *)protobuf_c_empty_string;
    ev->n_signals = 0;
    if (tpl->signal != VG_NOSIG)
        g->signals[ev->n_signals++] = tpl->signal;

    vg_gen_profile(g, j->cust, &p);
    ev->n_consents = 0;
    for (i = 0; i < 3; i++)
        if (p.consents & (1u << i))
            g->consents[ev->n_consents++] = (char *)vg_gen_consent_names[i];
    g->desc.value_tier = p.tier;
    g->desc.tenure_months = p.tenure_months;
    g->desc.segment = (char *)vg_gen_segments[p.segment];
    g->desc.revenue_weight = p.revenue_weight;
    g->desc.churn_risk = p.churn_risk;

    device = j->channel == VG_APP ? vg_gen_devices_app[j->device & 1]
                                  : vg_gen_devices_web[j->device & 1];
    ev->n_attributes = 0;
    switch (tpl->attrs) {
    case VG_GEN_ATTRS_PAGE:
        vg_gen_set_attr(g, "page",
                        vg_gen_pages[vg_gen_below(g->rng, 6)]);
        if (ch == j->channel)
            vg_gen_set_attr(g, "device", device);
        break;
    case VG_GEN_ATTRS_DEVICE:
        vg_gen_set_attr(g, "device", device);
        break;
    case VG_GEN_ATTRS_CART:
        vg_gen_set_attr_num(g, "cart_items", 1 + j->amount_cents % 6);
        vg_gen_set_attr(g, "device", device);
        break;
    case VG_GEN_ATTRS_PAYMENT:
        vg_gen_set_attr_num(g, "amount_cents", j->amount_cents);
        /* Derived from the basket so that retries use the same method. */
        vg_gen_set_attr(g, "method",
                        vg_gen_methods[(j->amount_cents / 7) % 3]);
        break;
    case VG_GEN_ATTRS_TOPIC:
        vg_gen_set_attr(g, "topic", vg_gen_topics[j->topic & 3]);
        break;
    case VG_GEN_ATTRS_NPS_LOW:
        vg_gen_set_attr_num(g, "nps", vg_gen_below(g->rng, 7));
        break;
    case VG_GEN_ATTRS_NPS_HIGH:
        vg_gen_set_attr_num(g, "nps", 7 + vg_gen_below(g->rng, 4));
        break;
    default:
        break;
    }
}

static size_t vg_gen_pack(vg_gen_t *g) {
    /* buf_cap bounds every event this file can build (see vg_gen_new()),
     * which saves a get_packed_size() pass per record. */
    return vigil__v1__interaction_event__pack(&g->ev, g->buf);
}

/* ---- malformed records ------------------------------------------------ */

/* Read a varint at *i; false if it runs past len. */
static bool vg_gen_varint(const uint8_t *p, size_t len, size_t *i,
                          uint64_t *v) {
    int shift = 0;

    *v = 0;
    while (*i < len && shift < 64) {
        uint8_t b = p[(*i)++];

        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
        shift += 7;
    }
    return false;
}

/* True when off is the start of a top-level field (or the end): a cut
 * there would leave a shorter but still valid message. */
static bool vg_gen_field_boundary(const uint8_t *p, size_t len, size_t off) {
    size_t i = 0;
    uint64_t tag, n;

    while (i < off) {
        if (!vg_gen_varint(p, len, &i, &tag))
            return false;
        switch (tag & 7) {
        case 0:
            if (!vg_gen_varint(p, len, &i, &n))
                return false;
            break;
        case 1:
            i += 8;
            break;
        case 2:
            if (!vg_gen_varint(p, len, &i, &n))
                return false;
            i += (size_t)n;
            break;
        case 5:
            i += 4;
            break;
        default:
            return false;
        }
    }
    return i == off;
}

static void vg_gen_malformed(vg_gen_t *g, int64_t t, vg_gen_record_t *rec) {
    uint64_t *s = g->rng;
    vg_gen_malformed_t kind =
        (vg_gen_malformed_t)(1 + vg_gen_below(s, VG_GEN_MALFORMED__COUNT - 1));
    vg_gen_journey_t j;
    size_t len = 0, i;

    /* Most malformed records are an ordinary event gone wrong on the way,
     * so start from one, for a random customer outside any journey. */
    memset(&j, 0, sizeof(j));
    j.cust = vg_gen_below(s, g->conf.customers);
    j.channel = VG_WEB;
    vg_gen_fill(g, &j, &vg_gen_tpls[VG_GEN_OP_PAGE_VIEW], g->produced, t);

    switch (kind) {
    case VG_GEN_MALFORMED_TRUNCATED:
        len = vg_gen_pack(g);
        /* Cut strictly inside a field: a cut on a field boundary would
         * leave a valid, shorter event. Every field is at least 2 bytes,
         * so one byte further is always inside the next field. */
        i = 1 + vg_gen_below(s, (uint32_t)len - 1);
        if (vg_gen_field_boundary(g->buf, len, i))
            i++;
        len = i;
        break;
    case VG_GEN_MALFORMED_GARBAGE:
        len = 1 + vg_gen_below(s, 64);
        for (i = 0; i < len; i++)
            g->buf[i] = (uint8_t)vg_gen_rand(s);
        /* Random bytes can happen to parse as protobuf; a first tag with
         * wire type 7 (which does not exist) makes sure they never do. */
        g->buf[0] = (uint8_t)(((1 + vg_gen_below(s, 15)) << 3) | 7);
        break;
    case VG_GEN_MALFORMED_EMPTY:
        len = 0;
        break;
    case VG_GEN_MALFORMED_MISSING_CUSTOMER_ID:
        g->ev.customer_id = (char *)protobuf_c_empty_string;
        len = vg_gen_pack(g);
        g->ev.customer_id = g->cust_id;
        break;
    case VG_GEN_MALFORMED_MISSING_EVENT_ID:
        g->ev.event_id = (char *)protobuf_c_empty_string;
        len = vg_gen_pack(g);
        g->ev.event_id = g->event_id;
        break;
    case VG_GEN_MALFORMED_BAD_EVENT_TIME:
    default:
        g->ev.event_time_ms =
            vg_gen_below(s, 2) ? 0 : -(int64_t)vg_gen_between(s, 1, 86400000);
        len = vg_gen_pack(g);
        break;
    }
    rec->payload = g->buf;
    rec->len = len;
    rec->malformed = true;
    rec->malformed_id = kind;
    rec->malformed_kind = vg_gen_malformed_name(kind);
    rec->event = NULL;
    rec->trouble = VG_GEN_TROUBLE_NONE;
    rec->journey = 0;
    g->stats.malformed++;
    g->stats.malformed_by_kind[kind]++;
}

/* ---- one journey step ------------------------------------------------- */

static void vg_gen_journey_step(vg_gen_t *g, vg_gen_record_t *rec) {
    vg_gen_journey_t j;
    const vg_gen_tpl_t *tpl;
    int64_t t, late_max = 2 * g->conf.step_ms;
    uint8_t step;

    if (late_max > VG_GEN_MAX_LATE_MS)
        late_max = VG_GEN_MAX_LATE_MS;
    if (g->n_heap > 0 && (g->heap[0].due_ms <= g->clock_ms || g->n_idle == 0)) {
        vg_gen_heap_pop(g, &j);
    } else {
        uint32_t k = vg_gen_below(g->rng, g->n_idle);
        uint32_t cust = g->idle[k];
        int64_t due = g->clock_ms;

        g->idle[k] = g->idle[--g->n_idle];
        vg_gen_plan(g, &j, cust);
        if (g->last_ms[cust] >= due)
            due = g->last_ms[cust] + 1;
        j.due_ms = due;
    }
    step = j.step;
    tpl = &vg_gen_tpls[j.ops[step]];
    /* Events reach Kafka a little out of order across customers (several
     * producers, different latencies): emit up to 2 x step_ms early, at
     * most VG_GEN_MAX_LATE_MS, never at or before this customer's previous
     * event. The journey keeps its schedule, so windows move by at most
     * VG_GEN_MAX_LATE_MS, which the templates leave room for. */
    t = j.due_ms;
    if (g->produced > 0 && late_max > 0)
        t -= vg_gen_below(g->rng, (uint32_t)late_max + 1);
    if (t < g->conf.start_ms)
        t = g->conf.start_ms;
    if (t <= g->last_ms[j.cust])
        t = g->last_ms[j.cust] + 1;
    vg_gen_fill(g, &j, tpl, g->produced, t);
    rec->len = vg_gen_pack(g);
    rec->payload = g->buf;
    rec->malformed = false;
    rec->malformed_id = VG_GEN_MALFORMED_NONE;
    rec->malformed_kind = NULL;
    rec->event = &g->ev;
    rec->trouble = (vg_gen_trouble_t)j.trouble;
    rec->journey = j.id;

    g->last_ms[j.cust] = t;
    /* A customer's step may be due after the clock (when every customer
     * is busy); the clock follows so that new journeys start no earlier. */
    if (j.due_ms > g->clock_ms)
        g->clock_ms = j.due_ms;
    g->stats.events++;
    if (step == j.complete_at)
        g->stats.troubles[j.trouble]++;
    if (j.ops[step] == VG_GEN_OP_CHAT_FRUSTRATED)
        g->stats.frustration_followups++;
    if (j.trouble == VG_GEN_TROUBLE_NONE &&
        tpl->outcome == VIGIL__V1__OUTCOME__OUTCOME_FAILURE)
        g->stats.isolated_failures++;

    j.step++;
    if (j.step < j.n_ops) {
        const vg_gen_tpl_t *next = &vg_gen_tpls[j.ops[j.step]];

        j.due_ms +=
            vg_gen_between(g->rng, next->gap_min_ms, next->gap_max_ms);
        if (vg_gen_heap_push(g, &j))
            return;
        /* Out of memory while the heap was still growing: end this
         * journey early rather than stop the stream. The output is then
         * no longer a pure function of the seed, but only on a machine
         * that cannot hold one journey per customer. */
    }
    g->idle[g->n_idle++] = j.cust;
}

/* ---- public ----------------------------------------------------------- */

void vg_gen_conf_init(vg_gen_conf_t *conf) {
    memset(conf, 0, sizeof(*conf));
    conf->seed = 1;
    conf->customers = 10000;
    conf->events = 1000000;
    conf->trouble_rate = 0.05;
    conf->malformed_rate = 0.001;
    conf->start_ms = 1700000000000LL;
    conf->step_ms = 20;
    conf->tenant = "acme";
}

vg_gen_t *vg_gen_new(const vg_gen_conf_t *conf, char *errstr,
                     size_t errstr_size) {
    vg_gen_t *g;
    size_t tlen, n;
    uint32_t i;

    if (!conf) {
        vg_errstr_set(errstr, errstr_size, "no configuration");
        return NULL;
    }
    if (conf->customers == 0) {
        vg_errstr_set(errstr, errstr_size, "customers must be at least 1");
        return NULL;
    }
    /* Written as negations so NaN is refused too. */
    if (!(conf->trouble_rate >= 0.0 && conf->trouble_rate <= 1.0)) {
        vg_errstr_set(errstr, errstr_size,
                      "trouble_rate must be between 0 and 1, got %g",
                      conf->trouble_rate);
        return NULL;
    }
    if (!(conf->malformed_rate >= 0.0 && conf->malformed_rate <= 1.0)) {
        vg_errstr_set(errstr, errstr_size,
                      "malformed_rate must be between 0 and 1, got %g",
                      conf->malformed_rate);
        return NULL;
    }
    /* Event times <= 0 are what the bad_event_time kind plants; good
     * events must never look like that. */
    if (conf->start_ms <= 0) {
        vg_errstr_set(errstr, errstr_size,
                      "start_ms must be positive, got %lld",
                      (long long)conf->start_ms);
        return NULL;
    }
    if (conf->step_ms < 0 || conf->step_ms > INT32_MAX) {
        vg_errstr_set(errstr, errstr_size,
                      "step_ms must be between 0 and %d, got %lld",
                      INT32_MAX, (long long)conf->step_ms);
        return NULL;
    }
    if (!conf->tenant || !conf->tenant[0]) {
        vg_errstr_set(errstr, errstr_size, "tenant must not be empty");
        return NULL;
    }
    tlen = strlen(conf->tenant);
    if (tlen > 1024) {
        vg_errstr_set(errstr, errstr_size,
                      "tenant is %zu bytes long (at most 1024)", tlen);
        return NULL;
    }

    g = calloc(1, sizeof(*g));
    if (!g) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    g->conf = *conf;
    g->tenant = strdup(conf->tenant);
    g->conf.tenant = g->tenant;
    n = conf->customers;
    g->last_ms = calloc(n, sizeof(*g->last_ms));
    g->idle = malloc(n * sizeof(*g->idle));
    /* The largest event built here is about 400 bytes plus the tenant:
     * event id <= 44, customer id <= 15, vocabulary strings <= 24,
     * 3 consents, descriptive <= 42, 2 attributes <= 60 each. */
    g->buf_cap = 1024 + tlen;
    g->buf = malloc(g->buf_cap);
    if (!g->tenant || !g->last_ms || !g->idle || !g->buf) {
        vg_errstr_set(errstr, errstr_size,
                      "out of memory for %" PRIu32 " customers",
                      conf->customers);
        vg_gen_destroy(g);
        return NULL;
    }
    for (i = 0; i < conf->customers; i++)
        g->idle[i] = i;
    g->n_idle = conf->customers;

    g->rng[0] = vg_gen_mix64(conf->seed);
    g->rng[1] = vg_gen_mix64(g->rng[0]);
    g->rng[2] = vg_gen_mix64(g->rng[1]);
    g->rng[3] = vg_gen_mix64(g->rng[2]);
    g->clock_ms = conf->start_ms;

    vigil__v1__interaction_event__init(&g->ev);
    vigil__v1__descriptive__init(&g->desc);
    for (i = 0; i < VG_GEN_MAX_ATTRS; i++) {
        vigil__v1__attribute__init(&g->attr[i]);
        g->attr_ptr[i] = &g->attr[i];
    }
    memcpy(g->event_id, "ev-", 3);
    g->event_id_prefix = 3 + vg_gen_utoa(g->event_id + 3, conf->seed, 1);
    g->event_id[g->event_id_prefix++] = '-';
    g->ev.event_id = g->event_id;
    g->ev.customer_id = g->cust_id;
    g->ev.tenant = g->tenant;
    g->ev.signals = g->signals;
    g->ev.consents = g->consents;
    g->ev.descriptive = &g->desc;
    g->ev.attributes = g->attr_ptr;
    return g;
}

void vg_gen_destroy(vg_gen_t *g) {
    if (!g)
        return;
    free(g->tenant);
    free(g->last_ms);
    free(g->idle);
    free(g->heap);
    free(g->buf);
    free(g);
}

bool vg_gen_next(vg_gen_t *g, vg_gen_record_t *rec) {
    int64_t step;

    if (!g || !rec || g->produced >= g->conf.events)
        return false;
    step = g->conf.step_ms;
    if (g->produced > 0) {
        /* Jitter spreads gaps over [step - step/2, step + step/2], mean
         * step, never negative. */
        g->clock_ms += (step - step / 2) +
                       vg_gen_below(g->rng, (uint32_t)(2 * (step / 2) + 1));
    }
    if (g->conf.malformed_rate > 0 &&
        vg_gen_unit(g->rng) < g->conf.malformed_rate) {
        vg_gen_malformed(g, g->clock_ms, rec);
    } else {
        vg_gen_journey_step(g, rec);
    }
    rec->key = g->cust_id;
    rec->key_len = g->cust_id_len;
    rec->seq = g->produced;
    g->produced++;
    g->stats.records++;
    return true;
}

void vg_gen_stats(const vg_gen_t *g, vg_gen_stats_t *stats) {
    if (!g || !stats)
        return;
    *stats = g->stats;
}

const char *vg_gen_trouble_name(vg_gen_trouble_t t) {
    static const char *const names[VG_GEN_TROUBLE__COUNT] = {
        [VG_GEN_TROUBLE_NONE] = "none",
        [VG_GEN_TROUBLE_PAYMENT_REPEAT] = "payment_repeat",
        [VG_GEN_TROUBLE_LOGIN_REPEAT] = "login_repeat",
        [VG_GEN_TROUBLE_CHANNEL_HOP] = "channel_hop",
        [VG_GEN_TROUBLE_CHECKOUT_ABANDON] = "checkout_abandon",
        [VG_GEN_TROUBLE_DETRACTOR] = "detractor",
    };

    if ((int)t < 0 || t >= VG_GEN_TROUBLE__COUNT)
        return NULL;
    return names[t];
}

const char *vg_gen_malformed_name(vg_gen_malformed_t k) {
    static const char *const names[VG_GEN_MALFORMED__COUNT] = {
        [VG_GEN_MALFORMED_NONE] = "none",
        [VG_GEN_MALFORMED_TRUNCATED] = "truncated",
        [VG_GEN_MALFORMED_GARBAGE] = "garbage",
        [VG_GEN_MALFORMED_EMPTY] = "empty",
        [VG_GEN_MALFORMED_MISSING_CUSTOMER_ID] = "missing_customer_id",
        [VG_GEN_MALFORMED_MISSING_EVENT_ID] = "missing_event_id",
        [VG_GEN_MALFORMED_BAD_EVENT_TIME] = "bad_event_time",
    };

    if ((int)k < 0 || k >= VG_GEN_MALFORMED__COUNT)
        return NULL;
    return names[k];
}
