package io.vigil.peers.kstreams;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Counters shared by the stream threads' processors and the main thread. */
final class PeerStats {
    final long expect;
    final AtomicLong processed = new AtomicLong();
    final LongAdder triggers = new LongAdder();
    final LongAdder invalid = new LongAdder();
    final LongAdder duplicates = new LongAdder();
    private final AtomicLong firstNanos = new AtomicLong();
    private volatile long firstCpuNanos;

    PeerStats(long expect) {
        this.expect = expect;
    }

    /** The first record processed starts the clock. */
    void started() {
        if (firstNanos.get() == 0 && firstNanos.compareAndSet(0, System.nanoTime()))
            firstCpuNanos = cpuNanos();
    }

    /** CPU time of the whole process (every thread: stream, producer, RocksDB, GC). */
    static long cpuNanos() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean
                   ? ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime()
                   : 0;
    }

    long firstCpuNanos() {
        return firstCpuNanos;
    }

    long firstNanos() {
        return firstNanos.get();
    }

    void processed() {
        if (processed.incrementAndGet() == Math.max(1, expect / 10)) {
            warmNanos = System.nanoTime();
            warmCpuNanos = cpuNanos();
        }
    }

    /** When the first tenth of the records was processed (JIT warm-up, joining the group: the
     *  part vg_bench_e2e leaves out of Vigil's own figure). */
    volatile long warmNanos, warmCpuNanos;

    boolean done() {
        return processed.get() >= expect;
    }
}
