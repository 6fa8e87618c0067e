/* MC146818 CMOS RTC at 0x70/0x71: wall-clock time (from the host clock
 * plus whatever offset the guest sets), status registers, 128 bytes of CMOS
 * RAM with the memory-size bytes that firmware and old kernels read. */
#ifndef KVMBOX_DEVICES_RTC_H
#define KVMBOX_DEVICES_RTC_H

#include "devices/device.h"

#include <stdint.h>

struct rtc;

/* low_ram_end: end of RAM below the 32-bit hole; high_ram: RAM above 4 GiB. */
struct rtc *rtc_create(const struct dev_host *host, uint64_t low_ram_end, uint64_t high_ram,
                       struct device *out);

extern const struct device_ops rtc_ops;

#endif
