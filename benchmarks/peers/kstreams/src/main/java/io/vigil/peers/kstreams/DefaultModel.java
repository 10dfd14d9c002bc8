package io.vigil.peers.kstreams;

import vigil.v1.Event.InteractionEvent;

/**
 * Vigil's default model (workers/models/default.yaml), hard-coded: the
 * signals, windows, the sequence, the absence, the score terms, the value
 * weights and the intervention catalogue with its contact policies. Indexes
 * and orders follow the YAML, because Vigil's tie rules follow them (reasons
 * of equal contribution keep the model's order; of two interventions of
 * equal priority the first listed wins).
 */
final class DefaultModel {
    private DefaultModel() {}

    static final String ID = "vigil-default";
    static final String VERSION = "2026.11.1";

    static final long SEC = 1000L, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;
    static final long LATENESS_MS = 2 * MIN;

    // Enum numbers of schemas/vigil/v1/event.proto.
    static final int CH_UNSPECIFIED = 0, CH_WEB = 1, CH_APP = 2, CH_CHAT = 3, CH_PHONE = 4, CH_PAYMENT = 5,
                     CH_EMAIL = 6, CH_STORE = 7;
    static final int OUT_SUCCESS = 1, OUT_FAILURE = 2, OUT_ABANDONED = 3, OUT_PENDING = 4, OUT_TIMEOUT = 5;
    static final int SIG_FRUSTRATION = 1, SIG_ANGER = 2, SIG_CONFUSION = 3, SIG_URGENCY = 4, SIG_DETRACTOR = 5;
    static final int TIER_GOLD = 3, TIER_PLATINUM = 4;

    // --- signals: predicates over one event
    static final int S_PAYMENT_FAILURE = 0, S_LOGIN_FAILURE = 1, S_ORDER_FAILURE = 2, S_CHECKOUT_STARTED = 3,
                     S_CHECKOUT_DONE = 4, S_EMOTION = 5, S_DETRACTOR = 6, S_CONTACT_WEB = 7, S_CONTACT_CHAT = 8,
                     S_CONTACT_PHONE = 9, N_SIGNALS = 10;
    static final String[] SIGNAL_NAMES = {"payment_failure", "login_failure", "order_failure", "checkout_started",
                                          "checkout_done", "emotion", "detractor", "contact_web", "contact_chat",
                                          "contact_phone"};

    /**
     * The event's normalised enums: unknown values (a producer on a newer
     * schema) read as UNSPECIFIED, as Vigil's vg_event_normalise does.
     */
    static final class Ev {
        final InteractionEvent raw;
        final int channel, outcome, tier;
        final int signalMask; // bit per known signal value present
        final String type;

        Ev(InteractionEvent e) {
            raw = e;
            int c = e.getChannelValue(), o = e.getOutcomeValue();
            channel = c >= 0 && c <= CH_STORE ? c : 0;
            outcome = o >= 0 && o <= OUT_TIMEOUT ? o : 0;
            int t = e.hasDescriptive() ? e.getDescriptive().getValueTierValue() : 0;
            tier = t >= 0 && t <= TIER_PLATINUM ? t : 0;
            int m = 0;
            for (int i = 0; i < e.getSignalsCount(); i++) {
                int s = e.getSignalsValue(i);
                if (s >= 0 && s <= SIG_DETRACTOR)
                    m |= 1 << s;
            }
            signalMask = m;
            type = e.getEventType();
        }
    }

    private static boolean failed(Ev e) {
        return e.outcome == OUT_FAILURE || e.outcome == OUT_TIMEOUT;
    }

    /** matched[s] for every signal s of the model. */
    static boolean[] match(Ev e) {
        boolean[] m = new boolean[N_SIGNALS];
        m[S_PAYMENT_FAILURE] = e.type.equals("payment") && failed(e);
        m[S_LOGIN_FAILURE] = e.type.equals("login") && failed(e);
        m[S_ORDER_FAILURE] = e.type.equals("order") && failed(e);
        m[S_CHECKOUT_STARTED] = e.type.equals("checkout") && e.outcome == OUT_PENDING;
        m[S_CHECKOUT_DONE] = (e.type.equals("checkout") || e.type.equals("payment")) && e.outcome == OUT_SUCCESS;
        m[S_EMOTION] = (e.signalMask & ((1 << SIG_FRUSTRATION) | (1 << SIG_ANGER) | (1 << SIG_CONFUSION))) != 0;
        m[S_DETRACTOR] = e.type.equals("survey") && (e.signalMask & (1 << SIG_DETRACTOR)) != 0;
        m[S_CONTACT_WEB] = e.channel == CH_WEB;
        m[S_CONTACT_CHAT] = e.channel == CH_CHAT;
        m[S_CONTACT_PHONE] = e.channel == CH_PHONE;
        return m;
    }

    // --- windows and the ladder: coincidence 1, pattern 2, trend 3
    static final int W_PAYMENT = 0, W_LOGIN = 1, W_ORDER = 2, N_WINDOWS = 3;
    static final String[] WINDOW_NAMES = {"payment_trouble", "login_trouble", "order_trouble"};
    static final int[] WINDOW_SIGNAL = {S_PAYMENT_FAILURE, S_LOGIN_FAILURE, S_ORDER_FAILURE};
    static final long[] WINDOW_WITHIN = {30 * MIN, 30 * MIN, 2 * HOUR};
    static final int[] WINDOW_PATTERN = {2, 2, 2};
    static final int[] WINDOW_TREND = {3, 3, 3};
    static final String[] LADDER = {"", "coincidence", "pattern", "trend"};

    // --- the sequence: web, then chat, then phone within 30 minutes
    static final String SEQ_NAME = "channel_hopping";
    static final int[] SEQ_STEPS = {S_CONTACT_WEB, S_CONTACT_CHAT, S_CONTACT_PHONE};
    static final long SEQ_WITHIN = 30 * MIN;

    // --- the absence: checkout started, no payment within 10 minutes
    static final String ABS_NAME = "checkout_abandoned";
    static final int ABS_START = S_CHECKOUT_STARTED, ABS_EXPECT = S_CHECKOUT_DONE;
    static final long ABS_WITHIN = 10 * MIN;

    // --- the score: z = bias + sum(weight x value), in term order
    static final double BIAS = -4.0;
    static final int T_LEVEL_PAYMENT = 0, T_LEVEL_LOGIN = 1, T_LEVEL_ORDER = 2, T_EMOTION = 3, T_DETRACTOR = 4,
                     T_HOPPING = 5, T_ABANDONED = 6, T_CHURN = 7, T_HIGH_VALUE = 8, N_TERMS = 9;
    static final double[] TERM_WEIGHT = {1.5, 1.5, 1.2, 1.6, 2.2, 3.2, 4.2, 1.0, 0.4};
    static final String[] TERM_REASON = {"payment_failure", "login_failure", "order_failure",
                                         "emotion_with_open_problem", "detractor_survey", "channel_hopping",
                                         "checkout_abandoned", "churn_risk", "high_value_at_risk"};
    static final String[] TERM_DETAIL = {"", "", "",
                                         "frustration, anger or confusion detected while a problem is open",
                                         "detractor answer in a survey",
                                         "web, then chat, then phone within 30 minutes",
                                         "checkout started, no payment within 10 minutes", "",
                                         "gold or platinum value tier"};
    static final long EMOTION_OPEN_WITHIN = 30 * MIN; // open: all three windows

    // --- value: tiers x revenue_weight
    static final double[] TIER_WEIGHT = {1.0, 1.0, 1.2, 1.5, 2.0};

    // --- interventions, in the model's order
    static final int IV_ESCALATE = 0, IV_CALLBACK = 1, IV_FIX = 2, IV_STATUS = 3, IV_RETENTION = 4,
                     N_INTERVENTIONS = 5;
    static final String[] IV_NAME = {"escalate_to_senior_agent", "proactive_callback", "fix_and_notify",
                                     "status_update", "retention_offer"};
    static final String[] IV_PURPOSE = {"service", "service", "service", "service", "marketing"};
    static final int[][] IV_CHANNELS = {{CH_PHONE, CH_CHAT}, {CH_PHONE}, {CH_APP, CH_EMAIL, CH_WEB},
                                        {CH_APP, CH_EMAIL, CH_WEB}, {CH_EMAIL, CH_APP, CH_WEB}};
    static final double[] IV_THRESHOLD = {0.7, 0.6, 0.6, 0.5, 0.5};
    static final long[] IV_COOLDOWN = {4 * HOUR, HOUR, HOUR, 2 * HOUR, DAY};
    static final long[] IV_CHANNEL_COOLDOWN = {4 * HOUR, HOUR, 0, 0, 0};
    static final int[] IV_CAP_COUNT = {2, 3, 3, 4, 1};
    static final long[] IV_CAP_PER = {DAY, DAY, DAY, DAY, 7 * DAY};
    static final long[] IV_VALID_FOR = {15 * MIN, 30 * MIN, HOUR, 2 * HOUR, DAY};
    static final long[] IV_STALE_AFTER = {10 * MIN, 15 * MIN, 15 * MIN, 30 * MIN, HOUR};
    static final double[] IV_CONTEXT_WEIGHT = {1.3, 1.2, 1.0, 0.8, 1.0};

    static boolean channelAllowed(int iv, int ch) {
        for (int c : IV_CHANNELS[iv])
            if (c == ch)
                return true;
        return false;
    }

    /** The event's channel if the intervention may use it, else its first listed. */
    static int channelFor(int iv, int ch) {
        return channelAllowed(iv, ch) ? ch : IV_CHANNELS[iv][0];
    }
}
