// libjpeg-turbo's TurboJPEG API: decode/encode that return error codes instead of
// calling exit() like libjpeg's default error handler does.
#include <turbojpeg.h>
