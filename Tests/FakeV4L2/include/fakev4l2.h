// A fake V4L2 camera for tests, at the ioctl boundary. Linked into the test
// executable only: it defines open/openat/close/ioctl/poll, serves registered fake
// device paths itself and passes every other call to the C library. The device file
// descriptor is a memfd, so the application's real mmap of the buffers runs.
#ifndef FAKEV4L2_H
#define FAKEV4L2_H
#include <stddef.h>
#include <stdint.h>

struct fakev4l2_config {
    uint32_t formats[4];      // fourccs offered, in ENUM_FMT order
    int format_count;
    uint32_t width, height;   // the one frame size offered (plus width/2 x height/2)
    int fps;                  // frame pacing
    int unplug_after;         // frames delivered before the device vanishes (<0: never)
    int replug_after_ms;      // the device comes back this long after an unplug (<0: never)
    int stall_after;          // frames delivered per open before the stream stalls (<0: never)
    int corrupt_every;        // every Nth frame is garbage (<=0: never)
    int drop_every;           // every Nth driver sequence number is skipped (<=0: never)
    const uint8_t *jpeg;      // MJPEG payload (copied)
    size_t jpeg_size;
    // Appended: a raw frame payload (copied); when set, every raw frame is these bytes
    // (then zeros up to the frame's size) instead of the counting pattern.
    const uint8_t *raw;
    size_t raw_size;
    // Appended: the device also has a "Trigger Mode" and a "Strobe Enable" control (an
    // industrial camera's external trigger and flash output; booleans).
    int trigger_controls;
};

struct fakev4l2_stats {
    int opens;                // successful opens
    int streamons;
    long frames;              // frames delivered
    int exposure;             // current value of exposure_time_absolute
    int gain;                 // current value of gain
    int present;              // whether the device node exists now
    // Appended fields (zero-initialised callers are unaffected):
    int double_closes;        // close() of a device descriptor that was already closed
    long failed_dequeues;     // VIDIOC_DQBUF calls failed by fakev4l2_fail_after
    long long unplugged_at_ms; // CLOCK_REALTIME of the last unplug (0: never)
    long long plugged_at_ms;  // CLOCK_REALTIME of the last replug (0: never)
    long long streamon_at_ms; // CLOCK_REALTIME of the last VIDIOC_STREAMON (0: never)
    int trigger_mode;         // current value of trigger_mode (with trigger_controls)
    int strobe;               // current value of strobe_enable (with trigger_controls)
};

/// Registers (or replaces) a fake device at `path`. Returns 0, or -1 when full.
int fakev4l2_install(const char *path, const struct fakev4l2_config *config);
/// Unplugs (present = 0) or plugs in (present = 1) the device.
void fakev4l2_set_present(const char *path, int present);
/// Current counters and control values of a fake device.
struct fakev4l2_stats fakev4l2_stats(const char *path);
void fakev4l2_remove(const char *path);

/// Unplugs the device between frames: at once if the application holds no dequeued
/// buffer, else as soon as it has queued it again (no frame is in its hands).
void fakev4l2_unplug_between_frames(const char *path);
/// Unplugs the device right after the next successful VIDIOC_DQBUF, before the
/// application queues that buffer again (its VIDIOC_QBUF then fails with ENODEV).
void fakev4l2_unplug_after_next_dequeue(const char *path);
/// VIDIOC_DQBUF fails with EIO after `frames` more frames while the device stays
/// present, until the descriptor is closed (a reopen streams again); <0 disarms.
void fakev4l2_fail_after(const char *path, int frames);

// Descriptor double-close: a closed device descriptor's number is kept occupied (by
// /dev/null) for a while, so it cannot be reused by SQLite or a socket; a second
// close() of it fails with EBADF, as it would have, and counts in double_closes.

#endif
