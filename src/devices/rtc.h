/* MC146818 CMOS RTC at 0x70/0x71: wall-clock time (from the host clock
 * plus whatever offset the guest sets), the update cycle (UIP in A, UF in
 * C), the alarm (registers 1, 3, 5; AF in C) with IRQ 8 when enabled in B,
 * 128 bytes of CMOS RAM with the memory-size bytes that firmware and old
 * kernels read. No periodic interrupt. */
#ifndef KVMBOX_DEVICES_RTC_H
#define KVMBOX_DEVICES_RTC_H

#include "devices/device.h"
#include "util/clock.h"

#include <stdint.h>

struct rtc;

#define RTC_BASE 0x70                /* index 0x70, data 0x71 */
#define RTC_IRQ 8

/* low_ram_end: end of RAM below the 32-bit hole; high_ram: RAM above 4 GiB. */
struct rtc *rtc_create(const struct dev_host *host, uint64_t low_ram_end, uint64_t high_ram,
                       struct device *out);

/* Unit tests: reads time from `clock` (nanoseconds since the epoch) from
 * now on; the guest's time is the clock's (no offset). */
void rtc_set_clock(struct rtc *r, const struct dev_clock *clock);

extern const struct device_ops rtc_ops;

#endif
