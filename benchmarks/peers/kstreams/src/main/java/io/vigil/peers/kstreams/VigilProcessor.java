package io.vigil.peers.kstreams;

import static io.vigil.peers.kstreams.DefaultModel.ABS_NAME;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import vigil.v1.Event.InteractionEvent;
import vigil.v1.Trigger.InterventionTrigger;

/**
 * One stream task's processor: decode and validate, load the customer's state
 * from the RocksDB store, apply the default model's rules, store, forward at
 * most one trigger per event (keyed by customer id).
 *
 * Absence deadlines follow the task's partition watermark (the highest event
 * time of its valid records), as in Vigil: a due index in its own store,
 * keyed by deadline then customer, is read only when the watermark passes the
 * earliest deadline, and a deadline fires at the first record whose watermark
 * reaches it.
 */
final class VigilProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    static final String STATE_STORE = "vigil-customers";
    static final String DUE_STORE = "vigil-due";
    static final String WM_STORE = "vigil-watermark";

    private final PeerStats stats;
    private final String triggersTopic;
    private ProcessorContext<byte[], byte[]> ctx;
    private KeyValueStore<String, byte[]> states;
    private KeyValueStore<Bytes, byte[]> due;
    private KeyValueStore<Integer, Long> wms;
    private Triggers triggers;
    private int partition = -1;
    private long watermark = -1;
    private long nextDue = Long.MAX_VALUE;
    private static final byte[] EMPTY = new byte[0];

    VigilProcessor(PeerStats stats, String triggersTopic) {
        this.stats = stats;
        this.triggersTopic = triggersTopic;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        ctx = context;
        states = context.getStateStore(STATE_STORE);
        due = context.getStateStore(DUE_STORE);
        wms = context.getStateStore(WM_STORE);
        partition = context.taskId().partition();
        triggers = new Triggers("kstreams-" + context.taskId(), triggersTopic);
        Long w = wms.get(partition);
        watermark = w == null ? -1 : w;
        try (KeyValueIterator<Bytes, byte[]> it = due.all()) {
            nextDue = it.hasNext() ? dueOf(it.next().key) : Long.MAX_VALUE;
        }
        // Once every expected record is processed, ask for a commit rather
        // than wait for commit.interval.ms (30 s in at_least_once).
        context.schedule(Duration.ofMillis(100), PunctuationType.WALL_CLOCK_TIME, t -> {
            if (stats.done())
                ctx.commit();
        });
    }

    private static String stateKey(String tenant, String customerId) {
        return tenant + '\0' + customerId;
    }

    private static Bytes dueKey(long dueMs, String stateKey) {
        byte[] k = stateKey.getBytes(StandardCharsets.UTF_8);
        return Bytes.wrap(ByteBuffer.allocate(8 + k.length).putLong(dueMs).put(k).array());
    }

    private static long dueOf(Bytes key) {
        return ByteBuffer.wrap(key.get()).getLong(0);
    }

    private static String stateKeyOf(Bytes key) {
        byte[] b = key.get();
        return new String(b, 8, b.length - 8, StandardCharsets.UTF_8);
    }

    private static long pendingDue(PeerState st) {
        PeerState.Absence a = st.absence(ABS_NAME);
        return a == null ? -1 : a.dueMs;
    }

    /** Keep the due index in step with the customer's pending absence. */
    private void indexDue(String key, long before, long after) {
        if (before == after)
            return;
        if (before >= 0)
            due.delete(dueKey(before, key));
        if (after >= 0) {
            due.put(dueKey(after, key), EMPTY);
            nextDue = Math.min(nextDue, after);
        }
    }

    @Override
    public void process(Record<byte[], byte[]> rec) {
        RecordMetadata md = ctx.recordMetadata().orElseThrow();
        long recordMs = rec.timestamp() > 0 ? rec.timestamp() : 0;
        InteractionEvent raw;

        stats.started();
        try {
            raw = EventCheck.decode(rec.key(), rec.value(), recordMs);
        } catch (EventCheck.Invalid e) {
            stats.invalid.increment(); // Vigil dead-letters it; it moves nothing
            stats.processed();
            return;
        }
        DefaultModel.Ev ev = new DefaultModel.Ev(raw);
        long t = raw.getEventTimeMs();
        if (t > watermark) {
            watermark = t;
            wms.put(partition, watermark);
        }
        // Deadlines the watermark passed fire first (this customer's too).
        fireDue(md);

        String key = stateKey(raw.getTenant(), raw.getCustomerId());
        PeerState st = PeerState.decode(states.get(key));
        long dueBefore = pendingDue(st);
        Rules.Outcome out = Rules.apply(st, ev, recordMs);
        if (out.duplicate) {
            stats.duplicates.increment();
        } else {
            if (out.score.winner >= 0) {
                InterventionTrigger trig =
                    triggers.encode(st, raw.getTenant(), raw.getCustomerId(), raw.getEventId(), raw.getEventId(),
                                    ev.channel, t, out.score, out.tr.seqDone, md.topic(), md.partition(),
                                    md.offset());
                emit(raw.getCustomerIdBytes().toByteArray(), trig);
            }
            // A deadline this event set that the watermark already passed
            // (a late start) fires at this record.
            if (pendingDue(st) >= 0 && pendingDue(st) <= watermark)
                expire(st, raw.getTenant(), raw.getCustomerId(), md);
            indexDue(key, dueBefore, pendingDue(st));
            states.put(key, st.encode());
        }
        stats.processed();
        if (stats.done())
            ctx.commit();
    }

    private void emit(byte[] customerId, InterventionTrigger trig) {
        ctx.forward(new Record<>(customerId, trig.toByteArray(), System.currentTimeMillis()));
        stats.triggers.increment();
    }

    /** Resolve st's deadlines up to the watermark; forward the trigger, if any. */
    private void expire(PeerState st, String tenant, String customerId, RecordMetadata md) {
        PeerState.Absence[] fired = new PeerState.Absence[1];
        Rules.Score s = Rules.expire(st, watermark, fired);
        if (s == null || s.winner < 0)
            return;
        PeerState.Absence a = fired[0];
        InterventionTrigger trig =
            triggers.encode(st, tenant, customerId, "absence:" + a.name + ":" + a.eventId, a.eventId, a.channel,
                            a.dueMs, s, false, md.topic(), md.partition(), md.offset());
        emit(customerId.getBytes(StandardCharsets.UTF_8), trig);
    }

    /** Every customer whose deadline is at or before the watermark, at this record. */
    private void fireDue(RecordMetadata md) {
        if (watermark < nextDue)
            return;
        List<Bytes> keys = new ArrayList<>();
        nextDue = Long.MAX_VALUE;
        try (KeyValueIterator<Bytes, byte[]> it = due.all()) {
            while (it.hasNext()) {
                KeyValue<Bytes, byte[]> kv = it.next();
                long d = dueOf(kv.key);
                if (d > watermark) {
                    nextDue = d;
                    break;
                }
                keys.add(kv.key);
            }
        }
        for (Bytes k : keys) {
            String key = stateKeyOf(k);
            due.delete(k);
            PeerState st = PeerState.decode(states.get(key));
            int nul = key.indexOf('\0');
            expire(st, key.substring(0, nul), key.substring(nul + 1), md);
            long after = pendingDue(st);
            if (after >= 0) // cannot be due: it was resolved
                indexDue(key, -1, after);
            states.put(key, st.encode());
        }
    }
}
