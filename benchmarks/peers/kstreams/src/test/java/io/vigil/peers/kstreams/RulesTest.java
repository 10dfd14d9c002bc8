package io.vigil.peers.kstreams;

import static io.vigil.peers.kstreams.DefaultModel.*;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import vigil.v1.Event.Descriptive;
import vigil.v1.Event.InteractionEvent;

/**
 * The hard-coded default model against the numbers Vigil's own tests and docs
 * give (docs/model.md "Worked example", docs/triggers.md test vectors,
 * tests/unit/test_score.c).
 */
class RulesTest {
    static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z
    static final double EPS = 1e-9;

    static double sig(double z) {
        return 1.0 / (1.0 + Math.exp(-z));
    }

    static InteractionEvent.Builder event(String id, double atMin, String type, int outcome, int channel) {
        return InteractionEvent.newBuilder()
            .setEventId(id)
            .setCustomerId("c1")
            .setTenant("acme")
            .setEventTimeMs(T0 + (long) (atMin * MIN))
            .setEventType(type)
            .setOutcomeValue(outcome)
            .setChannelValue(channel)
            .addConsents("service")
            .setDescriptive(Descriptive.newBuilder().setValueTierValue(2).setChurnRisk(0.2)); // silver
    }

    static Rules.Outcome apply(PeerState st, InteractionEvent.Builder b) {
        return Rules.apply(st, new Ev(b.build()), 0);
    }

    @Test
    void triggerIdTestVectors() {
        Triggers t = new Triggers("w", "triggers");
        assertEquals("a1ebac1cccadae31d1cb534da9719df3", t.triggerId("acme", "c1", "proactive_callback", "ev-2"));
        assertEquals("058a822cfb1f0a90f9c3b0530cf3861d",
                     t.triggerId("acme", "c1", "retention_offer", "absence:checkout_abandoned:ev-7"));
    }

    @Test
    void workedExampleThreePaymentFailuresThenACooldown() {
        PeerState st = new PeerState();
        Rules.Outcome o = apply(st, event("e1", 0, "payment", OUT_FAILURE, CH_WEB));
        assertEquals(-4 + 1.5 + 0.2, o.score.z, EPS);
        assertEquals(-1, o.score.winner);
        o = apply(st, event("e2", 5, "payment", OUT_FAILURE, CH_WEB));
        assertEquals(-4 + 3.0 + 0.2, o.score.z, EPS);
        assertEquals(-1, o.score.winner, "status_update is below its threshold");
        o = apply(st, event("e3", 9, "payment", OUT_FAILURE, CH_WEB));
        assertEquals(-4 + 4.5 + 0.2, o.score.z, EPS);
        assertEquals(IV_CALLBACK, o.score.winner);
        assertEquals(CH_PHONE, o.score.channel, "the callback may only use the phone");
        assertEquals(sig(0.7) * 1.2 * 1.2, o.score.priority, EPS);
        assertEquals(3, o.score.level);
        assertEquals(T_LEVEL_PAYMENT, o.score.reasonTerm[0]);
        assertEquals(4.5, o.score.reasonContribution[0], EPS);
        // A fourth failure finds the callback in its cooldown: the status update fires.
        o = apply(st, event("e4", 10, "payment", OUT_FAILURE, CH_WEB));
        assertEquals(IV_STATUS, o.score.winner);
        assertEquals(CH_WEB, o.score.channel);
        assertEquals(sig(0.7) * 1.2 * 0.8, o.score.priority, EPS);
    }

    @Test
    void noConsentNoTrigger() {
        PeerState st = new PeerState();
        for (int i = 0; i < 3; i++)
            Rules.apply(st, new Ev(event("e" + i, i, "payment", OUT_FAILURE, CH_WEB).clearConsents().build()), 0);
        assertEquals(0, st.ledgers.size());
    }

    @Test
    void latenessCountsInsideTwoMinutesAndNothingBeyond() {
        PeerState st = new PeerState();
        apply(st, event("e1", 10, "payment", OUT_FAILURE, CH_WEB));
        Rules.Outcome o = apply(st, event("e2", 8.5, "payment", OUT_FAILURE, CH_WEB)); // 1.5 min late
        assertFalse(o.tr.late);
        assertEquals(2, o.score.counts[W_PAYMENT]);
        o = apply(st, event("e3", 7, "payment", OUT_FAILURE, CH_WEB)); // 3 min late
        assertTrue(o.tr.late);
        assertEquals(2, o.score.counts[W_PAYMENT]);
        assertEquals(-1, o.score.winner);
    }

    @Test
    void duplicateEventIdIsNotAppliedTwice() {
        PeerState st = new PeerState();
        apply(st, event("e1", 0, "payment", OUT_FAILURE, CH_WEB));
        Rules.Outcome o = apply(st, event("e1", 1, "payment", OUT_FAILURE, CH_WEB));
        assertTrue(o.duplicate);
        assertEquals(1, st.findWindow("payment_trouble").n);
    }

    @Test
    void channelHoppingWebChatPhone() {
        PeerState st = new PeerState();
        apply(st, event("w", 0, "browse", OUT_SUCCESS, CH_WEB));
        assertFalse(apply(st, event("c", 10, "chat", OUT_SUCCESS, CH_CHAT)).tr.seqDone);
        Rules.Outcome o = apply(st, event("p", 20, "call", OUT_SUCCESS, CH_PHONE));
        assertTrue(o.tr.seqDone);
        assertEquals(-4 + 3.2 + 0.2, o.score.z, EPS);
        // Too slow: more than 30 minutes from the first step starts over.
        st = new PeerState();
        apply(st, event("w", 0, "browse", OUT_SUCCESS, CH_WEB));
        apply(st, event("c", 10, "chat", OUT_SUCCESS, CH_CHAT));
        assertFalse(apply(st, event("p", 31, "call", OUT_SUCCESS, CH_PHONE)).tr.seqDone);
    }

    @Test
    void detractorDuringATrendGetsTheRetentionOffer() {
        PeerState st = new PeerState();
        for (int i = 0; i < 3; i++)
            apply(st, event("e" + i, i, "payment", OUT_FAILURE, CH_WEB).addConsents("marketing"));
        Rules.Outcome o = apply(st, event("s", 4, "survey", OUT_SUCCESS, CH_WEB).addConsents("marketing")
                                        .addSignalsValue(SIG_DETRACTOR));
        assertEquals(-4 + 4.5 + 2.2 + 0.2, o.score.z, EPS);
        assertEquals(IV_RETENTION, o.score.winner);
        assertEquals(CH_WEB, o.score.channel);
    }

    @Test
    void checkoutAbandonedFiresAtTheDeadline() {
        PeerState st = new PeerState();
        apply(st, event("ev-7", 0, "checkout", OUT_PENDING, CH_APP).addConsents("marketing"));
        PeerState.Absence[] fired = new PeerState.Absence[1];
        assertNull(Rules.expire(st, T0 + 9 * MIN, fired), "not due yet");
        Rules.Score s = Rules.expire(st, T0 + 10 * MIN, fired);
        assertNotNull(s);
        assertEquals(-4 + 4.2 + 0.2, s.z, EPS);
        assertEquals(IV_RETENTION, s.winner);
        assertEquals(CH_APP, s.channel);
        assertEquals("ev-7", fired[0].eventId);
        assertTrue(st.absences.isEmpty());
        // A payment before the deadline cancels it.
        st = new PeerState();
        apply(st, event("a", 0, "checkout", OUT_PENDING, CH_APP));
        apply(st, event("b", 3, "payment", OUT_SUCCESS, CH_APP));
        assertTrue(st.absences.isEmpty());
    }

    @Test
    void stateSurvivesTheStore() {
        PeerState st = new PeerState();
        for (int i = 0; i < 3; i++)
            apply(st, event("e" + i, i, "payment", OUT_FAILURE, CH_WEB));
        apply(st, event("k", 4, "checkout", OUT_PENDING, CH_APP));
        PeerState back = PeerState.decode(st.encode());
        assertArrayEquals(st.encode(), back.encode());
        assertEquals(1, back.ledgers.size());
        assertTrue(back.seenEvent(PeerState.eventHash("e1".getBytes(StandardCharsets.UTF_8))));
    }

    // --- validation (vg_event.c)

    static void invalid(byte[] key, byte[] value) {
        assertThrows(EventCheck.Invalid.class, () -> EventCheck.decode(key, value, T0));
    }

    @Test
    void validationRefusesWhatVigilDeadLetters() throws Exception {
        byte[] key = "c1".getBytes(StandardCharsets.UTF_8);
        byte[] ok = event("e1", 0, "payment", OUT_FAILURE, CH_WEB).build().toByteArray();
        assertEquals("e1", EventCheck.decode(key, ok, T0).getEventId());
        invalid(key, new byte[0]);
        invalid(key, new byte[] {(byte) 0xff, 0x13, 0x42, 0x00, 0x07});
        invalid("c2".getBytes(StandardCharsets.UTF_8), ok);
        invalid(key, event("e\u0000", 0, "payment", 2, 1).build().toByteArray());
        invalid(key, event("e1", 0, "payment", 2, 1).setEventTimeMs(0).build().toByteArray());
        invalid(key, event("e1", 0, "payment", 2, 1).setEventTimeMs(T0 + 2 * DAY).build().toByteArray());
        invalid(key, event("", 0, "payment", 2, 1).build().toByteArray());
        InteractionEvent.Builder many = event("e1", 0, "payment", 2, 1);
        for (int i = 0; i < 16; i++)
            many.addConsents("p" + i);
        invalid(key, many.build().toByteArray());
        // Field 1 (event_id) as a varint: protobuf-c refuses it, protobuf-java would not.
        byte[] wrongType = new byte[ok.length + 2];
        wrongType[0] = 0x08;
        wrongType[1] = 0x01;
        System.arraycopy(ok, 0, wrongType, 2, ok.length);
        invalid(key, wrongType);
    }
}
