package io.vigil.peers.kstreams;

import java.io.File;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer (issue 10): Vigil's default model in a Processor API
 * application with a persistent (RocksDB) key-value store, record cache on.
 *
 * run.sh --bootstrap HOST:PORT --events-topic T --triggers-topic T2 --app-id A
 *        --mode at_least_once|exactly_once --expect N
 *
 * Reads the events topic from the earliest offset, stops once N input records
 * are processed and the application's committed offsets cover them, and prints
 * one line on stdout:
 *   PEER name=kstreams mode=M events=N seconds=S eps=E triggers=T
 * seconds: from the first record processed to the commit seen covering all N.
 * Progress goes to stderr.
 */
public final class PeerMain {
    private PeerMain() {}

    private static void usage(String why) {
        System.err.println("kstreams peer: " + why);
        System.err.println("usage: run.sh --bootstrap HOST:PORT --events-topic T --triggers-topic T2 --app-id A"
                           + " --mode at_least_once|exactly_once --expect N");
        System.exit(2);
    }

    /** A record without a valid timestamp reads as 0 (Vigil: unknown, no stale cut-off). */
    public static final class RecordTimeOrZero implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            return Math.max(record.timestamp(), 0L);
        }
    }

    static Topology topology(String eventsTopic, String triggersTopic, PeerStats stats) {
        Topology t = new Topology();
        t.addSource(Topology.AutoOffsetReset.EARLIEST, "events", new RecordTimeOrZero(), new ByteArrayDeserializer(),
                    new ByteArrayDeserializer(), eventsTopic);
        t.addProcessor("vigil", () -> new VigilProcessor(stats, triggersTopic), "events");
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(VigilProcessor.STATE_STORE),
                                                    Serdes.String(), Serdes.ByteArray())
                            .withCachingEnabled(),
                        "vigil");
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(VigilProcessor.DUE_STORE),
                                                    Serdes.Bytes(), Serdes.ByteArray())
                            .withCachingEnabled(),
                        "vigil");
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(VigilProcessor.WM_STORE),
                                                    Serdes.Integer(), Serdes.Long())
                            .withCachingEnabled(),
                        "vigil");
        t.addSink("triggers", triggersTopic, new ByteArraySerializer(), new ByteArraySerializer(), "vigil");
        return t;
    }

    /** The triggers topic, with the events topic's partition count, if it is missing. */
    private static Map<TopicPartition, Long> prepareTopics(Admin admin, String events, String triggers)
        throws InterruptedException, ExecutionException {
        TopicDescription d = admin.describeTopics(List.of(events)).allTopicNames().get().get(events);
        int parts = d.partitions().size();
        try {
            admin.createTopics(List.of(new NewTopic(triggers, Optional.of(parts), Optional.empty()))).all().get();
            System.err.println("kstreams peer: created " + triggers + " (" + parts + " partitions)");
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException))
                throw e;
        }
        Map<TopicPartition, OffsetSpec> q = new HashMap<>();
        d.partitions().forEach(p -> q.put(new TopicPartition(events, p.partition()), OffsetSpec.earliest()));
        Map<TopicPartition, Long> earliest = new HashMap<>();
        admin.listOffsets(q).all().get().forEach((tp, r) -> earliest.put(tp, r.offset()));
        return earliest;
    }

    /**
     * An app id used before has committed offsets and changelogs: the run
     * would resume from them. Reset it the way kafka-streams-application-reset
     * does for this topology (the consumer group, then the three changelog
     * topics), so that every run reads from the earliest offset with empty
     * stores, as the CLI promises.
     */
    private static void resetIfUsed(Admin admin, String appId) throws InterruptedException, ExecutionException {
        Set<String> internal = Set.of(appId + "-" + VigilProcessor.STATE_STORE + "-changelog",
                                      appId + "-" + VigilProcessor.DUE_STORE + "-changelog",
                                      appId + "-" + VigilProcessor.WM_STORE + "-changelog");
        boolean used = !admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get().isEmpty();
        Set<String> left = new java.util.HashSet<>(admin.listTopics().names().get());
        left.retainAll(internal);
        if (!used && left.isEmpty())
            return;
        System.err.println("kstreams peer: app id " + appId + " was used before: resetting its offsets and "
                           + left.size() + " changelog topic(s)");
        if (used) {
            try {
                admin.deleteConsumerGroups(List.of(appId)).all().get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof org.apache.kafka.common.errors.GroupNotEmptyException)
                    usage("app id " + appId + " has live members (a run still going, or one that died less"
                          + " than session.timeout.ms ago): use another app id");
                throw e;
            }
        }
        if (!left.isEmpty()) {
            admin.deleteTopics(left).all().get();
            for (int i = 0; i < 300; i++) { // deletion completes asynchronously
                Set<String> now = new java.util.HashSet<>(admin.listTopics().names().get());
                now.retainAll(internal);
                if (now.isEmpty())
                    return;
                Thread.sleep(100);
            }
            throw new IllegalStateException("the changelog topics of " + appId + " are still there after 30 s");
        }
    }

    /** Records of the events topic covered by the application's committed offsets. */
    private static long committed(Admin admin, String appId, Map<TopicPartition, Long> earliest)
        throws InterruptedException, ExecutionException {
        Map<TopicPartition, OffsetAndMetadata> offs =
            admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get();
        long n = 0;
        for (Map.Entry<TopicPartition, Long> e : earliest.entrySet()) {
            OffsetAndMetadata o = offs.get(e.getKey());
            if (o != null)
                n += o.offset() - e.getValue();
        }
        return n;
    }

    /** Where the stream threads' time went, and how the fetches went (stderr). */
    private static void printMetrics(KafkaStreams streams) {
        streams.metrics().forEach((name, m) -> {
            String g = name.group(), n = name.name();
            boolean thread = g.equals("stream-thread-metrics")
                             && (n.endsWith("-ratio") || n.endsWith("-latency-avg") || n.endsWith("-rate"));
            boolean fetch = g.equals("consumer-fetch-manager-metrics") && !name.tags().containsKey("topic")
                            && !name.tags().containsKey("partition")
                            && (n.startsWith("fetch-latency") || n.startsWith("records-per-request")
                                || n.equals("fetch-rate") || n.startsWith("fetch-size"));
            if (thread || fetch)
                System.err.printf(Locale.ROOT, "metric %s %s %s = %s%n", g, n,
                                  name.tags().getOrDefault("client-id", name.tags().getOrDefault("thread-id", "")),
                                  m.metricValue());
        });
    }

    private static void deleteTree(File f) {
        File[] kids = f.listFiles();
        if (kids != null)
            for (File k : kids)
                deleteTree(k);
        f.delete();
    }

    public static void main(String[] argv) throws Exception {
        try {
            run(argv);
        } catch (ExecutionException e) { // an AdminClient call: the topic, the broker
            System.err.println("kstreams peer: " + e.getCause());
            System.exit(1);
        }
    }

    private static void run(String[] argv) throws Exception {
        Map<String, String> a = new HashMap<>();
        Set<String> names = Set.of("--bootstrap", "--events-topic", "--triggers-topic", "--app-id", "--mode", "--expect");
        for (int i = 0; i < argv.length; i += 2) {
            if (!names.contains(argv[i]) || i + 1 >= argv.length)
                usage("unexpected argument '" + argv[i] + "'");
            a.put(argv[i], argv[i + 1]);
        }
        for (String n : names)
            if (!a.containsKey(n))
                usage(n + " is required");
        String mode = a.get("--mode"), appId = a.get("--app-id");
        String events = a.get("--events-topic"), triggers = a.get("--triggers-topic");
        if (!mode.equals("at_least_once") && !mode.equals("exactly_once"))
            usage("--mode must be at_least_once or exactly_once");
        long expect = 0;
        try {
            expect = Long.parseLong(a.get("--expect"));
        } catch (NumberFormatException e) {
            usage("--expect must be a number");
        }
        if (expect < 1)
            usage("--expect must be at least 1");

        File stateDir = new File(System.getProperty("java.io.tmpdir"), "vigil-kstreams-" + appId);
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("--bootstrap"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
              mode.equals("exactly_once") ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.getPath());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // Leave the group when closed (Streams stays, to spare a rebalance on
        // restart): the group is empty as soon as the run ends, so the next
        // run can reuse or reset the app id without waiting for a timeout.
        p.put(StreamsConfig.consumerPrefix("internal.leave.group.on.close"), true);
        String threads = System.getenv("KSTREAMS_THREADS"); // default: Streams' own (1)
        if (threads != null && !threads.isEmpty())
            p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(threads));
        // Experiments only: KSTREAMS_PROPS="name=value,name=value" (Streams
        // properties, consumer./producer. prefixes allowed); unset for runs.
        String extra = System.getenv("KSTREAMS_PROPS");
        if (extra != null && !extra.isBlank())
            for (String kv : extra.split(",")) {
                int eq = kv.indexOf('=');
                if (eq < 1)
                    usage("KSTREAMS_PROPS: '" + kv + "' is not name=value");
                p.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
                System.err.println("kstreams peer: property " + kv.trim());
            }

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("--bootstrap"));
        try (Admin admin = Admin.create(ap)) {
            Map<TopicPartition, Long> earliest = prepareTopics(admin, events, triggers);
            resetIfUsed(admin, appId);
            PeerStats stats = new PeerStats(expect);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            KafkaStreams streams = new KafkaStreams(topology(events, triggers, stats), p);
            streams.setUncaughtExceptionHandler(e -> {
                failure.compareAndSet(null, e);
                return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            });
            streams.cleanUp(); // no local state left from an earlier run of this app id
            System.err.printf(Locale.ROOT, "kstreams peer: %s, app %s, %s -> %s, expecting %d records%n", mode,
                              appId, events, triggers, expect);
            streams.start();

            long lastProgress = System.nanoTime(), lastCount = -1, lastPrint = 0, end = 0, endCpu = 0;
            boolean ok = false;
            while (true) {
                Throwable f = failure.get();
                if (f != null || streams.state() == KafkaStreams.State.ERROR
                    || streams.state() == KafkaStreams.State.NOT_RUNNING) {
                    System.err.println("kstreams peer: the application stopped: " + f);
                    break;
                }
                long now = System.nanoTime(), n = stats.processed.get();
                if (n != lastCount) {
                    lastCount = n;
                    lastProgress = now;
                } else if (now - lastProgress > 300_000_000_000L) {
                    System.err.println("kstreams peer: no progress for 300 s at " + n + " records");
                    break;
                }
                if (now - lastPrint > 2_000_000_000L) {
                    lastPrint = now;
                    System.err.printf(Locale.ROOT, "kstreams peer: %d processed, %d triggers, %d invalid, %s%n", n,
                                      stats.triggers.sum(), stats.invalid.sum(), streams.state());
                }
                if (stats.done()) {
                    long c = committed(admin, appId, earliest);
                    if (c >= expect) {
                        end = System.nanoTime();
                        endCpu = PeerStats.cpuNanos();
                        ok = true;
                        break;
                    }
                    Thread.sleep(5);
                } else {
                    Thread.sleep(50);
                }
            }
            if (System.getenv("KSTREAMS_METRICS") != null)
                printMetrics(streams);
            streams.close(Duration.ofSeconds(60));
            streams.cleanUp();
            deleteTree(stateDir);
            if (!ok)
                System.exit(1);
            double secs = (end - stats.firstNanos()) / 1e9;
            double cpu = (endCpu - stats.firstCpuNanos()) / 1e9;
            System.err.printf(Locale.ROOT,
                              "kstreams peer: %d invalid records skipped, %d duplicates; process CPU %.2f s"
                                  + " (%.1f us/event, %.2f cores)%n",
                              stats.invalid.sum(), stats.duplicates.sum(), cpu, cpu * 1e6 / expect, cpu / secs);
            long rest = expect - Math.max(1, expect / 10);
            if (rest > 0 && stats.warmNanos > 0) {
                double ws = (end - stats.warmNanos) / 1e9, wc = (endCpu - stats.warmCpuNanos) / 1e9;
                System.err.printf(Locale.ROOT,
                                  "kstreams peer: after the first tenth (warm-up): %d events in %.3f s, %.0f events/s,"
                                      + " process CPU %.1f us/event%n",
                                  rest, ws, rest / ws, wc * 1e6 / rest);
            }
            System.out.printf(Locale.ROOT, "PEER name=kstreams mode=%s events=%d seconds=%.3f eps=%.0f triggers=%d%n",
                              mode, expect, secs, expect / secs, stats.triggers.sum());
            System.out.flush();
        }
        System.exit(0);
    }
}
