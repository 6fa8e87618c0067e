#include "core/config_check.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

void config_init(struct vm_config *cfg)
{
    memset(cfg, 0, offsetof(struct vm_config, disks));   /* see config.h */
    cfg->mem_size = CONFIG_DEFAULT_MEMORY;
    cfg->cpus = 1;
    cfg->console = CONSOLE_SERIAL;
    cfg->kvm_path = "/dev/kvm";
}

int config_check_memory(uint64_t size, bool hugepages, const char *what,
                        const char *hugepages_what, char *err, size_t errlen)
{
    if (size < CONFIG_MIN_MEMORY) {
        snprintf(err, errlen, "%s is too small: at least 2M", what);
        return -1;
    }
    if (size > MAX_MEMORY) {
        snprintf(err, errlen, "%s is too large: at most 1T", what);
        return -1;
    }
    if (size & 0xfff) {
        snprintf(err, errlen, "%s is not a multiple of 4K", what);
        return -1;
    }
    /* hugetlbfs pages are 2 MiB: guest RAM is a whole number of them. */
    if (hugepages && size % CONFIG_HUGEPAGE_SIZE) {
        snprintf(err, errlen, "%s: with %s the size must be a multiple of 2M", what,
                 hugepages_what);
        return -1;
    }
    return 0;
}

int config_check_cpus(int64_t n, const char *what, char *err, size_t errlen)
{
    if (n < 1 || n > MAX_CPUS) {
        snprintf(err, errlen, "%s: expected a number from 1 to %d", what, MAX_CPUS);
        return -1;
    }
    return 0;
}

static unsigned hex_digit(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Exactly six groups of two hex digits separated by ':' (sscanf's %2x
 * would also take " 5", "+5" or "-2" for a group). */
int config_parse_mac(const char *text, size_t len, uint8_t mac[6], const char *what, char *err,
                     size_t errlen)
{
    bool ok = len == 17;
    for (size_t i = 0; ok && i < 17; i++)
        ok = i % 3 == 2 ? text[i] == ':' : isxdigit((unsigned char)text[i]) != 0;
    if (!ok) {
        snprintf(err, errlen, "%s: not a MAC address (expected six two-digit hex groups "
                 "separated by ':', e.g. 52:54:00:12:34:56)", what);
        return -1;
    }
    uint8_t m[6], any = 0;
    for (int i = 0; i < 6; i++) {
        m[i] = (uint8_t)(hex_digit(text[3 * i]) << 4 | hex_digit(text[3 * i + 1]));
        any |= m[i];
    }
    /* A group address (multicast, broadcast) cannot be a station's: the
     * guest's driver would refuse it or its frames be flooded. */
    if (m[0] & 1) {
        snprintf(err, errlen, "%s: a multicast address (bit 0 of the first octet is set); a "
                 "NIC needs a unicast one, e.g. 52:54:00:12:34:56", what);
        return -1;
    }
    if (!any) {
        snprintf(err, errlen, "%s: the all-zero address, which no NIC may have "
                 "(e.g. 52:54:00:12:34:56)", what);
        return -1;
    }
    memcpy(mac, m, sizeof m);
    return 0;
}

static bool parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* "ADDR:PORT" with ADDR optional (INADDR_ANY). */
static bool parse_addr_port(const char *s, size_t n, struct in_addr *addr, uint16_t *port)
{
    const char *colon = memrchr(s, ':', n);
    char a[16];
    if (!colon)
        return false;
    size_t alen = (size_t)(colon - s);
    addr->s_addr = INADDR_ANY;
    if (alen) {
        if (alen >= sizeof a)
            return false;
        memcpy(a, s, alen);
        a[alen] = 0;
        if (inet_pton(AF_INET, a, addr) != 1)
            return false;
    }
    return parse_port(colon + 1, n - alen - 1, port);
}

int config_parse_hostfwd(const char *text, size_t len, struct hostfwd *f, const char *what,
                         char *err, size_t errlen)
{
    const char *s = text, *end = text + len;
    struct hostfwd h = { 0 };
    /* A NUL inside would end the address early for inet_pton. */
    bool ok = len > 4 && (!strncmp(s, "tcp:", 4) || !strncmp(s, "udp:", 4)) &&
              !memchr(text, 0, len);
    if (ok) {
        h.udp = s[0] == 'u';
        s += 4;
        const char *dash = memchr(s, '-', (size_t)(end - s));
        ok = dash && parse_addr_port(s, (size_t)(dash - s), &h.host_addr, &h.host_port) &&
             parse_addr_port(dash + 1, (size_t)(end - dash - 1), &h.guest_addr, &h.guest_port);
    }
    if (!ok) {
        snprintf(err, errlen, "%s takes tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT "
                 "(or udp:...), e.g. tcp::2222-:22", what);
        return -1;
    }
    *f = h;
    return 0;
}

/* Copies text[0..len) into dst[size] if it is not empty and fits. */
static bool copy(char *dst, size_t size, const char *text, size_t len)
{
    if (len == 0 || len >= size)
        return false;
    memcpy(dst, text, len);
    dst[len] = 0;
    return true;
}

int config_set_disk_path(struct disk_config *d, const char *text, size_t len, const char *what,
                         char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "%s is empty", what);
        return -1;
    }
    if (!copy(d->path, sizeof d->path, text, len)) {
        snprintf(err, errlen, "%s is longer than %zu characters", what, sizeof d->path - 1);
        return -1;
    }
    return 0;
}

int config_set_disk_serial(struct disk_config *d, const char *text, size_t len, const char *what,
                           char *err, size_t errlen)
{
    if (len > CONFIG_DISK_SERIAL_MAX) {
        snprintf(err, errlen, "%s is at most %d characters", what, CONFIG_DISK_SERIAL_MAX);
        return -1;
    }
    memcpy(d->serial, text, len);
    d->serial[len] = 0;
    return 0;
}

int config_set_ifname(struct net_config *n, const char *text, size_t len, const char *what,
                      char *err, size_t errlen)
{
    if (!copy(n->ifname, sizeof n->ifname, text, len)) {
        snprintf(err, errlen, "%s needs an interface name of at most %d characters", what,
                 CONFIG_IFNAME_MAX);
        return -1;
    }
    return 0;
}

int config_set_id(const struct vm_config *cfg, char *dst, const char *text, size_t len,
                  const char *own, const char *what, char *err, size_t errlen)
{
    if (len == 0 || len > CONFIG_ID_MAX) {
        snprintf(err, errlen, "%s: an id is 1 to %d characters", what, CONFIG_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)text[i]) && !memchr("_.-", text[i], 3)) {
            snprintf(err, errlen, "%s: an id is made of letters, digits, '_', '.' and '-'",
                     what);
            return -1;
        }
    }
    if (text[0] == '_' && (strlen(own) != len || memcmp(own, text, len))) {
        snprintf(err, errlen, "%s: ids starting with '_' are kvmbox's own (_disk0, _net1, ...); "
                 "this device's is %s", what, own);
        return -1;
    }
    for (unsigned i = 0; i < cfg->ndisks + cfg->nnets; i++) {
        const char *other = i < cfg->ndisks ? cfg->disks[i].id : cfg->nets[i - cfg->ndisks].id;
        if (strlen(other) == len && !memcmp(other, text, len)) {
            snprintf(err, errlen, "%s: another device already has this id", what);
            return -1;
        }
    }
    memcpy(dst, text, len);
    dst[len] = 0;
    return 0;
}
