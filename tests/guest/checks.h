/* The test guests' check reporting (boot_check.c), shared by its parts. */
#ifndef GUEST_CHECKS_H
#define GUEST_CHECKS_H

#include <stdbool.h>
#include <stdint.h>

void check(bool ok, const char *what);
/* Exceptions, PIT ticks and UART interrupts (irq_check.c). Lab tier only:
 * where /dev/kvm emulates guest code, interrupts cannot be relied on. */
void irq_checks(void);
/* ACPI and MP tables against expect_cpus= (tables_check.c). */
void tables_checks(const char *cmdline, uint64_t handed_rsdp);
/* The ACPI table with signature `sig` (through the RSDP and XSDT, its
 * checksum valid), or NULL. */
const uint8_t *acpi_find(const char *sig);
/* PCI enumeration both ways, BARs, MSI-X and the virtio devices driven
 * by the guest's own drivers, with "virtio" (virtio_check.c). */
void virtio_checks(const char *cmdline);
/* virtio-net: ARP, ping and a TCP echo (net_check.c), with net=. */
struct virtio_dev;
void net_checks(struct virtio_dev *d, const char *cmdline);
/* INIT-SIPI-SIPI bring-up of every AP, with "smp" (smp_check.c). */
void smp_checks(const char *cmdline);
/* kvmclock, the timing leaf and the RTC against now= (time_check.c). */
void time_checks(const char *cmdline);

#endif
