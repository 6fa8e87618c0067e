#include "devices/rtc.h"

#include "core/state.h"
#include "util/log.h"
#include "core/bus.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    REG_SEC = 0x00, REG_SEC_ALARM = 0x01, REG_MIN = 0x02, REG_MIN_ALARM = 0x03, REG_HOUR = 0x04,
    REG_HOUR_ALARM = 0x05, REG_WDAY = 0x06, REG_MDAY = 0x07, REG_MON = 0x08, REG_YEAR = 0x09,
    REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, REG_CENTURY = 0x32,
};
#define A_UIP    0x80   /* update in progress */
#define B_SET    0x80   /* updates halted while the guest sets the time */
#define B_PIE    0x40
#define B_AIE    0x20
#define B_UIE    0x10
#define B_24H    0x02
#define B_BINARY 0x04
#define C_IRQF   0x80   /* an enabled flag is set: IRQ 8 is high */
#define C_FLAGS  0x70   /* PF, AF, UF: the same bits as their enables in B */
#define C_AF     0x20
#define C_UF     0x10
#define D_VRT    0x80   /* valid RAM and time */
#define ALARM_DONT_CARE 0xc0
/* UIP rises this long before each second's update, as on the MC146818
 * with a 32.768 kHz time base (244 us of warning plus the update). */
#define UIP_NS   244000
#define DAY_SEC  86400

struct rtc {
    struct dev_host host;
    pthread_mutex_t lock;
    pthread_cond_t wake;             /* the interrupt thread: B changed, or stop */
    pthread_t thread;
    bool thread_running, thread_failed, stopping, irq_line;
    struct dev_clock clock;          /* CLOCK_REALTIME */
    /* The guest second up to which UF and AF are accounted in REG_C, and
     * the latest update a read of register A has shown in progress. */
    int64_t flags_sec, uip_sec;
    /* Saved state. */
    uint8_t index;
    uint8_t cmos[128];
    int64_t offset;     /* guest time minus host time, seconds */
};

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

/* The guest's time is the host's moved by whole seconds, so its fraction
 * of a second is the host's: kept apart from the seconds, nothing is
 * summed in nanoseconds, which a guest setting its clock to the year 9999
 * (or a restored state, to anything) would overflow. */
static int64_t guest_sec_frac(const struct rtc *r, int64_t *frac_ns)
{
    int64_t ns = dev_clock_ns(&r->clock), sec = floor_div(ns, NS_PER_SEC);
    if (frac_ns)
        *frac_ns = ns - sec * NS_PER_SEC;
    return sec + r->offset;
}

static int64_t guest_sec(const struct rtc *r) { return guest_sec_frac(r, NULL); }

/* The most seconds a guest's clock may be from the host's: far beyond any
 * date the CMOS registers can express (year 25599), and far from
 * overflowing anything it is added to. */
#define RTC_MAX_OFFSET (1LL << 40)

#define RTC_NOT_LOOKED_AT INT64_MIN      /* flags_sec before the guest's first access */

static uint8_t to_bcd(unsigned v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }
static unsigned from_bcd(uint8_t v) { return (v >> 4) * 10u + (v & 0x0f); }

static uint8_t encode(const struct rtc *r, unsigned v)
{
    return (r->cmos[REG_B] & B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned decode(const struct rtc *r, uint8_t v)
{
    return (r->cmos[REG_B] & B_BINARY) ? v : from_bcd(v);
}

static void guest_tm(const struct rtc *r, struct tm *tm)
{
    time_t t = (time_t)guest_sec(r);
    gmtime_r(&t, tm);
}

static uint8_t read_time(const struct rtc *r, unsigned reg)
{
    struct tm tm;
    guest_tm(r, &tm);
    switch (reg) {
    case REG_SEC: return encode(r, (unsigned)tm.tm_sec);
    case REG_MIN: return encode(r, (unsigned)tm.tm_min);
    case REG_HOUR:
        if (r->cmos[REG_B] & B_24H)
            return encode(r, (unsigned)tm.tm_hour);
        {
            unsigned h = (unsigned)tm.tm_hour % 12;
            return (uint8_t)(encode(r, h ? h : 12) | (tm.tm_hour >= 12 ? 0x80 : 0));
        }
    case REG_WDAY: return encode(r, (unsigned)tm.tm_wday + 1);
    case REG_MDAY: return encode(r, (unsigned)tm.tm_mday);
    case REG_MON: return encode(r, (unsigned)tm.tm_mon + 1);
    case REG_YEAR: return encode(r, (unsigned)(tm.tm_year % 100));
    default: return encode(r, (unsigned)(1900 + tm.tm_year) / 100);  /* century */
    }
}

/* Setting one field keeps the others as the guest sees them now and moves
 * the offset, so the clock keeps running from the new value. */
static void write_time(struct rtc *r, unsigned reg, uint8_t v)
{
    struct tm tm;
    guest_tm(r, &tm);
    switch (reg) {
    case REG_SEC: tm.tm_sec = (int)decode(r, v); break;
    case REG_MIN: tm.tm_min = (int)decode(r, v); break;
    case REG_HOUR:
        if (r->cmos[REG_B] & B_24H) {
            tm.tm_hour = (int)decode(r, v);
        } else {
            int h = (int)decode(r, v & 0x7f) % 12;
            tm.tm_hour = h + ((v & 0x80) ? 12 : 0);
        }
        break;
    case REG_WDAY: return;  /* derived from the date */
    case REG_MDAY: tm.tm_mday = (int)decode(r, v); break;
    case REG_MON: tm.tm_mon = (int)decode(r, v) - 1; break;
    case REG_YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + (int)decode(r, v); break;
    default: tm.tm_year = ((int)decode(r, v) - 19) * 100 + tm.tm_year % 100; break;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return;
    r->offset = (int64_t)t - floor_div(dev_clock_ns(&r->clock), NS_PER_SEC);
    /* A clock set anew has no updates or alarms behind it. */
    r->flags_sec = r->uip_sec = (int64_t)t;
}

static unsigned alarm_hour(const struct rtc *r, uint8_t v)
{
    if (r->cmos[REG_B] & B_24H)
        return decode(r, v);
    return decode(r, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

/* Whether the alarm (registers 1, 3, 5; 0xC0-0xFF is "any") fires in the
 * guest second `t`. */
static bool alarm_at(const struct rtc *r, int64_t t)
{
    int64_t sod = t - floor_div(t, DAY_SEC) * DAY_SEC;
    uint8_t s = r->cmos[REG_SEC_ALARM], m = r->cmos[REG_MIN_ALARM], h = r->cmos[REG_HOUR_ALARM];
    return ((s & ALARM_DONT_CARE) == ALARM_DONT_CARE || decode(r, s) == sod % 60) &&
           ((m & ALARM_DONT_CARE) == ALARM_DONT_CARE || decode(r, m) == sod / 60 % 60) &&
           ((h & ALARM_DONT_CARE) == ALARM_DONT_CARE || alarm_hour(r, h) == sod / 3600);
}

/* Whether the alarm fires in any second of (from, to]; a day covers
 * every time it can name. */
static bool alarm_between(const struct rtc *r, int64_t from, int64_t to)
{
    if (to - from > DAY_SEC)
        to = from + DAY_SEC;
    for (int64_t t = from + 1; t <= to; t++)
        if (alarm_at(r, t))
            return true;
    return false;
}

/* IRQ 8 follows IRQF, which is high while a flag in C and its enable in B
 * are both set: one rising edge per event the guest acknowledges by
 * reading C. */
static void update_irq(struct rtc *r)
{
    bool level = r->cmos[REG_C] & r->cmos[REG_B] & C_FLAGS;
    r->cmos[REG_C] = (uint8_t)((r->cmos[REG_C] & ~C_IRQF) | (level ? C_IRQF : 0));
    if (level != r->irq_line && r->host.set_irq)
        r->host.set_irq(r->host.ctx, RTC_IRQ, level);
    r->irq_line = level;
}

/* Brings UF and AF up to the guest's present second: the updates since the
 * last look happened, whether or not anyone watched (the flags are set
 * with their interrupts disabled too, as on the chip). */
static void catch_up(struct rtc *r)
{
    int64_t now = guest_sec(r);
    if (r->flags_sec == RTC_NOT_LOOKED_AT) {
        /* The first access: no updates lie behind it. */
        r->flags_sec = r->uip_sec = now;
        return;
    }
    if (now <= r->flags_sec)
        return;
    if (!(r->cmos[REG_B] & B_SET)) {
        r->cmos[REG_C] |= C_UF;
        if (alarm_between(r, r->flags_sec, now))
            r->cmos[REG_C] |= C_AF;
    }
    r->flags_sec = now;
    update_irq(r);
}

/* UIP as the chip has it, 244 us before each update. A guest that polls
 * slower than that (emulated, or preempted) could miss every window and
 * spin forever waiting for UIP to go 1 then 0, so an update that no read
 * of A has seen shows as in progress to the next read: early or late, a
 * reader never gets UIP clear just before the time changes. */
static bool update_in_progress(struct rtc *r)
{
    if (r->cmos[REG_B] & B_SET)
        return false;
    int64_t frac, sec = guest_sec_frac(r, &frac);
    if (frac >= NS_PER_SEC - UIP_NS) {
        r->uip_sec = sec + 1;
        return true;
    }
    if (r->uip_sec < sec) {
        r->uip_sec = sec;
        return true;
    }
    return false;
}

static bool is_time_reg(unsigned reg)
{
    return reg <= REG_YEAR ? (reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR ||
                              reg >= REG_WDAY)
                           : reg == REG_CENTURY;
}

static uint8_t read_reg(struct rtc *r, unsigned reg)
{
    if (is_time_reg(reg))
        return read_time(r, reg);
    switch (reg) {
    case REG_A: return (uint8_t)((r->cmos[REG_A] & ~A_UIP) | (update_in_progress(r) ? A_UIP : 0));
    case REG_C: {
        uint8_t v = r->cmos[REG_C];
        r->cmos[REG_C] = 0;
        update_irq(r);
        return v;
    }
    case REG_D: return D_VRT;
    default: return r->cmos[reg];
    }
}

static void start_thread(struct rtc *r);

static void write_reg(struct rtc *r, unsigned reg, uint8_t v)
{
    if (is_time_reg(reg)) {
        write_time(r, reg, v);
    } else if (reg == REG_A) {
        r->cmos[REG_A] = v & 0x7f;
    } else if (reg == REG_B) {
        if (v & B_SET)
            v &= (uint8_t)~B_UIE;    /* the chip clears UIE when SET goes on */
        r->cmos[REG_B] = v;
        update_irq(r);
        if (v & (B_AIE | B_UIE))
            start_thread(r);
        pthread_cond_signal(&r->wake);
    } else if (reg != REG_C && reg != REG_D) {
        r->cmos[reg] = v;
    }
}

/* One byte at port RTC_BASE+port. */
static void rtc_byte(struct rtc *r, uint64_t port, uint8_t *data, bool is_write)
{
    if (port == 0) {
        if (is_write)
            r->index = *data & 0x7f;    /* bit 7 gates NMIs on real boards */
        else
            *data = 0xff;
    } else {
        catch_up(r);
        if (is_write)
            write_reg(r, r->index, *data);
        else
            *data = read_reg(r, r->index);
    }
}

/* A 16-bit access covers both ports, as on a real board (outw to 0x70
 * sets the index and writes the register): the bus keeps it in range. */
static void rtc_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct rtc *r = opaque;
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < len; i++)
        rtc_byte(r, offset + i, &data[i], is_write);
    pthread_mutex_unlock(&r->lock);
}

/* Raises the update and alarm interrupts on time while the guest has them
 * enabled (a guest that waits for IRQ 8 touches no register meanwhile):
 * wakes at each of the guest's second boundaries, and sleeps otherwise.
 * Not started until the guest enables one. The periodic interrupt (PIE)
 * is not emulated. */
static void *rtc_thread(void *opaque)
{
    struct rtc *r = opaque;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        catch_up(r);
        if (!(r->cmos[REG_B] & (B_AIE | B_UIE))) {
            pthread_cond_wait(&r->wake, &r->lock);
            continue;
        }
        int64_t frac;
        guest_sec_frac(r, &frac);
        int64_t wait = NS_PER_SEC - frac + 1000;
        int64_t until = host_clock_ns(CLOCK_MONOTONIC) + wait;
        struct timespec ts = { (time_t)(until / NS_PER_SEC), (long)(until % NS_PER_SEC) };
        pthread_cond_timedwait(&r->wake, &r->lock, &ts);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Under the lock. The thread takes no signal: they belong to the main
 * loop's signalfd and the vCPU kicks. */
static void start_thread(struct rtc *r)
{
    if (r->thread_running || r->thread_failed)
        return;
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSYS);         /* a seccomp trap must reach kvmbox's report */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = dev_start_thread(&r->host, &r->thread, "rtc", SANDBOX_DEVICE, rtc_thread, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        log_warn("rtc: cannot start the interrupt thread: %s; alarm and update "
                 "interrupts come only when the guest reads the RTC", log_strerror(e));
    r->thread_running = e == 0;
    r->thread_failed = e != 0;
}

void rtc_set_clock(struct rtc *r, const struct dev_clock *clock)
{
    pthread_mutex_lock(&r->lock);
    r->clock = *clock;
    r->offset = 0;
    r->flags_sec = r->uip_sec = guest_sec(r);
    pthread_mutex_unlock(&r->lock);
}

static void put16(uint8_t *cmos, unsigned reg, uint64_t v)
{
    if (v > 0xffff)
        v = 0xffff;
    cmos[reg] = (uint8_t)v;
    cmos[reg + 1] = (uint8_t)(v >> 8);
}

static void fill_memory_bytes(uint8_t *cmos, uint64_t low_end, uint64_t high)
{
    put16(cmos, 0x15, 640);                                      /* base memory, KiB */
    uint64_t ext_kb = low_end > (1 << 20) ? (low_end - (1 << 20)) >> 10 : 0;
    put16(cmos, 0x17, ext_kb);                                   /* above 1 MiB, KiB */
    put16(cmos, 0x30, ext_kb);
    uint64_t above16 = low_end > (16 << 20) ? (low_end - (16 << 20)) >> 16 : 0;
    put16(cmos, 0x34, above16);                                  /* above 16 MiB, 64 KiB */
    uint64_t above4g = high >> 16;                               /* above 4 GiB, 64 KiB */
    if (above4g > 0xffffff)
        above4g = 0xffffff;
    cmos[0x5b] = (uint8_t)above4g;
    cmos[0x5c] = (uint8_t)(above4g >> 8);
    cmos[0x5d] = (uint8_t)(above4g >> 16);
    unsigned sum = 0;                                            /* IBM checksum 0x10-0x2d */
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += cmos[i];
    cmos[0x2e] = (uint8_t)(sum >> 8);
    cmos[0x2f] = (uint8_t)sum;
}

struct rtc *rtc_create(const struct dev_host *host, uint64_t low_ram_end, uint64_t high_ram,
                       struct device *out)
{
    struct rtc *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->host = *host;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &ca);
    pthread_condattr_destroy(&ca);
    r->clock = (struct dev_clock){ .id = CLOCK_REALTIME };
    /* The clock is first read when the guest first looks (catch_up): a VM
     * whose guest never does never reads the host clock for it. */
    r->flags_sec = r->uip_sec = RTC_NOT_LOOKED_AT;
    r->cmos[REG_A] = 0x26;          /* 32.768 kHz time base, 1024 Hz rate */
    r->cmos[REG_B] = B_24H;         /* 24-hour BCD, as PC firmware leaves it */
    fill_memory_bytes(r->cmos, low_ram_end, high_ram);
    if (bus_register(host->pio, RTC_BASE, 2, rtc_io, r, "rtc") < 0) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    *out = (struct device){ .ops = &rtc_ops, .dev = r };
    return r;
}

static void rtc_save(const void *dev, struct state_writer *w)
{
    struct rtc *r = (struct rtc *)dev;
    pthread_mutex_lock(&r->lock);
    state_begin(w, rtc_ops.name, 1);
    state_put_u8(w, r->index);
    state_put_bytes(w, r->cmos, sizeof r->cmos);
    /* Absolute guest time, so the clock stays right on another host. */
    state_put_u64(w, (uint64_t)guest_sec(r));
    state_end(w);
    pthread_mutex_unlock(&r->lock);
}

static int rtc_load(void *dev, struct state_reader *rd)
{
    struct rtc *r = dev;
    uint32_t version;
    if (state_open(rd, rtc_ops.name, &version) < 0 || version != 1)
        return -1;
    uint8_t index = state_get_u8(rd);
    uint8_t cmos[128];
    state_get_bytes(rd, cmos, sizeof cmos);
    int64_t guest_now = (int64_t)state_get_u64(rd);
    if (state_close(rd) < 0)
        return -1;
    int64_t host_now = floor_div(dev_clock_ns(&r->clock), NS_PER_SEC);
    if (guest_now < host_now - RTC_MAX_OFFSET || guest_now > host_now + RTC_MAX_OFFSET)
        return -1;
    pthread_mutex_lock(&r->lock);
    r->index = index & 0x7f;
    memcpy(r->cmos, cmos, sizeof cmos);
    r->offset = guest_now - host_now;
    r->flags_sec = r->uip_sec = guest_sec(r);
    update_irq(r);
    if (r->cmos[REG_B] & (B_AIE | B_UIE))
        start_thread(r);
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static void rtc_destroy(void *dev)
{
    struct rtc *r = dev;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_signal(&r->wake);
    bool joined = r->thread_running;
    pthread_mutex_unlock(&r->lock);
    if (joined)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

const struct device_ops rtc_ops = {
    .name = "rtc",
    .save = rtc_save,
    .load = rtc_load,
    .destroy = rtc_destroy,
};
