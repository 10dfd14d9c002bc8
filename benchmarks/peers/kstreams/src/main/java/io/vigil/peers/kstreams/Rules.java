package io.vigil.peers.kstreams;

import static io.vigil.peers.kstreams.DefaultModel.*;

import java.nio.charset.StandardCharsets;
import vigil.v1.Event.Descriptive;
import vigil.v1.Event.InteractionEvent;

/**
 * The default model's rules over one customer's state, as Vigil computes them
 * (workers/core/vg_score.c and vg_step.c): apply an event (transition), score
 * the customer at their newest event time, decide at most one intervention.
 * Pure: no Kafka, no store.
 */
final class Rules {
    private Rules() {}

    /** What an event changed: which windows counted it, whether it completed the sequence. */
    static final class Transition {
        boolean late;
        int windowHit; // bit per window
        boolean seqDone;
        boolean absenceFired; // a deadline decision, not an event's
    }

    /** A scored decision. */
    static final class Score {
        long nowMs;
        final int[] counts = new int[N_WINDOWS];
        final int[] levels = new int[N_WINDOWS];
        int level = 0; // the worst open problem's ladder
        PeerState.Window worst;
        double z, propensity, valueWeight;
        // Reasons: term indexes, most contributing first (ties: model order), at most 8.
        int nReasons;
        final int[] reasonTerm = new int[8];
        final double[] reasonContribution = new double[8];
        int winner = -1;
        int channel;
        double priority;
    }

    /** The outcome of one event. */
    static final class Outcome {
        boolean duplicate;
        final Transition tr = new Transition();
        final Score score = new Score();
    }

    // --- transition (vg_score_transition)

    private static void windowAdd(PeerState.Window w, InteractionEvent ev, int channel, long now, long within) {
        int o = 0;
        for (int i = 0; i < w.n; i++) {
            if (w.times[i] <= now - within)
                continue;
            if (o != i) {
                w.times[o] = w.times[i];
                w.channels[o] = w.channels[i];
                w.ids[o] = w.ids[i];
            }
            o++;
        }
        w.n = o;
        if (w.n == PeerState.WINDOW_MAX) {
            System.arraycopy(w.times, 1, w.times, 0, w.n - 1);
            System.arraycopy(w.channels, 1, w.channels, 0, w.n - 1);
            System.arraycopy(w.ids, 1, w.ids, 0, w.n - 1);
            w.n--;
        }
        w.times[w.n] = ev.getEventTimeMs();
        w.channels[w.n] = channel;
        w.ids[w.n] = ev.getEventId();
        w.n++;
    }

    /**
     * Apply the event; absence starts and ends are kept in st.absences.
     * Returns the matched signals (null for a late event).
     */
    static boolean[] transition(PeerState st, Ev e, Transition tr) {
        InteractionEvent ev = e.raw;
        long t = ev.getEventTimeMs();
        long now = Math.max(t, st.lastEventMs);

        // Consent and descriptive data are the customer's latest word, late or not.
        st.consents.clear();
        st.consents.addAll(ev.getConsentsList());
        if (ev.hasDescriptive()) {
            Descriptive d = ev.getDescriptive();
            st.valueTier = e.tier;
            st.tenureMonths = d.getTenureMonths();
            st.revenueWeight = d.getRevenueWeight();
            st.churnRisk = d.getChurnRisk();
        }
        st.eventsApplied++;
        if (st.lastEventMs != 0 && t < st.lastEventMs - LATENESS_MS) {
            tr.late = true; // applied, but neither counted nor deciding
            return null;
        }
        st.lastEventMs = now;
        boolean[] m = match(e);
        for (int w = 0; w < N_WINDOWS; w++) {
            if (!m[WINDOW_SIGNAL[w]])
                continue;
            windowAdd(st.window(WINDOW_NAMES[w]), ev, e.channel, now, WINDOW_WITHIN[w]);
            tr.windowHit |= 1 << w;
        }
        PeerState.Sequence q = st.sequence(SEQ_NAME);
        if (q.progress > 0 && t - q.startMs > SEQ_WITHIN)
            q.progress = 0; // too slow: start over
        if (q.progress < SEQ_STEPS.length && m[SEQ_STEPS[q.progress]]) {
            if (q.progress == 0)
                q.startMs = t;
            q.ids[q.progress] = ev.getEventId();
            q.channels[q.progress] = e.channel;
            if (++q.progress == SEQ_STEPS.length) {
                tr.seqDone = true;
                q.progress = 0;
            }
        }
        PeerState.Absence a = st.absence(ABS_NAME);
        if (a != null && m[ABS_EXPECT] && t >= a.startMs) {
            st.removeAbsence(a); // the expected event came
            a = null;
        }
        if (a == null && m[ABS_START] && st.absences.size() < PeerState.MAX_ABSENCES) {
            a = new PeerState.Absence();
            a.name = ABS_NAME;
            a.startMs = t;
            a.dueMs = t + ABS_WITHIN;
            a.channel = e.channel;
            a.eventId = ev.getEventId();
            st.absences.add(a);
        }
        return m;
    }

    // --- scoring (vg_score_compute)

    private static void addReason(Score s, int term, double c) {
        int i;
        if (c <= 0.0 || s.nReasons == 8)
            return;
        for (i = s.nReasons; i > 0 && s.reasonContribution[i - 1] < c; i--) {
            s.reasonTerm[i] = s.reasonTerm[i - 1];
            s.reasonContribution[i] = s.reasonContribution[i - 1];
        }
        s.reasonTerm[i] = term;
        s.reasonContribution[i] = c;
        s.nReasons++;
    }

    private static boolean hasConsent(PeerState st, String purpose) {
        for (String c : st.consents)
            if (c.equals(purpose))
                return true;
        return false;
    }

    private static boolean lastFireWithin(PeerState st, String iv, int ch, boolean anyChannel, long now, long span) {
        for (PeerState.Ledger l : st.ledgers) {
            if (!l.intervention.equals(iv) || (!anyChannel && l.channel != ch) || l.n == 0)
                continue;
            if (now - l.fired[l.n - 1] < span)
                return true;
        }
        return false;
    }

    private static int firesWithin(PeerState st, String iv, long now, long span) {
        int n = 0;
        for (PeerState.Ledger l : st.ledgers) {
            if (!l.intervention.equals(iv))
                continue;
            for (int j = 0; j < l.n; j++)
                if (now - l.fired[j] < span)
                    n++;
        }
        return n;
    }

    /** Does some eligibility rule of intervention iv hold, caused by this decision? */
    private static boolean eligible(int iv, boolean[] m, Transition tr, Score s) {
        int[] lv = s.levels;
        int hit = tr.windowHit;
        switch (iv) {
        case IV_ESCALATE: // { signal: emotion, level: [payment, login, order], min: pattern }
            return m != null && m[S_EMOTION] && (lv[W_PAYMENT] >= 2 || lv[W_LOGIN] >= 2 || lv[W_ORDER] >= 2);
        case IV_CALLBACK: // payment trend | order trend | channel_hopping
            return (lv[W_PAYMENT] >= 3 && (hit & (1 << W_PAYMENT)) != 0)
                || (lv[W_ORDER] >= 3 && (hit & (1 << W_ORDER)) != 0) || tr.seqDone;
        case IV_FIX: // login trend
            return lv[W_LOGIN] >= 3 && (hit & (1 << W_LOGIN)) != 0;
        case IV_STATUS: // order pattern | payment pattern
            return (lv[W_ORDER] >= 2 && (hit & (1 << W_ORDER)) != 0)
                || (lv[W_PAYMENT] >= 2 && (hit & (1 << W_PAYMENT)) != 0);
        case IV_RETENTION: // absence checkout_abandoned | signal detractor
            return tr.absenceFired || (m != null && m[S_DETRACTOR]);
        default:
            return false;
        }
    }

    /**
     * Score the customer at now and decide. m: the deciding event's matched
     * signals (null for a deadline); eventChannel: its channel; recordMs: the
     * record's timestamp for the stale cut-off (0: unknown).
     */
    static void compute(PeerState st, boolean[] m, int eventChannel, Transition tr, long now, long recordMs,
                        Score s) {
        s.nowMs = now;
        s.channel = eventChannel;
        for (int w = 0; w < N_WINDOWS; w++) {
            PeerState.Window sw = st.findWindow(WINDOW_NAMES[w]);
            int n = 0;
            for (int i = 0; sw != null && i < sw.n; i++)
                if (sw.times[i] > now - WINDOW_WITHIN[w] && sw.times[i] <= now)
                    n++;
            s.counts[w] = n;
            s.levels[w] = n >= WINDOW_TREND[w] ? 3 : n >= WINDOW_PATTERN[w] ? 2 : n >= 1 ? 1 : 0;
            if (s.levels[w] > s.level
                || (s.levels[w] == s.level && s.levels[w] > 0 && s.worst != null && sw.last() > s.worst.last())) {
                s.level = s.levels[w];
                s.worst = sw;
            }
        }

        double z = BIAS;
        for (int t = 0; t < N_TERMS; t++) {
            double v = 0.0;
            switch (t) {
            case T_LEVEL_PAYMENT:
                v = s.levels[W_PAYMENT];
                break;
            case T_LEVEL_LOGIN:
                v = s.levels[W_LOGIN];
                break;
            case T_LEVEL_ORDER:
                v = s.levels[W_ORDER];
                break;
            case T_EMOTION:
                if (m != null && !tr.late && m[S_EMOTION]) {
                    // Only while one of the problems is open.
                    for (int w = 0; w < N_WINDOWS && v == 0.0; w++) {
                        PeerState.Window sw = st.findWindow(WINDOW_NAMES[w]);
                        if (sw != null && sw.n > 0 && sw.last() > now - EMOTION_OPEN_WITHIN)
                            v = 1.0;
                    }
                }
                break;
            case T_DETRACTOR:
                if (m != null && !tr.late && m[S_DETRACTOR])
                    v = 1.0;
                break;
            case T_HOPPING:
                v = tr.seqDone ? 1.0 : 0.0;
                break;
            case T_ABANDONED:
                v = tr.absenceFired ? 1.0 : 0.0;
                break;
            case T_CHURN:
                v = st.churnRisk;
                break;
            case T_HIGH_VALUE:
                v = st.valueTier == TIER_GOLD || st.valueTier == TIER_PLATINUM ? 1.0 : 0.0;
                break;
            default:
                break;
            }
            z += TERM_WEIGHT[t] * v;
            addReason(s, t, TERM_WEIGHT[t] * v);
        }
        s.z = z;
        s.propensity = 1.0 / (1.0 + Math.exp(-z));
        s.valueWeight = (st.valueTier >= 0 && st.valueTier <= 4 ? TIER_WEIGHT[st.valueTier] : 1.0)
                        * (st.revenueWeight > 0.0 ? st.revenueWeight : 1.0);

        // Decide: the eligible intervention with the highest priority that no
        // policy stops wins. A late event decides nothing.
        double best = -1.0;
        for (int i = 0; !tr.late && i < N_INTERVENTIONS; i++) {
            if (!eligible(i, m, tr, s))
                continue;
            // As in Vigil, the channel starts from the current winner's (the
            // event's until one is found), then the intervention's fallback.
            int ch = channelFor(i, s.channel);
            double priority = s.propensity * s.valueWeight * IV_CONTEXT_WEIGHT[i];
            String name = IV_NAME[i];
            if (s.propensity < IV_THRESHOLD[i])
                continue; // below_threshold
            if (IV_STALE_AFTER[i] != 0 && recordMs > 0 && recordMs - now > IV_STALE_AFTER[i])
                continue; // stale_event
            if (!hasConsent(st, IV_PURPOSE[i]))
                continue; // no_consent
            if (IV_COOLDOWN[i] != 0 && lastFireWithin(st, name, ch, true, now, IV_COOLDOWN[i]))
                continue; // cooldown
            if (IV_CHANNEL_COOLDOWN[i] != 0 && lastFireWithin(st, name, ch, false, now, IV_CHANNEL_COOLDOWN[i]))
                continue; // channel_cooldown
            if (IV_CAP_COUNT[i] != 0 && firesWithin(st, name, now, IV_CAP_PER[i]) >= IV_CAP_COUNT[i])
                continue; // cap
            if (priority > best) {
                best = priority;
                s.winner = i;
                s.channel = ch;
                s.priority = priority;
            }
        }
    }

    /** Record a fire in the (intervention, channel) ledger (vg_score_record_fire). */
    static void recordFire(PeerState st, String iv, int channel, long t) {
        PeerState.Ledger l = st.ledger(iv, channel);
        if (l.n == PeerState.LEDGER_MAX) {
            System.arraycopy(l.fired, 1, l.fired, 0, l.n - 1);
            l.n--;
        }
        l.fired[l.n++] = t;
    }

    // --- one event (vg_step_apply, less the offset replay rule Kafka Streams owns)

    static Outcome apply(PeerState st, Ev e, long recordMs) {
        Outcome out = new Outcome();
        long h = PeerState.eventHash(e.raw.getEventIdBytes().toByteArray());

        if (st.seenEvent(h)) {
            out.duplicate = true; // applied once already: decides nothing
            return out;
        }
        boolean[] m = transition(st, e, out.tr);
        st.rememberEvent(h);
        compute(st, m, e.channel, out.tr, st.lastEventMs, recordMs, out.score);
        if (out.score.winner >= 0)
            recordFire(st, IV_NAME[out.score.winner], out.score.channel, st.lastEventMs);
        return out;
    }

    /**
     * The customer's absence deadlines at or before watermarkMs (vg_step_expire):
     * resolved and scored as one decision at the latest such deadline. Returns
     * null when none was due; the fired absence is in outAbsence[0].
     */
    static Score expire(PeerState st, long watermarkMs, PeerState.Absence[] outAbsence) {
        PeerState.Absence fired = null;
        Transition tr = new Transition();

        for (int i = 0; i < st.absences.size();) {
            PeerState.Absence a = st.absences.get(i);
            if (a.dueMs > watermarkMs) {
                i++;
                continue;
            }
            if (a.name.equals(ABS_NAME)) {
                tr.absenceFired = true;
                if (fired == null || a.dueMs > fired.dueMs)
                    fired = a;
            }
            st.removeAbsence(a); // the hole is filled by the last: look at i again
        }
        if (fired == null)
            return null;
        Score s = new Score();
        compute(st, null, 0, tr, fired.dueMs, watermarkMs, s);
        outAbsence[0] = fired;
        if (s.winner >= 0) {
            // The absence's own channel, if the intervention may use it.
            s.channel = channelFor(s.winner, fired.channel);
            recordFire(st, IV_NAME[s.winner], s.channel, fired.dueMs);
        }
        return s;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
