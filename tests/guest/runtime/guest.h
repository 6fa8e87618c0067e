/* The test guests' freestanding runtime: port I/O, a polled serial console,
 * a tiny printf, strings, the command line, checksums and ways to exit.
 * Nothing here takes an interrupt, so guests run where guest interrupts
 * cannot be delivered (see DEVELOPERS.md on PVM). */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include "boot_state.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void serial_init(void);
void putchar_serial(char c);
void print(const char *fmt, ...);          /* %s %c %d %u %x %lx %llu %llx %p */

size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* Finds "key=value" in a command line; copies value into out. */
bool cmdline_get(const char *cmdline, const char *key, char *out, size_t outlen);
bool cmdline_has(const char *cmdline, const char *word);
uint64_t parse_u64(const char *s);         /* decimal, or hex with 0x */

/* POSIX cksum(1) CRC of a buffer, so the host computes it with `cksum`. */
uint32_t posix_cksum(const void *buf, size_t len);

/* debug-exit with `code`; if nobody listens, i8042 reset; then triple fault. */
__attribute__((noreturn)) void guest_exit(uint32_t code);
__attribute__((noreturn)) void guest_reset_i8042(void);
__attribute__((noreturn)) void guest_triple_fault(void);
__attribute__((noreturn)) void guest_hang(void);

#endif
