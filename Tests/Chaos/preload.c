// The fake V4L2 camera as an LD_PRELOAD object, for chaos tests of the shipped binary:
//
//   cc -shared -fPIC -O2 -I Tests/FakeV4L2/include -o fakev4l2.so
//      Tests/FakeV4L2/fakev4l2.c Tests/Chaos/preload.c -ldl -lpthread
//   LD_PRELOAD=$PWD/fakev4l2.so FAKEV4L2_DEVICE=/dev/fake-video0 FAKEV4L2_JPEG=part.jpg
//      linesight serve --config line.toml
//
// The device is configured from the environment when the process starts:
//   FAKEV4L2_DEVICE        path the fake answers for (nothing is faked without it)
//   FAKEV4L2_FORMATS       fourccs offered, comma-separated (default MJPG)
//   FAKEV4L2_SIZE          WxH (default 640x480)
//   FAKEV4L2_FPS           frame pacing (default 30)
//   FAKEV4L2_JPEG          file whose bytes every MJPEG frame carries
//   FAKEV4L2_UNPLUG_AFTER, FAKEV4L2_REPLUG_AFTER_MS, FAKEV4L2_STALL_AFTER,
//   FAKEV4L2_CORRUPT_EVERY, FAKEV4L2_DROP_EVERY   the fakev4l2_config fault fields
//   FAKEV4L2_CONTROL       a file the test appends commands to, one a line, each run once:
//                            present 0        unplug between frames
//                            present 1        plug in again (controls back to defaults)
//                            unplug-midframe  unplug after the next dequeue, before its QBUF
//                            fail N           DQBUF fails with EIO after N more frames,
//                                             until the device is reopened
//   FAKEV4L2_STATS         a file rewritten atomically (write, rename) with the counters,
//                          one "name value" a line
// A watcher thread reads the control file and writes the stats every WATCH_MS.
#define _GNU_SOURCE
#include "fakev4l2.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MS 20

static char device[256], control_path[512], stats_path[512];
static off_t control_offset;
static char pending[512];  // a command line not yet complete
static size_t pending_len;

static int env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

static void copy_env(char *dst, size_t size, const char *name) {
    const char *v = getenv(name);
    if (v) snprintf(dst, size, "%s", v);
}

/// Reads a whole file into a new buffer; NULL if it cannot.
static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) { cap = cap ? cap * 2 : 65536; buf = realloc(buf, cap); }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *size = n;
    return buf;
}

/// "MJPG,YUYV" -> fourccs.
static int parse_formats(const char *list, uint32_t out[4]) {
    int n = 0;
    for (const char *p = list; *p && n < 4;) {
        if (strlen(p) < 4) break;
        out[n++] = v4l2_fourcc(p[0], p[1], p[2], p[3]);
        p += 4;
        while (*p == ',' || *p == ' ') p++;
    }
    return n;
}

static void apply(const char *line) {
    int n;
    if (sscanf(line, "present %d", &n) == 1) {
        if (n) fakev4l2_set_present(device, 1); else fakev4l2_unplug_between_frames(device);
    } else if (strcmp(line, "unplug-midframe") == 0) {
        fakev4l2_unplug_after_next_dequeue(device);
    } else if (sscanf(line, "fail %d", &n) == 1) {
        fakev4l2_fail_after(device, n);
    } else {
        fprintf(stderr, "fakev4l2: unknown control command '%s'\n", line);
    }
}

/// Runs the complete lines appended to the control file since the last look.
static void read_control(void) {
    if (!control_path[0]) return;
    int fd = open(control_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[4096];
    ssize_t got;
    while ((got = pread(fd, buf, sizeof buf, control_offset)) > 0) {
        control_offset += got;
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                pending[pending_len] = 0;
                if (pending_len) apply(pending);
                pending_len = 0;
            } else if (pending_len < sizeof pending - 1) {
                pending[pending_len++] = buf[i];
            }
        }
    }
    close(fd);
}

static void write_stats(void) {
    if (!stats_path[0]) return;
    struct fakev4l2_stats s = fakev4l2_stats(device);
    char tmp[600], text[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", stats_path);
    int len = snprintf(text, sizeof text,
        "opens %d\nstreamons %d\nframes %ld\nexposure %d\ngain %d\npresent %d\ndouble_closes %d\n"
        "failed_dequeues %ld\nunplugged_at_ms %lld\nplugged_at_ms %lld\nstreamon_at_ms %lld\ntrigger_mode %d\nstrobe %d\n",
        s.opens, s.streamons, s.frames, s.exposure, s.gain, s.present, s.double_closes,
        s.failed_dequeues, s.unplugged_at_ms, s.plugged_at_ms, s.streamon_at_ms, s.trigger_mode, s.strobe);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    int ok = write(fd, text, (size_t)len) == len;
    close(fd);
    if (ok) rename(tmp, stats_path);
}

static void *watch(void *arg) {
    (void)arg;
    struct timespec tick = { 0, WATCH_MS * 1000000L };
    for (;;) {
        read_control();
        write_stats();
        nanosleep(&tick, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void fakev4l2_preload_start(void) {
    copy_env(device, sizeof device, "FAKEV4L2_DEVICE");
    if (!device[0]) return;
    copy_env(control_path, sizeof control_path, "FAKEV4L2_CONTROL");
    copy_env(stats_path, sizeof stats_path, "FAKEV4L2_STATS");

    struct fakev4l2_config c;
    memset(&c, 0, sizeof c);
    const char *formats = getenv("FAKEV4L2_FORMATS");
    c.format_count = parse_formats(formats && *formats ? formats : "MJPG", c.formats);
    c.width = 640; c.height = 480;
    const char *size = getenv("FAKEV4L2_SIZE");
    if (size) sscanf(size, "%ux%u", &c.width, &c.height);
    c.fps = env_int("FAKEV4L2_FPS", 30);
    c.unplug_after = env_int("FAKEV4L2_UNPLUG_AFTER", -1);
    c.replug_after_ms = env_int("FAKEV4L2_REPLUG_AFTER_MS", -1);
    c.stall_after = env_int("FAKEV4L2_STALL_AFTER", -1);
    c.corrupt_every = env_int("FAKEV4L2_CORRUPT_EVERY", 0);
    c.drop_every = env_int("FAKEV4L2_DROP_EVERY", 0);
    c.trigger_controls = env_int("FAKEV4L2_TRIGGER_CONTROLS", 0);
    uint8_t *jpeg = NULL;
    const char *jpeg_path = getenv("FAKEV4L2_JPEG");
    if (jpeg_path && *jpeg_path) {
        jpeg = slurp(jpeg_path, &c.jpeg_size);
        if (!jpeg) fprintf(stderr, "fakev4l2: cannot read FAKEV4L2_JPEG %s\n", jpeg_path);
        c.jpeg = jpeg;
    }
    if (c.format_count == 0 || c.width == 0 || c.height == 0 || c.fps <= 0) {
        fprintf(stderr, "fakev4l2: bad FAKEV4L2_FORMATS, FAKEV4L2_SIZE or FAKEV4L2_FPS; no fake device\n");
        free(jpeg);
        return;
    }
    fakev4l2_install(device, &c);  // copies the JPEG
    free(jpeg);
    write_stats();
    pthread_t thread;
    if (pthread_create(&thread, NULL, watch, NULL) == 0) pthread_detach(thread);
}

/// The last counters on a normal exit (the watcher may not have run since the last frame).
__attribute__((destructor)) static void fakev4l2_preload_stop(void) {
    if (device[0]) write_stats();
}
