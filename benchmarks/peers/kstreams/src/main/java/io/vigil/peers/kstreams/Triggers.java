package io.vigil.peers.kstreams;

import static io.vigil.peers.kstreams.DefaultModel.*;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import vigil.v1.Event.Channel;
import vigil.v1.Trigger.InterventionTrigger;
import vigil.v1.Trigger.Lineage;
import vigil.v1.Trigger.Priority;
import vigil.v1.Trigger.ReasonCode;

/** The InterventionTrigger of a decision, as docs/triggers.md specifies it. One per stream task (not thread-safe). */
final class Triggers {
    private static final byte[] DOMAIN = "vigil.trigger.v1".getBytes(StandardCharsets.UTF_8);
    private static final char[] HEX = "0123456789abcdef".toCharArray();
    private static final int LINEAGE_MAX_EVENTS = 16;

    private final MessageDigest sha256;
    private final String workerId, destination;

    Triggers(String workerId, String destination) {
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        this.workerId = workerId;
        this.destination = destination;
    }

    /**
     * lowercase_hex(SHA-256("vigil.trigger.v1" 0 tenant 0 customer_id 0
     * intervention 0 cause 0)[0:16]) ("The trigger id, byte by byte").
     */
    String triggerId(String tenant, String customerId, String intervention, String cause) {
        sha256.reset();
        sha256.update(DOMAIN);
        sha256.update((byte) 0);
        for (String p : new String[] {tenant, customerId, intervention, cause}) {
            sha256.update(p.getBytes(StandardCharsets.UTF_8));
            sha256.update((byte) 0);
        }
        byte[] d = sha256.digest();
        char[] out = new char[32];
        for (int i = 0; i < 16; i++) {
            out[2 * i] = HEX[(d[i] >> 4) & 0xf];
            out[2 * i + 1] = HEX[d[i] & 0xf];
        }
        return new String(out);
    }

    static Priority bucket(double p) {
        if (p >= 1.2)
            return Priority.PRIORITY_CRITICAL;
        if (p >= 0.9)
            return Priority.PRIORITY_HIGH;
        if (p >= 0.6)
            return Priority.PRIORITY_MEDIUM;
        return Priority.PRIORITY_LOW;
    }

    /** C's "%.2f": the exact binary value rounded half-even. */
    private static String twoDecimals(double v) {
        return new BigDecimal(v).setScale(2, RoundingMode.HALF_EVEN).toPlainString();
    }

    private static ReasonCode reason(int term, double contribution, Rules.Score s, PeerState st) {
        String code = TERM_REASON[term], detail = TERM_DETAIL[term];
        if (term <= T_LEVEL_ORDER && s.levels[term] > 0) {
            int w = term; // the level terms are in window order
            code = code + "_" + LADDER[s.levels[w]];
            detail = s.counts[w] + " " + SIGNAL_NAMES[WINDOW_SIGNAL[w]] + " within " + (WINDOW_WITHIN[w] / 60000)
                     + " min (" + LADDER[s.levels[w]] + ")";
        } else if (term == T_CHURN) {
            detail = "churn risk " + twoDecimals(st.churnRisk) + " from the upstream model";
        }
        return ReasonCode.newBuilder().setCode(code).setContribution(contribution).setDetail(detail).build();
    }

    private static void addId(List<String> ids, String id, String causeId) {
        if (id.equals(causeId) || ids.size() >= LINEAGE_MAX_EVENTS - 1 || ids.contains(id))
            return;
        ids.add(id);
    }

    private static void addChannel(List<Integer> chans, int c) {
        if (!chans.contains(c))
            chans.add(c);
    }

    /**
     * Encode a decision. cause: what the id is computed over (the event id,
     * or "absence:<name>:<starting event id>"); causeEventId/causeChannel:
     * the deciding (or starting) event; seqDone: the decision completed the
     * channel-hopping sequence.
     */
    InterventionTrigger encode(PeerState st, String tenant, String customerId, String cause, String causeEventId,
                               int causeChannel, long createdMs, Rules.Score s, boolean seqDone,
                               String sourceTopic, int partition, long offset) {
        int iv = s.winner;
        String name = IV_NAME[iv];
        InterventionTrigger.Builder t = InterventionTrigger.newBuilder()
                                            .setTriggerId(triggerId(tenant, customerId, name, cause))
                                            .setCustomerId(customerId)
                                            .setTenant(tenant)
                                            .setIntervention(name)
                                            .setScore(s.propensity)
                                            .setPriorityScore(s.priority)
                                            .setPriority(bucket(s.priority))
                                            .setValidUntilMs(createdMs + IV_VALID_FOR[iv])
                                            .setCreatedMs(createdMs)
                                            .setChannelValue(s.channel)
                                            .setEscalationLevel(s.level);
        for (int i = 0; i < s.nReasons; i++)
            t.addReasons(reason(s.reasonTerm[i], s.reasonContribution[i], s, st));

        // Origin: the worst open problem's events, the sequence this decision
        // completed, then the cause.
        List<String> ids = new ArrayList<>();
        List<Integer> chans = new ArrayList<>();
        if (s.worst != null) {
            for (int i = 0; i < s.worst.n; i++) {
                addId(ids, s.worst.ids[i], causeEventId);
                addChannel(chans, s.worst.channels[i]);
            }
        }
        if (seqDone) {
            PeerState.Sequence q = st.sequence(SEQ_NAME);
            for (int j = 0; j < SEQ_STEPS.length; j++) {
                addId(ids, q.ids[j], causeEventId);
                addChannel(chans, q.channels[j]);
            }
        }
        ids.add(causeEventId);
        addChannel(chans, causeChannel);
        Lineage.Builder lin = Lineage.newBuilder()
                                  .addAllSourceEventIds(ids)
                                  .setPurpose(IV_PURPOSE[iv])
                                  .setModelId(ID)
                                  .setModelVersion(VERSION)
                                  .setWorkerId(workerId)
                                  .setDestination(destination)
                                  .setSourceTopic(sourceTopic)
                                  .setSourcePartition(partition)
                                  .setSourceOffset(offset);
        for (int c : chans)
            lin.addChannelsValue(c);
        return t.setLineage(lin).build();
    }

    static String channelName(int c) {
        Channel ch = Channel.forNumber(c);
        return ch == null ? "CHANNEL_" + c : ch.name();
    }
}
