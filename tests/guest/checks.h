/* The test guests' check reporting (boot_check.c), shared by its parts. */
#ifndef GUEST_CHECKS_H
#define GUEST_CHECKS_H

#include <stdbool.h>

void check(bool ok, const char *what);
/* Exceptions, PIT ticks and UART interrupts (irq_check.c). Lab tier only:
 * where /dev/kvm emulates guest code, interrupts cannot be relied on. */
void irq_checks(void);

#endif
