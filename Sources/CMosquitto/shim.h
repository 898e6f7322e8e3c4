// libmosquitto (Debian's libmosquitto-dev): the MQTT client behind the verdict output.
#include <mosquitto.h>
