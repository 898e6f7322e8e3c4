#define _GNU_SOURCE
#include "fakev4l2.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 16
#define MAX_BUFFERS 32
#define CID_EXPOSURE V4L2_CID_EXPOSURE_ABSOLUTE
#define CID_GAIN V4L2_CID_GAIN
#define CID_TRIGGER (V4L2_CID_CAMERA_CLASS_BASE + 0x100)
#define CID_STROBE (V4L2_CID_CAMERA_CLASS_BASE + 0x101)

struct device {
    char path[256];
    struct fakev4l2_config config;
    uint8_t *jpeg;
    uint8_t *raw;
    int present;
    long long unplugged_at_ns;
    // the open file (one at a time, like most UVC drivers allow)
    int fd;
    uint32_t format, width, height, bytesperline, sizeimage;
    int buffer_count;
    int queued[MAX_BUFFERS];
    int streaming;
    long long next_frame_ns;
    long frames_this_open;
    uint32_t sequence;
    // stats and controls
    struct fakev4l2_stats stats;
    // faults armed at run time
    unsigned generation;      // changes on install and remove (tells devices in one slot apart)
    int unplug_pending;       // unplug once no dequeued buffer is in the application's hands
    int unplug_after_dequeue; // unplug right after the next dequeue
    int fail_countdown;       // frames before DQBUF fails with EIO (<0: never; 0: failing)
};

static struct device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned generations;

/// Buffers start on page boundaries, as real drivers' mmap offsets do.
static off_t stride_of(const struct device *d);

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct device *by_path(const char *path) {
    if (!path) return NULL;
    for (int i = 0; i < MAX_DEVICES; i++)
        if (devices[i].path[0] && strcmp(devices[i].path, path) == 0) return &devices[i];
    return NULL;
}

static struct device *by_fd(int fd) {
    if (fd < 0) return NULL;
    for (int i = 0; i < MAX_DEVICES; i++)
        if (devices[i].path[0] && devices[i].fd == fd) return &devices[i];
    return NULL;
}

static void reset_controls(struct device *d) {
    d->stats.exposure = 156;  // what a camera falls back to after a power cycle
    d->stats.gain = 0;
    d->stats.trigger_mode = 0;
    d->stats.strobe = 0;
}

/// Buffers the application has dequeued and not yet queued again.
static int held(const struct device *d) {
    if (!d->streaming) return 0;
    int n = d->buffer_count;
    for (int i = 0; i < d->buffer_count; i++) n -= d->queued[i];
    return n;
}

static void unplug(struct device *d) {
    d->present = 0;
    d->unplugged_at_ns = now_ns();
    d->unplug_pending = 0;
    d->unplug_after_dequeue = 0;
    d->stats.present = 0;
    d->stats.unplugged_at_ms = realtime_ms();
}

static void plug(struct device *d) {
    d->present = 1;
    d->unplugged_at_ns = 0;
    d->unplug_pending = 0;
    reset_controls(d);
    d->stats.present = 1;
    d->stats.plugged_at_ms = realtime_ms();
}

/// Applies a pending unplug (once no frame is in the application's hands) and the
/// automatic replug.
static void update_presence(struct device *d) {
    if (d->present && d->unplug_pending && held(d) == 0) unplug(d);
    if (!d->present && d->config.replug_after_ms >= 0 && d->unplugged_at_ns > 0 &&
        now_ns() - d->unplugged_at_ns >= (long long)d->config.replug_after_ms * 1000000LL) {
        plug(d);
    }
    d->stats.present = d->present;
}

int fakev4l2_install(const char *path, const struct fakev4l2_config *config) {
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    for (int i = 0; !d && i < MAX_DEVICES; i++)
        if (!devices[i].path[0]) d = &devices[i];
    if (!d) { pthread_mutex_unlock(&lock); return -1; }
    free(d->jpeg);
    free(d->raw);
    memset(d, 0, sizeof *d);
    strncpy(d->path, path, sizeof d->path - 1);
    d->config = *config;
    if (config->jpeg_size) {
        d->jpeg = malloc(config->jpeg_size);
        memcpy(d->jpeg, config->jpeg, config->jpeg_size);
    }
    if (config->raw && config->raw_size) {
        d->raw = malloc(config->raw_size);
        memcpy(d->raw, config->raw, config->raw_size);
    }
    d->present = 1;
    d->fd = -1;
    d->fail_countdown = -1;
    d->generation = ++generations;
    reset_controls(d);
    pthread_mutex_unlock(&lock);
    return 0;
}

void fakev4l2_set_present(const char *path, int present) {
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    if (d) {
        if (present) plug(d); else unplug(d);
    }
    pthread_mutex_unlock(&lock);
}

void fakev4l2_unplug_between_frames(const char *path) {
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    if (d && d->present) { d->unplug_pending = 1; update_presence(d); }
    pthread_mutex_unlock(&lock);
}

void fakev4l2_unplug_after_next_dequeue(const char *path) {
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    if (d && d->present) d->unplug_after_dequeue = 1;
    pthread_mutex_unlock(&lock);
}

void fakev4l2_fail_after(const char *path, int frames) {
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    if (d) d->fail_countdown = frames < 0 ? -1 : frames;
    pthread_mutex_unlock(&lock);
}

struct fakev4l2_stats fakev4l2_stats(const char *path) {
    struct fakev4l2_stats s = {0};
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    if (d) { update_presence(d); s = d->stats; }
    pthread_mutex_unlock(&lock);
    return s;
}

void fakev4l2_remove(const char *path) {
    pthread_mutex_lock(&lock);
    struct device *d = by_path(path);
    if (d) { free(d->jpeg); free(d->raw); memset(d, 0, sizeof *d); d->fd = -1; d->generation = ++generations; }
    pthread_mutex_unlock(&lock);
}

// ---- the device ------------------------------------------------------------------

static off_t stride_of(const struct device *d) {
    long page = sysconf(_SC_PAGESIZE);
    return ((off_t)d->sizeimage + page - 1) / page * page;
}

static uint32_t size_for(struct device *d, uint32_t format, uint32_t w, uint32_t h, uint32_t *bpl) {
    switch (format) {
    case V4L2_PIX_FMT_MJPEG: *bpl = 0; return d->config.jpeg_size + 4096;
    case V4L2_PIX_FMT_YUYV: case V4L2_PIX_FMT_UYVY: case V4L2_PIX_FMT_YVYU: case V4L2_PIX_FMT_RGB565: case V4L2_PIX_FMT_Y16:
        *bpl = w * 2; return *bpl * h;
    case V4L2_PIX_FMT_RGB24: case V4L2_PIX_FMT_BGR24: *bpl = w * 3; return *bpl * h;
    case V4L2_PIX_FMT_NV12: *bpl = w; return w * h + w * ((h + 1) / 2);
    case V4L2_PIX_FMT_YUV420: *bpl = w; return w * h + 2 * (w / 2) * ((h + 1) / 2);
    default: *bpl = w; return *bpl * h;  // GREY, the Bayer mosaics
    }
}

static int offers(struct device *d, uint32_t format) {
    for (int i = 0; i < d->config.format_count; i++)
        if (d->config.formats[i] == format) return 1;
    return 0;
}

static void fill_format(struct device *d, struct v4l2_format *f) {
    struct v4l2_pix_format *p = &f->fmt.pix;
    uint32_t want = p->pixelformat;
    p->pixelformat = offers(d, want) ? want : d->config.formats[0];
    // two sizes: full and half; pick the nearer
    int half = p->width && p->width <= d->config.width * 3 / 4;
    p->width = half ? d->config.width / 2 : d->config.width;
    p->height = half ? d->config.height / 2 : d->config.height;
    p->field = V4L2_FIELD_NONE;
    p->sizeimage = size_for(d, p->pixelformat, p->width, p->height, &p->bytesperline);
}

/// Writes frame `n` into buffer `index`; returns bytesused.
static uint32_t render(struct device *d, int index, long n, int corrupt) {
    off_t offset = (off_t)index * stride_of(d);
    if (corrupt) {
        uint8_t junk[64];
        for (int i = 0; i < 64; i++) junk[i] = (uint8_t)(n * 31 + i * 7);
        pwrite(d->fd, junk, sizeof junk, offset);
        return sizeof junk;
    }
    if (d->format == V4L2_PIX_FMT_MJPEG) {
        pwrite(d->fd, d->jpeg, d->config.jpeg_size, offset);
        return (uint32_t)d->config.jpeg_size;
    }
    if (d->raw) {  // a fixed picture: every frame is the test's payload
        size_t n = d->config.raw_size < d->sizeimage ? d->config.raw_size : d->sizeimage;
        pwrite(d->fd, d->raw, n, offset);
        return d->sizeimage;
    }
    // Raw frames: every byte is (n + row) mod 251, and the first 8 bytes carry n.
    uint8_t *row = malloc(d->bytesperline);
    for (uint32_t y = 0; y < d->height; y++) {
        memset(row, (int)((n + y) % 251), d->bytesperline);
        if (y == 0) memcpy(row, &n, sizeof n < d->bytesperline ? sizeof n : d->bytesperline);
        pwrite(d->fd, row, d->bytesperline, offset + (off_t)y * d->bytesperline);
    }
    free(row);
    return d->sizeimage;
}

static int stalled(struct device *d) {
    return d->config.stall_after >= 0 && d->frames_this_open >= d->config.stall_after;
}

static int fail(int e) { errno = e; return -1; }

static int device_ioctl(struct device *d, unsigned long request, void *arg) {
    update_presence(d);
    if (!d->present) return fail(ENODEV);
    switch (request) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        memset(c, 0, sizeof *c);
        strcpy((char *)c->driver, "fakev4l2");
        strcpy((char *)c->card, "Linesight Fake Camera");
        strcpy((char *)c->bus_info, "platform:fake");
        c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
        c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *f = arg;
        if (f->index >= (uint32_t)d->config.format_count) return fail(EINVAL);
        f->pixelformat = d->config.formats[f->index];
        f->flags = f->pixelformat == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
        snprintf((char *)f->description, sizeof f->description, "fake %.4s", (char *)&f->pixelformat);
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
        struct v4l2_frmsizeenum *s = arg;
        if (s->index > 1 || !offers(d, s->pixel_format)) return fail(EINVAL);
        s->type = V4L2_FRMSIZE_TYPE_DISCRETE;
        s->discrete.width = s->index ? d->config.width / 2 : d->config.width;
        s->discrete.height = s->index ? d->config.height / 2 : d->config.height;
        return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
        struct v4l2_frmivalenum *v = arg;
        if (v->index > 1 || !offers(d, v->pixel_format)) return fail(EINVAL);
        v->type = V4L2_FRMIVAL_TYPE_DISCRETE;
        v->discrete.numerator = 1;
        v->discrete.denominator = v->index ? d->config.fps / 2 : d->config.fps;
        return 0;
    }
    case VIDIOC_G_FMT: case VIDIOC_S_FMT: case VIDIOC_TRY_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        if (request == VIDIOC_G_FMT) { f->fmt.pix.pixelformat = d->format; f->fmt.pix.width = d->width; }
        if (request == VIDIOC_S_FMT && d->streaming) return fail(EBUSY);
        fill_format(d, f);
        if (request != VIDIOC_TRY_FMT) {
            d->format = f->fmt.pix.pixelformat; d->width = f->fmt.pix.width; d->height = f->fmt.pix.height;
            d->bytesperline = f->fmt.pix.bytesperline; d->sizeimage = f->fmt.pix.sizeimage;
        }
        return 0;
    }
    case VIDIOC_G_PARM: case VIDIOC_S_PARM: {
        struct v4l2_streamparm *p = arg;
        p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
        p->parm.capture.timeperframe.numerator = 1;
        p->parm.capture.timeperframe.denominator = d->config.fps;
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        if (r->memory != V4L2_MEMORY_MMAP || d->streaming) return fail(EINVAL);
        if (r->count > MAX_BUFFERS) r->count = MAX_BUFFERS;
        d->buffer_count = (int)r->count;
        memset(d->queued, 0, sizeof d->queued);
        if (ftruncate(d->fd, stride_of(d) * r->count) != 0) return fail(ENOMEM);
        return 0;
    }
    case VIDIOC_QUERYBUF: case VIDIOC_QBUF: {
        struct v4l2_buffer *b = arg;
        if (b->index >= (uint32_t)d->buffer_count) return fail(EINVAL);
        b->m.offset = (uint32_t)(b->index * stride_of(d));
        b->length = d->sizeimage;
        if (request == VIDIOC_QBUF) d->queued[b->index] = 1;
        return 0;
    }
    case VIDIOC_STREAMON:
        d->streaming = 1;
        d->next_frame_ns = now_ns() + 1000000000LL / d->config.fps;
        d->stats.streamons++;
        d->stats.streamon_at_ms = realtime_ms();
        return 0;
    case VIDIOC_STREAMOFF:
        d->streaming = 0;
        memset(d->queued, 0, sizeof d->queued);
        return 0;
    case VIDIOC_DQBUF: {
        struct v4l2_buffer *b = arg;
        if (!d->streaming) return fail(EINVAL);
        if (d->fail_countdown == 0) { d->stats.failed_dequeues++; return fail(EIO); }
        if (stalled(d) || now_ns() < d->next_frame_ns) return fail(EAGAIN);
        int index = -1;
        for (int i = 0; i < d->buffer_count && index < 0; i++) if (d->queued[i]) index = i;
        if (index < 0) return fail(EAGAIN);
        long n = d->stats.frames;
        int corrupt = d->config.corrupt_every > 0 && (n + 1) % d->config.corrupt_every == 0;
        d->queued[index] = 0;
        b->index = (uint32_t)index;
        b->bytesused = render(d, index, n, corrupt);
        b->length = d->sizeimage;
        b->m.offset = (uint32_t)(index * stride_of(d));
        b->flags = V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
        {   /* like a driver: the monotonic time the frame was captured */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            b->timestamp.tv_sec = now.tv_sec;
            b->timestamp.tv_usec = now.tv_nsec / 1000;
        }
        if (d->config.drop_every > 0 && (d->sequence + 1) % d->config.drop_every == 0) d->sequence++;
        b->sequence = d->sequence++;
        d->stats.frames++;
        d->frames_this_open++;
        d->next_frame_ns += 1000000000LL / d->config.fps;
        if (d->fail_countdown > 0) d->fail_countdown--;
        if (d->config.unplug_after >= 0 && d->stats.frames >= d->config.unplug_after && d->present) {
            unplug(d);
            d->config.unplug_after = -1;  // once
        }
        if (d->unplug_after_dequeue) unplug(d);
        return 0;
    }
    case VIDIOC_QUERYCTRL: {
        struct v4l2_queryctrl *q = arg;
        uint32_t id = q->id;
        uint32_t next = id & V4L2_CTRL_FLAG_NEXT_CTRL;
        id &= ~V4L2_CTRL_FLAG_NEXT_CTRL;
        const uint32_t ids[] = {CID_GAIN, CID_EXPOSURE, CID_TRIGGER, CID_STROBE};  // ascending
        int count = d->config.trigger_controls ? 4 : 2;
        uint32_t pick = 0;
        for (int i = 0; i < count && !pick; i++)
            if (next ? ids[i] > id : ids[i] == id) pick = ids[i];
        if (!pick) return fail(EINVAL);
        memset(q, 0, sizeof *q);
        q->id = pick;
        q->type = V4L2_CTRL_TYPE_INTEGER;
        q->step = 1;
        if (pick == CID_GAIN) { strcpy((char *)q->name, "Gain"); q->maximum = 100; }
        else if (pick == CID_EXPOSURE) { strcpy((char *)q->name, "Exposure Time, Absolute"); q->minimum = 1; q->maximum = 5000; q->default_value = 156; }
        else { strcpy((char *)q->name, pick == CID_TRIGGER ? "Trigger Mode" : "Strobe Enable"); q->type = V4L2_CTRL_TYPE_BOOLEAN; q->maximum = 1; }
        return 0;
    }
    case VIDIOC_G_CTRL: case VIDIOC_S_CTRL: {
        struct v4l2_control *c = arg;
        int *value = c->id == CID_GAIN ? &d->stats.gain : c->id == CID_EXPOSURE ? &d->stats.exposure : NULL;
        if (d->config.trigger_controls && c->id == CID_TRIGGER) value = &d->stats.trigger_mode;
        if (d->config.trigger_controls && c->id == CID_STROBE) value = &d->stats.strobe;
        if (!value) return fail(EINVAL);
        if (request == VIDIOC_S_CTRL) *value = c->value; else c->value = *value;
        return 0;
    }
    default:
        return fail(ENOTTY);
    }
}

// ---- interposed C library calls -----------------------------------------------

static int fake_open(const char *path, int flags) {
    struct device *d = by_path(path);
    if (!d) return -2;
    update_presence(d);
    if (!d->present) return fail(ENOENT);
    if (d->fd >= 0) return fail(EBUSY);
    int fd = (int)syscall(SYS_memfd_create, "fakev4l2", MFD_CLOEXEC);
    if (fd < 0) return -1;
    d->fd = fd;
    d->streaming = 0;
    d->frames_this_open = 0;
    d->buffer_count = 0;
    d->format = d->config.formats[0];
    d->width = d->config.width; d->height = d->config.height;
    d->sizeimage = size_for(d, d->format, d->width, d->height, &d->bytesperline);
    d->stats.opens++;
    (void)flags;
    return fd;
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

#define FORWARD_OPEN(name)                                                   \
    int name(const char *path, int flags, ...) {                             \
        mode_t mode = 0;                                                     \
        if (flags & (O_CREAT | O_TMPFILE)) {                                 \
            va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); \
        }                                                                    \
        pthread_mutex_lock(&lock);                                           \
        int fd = fake_open(path, flags);                                     \
        pthread_mutex_unlock(&lock);                                         \
        if (fd != -2) return fd;                                             \
        static open_fn real;                                                 \
        if (!real) real = (open_fn)dlsym(RTLD_NEXT, #name);                  \
        return real(path, flags, mode);                                      \
    }

#define FORWARD_OPENAT(name)                                                 \
    int name(int dirfd, const char *path, int flags, ...) {                  \
        mode_t mode = 0;                                                     \
        if (flags & (O_CREAT | O_TMPFILE)) {                                 \
            va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); \
        }                                                                    \
        pthread_mutex_lock(&lock);                                           \
        int fd = fake_open(path, flags);                                     \
        pthread_mutex_unlock(&lock);                                         \
        if (fd != -2) return fd;                                             \
        static openat_fn real;                                               \
        if (!real) real = (openat_fn)dlsym(RTLD_NEXT, #name);                \
        return real(dirfd, path, flags, mode);                               \
    }

FORWARD_OPEN(open)
FORWARD_OPEN(open64)
FORWARD_OPENAT(openat)
FORWARD_OPENAT(openat64)

// ---- descriptor double-close ---------------------------------------------------

#define MAX_TOMBSTONES 256

/// Numbers of closed device descriptors, held open on /dev/null so that no other
/// open, socket or SQLite file can get them while a stale copy may still be closed.
static struct tombstone { int fd; int slot; unsigned generation; } tombstones[MAX_TOMBSTONES];
static int tombstone_count;

/// Replaces the device descriptor `fd` by a tombstone; 0, or -1 if no /dev/null.
static int bury(int fd, struct device *d) {
    int null = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) return -1;
    int rc = (int)syscall(SYS_dup3, null, fd, O_CLOEXEC);  // closes the memfd
    syscall(SYS_close, null);
    if (rc < 0) return -1;
    if (tombstone_count == MAX_TOMBSTONES) {  // the oldest number goes back into use
        syscall(SYS_close, tombstones[0].fd);
        memmove(tombstones, tombstones + 1, sizeof tombstones[0] * (MAX_TOMBSTONES - 1));
        tombstone_count--;
    }
    tombstones[tombstone_count++] = (struct tombstone){ fd, (int)(d - devices), d->generation };
    return 0;
}

static struct tombstone *tombstone_of(int fd) {
    for (int i = 0; i < tombstone_count; i++) if (tombstones[i].fd == fd) return &tombstones[i];
    return NULL;
}

int close(int fd) {
    pthread_mutex_lock(&lock);
    struct device *d = by_fd(fd);
    if (d) {
        d->fd = -1;
        d->streaming = 0;
        d->fail_countdown = -1;  // the fault lasts until the device is reopened
        int rc = bury(fd, d);
        pthread_mutex_unlock(&lock);
        if (rc == 0) return 0;
    } else {
        struct tombstone *t = tombstone_of(fd);
        if (t) {
            struct device *owner = &devices[t->slot];
            if (owner->generation == t->generation) owner->stats.double_closes++;
            pthread_mutex_unlock(&lock);
            return fail(EBADF);  // what close() of a closed descriptor returns
        }
        pthread_mutex_unlock(&lock);
    }
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    return real(fd);
}

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    pthread_mutex_lock(&lock);
    struct device *d = by_fd(fd);
    if (d) {
        int rc = device_ioctl(d, request, arg);
        int e = errno;
        pthread_mutex_unlock(&lock);
        errno = e;
        return rc;
    }
    pthread_mutex_unlock(&lock);
    static int (*real)(int, unsigned long, ...);
    if (!real) real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, request, arg);
}

/// poll on a fake device waits for the next frame time, like a real driver's
/// wait queue; a stalled stream never becomes readable; an unplugged one errors.
int poll(struct pollfd *fds, nfds_t n, int timeout) {
    pthread_mutex_lock(&lock);
    struct device *d = n == 1 ? by_fd(fds[0].fd) : NULL;
    if (d) {
        update_presence(d);
        long long now = now_ns();
        long long wait_ns = -1;
        short revents = 0;
        if (!d->present) revents = POLLERR | POLLHUP;
        else if (!d->streaming) revents = POLLERR;
        else if (!stalled(d)) wait_ns = d->next_frame_ns > now ? d->next_frame_ns - now : 0;
        pthread_mutex_unlock(&lock);
        if (revents) { fds[0].revents = revents; return 1; }
        long long limit = timeout < 0 ? -1 : (long long)timeout * 1000000LL;
        if (wait_ns < 0 || (limit >= 0 && wait_ns > limit)) {
            long long sleep_ns = limit < 0 ? 1000000000LL : limit;
            struct timespec ts = { sleep_ns / 1000000000LL, sleep_ns % 1000000000LL };
            nanosleep(&ts, NULL);
            fds[0].revents = 0;
            return 0;
        }
        struct timespec ts = { wait_ns / 1000000000LL, wait_ns % 1000000000LL };
        nanosleep(&ts, NULL);
        fds[0].revents = POLLIN;
        return 1;
    }
    pthread_mutex_unlock(&lock);
    static int (*real)(struct pollfd *, nfds_t, int);
    if (!real) real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
    return real(fds, n, timeout);
}
