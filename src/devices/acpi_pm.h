/* The ACPI PM1a event and control registers and the FADT reset register
 * (port I/O, see arch/x86/acpi.h): writing SLP_TYP=S5 with SLP_EN powers the
 * VM off, writing the reset value resets it. */
#ifndef KVMBOX_DEVICES_ACPI_PM_H
#define KVMBOX_DEVICES_ACPI_PM_H

#include "devices/device.h"

#include <stdint.h>

/* base: PM1a_EVT; PM1a_CNT at base+4, the reset register at base+6.
 * s5_typ: the SLP_TYP value of the DSDT's \_S5 object. */
int acpi_pm_create(const struct dev_host *host, uint16_t base, uint8_t s5_typ, uint8_t reset_value,
                   struct device *out);

extern const struct device_ops acpi_pm_ops;

#endif
