/* i8042 keyboard controller at 0x60/0x64: enough for Linux's probe (self
 * test, configuration byte, aux loopback, a keyboard and a mouse that
 * answer but never type or move; an interrupt edge per byte), and the
 * reset line (command 0xFE, or the output port's bit 0) that guests
 * reboot with. */
#ifndef KVMBOX_DEVICES_I8042_H
#define KVMBOX_DEVICES_I8042_H

#include "devices/device.h"

struct i8042;

#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

struct i8042 *i8042_create(const struct dev_host *host, struct device *out);

extern const struct device_ops i8042_ops;

#endif
