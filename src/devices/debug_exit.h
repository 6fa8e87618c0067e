/* QEMU-compatible isa-debug-exit (iobase 0xf4, iosize 4): a write of V
 * stops the VM with exit status (V << 1) | 1. Test guests report with it. */
#ifndef KVMBOX_DEVICES_DEBUG_EXIT_H
#define KVMBOX_DEVICES_DEBUG_EXIT_H

#include "devices/device.h"

#define DEBUG_EXIT_PORT 0xf4

int debug_exit_create(const struct dev_host *host, struct device *out);

extern const struct device_ops debug_exit_ops;

#endif
