/*
 * vg_time.h - the clocks, written once. The pure core never reads them
 * (its time is event time); the service uses the monotonic clock for
 * durations and the wall clock where Kafka's CreateTime is compared.
 */
#ifndef VG_TIME_H
#define VG_TIME_H

#include <stdint.h>
#include <time.h>

/* Monotonic microseconds, for durations. */
static inline uint64_t vg_time_mono_us(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wall-clock microseconds and milliseconds (the clock librdkafka stamps
 * CreateTime with). */
static inline int64_t vg_time_wall_us(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t vg_time_wall_ms(void) { return vg_time_wall_us() / 1000; }

/* Sleep us microseconds (interrupted sleeps end early). */
static inline void vg_time_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

    nanosleep(&ts, NULL);
}

#endif
