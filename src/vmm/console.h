/* The user's terminal: stdin in raw mode when it is a terminal (restored on
 * every way out), the Ctrl-A escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends a
 * literal Ctrl-A), and a small buffer of input the UART has not taken yet. */
#ifndef KVMBOX_VMM_CONSOLE_H
#define KVMBOX_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE 0x01   /* Ctrl-A */

struct console {
    int in_fd;          /* -1 once input has ended */
    bool is_tty;
    bool escape;        /* the previous byte was the escape */
    uint8_t buf[256];   /* filtered input waiting for the guest */
    size_t len, off;
};

void console_init(struct console *c, int in_fd);
void console_restore(struct console *c);

/* Escape processing over raw input, in place; returns the bytes to deliver
 * and sets *quit on Ctrl-A x. Only a terminal gets escapes: piped input is
 * passed through untouched. */
size_t console_filter(struct console *c, uint8_t *buf, size_t n, bool *quit);

enum console_status { CONSOLE_DATA, CONSOLE_QUIT, CONSOLE_CLOSED };
/* Reads what stdin has into the buffer (which must be empty). */
enum console_status console_read(struct console *c);

#endif
