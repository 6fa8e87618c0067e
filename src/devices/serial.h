/* 16550A UART (COM1 at 0x3f8, IRQ 4 by default): transmit to a file
 * descriptor, receive from whatever the console feeds it, 16-byte FIFOs,
 * loopback, and all four interrupt sources. */
#ifndef KVMBOX_DEVICES_SERIAL_H
#define KVMBOX_DEVICES_SERIAL_H

#include "devices/device.h"

#include <stddef.h>
#include <stdint.h>

struct serial;

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ 4

/* The guest's output goes to host->console_write. rx_space (may be NULL) is called,
 * from a vCPU thread, when the guest frees room after a receive could not
 * take all it was offered. */
struct serial *serial_create(const struct dev_host *host, uint16_t base, unsigned irq,
                             void (*rx_space)(void *ctx), void *rx_ctx,
                             struct device *out);
/* Offers input bytes; returns how many fit in the receive FIFO. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t n);
bool serial_can_receive(struct serial *s);

extern const struct device_ops serial_ops;

#endif
