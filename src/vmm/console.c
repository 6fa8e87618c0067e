#include "vmm/console.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal settings to restore live outside the VM object on purpose:
 * the atexit and fatal-signal handlers that restore them have no other
 * way to reach them. */
static struct termios saved_termios;
static int saved_fd = -1;

static void restore_terminal(void)
{
    if (saved_fd >= 0)
        tcsetattr(saved_fd, TCSANOW, &saved_termios);
    saved_fd = -1;
}

/* A crash must not leave the user's terminal raw either. These handlers
 * restore it (tcsetattr is async-signal-safe), put back whatever handled
 * the signal before (the default, or a sanitizer's) and let that run: a
 * fault re-executes and faults again, a sent signal is raised again.
 * SIGKILL cannot be caught: after `kill -9` the user types `reset`. */
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT };
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[NFATAL];

static void fatal_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (saved_fd >= 0)
        tcsetattr(saved_fd, TCSANOW, &saved_termios);
    for (size_t i = 0; i < NFATAL; i++)
        if (fatal_signals[i] == sig)
            sigaction(sig, &previous[i], NULL);
    if (si->si_code <= 0)            /* sent (kill, abort, raise), not a fault */
        raise(sig);
}

static void catch_fatal_signals(void)
{
    struct sigaction sa = { .sa_sigaction = fatal_handler, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
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
            catch_fatal_signals();
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
