// libgpiod v1 (Debian's libgpiod-dev): GPIO lines of the line PC for the reject and ready signals.
#include <gpiod.h>
