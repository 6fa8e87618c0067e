/* Platform-table checks, with expect_cpus=N on the command line: find the
 * ACPI RSDP by the BIOS-area scan and the MP floating pointer, verify every
 * checksum on the way, count the processors each describes, and compare
 * the RSDP with the one the boot protocol handed over (if any). */
#include "checks.h"
#include "guest.h"

static uint8_t sum(const void *p, uint64_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    for (uint64_t i = 0; i < len; i++)
        s = (uint8_t)(s + b[i]);
    return s;
}

static const uint8_t *scan(const char *sig, uint64_t from, uint64_t to, uint64_t step)
{
    for (uint64_t a = from; a < to; a += step)
        if (!memcmp((const void *)(uintptr_t)a, sig, strlen(sig)))
            return (const uint8_t *)(uintptr_t)a;
    return NULL;
}

/* The XSDT the RSDP points at; *len gets its length. */
static const uint8_t *xsdt_of(const uint8_t *rsdp, uint32_t *len)
{
    uint64_t at;
    memcpy(&at, rsdp + 24, 8);
    const uint8_t *xsdt = (const uint8_t *)(uintptr_t)at;
    memcpy(len, xsdt + 4, 4);
    return xsdt;
}

/* The table of XSDT entry i, NULL past the end; *tlen gets its length. */
static const uint8_t *xsdt_table(const uint8_t *xsdt, uint32_t len, unsigned i, uint32_t *tlen)
{
    if (36 + 8ull * (i + 1) > len)
        return NULL;
    uint64_t at;
    memcpy(&at, xsdt + 36 + 8 * i, 8);
    const uint8_t *t = (const uint8_t *)(uintptr_t)at;
    memcpy(tlen, t + 4, 4);
    return t;
}

/* The FADT's PM timer (PM_TMR_BLK, PM_TMR_LEN 4, 32 bits with
 * TMR_VAL_EXT) is where it says and counts: Linux checks its LAPIC timer
 * against it. */
static void pm_timer_check(const uint8_t *fadt)
{
    uint32_t port, flags;
    memcpy(&port, fadt + 76, 4);
    memcpy(&flags, fadt + 112, 4);
    check(port && port <= 0xfffc && fadt[91] == 4 && (flags & (1u << 8)),
          "acpi: FADT describes a 32-bit PM timer");
    if (!port || port > 0xfffc)
        return;
    uint32_t first = inl((uint16_t)port), now = first;
    for (unsigned i = 0; i < 1000000 && now == first; i++)
        now = inl((uint16_t)port);
    print("acpi: PM timer at 0x%x: %u, then %u\n", port, first, now);
    check(now != first, "acpi: the PM timer counts");
}

static unsigned acpi_cpus(const uint8_t *rsdp)
{
    uint32_t len, tlen;
    const uint8_t *xsdt = xsdt_of(rsdp, &len), *t;
    check(!memcmp(xsdt, "XSDT", 4) && sum(xsdt, len) == 0, "acpi: XSDT found, checksum valid");
    bool tables_ok = true;
    unsigned cpus = 0;
    for (unsigned i = 0; (t = xsdt_table(xsdt, len, i, &tlen)); i++) {
        if (sum(t, tlen) != 0)
            tables_ok = false;
        print("acpi: table %c%c%c%c at %p, %u bytes\n", t[0], t[1], t[2], t[3], (const void *)t, tlen);
        if (!memcmp(t, "APIC", 4))
            for (uint32_t e = 44; e + 2 <= tlen && t[e + 1]; e += t[e + 1])
                if (t[e] == 0 && (t[e + 4] & 1))
                    cpus++;
        if (!memcmp(t, "FACP", 4)) {
            uint32_t dsdt_at, dlen;
            memcpy(&dsdt_at, t + 40, 4);
            const uint8_t *d = (const uint8_t *)(uintptr_t)dsdt_at;
            memcpy(&dlen, d + 4, 4);
            if (memcmp(d, "DSDT", 4) || sum(d, dlen) != 0)
                tables_ok = false;
            pm_timer_check(t);
        }
    }
    check(tables_ok, "acpi: every table's checksum is valid (FADT, DSDT, MADT)");
    return cpus;
}

const uint8_t *acpi_find(const char *sig)
{
    const uint8_t *rsdp = scan("RSD PTR ", 0xe0000, 0x100000, 16), *t;
    if (!rsdp || sum(rsdp, 36) != 0)
        return NULL;
    uint32_t len, tlen;
    const uint8_t *xsdt = xsdt_of(rsdp, &len);
    for (unsigned i = 0; (t = xsdt_table(xsdt, len, i, &tlen)); i++)
        if (!memcmp(t, sig, 4) && sum(t, tlen) == 0)
            return t;
    return NULL;
}

static unsigned mp_cpus(const uint8_t *mpf)
{
    uint32_t cfg_at;
    memcpy(&cfg_at, mpf + 4, 4);
    const uint8_t *h = (const uint8_t *)(uintptr_t)cfg_at;
    uint16_t len, count;
    memcpy(&len, h + 4, 2);
    memcpy(&count, h + 34, 2);
    check(!memcmp(h, "PCMP", 4) && sum(h, len) == 0, "mptable: configuration table checksum valid");
    unsigned cpus = 0;
    const uint8_t *p = h + 44;
    for (unsigned i = 0; i < count && p < h + len; i++) {
        if (p[0] == 0) {
            cpus += p[3] & 1;
            p += 20;
        } else {
            p += 8;
        }
    }
    return cpus;
}

void tables_checks(const char *cmdline, uint64_t handed_rsdp)
{
    char buf[16];
    if (!cmdline_get(cmdline, "expect_cpus", buf, sizeof buf))
        return;
    unsigned want = (unsigned)parse_u64(buf);
    const uint8_t *rsdp = scan("RSD PTR ", 0xe0000, 0x100000, 16);
    check(rsdp && sum(rsdp, 20) == 0 && sum(rsdp, 36) == 0,
          "acpi: RSDP found by the BIOS-area scan, checksums valid");
    if (!rsdp)
        return;
    if (handed_rsdp)
        check(handed_rsdp == (uint64_t)(uintptr_t)rsdp, "acpi: boot protocol hands over the same RSDP");
    unsigned n = acpi_cpus(rsdp);
    print("acpi: MADT lists %u processors, expected %u\n", n, want);
    check(n == want, "acpi: MADT has one processor per vCPU");
    const uint8_t *mpf = scan("_MP_", 0xf0000, 0x100000, 16);
    check(mpf && sum(mpf, 16) == 0, "mptable: floating pointer found, checksum valid");
    if (!mpf)
        return;
    n = mp_cpus(mpf);
    print("mptable: %u processors, expected %u\n", n, want);
    check(n == want, "mptable: one processor per vCPU");
}
