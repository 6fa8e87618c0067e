#include "vmm/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal settings to restore live outside the VM object on purpose:
 * the atexit handler that restores them on an early exit has no other way
 * to reach them. */
static struct termios saved_termios;
static int saved_fd = -1;

static void restore_terminal(void)
{
    if (saved_fd >= 0)
        tcsetattr(saved_fd, TCSANOW, &saved_termios);
    saved_fd = -1;
}

void console_init(struct console *c, int in_fd)
{
    memset(c, 0, sizeof *c);
    c->in_fd = in_fd;
    c->is_tty = in_fd >= 0 && isatty(in_fd);
    if (!c->is_tty || tcgetattr(in_fd, &saved_termios) < 0)
        return;
    struct termios raw = saved_termios;
    /* Raw input so the guest sees every key (Ctrl-C included); keep output
     * post-processing so guest "\n" still returns the carriage. */
    raw.c_iflag &= (tcflag_t)~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= (tcflag_t)~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSANOW, &raw) == 0) {
        saved_fd = in_fd;
        static bool registered;
        if (!registered) {
            atexit(restore_terminal);
            registered = true;
        }
    }
}

void console_restore(struct console *c)
{
    (void)c;
    restore_terminal();
}

size_t console_filter(struct console *c, uint8_t *buf, size_t n, bool *quit)
{
    *quit = false;
    if (!c->is_tty)
        return n;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = buf[i];
        if (c->escape) {
            c->escape = false;
            if (b == 'x' || b == 'X') {
                *quit = true;
                return out;
            }
            if (b == CONSOLE_ESCAPE)
                buf[out++] = b;     /* Ctrl-A Ctrl-A: a literal Ctrl-A */
            /* any other key after the escape is swallowed, as in QEMU */
        } else if (b == CONSOLE_ESCAPE) {
            c->escape = true;
        } else {
            buf[out++] = b;
        }
    }
    return out;
}

enum console_status console_read(struct console *c)
{
    if (c->in_fd < 0)
        return CONSOLE_CLOSED;
    ssize_t n;
    do
        n = read(c->in_fd, c->buf, sizeof c->buf);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return CONSOLE_DATA;
        c->in_fd = -1;  /* end of input: the guest simply gets no more */
        return CONSOLE_CLOSED;
    }
    bool quit;
    c->off = 0;
    c->len = console_filter(c, c->buf, (size_t)n, &quit);
    return quit ? CONSOLE_QUIT : CONSOLE_DATA;
}
