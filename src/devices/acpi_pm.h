/* The ACPI PM1a event and control registers, the FADT reset register and
 * the PM timer (port I/O, see arch/x86/acpi.h): writing SLP_TYP=S5 with
 * SLP_EN powers the VM off, writing the reset value resets it, and the
 * timer counts at 3.579545 MHz from the host's monotonic clock. */
#ifndef KVMBOX_DEVICES_ACPI_PM_H
#define KVMBOX_DEVICES_ACPI_PM_H

#include "devices/device.h"
#include "util/clock.h"

#include <stdint.h>

#define ACPI_PM_TMR_HZ 3579545u

/* base: PM1a_EVT; PM1a_CNT at base+4, the reset register at base+6, the
 * 32-bit PM timer at base+8 (the FADT says TMR_VAL_EXT).
 * s5_typ: the SLP_TYP value of the DSDT's \_S5 object. */
int acpi_pm_create(const struct dev_host *host, uint16_t base, uint8_t s5_typ, uint8_t reset_value,
                   struct device *out);

/* The SCI's interrupt line (the FADT and the MADT's override name it). */
#define ACPI_PM_SCI_IRQ 9

/* Presses the power button (a fixed feature): PWRBTN_STS, and the SCI if
 * the OS enabled it; Linux then shuts down cleanly. Any thread. */
void acpi_pm_power_button(void *dev);

/* Unit tests: reads time from `clock` from now on; the timer restarts at 0. */
void acpi_pm_set_clock(void *dev, const struct dev_clock *clock);

extern const struct device_ops acpi_pm_ops;

#endif
