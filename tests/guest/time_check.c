/* Time, with now=EPOCH (the host's `date +%s`) on the command line: the
 * KVM paravirtual leaves advertise kvmclock and the TSC frequency; the
 * kvmclock page advances and agrees with that frequency; the kvmclock
 * wall clock and the CMOS RTC both read the host's time; and the RTC's
 * seconds tick once a second by kvmclock. Polls only: holds on PVM too. */
#include "checks.h"
#include "guest.h"
#include "interrupts.h"

#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_FEATURES 0x40000001u
#define KVM_CPUID_TIMING 0x40000010u
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00u
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01u
#define NSEC 1000000000ull
#define CLOSE_ENOUGH_S 30          /* the host's clock read vs. the guest's */

struct pvclock_time {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags, pad[2];
} __attribute__((packed));

struct pvclock_wall {
    uint32_t version, sec, nsec;
} __attribute__((packed));

static volatile struct pvclock_time pvti __attribute__((aligned(64)));
static volatile struct pvclock_wall wall __attribute__((aligned(64)));

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* Nanoseconds since the VM started, by the pvclock protocol: retry while
 * the host is updating (odd version) or updated under us. */
static uint64_t kvmclock_ns(void)
{
    uint32_t v;
    uint64_t ns;
    do {
        v = pvti.version;
        __asm__ volatile("" ::: "memory");
        uint64_t delta = rdtsc() - pvti.tsc_timestamp;
        if (pvti.tsc_shift < 0)
            delta >>= -pvti.tsc_shift;
        else
            delta <<= pvti.tsc_shift;
        ns = pvti.system_time + (uint64_t)(((__uint128_t)delta * pvti.tsc_to_system_mul) >> 32);
        __asm__ volatile("" ::: "memory");
    } while ((v & 1) || v != pvti.version);
    return ns;
}

static uint8_t cmos(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static unsigned bcd(uint8_t v) { return (v >> 4) * 10u + (v & 0x0f); }

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The RTC as seconds since the epoch; BCD and 24-hour, as kvmbox's RTC
 * starts (register B = 0x02), read outside an update cycle. */
static int64_t rtc_epoch(void)
{
    while (cmos(0x0a) & 0x80)
        ;
    unsigned s = bcd(cmos(0)), mi = bcd(cmos(2)), h = bcd(cmos(4));
    unsigned d = bcd(cmos(7)), mo = bcd(cmos(8)), y = bcd(cmos(9)) + 100 * bcd(cmos(0x32));
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static int64_t distance(int64_t a, int64_t b) { return a > b ? a - b : b - a; }

/* Waits for the RTC's seconds register to change; returns kvmclock then. */
static uint64_t next_rtc_second(uint64_t limit_ns)
{
    uint8_t s = cmos(0);
    uint64_t end = kvmclock_ns() + limit_ns;
    while (cmos(0) == s && kvmclock_ns() < end)
        ;
    return kvmclock_ns();
}

void time_checks(const char *cmdline)
{
    char buf[24];
    if (!cmdline_get(cmdline, "now", buf, sizeof buf))
        return;
    int64_t now = (int64_t)parse_u64(buf);
    uint32_t r[4];
    cpuid(KVM_CPUID_SIGNATURE, r);
    uint32_t max = r[0];
    cpuid(KVM_CPUID_FEATURES, r);
    check(r[0] & KVM_FEATURE_CLOCKSOURCE2, "time: CPUID 0x40000001 offers kvmclock");
    check(max >= KVM_CPUID_TIMING, "time: the KVM leaves reach the timing leaf 0x40000010");
    cpuid(KVM_CPUID_TIMING, r);
    uint32_t tsc_khz = r[0];
    print("time: timing leaf: TSC %u kHz, LAPIC bus %u kHz\n", tsc_khz, r[1]);
    check(tsc_khz > 100000 && r[1] == 1000000,
          "time: the timing leaf gives the TSC and LAPIC bus frequencies");

    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint64_t)(uintptr_t)&pvti | 1);
    wrmsr(MSR_KVM_WALL_CLOCK_NEW, (uint64_t)(uintptr_t)&wall);
    uint64_t t0 = kvmclock_ns(), t1 = t0;
    for (int i = 0; i < 1000000 && t1 == t0; i++)
        t1 = kvmclock_ns();
    print("time: kvmclock version %u, mul %u, shift %d, %llu ns since start\n", pvti.version,
          pvti.tsc_to_system_mul, pvti.tsc_shift, (unsigned long long)t1);
    check(pvti.version && !(pvti.version & 1) && pvti.tsc_to_system_mul && t1 > t0,
          "time: the kvmclock page is filled in and advances");
    uint64_t khz = (1000000ull << 32) / (pvti.tsc_to_system_mul ? pvti.tsc_to_system_mul : 1);
    khz = pvti.tsc_shift < 0 ? khz << -pvti.tsc_shift : khz >> pvti.tsc_shift;
    print("time: kvmclock's TSC rate %llu kHz\n", (unsigned long long)khz);
    check(distance((int64_t)khz, tsc_khz) * 100 <= (int64_t)tsc_khz,
          "time: kvmclock's TSC rate matches the timing leaf within 1%");
    int64_t wall_now = (int64_t)wall.sec + (int64_t)((wall.nsec + kvmclock_ns()) / NSEC);
    print("time: kvmclock wall clock %lld, host said %lld\n", (long long)wall_now, (long long)now);
    check(distance(wall_now, now) <= CLOSE_ENOUGH_S, "time: the kvmclock wall clock reads the host's time");

    int64_t rtc = rtc_epoch();
    print("time: RTC %lld, host said %lld\n", (long long)rtc, (long long)now);
    check(distance(rtc, now) <= CLOSE_ENOUGH_S, "time: the CMOS RTC reads the host's date and time");
    next_rtc_second(3 * NSEC);
    uint64_t a = kvmclock_ns(), b = next_rtc_second(3 * NSEC);
    print("time: one RTC second took %llu ms by kvmclock\n", (unsigned long long)((b - a) / 1000000));
    check(b - a > NSEC / 2 && b - a < 3 * NSEC / 2, "time: the RTC's seconds tick once a second");
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
}
