#include "cv4l2.h"
#include <libv4l-plugin.h>
#include <unistd.h>

struct v4l2_pix_format *cv4l2_pix(struct v4l2_format *format) { return &format->fmt.pix; }
struct v4l2_captureparm *cv4l2_capture(struct v4l2_streamparm *parm) { return &parm->parm.capture; }

// libv4lconvert's own device calls are raw syscalls; these go through the C library's
// ioctl/read/write, as the rest of Linesight's V4L2 calls do (and as a fake device at the
// library boundary sees them).
static int through_ioctl(void *priv, int fd, unsigned long request, void *arg) { (void)priv; return ioctl(fd, request, arg); }
static ssize_t through_read(void *priv, int fd, void *buffer, size_t n) { (void)priv; return read(fd, buffer, n); }
static ssize_t through_write(void *priv, int fd, const void *buffer, size_t n) { (void)priv; return write(fd, buffer, n); }
static const struct libv4l_dev_ops through_libc = { .ioctl = through_ioctl, .read = through_read, .write = through_write };

struct v4lconvert_data *cv4l2_convert_create(int fd) {
    return v4lconvert_create_with_dev_ops(fd, NULL, &through_libc);
}
