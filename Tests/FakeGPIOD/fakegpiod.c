// A fake libgpiod (v1 API) for tests, loaded with LD_PRELOAD in front of the real library:
// the chip named by FAKEGPIOD_CHIP with FAKEGPIOD_LINES lines (default 32). Every value a
// line is set to is appended to FAKEGPIOD_LOG as "offset value monotonic-ns" (the physical
// level: active-low inverted), so a test reads pulses and their timing as a scope would.
// No kernel gpio-sim is needed; the daemon runs its real code down to these calls.
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
    if (line) line->requested = 0;
}
