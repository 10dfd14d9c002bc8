package io.vigil.peers.kstreams;

import static io.vigil.peers.kstreams.DefaultModel.ABS_NAME;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.apache.kafka.common.utils.Bytes;
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
    // The deadlines in the due index, counted by time: the index is read
    // only when the watermark has passed the earliest (rebuilt from the
    // store when the task starts).
    private final TreeMap<Long, Integer> dueCounts = new TreeMap<>();
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
            while (it.hasNext())
                dueCounts.merge(dueOf(it.next().key), 1, Integer::sum);
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
        if (before >= 0) {
            due.delete(dueKey(before, key));
            dueCounts.computeIfPresent(before, (d, n) -> n > 1 ? n - 1 : null);
        }
        if (after >= 0) {
            due.put(dueKey(after, key), EMPTY);
            dueCounts.merge(after, 1, Integer::sum);
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
        if (dueCounts.isEmpty() || dueCounts.firstKey() > watermark)
            return;
        List<Bytes> keys = new ArrayList<>();
        // Keys sort by deadline (big-endian, positive). The range starts at
        // the earliest pending deadline: below it are only deleted keys,
        // which the record cache (until its next flush) and RocksDB (as
        // tombstones) would otherwise walk through on every read. The 8-byte
        // key of watermark + 1 sorts before every key of that deadline.
        Bytes from = Bytes.wrap(ByteBuffer.allocate(8).putLong(dueCounts.firstKey()).array());
        Bytes to = Bytes.wrap(ByteBuffer.allocate(8).putLong(watermark + 1).array());
        try (KeyValueIterator<Bytes, byte[]> it = due.range(from, to)) {
            while (it.hasNext())
                keys.add(it.next().key);
        }
        for (Bytes k : keys) {
            String key = stateKeyOf(k);
            due.delete(k);
            dueCounts.computeIfPresent(dueOf(k), (d, n) -> n > 1 ? n - 1 : null);
            PeerState st = PeerState.decode(states.get(key));
            int nul = key.indexOf('\0');
            expire(st, key.substring(0, nul), key.substring(nul + 1), md);
            // The model has one absence, so the customer has nothing pending now.
            states.put(key, st.encode());
        }
    }
}
