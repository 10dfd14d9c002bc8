package io.vigil.peers.kstreams;

import com.google.protobuf.InvalidProtocolBufferException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import vigil.v1.Event.Descriptive;
import vigil.v1.Event.InteractionEvent;

/**
 * Decode and validate one record the way Vigil does (workers/core/vg_event.c,
 * docs/triggers.md "Input limits"): a record that fails here is skipped (Vigil
 * dead-letters it). Two passes, as in Vigil: a walk over the encoded bytes for
 * what a decoder cannot show (text rules, repeated-field counts, wire types that
 * protobuf-c refuses but protobuf-java would keep as unknown fields), then the
 * decoded fields (required ids, time and range limits, key = customer id).
 */
final class EventCheck {
    static final int ID_MAX = 128;
    static final int SEGMENT_MAX = 64;
    static final int MAX_CONSENTS = 16;
    static final int PURPOSE_MAX = 48;
    static final int MAX_SIGNALS = 16;
    static final int MAX_ATTRIBUTES = 32;
    static final int ATTR_KEY_MAX = 64;
    static final int ATTR_VALUE_MAX = 256;
    static final int MAX_BYTES = 65536;
    static final long MIN_TIME_MS = 946684800000L; // 2000-01-01
    static final long MAX_TIME_MS = 4102444800000L; // 2100-01-01
    static final long MAX_FUTURE_MS = 86400000L; // event.max_future_ms default

    private EventCheck() {}

    /** Why a record is refused; the message names the field, like Vigil's. */
    static final class Invalid extends Exception {
        Invalid(String msg) {
            super(msg, null, false, false);
        }
    }

    /**
     * The decoded event, or Invalid. key may be null (no key: not checked);
     * recordMs is the record's timestamp (0 or less: unknown).
     */
    static InteractionEvent decode(byte[] key, byte[] value, long recordMs) throws Invalid {
        InteractionEvent ev;

        if (value == null || value.length == 0)
            throw new Invalid("empty payload");
        if (value.length > MAX_BYTES)
            throw new Invalid("record value of " + value.length + " bytes, larger than " + MAX_BYTES);
        checkWire(value);
        try {
            ev = InteractionEvent.parseFrom(value);
        } catch (InvalidProtocolBufferException e) {
            throw new Invalid("payload of " + value.length + " bytes is not a vigil.v1.InteractionEvent");
        }
        validate(ev, recordMs > 0 ? recordMs + MAX_FUTURE_MS : 0);
        if (key != null && !Arrays.equals(key, ev.getCustomerIdBytes().toByteArray()))
            throw new Invalid("record key does not match field \"customer_id\"");
        return ev;
    }

    // --- text: valid UTF-8, no overlong forms or surrogates, no NUL, no C0/DEL/C1

    static boolean textOk(byte[] s, int off, int n) {
        int i = off, end = off + n;

        while (i < end) {
            int c = s[i] & 0xff, need, lo = 0x80, hi = 0xbf;
            if (c < 0x80) {
                if (c < 0x20 || c == 0x7f)
                    return false;
                i++;
                continue;
            }
            if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                need = 2;
                if (c == 0xe0)
                    lo = 0xa0;
                else if (c == 0xed)
                    hi = 0x9f;
            } else if (c >= 0xf0 && c <= 0xf4) {
                need = 3;
                if (c == 0xf0)
                    lo = 0x90;
                else if (c == 0xf4)
                    hi = 0x8f;
            } else {
                return false;
            }
            if (end - i <= need)
                return false;
            int c1 = s[i + 1] & 0xff;
            if (c1 < lo || c1 > hi)
                return false;
            for (int k = 2; k <= need; k++)
                if ((s[i + k] & 0xc0) != 0x80)
                    return false;
            if (c == 0xc2 && c1 <= 0x9f)
                return false; // C1 controls
            i += need + 1;
        }
        return true;
    }

    private static void text(String field, byte[] s, int off, int n, int max) throws Invalid {
        if (n > max)
            throw new Invalid("field \"" + field + "\": " + n + " bytes, longer than " + max);
        if (!textOk(s, off, n))
            throw new Invalid("field \"" + field + "\": invalid text");
    }

    // --- wire walk (vg_event_check_wire), with protobuf-c's strict wire types

    /** A cursor over one encoded message. */
    private static final class Wire {
        final byte[] b;
        int p;
        final int end;
        int number, type, dataOff, dataLen;

        Wire(byte[] b, int off, int len) {
            this.b = b;
            this.p = off;
            this.end = off + len;
        }

        long varint() throws Invalid {
            long r = 0;
            for (int s = 0; s < 64 && p < end; s += 7) {
                int x = b[p++] & 0xff;
                r |= (long) (x & 0x7f) << s;
                if ((x & 0x80) == 0)
                    return r;
            }
            throw new Invalid("malformed protobuf");
        }

        /** true: a field; false: the end. */
        boolean next() throws Invalid {
            if (p >= end)
                return false;
            long tag = varint();
            number = (int) (tag >>> 3);
            type = (int) (tag & 7);
            dataOff = p;
            dataLen = 0;
            switch (type) {
            case 0:
                varint();
                return true;
            case 1:
            case 5: {
                int k = type == 1 ? 8 : 4;
                if (end - p < k)
                    throw new Invalid("malformed protobuf");
                p += k;
                return true;
            }
            case 2: {
                long v = varint();
                if (v < 0 || v > end - p)
                    throw new Invalid("malformed protobuf");
                dataOff = p;
                dataLen = (int) v;
                p += (int) v;
                return true;
            }
            default:
                throw new Invalid("malformed protobuf"); // groups: not proto3
            }
        }

        void expect(int t) throws Invalid {
            if (type != t)
                throw new Invalid("payload is not a vigil.v1.InteractionEvent (wire type of field " + number + ")");
        }
    }

    private static final String[] NAMES = {null, "event_id", "customer_id", "tenant", null, null, "event_type",
                                           null, "error_code"};

    static void checkWire(byte[] buf) throws Invalid {
        Wire w = new Wire(buf, 0, buf.length);
        int nConsents = 0, nSignals = 0, nAttributes = 0;

        while (w.next()) {
            switch (w.number) {
            case 1:
            case 2:
            case 3:
            case 6:
            case 8:
                w.expect(2);
                text(NAMES[w.number], buf, w.dataOff, w.dataLen, ID_MAX);
                break;
            case 4:
            case 5:
            case 7:
                w.expect(0);
                break;
            case 9: // signals: packed, or one varint per entry
                if (w.type == 2) {
                    for (int i = 0; i < w.dataLen; i++)
                        if ((buf[w.dataOff + i] & 0x80) == 0)
                            nSignals++;
                } else {
                    w.expect(0);
                    nSignals++;
                }
                break;
            case 10:
                w.expect(2);
                if (++nConsents > MAX_CONSENTS)
                    throw new Invalid("field \"consents\": more than " + MAX_CONSENTS + " entries");
                if (w.dataLen == 0)
                    throw new Invalid("field \"consents[" + (nConsents - 1) + "]\": empty purpose");
                text("consents", buf, w.dataOff, w.dataLen, PURPOSE_MAX);
                break;
            case 11:
                w.expect(2);
                checkDescriptive(buf, w.dataOff, w.dataLen);
                break;
            case 12:
                w.expect(2);
                if (++nAttributes > MAX_ATTRIBUTES)
                    throw new Invalid("field \"attributes\": more than " + MAX_ATTRIBUTES + " entries");
                checkAttribute(nAttributes - 1, buf, w.dataOff, w.dataLen);
                break;
            default:
                break; // unknown fields are ignored, as proto3 readers do
            }
            if (nSignals > MAX_SIGNALS)
                throw new Invalid("field \"signals\": more than " + MAX_SIGNALS + " entries");
        }
    }

    private static void checkDescriptive(byte[] buf, int off, int len) throws Invalid {
        Wire w = new Wire(buf, off, len);

        while (w.next()) {
            switch (w.number) {
            case 1:
            case 2:
                w.expect(0);
                break;
            case 3:
                w.expect(2);
                text("descriptive.segment", buf, w.dataOff, w.dataLen, SEGMENT_MAX);
                break;
            case 4:
            case 5:
                w.expect(1);
                break;
            default:
                break;
            }
        }
    }

    private static void checkAttribute(int idx, byte[] buf, int off, int len) throws Invalid {
        Wire w = new Wire(buf, off, len);
        boolean hasKey = false;

        while (w.next()) {
            if (w.number != 1 && w.number != 2)
                continue;
            w.expect(2);
            hasKey |= w.number == 1 && w.dataLen > 0;
            text("attributes[" + idx + "]." + (w.number == 1 ? "key" : "value"), buf, w.dataOff, w.dataLen,
                 w.number == 1 ? ATTR_KEY_MAX : ATTR_VALUE_MAX);
        }
        if (!hasKey)
            throw new Invalid("field \"attributes[" + idx + "].key\": required but empty");
    }

    // --- fields (vg_event_validate)

    private static void id(String field, String v) throws Invalid {
        if (v.isEmpty())
            throw new Invalid("field \"" + field + "\": required but empty");
        if (v.getBytes(StandardCharsets.UTF_8).length > ID_MAX)
            throw new Invalid("field \"" + field + "\": longer than " + ID_MAX);
    }

    static void validate(InteractionEvent ev, long notAfterMs) throws Invalid {
        id("event_id", ev.getEventId());
        id("customer_id", ev.getCustomerId());
        id("tenant", ev.getTenant());
        id("event_type", ev.getEventType());
        long t = ev.getEventTimeMs();
        if (t < MIN_TIME_MS || t > MAX_TIME_MS)
            throw new Invalid("field \"event_time_ms\": " + t + " is not a plausible Unix time in ms");
        if (notAfterMs > 0 && t > notAfterMs)
            throw new Invalid("field \"event_time_ms\": " + t + " is after the record's timestamp plus a day");
        if (ev.getConsentsCount() > MAX_CONSENTS || ev.getSignalsCount() > MAX_SIGNALS
            || ev.getAttributesCount() > MAX_ATTRIBUTES)
            throw new Invalid("too many entries");
        for (int i = 0; i < ev.getConsentsCount(); i++) {
            int n = ev.getConsentsBytes(i).size();
            if (n == 0 || n > PURPOSE_MAX)
                throw new Invalid("field \"consents[" + i + "]\": " + n + " bytes, not in 1.." + PURPOSE_MAX);
        }
        if (ev.hasDescriptive()) {
            Descriptive d = ev.getDescriptive();
            double c = d.getChurnRisk(), r = d.getRevenueWeight();
            if (!(c >= 0.0 && c <= 1.0))
                throw new Invalid("field \"descriptive.churn_risk\": " + c + " not in [0,1]");
            if (!(r >= 0.0 && r <= 1000.0))
                throw new Invalid("field \"descriptive.revenue_weight\": " + r + " not in [0,1000]");
        }
    }
}
