// libmodbus (Debian's libmodbus-dev): Modbus TCP to the line's PLC.
#include <modbus/modbus.h>
