#include "guest.h"

struct boot_state boot_state;

#define COM1 0x3f8

void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* no interrupts: we poll */
    outb(COM1 + 3, 0x80);   /* DLAB */
    outb(COM1 + 0, 0x01);   /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0x07);   /* FIFO on, cleared */
}

void putchar_serial(char c)
{
    if (c == '\n')
        putchar_serial('\r');
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        ;
    outb(COM1, (uint8_t)c);
}

static void put_str(const char *s)
{
    while (*s)
        putchar_serial(*s++);
}

static void put_num(uint64_t v, unsigned base)
{
    char buf[24];
    int i = 0;
    do {
        buf[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i)
        putchar_serial(buf[--i]);
}

void print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            putchar_serial(*p);
            continue;
        }
        int longs = 0;
        while (p[1] == 'l') {
            longs++;
            p++;
        }
        switch (*++p) {
        case 's': put_str(va_arg(ap, const char *)); break;
        case 'c': putchar_serial((char)va_arg(ap, int)); break;
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (v < 0) {
                putchar_serial('-');
                v = -v;
            }
            put_num((uint64_t)v, 10);
            break;
        }
        case 'u': put_num(longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10); break;
        case 'x': put_num(longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16); break;
        case 'p': put_str("0x"); put_num((uint64_t)va_arg(ap, void *), 16); break;
        case '%': putchar_serial('%'); break;
        default: putchar_serial('?'); break;
        }
    }
    va_end(ap);
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i] || !a[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
    }
    return 0;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

/* String instructions: one instruction for the whole buffer, which
 * matters where guest code is emulated an instruction at a time. */
void *memset(void *d, int c, size_t n)
{
    void *p = d;
    size_t words = n / 8, rest = n % 8;
    uint64_t v = 0x0101010101010101ull * (unsigned char)c;
    __asm__ volatile("rep stosq" : "+D"(p), "+c"(words) : "a"(v) : "memory");
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(rest) : "a"(v) : "memory");
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *p = d;
    size_t words = n / 8, rest = n % 8;
    __asm__ volatile("rep movsq" : "+D"(p), "+S"(s), "+c"(words) : : "memory");
    __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(rest) : : "memory");
    return d;
}

/* Walks space-separated words; calls back with each word's extent. */
static const char *find_word(const char *cmdline, const char *prefix, size_t plen, bool whole)
{
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - w);
        if (wlen >= plen && !strncmp(w, prefix, plen) && (!whole || wlen == plen))
            return w;
    }
    return NULL;
}

bool cmdline_get(const char *cmdline, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    char pat[64];
    if (klen + 2 > sizeof pat)
        return false;
    memcpy(pat, key, klen);
    pat[klen] = '=';
    const char *w = find_word(cmdline, pat, klen + 1, false);
    if (!w)
        return false;
    w += klen + 1;
    size_t i = 0;
    while (w[i] && w[i] != ' ' && i + 1 < outlen) {
        out[i] = w[i];
        i++;
    }
    out[i] = 0;
    return true;
}

bool cmdline_has(const char *cmdline, const char *word)
{
    return find_word(cmdline, word, strlen(word), true) != NULL;
}

uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (s += 2; *s; s++) {
            char c = *s;
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
            if (d > 15)
                break;
            v = v * 16 + d;
        }
        return v;
    }
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v;
}

uint32_t posix_cksum(const void *buf, size_t len)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i << 24;
            for (int k = 0; k < 8; k++)
                c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
            table[i] = c;
        }
        ready = true;
    }
    const unsigned char *p = buf;
    uint32_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (crc << 8) ^ table[((crc >> 24) ^ p[i]) & 0xff];
    for (size_t n = len; n; n >>= 8)
        crc = (crc << 8) ^ table[((crc >> 24) ^ (n & 0xff)) & 0xff];
    return ~crc;
}

void guest_hang(void)
{
    for (;;)
        __asm__ volatile("pause");
}

void guest_triple_fault(void)
{
    static const struct __attribute__((packed)) { uint16_t limit; uint64_t base; } no_idt = { 0, 0 };
    __asm__ volatile("lidt %0; ud2" ::"m"(no_idt));
    guest_hang();
}

void guest_reset_i8042(void)
{
    outb(0x64, 0xfe);
    guest_triple_fault();
}

void guest_exit(uint32_t code)
{
    outl(0xf4, code);
    /* Still here: no debug-exit device. Do not hang: reset instead. */
    guest_reset_i8042();
}
