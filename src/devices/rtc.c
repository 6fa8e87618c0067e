#include "devices/rtc.h"

#include "migration/state.h"
#include "vmm/bus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    REG_SEC = 0x00, REG_MIN = 0x02, REG_HOUR = 0x04, REG_WDAY = 0x06, REG_MDAY = 0x07,
    REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
    REG_CENTURY = 0x32,
};
#define B_24H    0x02
#define B_BINARY 0x04
#define D_VRT    0x80   /* valid RAM and time */

struct rtc {
    struct dev_host host;
    pthread_mutex_t lock;
    /* Saved state. */
    uint8_t index;
    uint8_t cmos[128];
    int64_t offset;     /* guest time minus host time, seconds */
};

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
    time_t t = time(NULL) + (time_t)r->offset;
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
    if (t != (time_t)-1)
        r->offset = (int64_t)(t - time(NULL));
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
    case REG_A: return r->cmos[REG_A] & 0x7f;  /* never "update in progress" */
    case REG_C: {
        uint8_t v = r->cmos[REG_C];
        r->cmos[REG_C] = 0;
        return v;
    }
    case REG_D: return D_VRT;
    default: return r->cmos[reg];
    }
}

static void write_reg(struct rtc *r, unsigned reg, uint8_t v)
{
    if (is_time_reg(reg))
        write_time(r, reg, v);
    else if (reg == REG_A)
        r->cmos[REG_A] = v & 0x7f;
    else if (reg != REG_C && reg != REG_D)
        r->cmos[reg] = v;
}

static void rtc_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct rtc *r = opaque;
    (void)len;
    pthread_mutex_lock(&r->lock);
    if (offset == 0) {
        if (is_write)
            r->index = data[0] & 0x7f;  /* bit 7 gates NMIs on real boards */
        else
            data[0] = 0xff;
    } else {
        if (is_write)
            write_reg(r, r->index, data[0]);
        else
            data[0] = read_reg(r, r->index);
    }
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
    r->cmos[REG_A] = 0x26;          /* 32.768 kHz time base, 1024 Hz rate */
    r->cmos[REG_B] = B_24H;         /* 24-hour BCD, as PC firmware leaves it */
    fill_memory_bytes(r->cmos, low_ram_end, high_ram);
    if (bus_register(host->pio, 0x70, 2, rtc_io, r, "rtc") < 0) {
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    *out = (struct device){ &rtc_ops, r };
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
    state_put_u64(w, (uint64_t)(time(NULL) + r->offset));
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
    pthread_mutex_lock(&r->lock);
    r->index = index & 0x7f;
    memcpy(r->cmos, cmos, sizeof cmos);
    r->offset = guest_now - (int64_t)time(NULL);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static void rtc_destroy(void *dev)
{
    struct rtc *r = dev;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

const struct device_ops rtc_ops = {
    .name = "rtc",
    .save = rtc_save,
    .load = rtc_load,
    .destroy = rtc_destroy,
};
