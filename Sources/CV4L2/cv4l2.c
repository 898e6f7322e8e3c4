#include "cv4l2.h"

struct v4l2_pix_format *cv4l2_pix(struct v4l2_format *format) { return &format->fmt.pix; }
struct v4l2_captureparm *cv4l2_capture(struct v4l2_streamparm *parm) { return &parm->parm.capture; }
