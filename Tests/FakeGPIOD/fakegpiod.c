// A fake libgpiod (v1 API) for tests, loaded with LD_PRELOAD in front of the real library:
// the chip named by FAKEGPIOD_CHIP with FAKEGPIOD_LINES lines (default 32). Every value a
// line is set to is appended to FAKEGPIOD_LOG as "offset value monotonic-ns" (the physical
// level: active-low inverted), so a test reads pulses and their timing as a scope would.
// No kernel gpio-sim is needed; the daemon runs its real code down to these calls.
// Inputs: a line requested for edge events reads its level from FAKEGPIOD_INPUT, a file the
// test appends "offset level [monotonic-ns]" lines to (a photo-eye switching); each change of
// level is an edge, queued with its time (the line's, else when it is read) as the kernel
// would, and reported if the request
// asked for that edge. A request's bias is logged as "bias offset up|down|none".
#define _GNU_SOURCE
#include <errno.h>
#include <gpiod.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gpiod_line {
    unsigned int offset;
    int requested;
    int active_low;
    int value;
    int edges;  // events asked for: 1 rising, 2 falling, 3 both (0: an output)
    int level;  // the input's current level
    struct gpiod_line_event queue[64];
    int head, count;
};

struct gpiod_chip {
    unsigned int count;
    struct gpiod_line lines[128];
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(const struct gpiod_line *line, int level) {
    const char *path = getenv("FAKEGPIOD_LOG");
    if (!path) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&log_lock);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%u %d %lld\n", line->offset, level, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
        fclose(f);
    }
    pthread_mutex_unlock(&log_lock);
}

struct gpiod_chip *gpiod_chip_open_lookup(const char *descr) {
    const char *name = getenv("FAKEGPIOD_CHIP");
    if (!descr || !name || strcmp(descr, name) != 0) { errno = ENOENT; return NULL; }
    struct gpiod_chip *chip = calloc(1, sizeof *chip);
    if (!chip) { errno = ENOMEM; return NULL; }
    const char *lines = getenv("FAKEGPIOD_LINES");
    chip->count = lines ? (unsigned int)atoi(lines) : 32;
    if (chip->count > 128) chip->count = 128;
    for (unsigned int i = 0; i < chip->count; i++) chip->lines[i].offset = i;
    return chip;
}

void gpiod_chip_close(struct gpiod_chip *chip) { free(chip); }

struct gpiod_line *gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset) {
    if (!chip || offset >= chip->count) { errno = EINVAL; return NULL; }
    return &chip->lines[offset];
}

int gpiod_line_request_output_flags(struct gpiod_line *line, const char *consumer, int flags, int default_val) {
    (void)consumer;
    if (!line) { errno = EINVAL; return -1; }
    if (line->requested) { errno = EBUSY; return -1; }
    line->requested = 1;
    line->active_low = (flags & GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) != 0;
    line->value = default_val ? 1 : 0;
    record(line, line->active_low ? !line->value : line->value);
    return 0;
}

int gpiod_line_set_value(struct gpiod_line *line, int value) {
    if (!line || !line->requested) { errno = EPERM; return -1; }
    line->value = value ? 1 : 0;
    record(line, line->active_low ? !line->value : line->value);
    return 0;
}

void gpiod_line_release(struct gpiod_line *line) {
    if (line) { line->requested = 0; line->edges = 0; line->count = 0; }
}

static pthread_mutex_t input_lock = PTHREAD_MUTEX_INITIALIZER;
static long input_offset;

static void log_bias(const struct gpiod_line *line, int flags) {
    const char *path = getenv("FAKEGPIOD_LOG");
    if (!path) return;
    pthread_mutex_lock(&log_lock);
    FILE *f = fopen(path, "a");
    if (f) {
        const char *bias = flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP ? "up" : flags & GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN ? "down" : "none";
        fprintf(f, "bias %u %s\n", line->offset, bias);
        fclose(f);
    }
    pthread_mutex_unlock(&log_lock);
}

static int request_events(struct gpiod_line *line, int flags, int edges) {
    if (!line) { errno = EINVAL; return -1; }
    if (line->requested) { errno = EBUSY; return -1; }
    line->requested = 1;
    line->edges = edges;
    line->level = 0;
    line->head = line->count = 0;
    log_bias(line, flags);
    return 0;
}

int gpiod_line_request_rising_edge_events_flags(struct gpiod_line *line, const char *consumer, int flags) {
    (void)consumer; return request_events(line, flags, 1);
}
int gpiod_line_request_falling_edge_events_flags(struct gpiod_line *line, const char *consumer, int flags) {
    (void)consumer; return request_events(line, flags, 2);
}
int gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer, int flags) {
    (void)consumer; return request_events(line, flags, 3);
}

/// Reads the input file's new lines: level changes of `line` become queued edges.
static void read_inputs(struct gpiod_line *line) {
    const char *path = getenv("FAKEGPIOD_INPUT");
    if (!path) return;
    pthread_mutex_lock(&input_lock);
    FILE *f = fopen(path, "r");
    if (f) {
        fseek(f, input_offset, SEEK_SET);
        char text[64];
        while (fgets(text, sizeof text, f)) {
            if (!strchr(text, '\n')) break;  // a line still being written: next time
            input_offset = ftell(f);
            unsigned int offset; int level; long long at = 0;
            int fields = sscanf(text, "%u %d %lld", &offset, &level, &at);
            if (fields < 2 || offset != line->offset) continue;
            level = level ? 1 : 0;
            if (level == line->level) continue;
            line->level = level;
            int want = level ? 1 : 2;
            if (!(line->edges & want) || line->count == 64) continue;
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (fields == 3) { now.tv_sec = at / 1000000000LL; now.tv_nsec = at % 1000000000LL; }  // when the test made the edge
            struct gpiod_line_event *e = &line->queue[(line->head + line->count) % 64];
            e->ts = now;
            e->event_type = level ? GPIOD_LINE_EVENT_RISING_EDGE : GPIOD_LINE_EVENT_FALLING_EDGE;
            line->count++;
        }
        fclose(f);
    }
    pthread_mutex_unlock(&input_lock);
}

int gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout) {
    if (!line || !line->edges) { errno = EPERM; return -1; }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long long limit = timeout ? (long long)timeout->tv_sec * 1000000000LL + timeout->tv_nsec : 0;
    for (;;) {
        read_inputs(line);
        if (line->count) return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec) >= limit) return 0;
        struct timespec tick = {0, 1000000};
        nanosleep(&tick, NULL);
    }
}

int gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event) {
    if (!line || !line->edges || !event) { errno = EINVAL; return -1; }
    if (!line->count) { errno = EAGAIN; return -1; }
    *event = line->queue[line->head];
    line->head = (line->head + 1) % 64;
    line->count--;
    return 0;
}
