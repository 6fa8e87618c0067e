/* What the entry stubs record before the guest's C code runs: how it was
 * entered and the registers the boot protocol defines. Shared by asm and C. */
#ifndef GUEST_BOOT_STATE_H
#define GUEST_BOOT_STATE_H

#define KIND_LINUX64   1
#define KIND_PVH       2
#define KIND_MULTIBOOT 3

#define BS_KIND   0
#define BS_RAX    8
#define BS_RBX    16
#define BS_RSI    24
#define BS_CR0    32
#define BS_CR4    40
#define BS_EFER   48
#define BS_RFLAGS 56
#define BS_CS     64
#define BS_SIZE   72

#define STACK_SIZE 16384

#ifndef __ASSEMBLER__
#include <stdint.h>
struct boot_state {
    uint64_t kind, rax, rbx, rsi, cr0, cr4, efer, rflags, cs;
};
_Static_assert(sizeof(struct boot_state) == BS_SIZE, "boot_state layout");
extern struct boot_state boot_state;
#endif

#endif
