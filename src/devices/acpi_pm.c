#include "devices/acpi_pm.h"

#include "core/state.h"
#include "util/log.h"
#include "core/bus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK 0x1c00
#define PM1_STS_TMR 0x0001          /* the timer's bit 31 changed */
#define PM1_STS_PWRBTN 0x0100       /* the power button was pressed (PM1_EN: its enable) */
#define PM_TMR_OFFSET 8
#define PM_TMR_MSB_SHIFT 31

struct acpi_pm {
    struct dev_host host;
    uint8_t s5_typ, reset_value;
    pthread_mutex_t lock;
    struct dev_clock clock;
    bool warned_sleep;
    bool sci_level;                  /* what the SCI line is driven to */
    /* Timer ticks = ticks of the clock + tick_offset. Saved as the tick
     * count itself, never as a host time, so that the counter goes on from
     * where it was on whatever host and clock loads it. */
    int64_t tick_offset;
    /* The count starts (from 0, as after power-on) at the timer's first
     * use, not at creation: a VM whose guest never looks at it never
     * reads the host clock for it (and keeps libc's clock pages out of
     * its resident memory). */
    bool counting;
    uint64_t tmr_epoch;              /* ticks >> 31 when TMR_STS was last brought up to date */
    /* Saved state. */
    uint16_t sts, en, cnt;
};

/* The clock in PM timer ticks, without overflow for any uptime. */
static int64_t clock_ticks(const struct acpi_pm *pm)
{
    int64_t ns = dev_clock_ns(&pm->clock);
    int64_t sec = ns / NS_PER_SEC, rem = ns % NS_PER_SEC;
    return sec * ACPI_PM_TMR_HZ + rem * ACPI_PM_TMR_HZ / NS_PER_SEC;
}

static uint64_t ticks(struct acpi_pm *pm)
{
    int64_t now = clock_ticks(pm);
    if (!pm->counting) {
        pm->tick_offset = -now;
        pm->counting = true;
    }
    return (uint64_t)(now + pm->tick_offset);
}

/* TMR_STS is set whenever bit 31 of the counter changes. Worked out when
 * the status is looked at rather than by a timer: nothing raises the SCI
 * for it (a guest that sets TMR_EN gets no interrupt; Linux never does). */
static void sync_tmr_sts(struct acpi_pm *pm)
{
    uint64_t epoch = ticks(pm) >> PM_TMR_MSB_SHIFT;
    if (epoch != pm->tmr_epoch) {
        pm->sts |= PM1_STS_TMR;
        pm->tmr_epoch = epoch;
    }
}

/* The SCI (a level-triggered line) is up while an enabled event is
 * pending and the OS has ACPI mode on: only the power button raises it
 * (TMR_EN raises none, see sync_tmr_sts). Called with the lock held. */
static void update_sci(struct acpi_pm *pm)
{
    bool level = (pm->cnt & PM1_CNT_SCI_EN) && (pm->sts & pm->en & PM1_STS_PWRBTN);
    if (level != pm->sci_level && pm->host.set_irq)
        pm->host.set_irq(pm->host.ctx, ACPI_PM_SCI_IRQ, level);
    pm->sci_level = level;
}

static void put16(uint16_t *reg, uint64_t off, const uint8_t *data, unsigned len, bool w1c)
{
    for (unsigned i = 0; i < len && off + i < 2; i++) {
        unsigned shift = 8 * (unsigned)(off + i);
        uint16_t mask = (uint16_t)(0xffu << shift), v = (uint16_t)(data[i] << shift);
        *reg = w1c ? (uint16_t)(*reg & ~(v & mask)) : (uint16_t)((*reg & ~mask) | v);
    }
}

static void get16(uint16_t reg, uint64_t off, uint8_t *data, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        data[i] = off + i < 2 ? (uint8_t)(reg >> (8 * (off + i))) : 0;
}

static void pm_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
    struct acpi_pm *pm = opaque;
    bool poweroff = false, reset = false, warn_sleep = false;
    unsigned typ = 0;
    /* A read wider than the register it starts at (the bus keeps it
     * inside the block) reads zeros past that register, never what the
     * buffer held before. */
    if (!is_write)
        memset(data, 0, len);
    pthread_mutex_lock(&pm->lock);
    if (off >= PM_TMR_OFFSET) {               /* PM_TMR: read-only */
        uint32_t v = (uint32_t)ticks(pm);
        unsigned byte = (unsigned)(off - PM_TMR_OFFSET);
        for (unsigned i = 0; i < len && !is_write; i++)
            data[i] = byte + i < 4 ? (uint8_t)(v >> (8 * (byte + i))) : 0;
    } else if (off < 2) {                     /* PM1a_STS: write 1 to clear */
        sync_tmr_sts(pm);
        if (is_write) put16(&pm->sts, off, data, len, true);
        else get16(pm->sts, off, data, len);
    } else if (off < 4) {                     /* PM1a_EN */
        if (is_write) put16(&pm->en, off - 2, data, len, false);
        else get16(pm->en, off - 2, data, len);
    } else if (off < 6) {                     /* PM1a_CNT */
        if (is_write) {
            put16(&pm->cnt, off - 4, data, len, false);
            typ = (pm->cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;
            if ((pm->cnt & PM1_CNT_SLP_EN) && typ == pm->s5_typ)
                poweroff = true;
            else if ((pm->cnt & PM1_CNT_SLP_EN) && !pm->warned_sleep)
                warn_sleep = pm->warned_sleep = true;
            pm->cnt &= (uint16_t)~PM1_CNT_SLP_EN;  /* SLP_EN reads as 0 */
        } else {
            get16(pm->cnt, off - 4, data, len);
        }
    } else if (off == 6) {                    /* reset register */
        if (is_write)
            reset = data[0] == pm->reset_value;
        else
            data[0] = 0;
    } else if (!is_write) {                   /* base+7: nothing */
        data[0] = 0;
    }
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    /* Sleep states other than S5 are not offered (the DSDT names none);
     * a guest that asks anyway (kvm-unit-tests' s3 hard-codes SLP_TYP 1)
     * keeps running, and says so once. */
    if (warn_sleep)
        log_warn("the guest asked for ACPI sleep (SLP_TYP %u); kvmbox implements only S5 "
                 "(power-off), so the request is ignored and the guest keeps running", typ);
    if (poweroff && pm->host.request_stop)
        pm->host.request_stop(pm->host.ctx, VM_STOP_POWEROFF, 0);
    if (reset && pm->host.request_stop)
        pm->host.request_stop(pm->host.ctx, VM_STOP_RESET, 0);
}

void acpi_pm_power_button(void *dev)
{
    struct acpi_pm *pm = dev;
    pthread_mutex_lock(&pm->lock);
    pm->sts |= PM1_STS_PWRBTN;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_create(const struct dev_host *host, uint16_t base, uint8_t s5_typ, uint8_t reset_value,
                   struct device *out)
{
    struct acpi_pm *pm = calloc(1, sizeof *pm);
    if (!pm)
        return -1;
    pm->host = *host;
    pm->s5_typ = s5_typ;
    pm->reset_value = reset_value;
    pm->cnt = PM1_CNT_SCI_EN;   /* SMI_CMD is 0: ACPI mode from the start */
    pthread_mutex_init(&pm->lock, NULL);
    acpi_pm_set_clock(pm, &(struct dev_clock){ .id = CLOCK_MONOTONIC });
    /* One range up to the timer's end: base+7 reads 0 and ignores writes. */
    if (bus_register(host->pio, base, PM_TMR_OFFSET + 4, pm_io, pm, "acpi-pm") < 0) {
        pthread_mutex_destroy(&pm->lock);
        free(pm);
        return -1;
    }
    *out = (struct device){ .ops = &acpi_pm_ops, .dev = pm };
    return 0;
}

void acpi_pm_set_clock(void *dev, const struct dev_clock *clock)
{
    struct acpi_pm *pm = dev;
    pthread_mutex_lock(&pm->lock);
    pm->clock = *clock;
    pm->counting = false;                    /* from 0 at the first use */
    pm->tmr_epoch = 0;
    pthread_mutex_unlock(&pm->lock);
}

/* Version 2 adds the timer's count (64 bits, the guest's ticks). */
#define ACPI_PM_STATE_VERSION 2

static void acpi_pm_save(const void *dev, struct state_writer *w)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    pthread_mutex_lock(&pm->lock);
    sync_tmr_sts(pm);
    state_begin(w, acpi_pm_ops.name, ACPI_PM_STATE_VERSION);
    state_put_u16(w, pm->sts);
    state_put_u16(w, pm->en);
    state_put_u16(w, pm->cnt);
    state_put_u64(w, ticks(pm));
    state_end(w);
    pthread_mutex_unlock(&pm->lock);
}

static int acpi_pm_load(void *dev, struct state_reader *r)
{
    struct acpi_pm *pm = dev;
    uint32_t version;
    if (state_open(r, acpi_pm_ops.name, &version) < 0 || version != ACPI_PM_STATE_VERSION)
        return -1;
    uint16_t sts = state_get_u16(r), en = state_get_u16(r), cnt = state_get_u16(r);
    uint64_t count = state_get_u64(r);
    if (state_close(r) < 0)
        return -1;
    /* 2^62 ticks of 3.58 MHz is 40,000 years: beyond that the stream is
     * forged, and the offset below would overflow. */
    if (count >> 62)
        return -1;
    pthread_mutex_lock(&pm->lock);
    pm->sts = sts;
    pm->en = en;
    pm->cnt = cnt;
    /* The counter goes on from the saved count on this host's clock. */
    pm->tick_offset = (int64_t)count - clock_ticks(pm);
    pm->counting = true;
    pm->tmr_epoch = count >> PM_TMR_MSB_SHIFT;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    return 0;
}

static void acpi_pm_destroy(void *dev)
{
    struct acpi_pm *pm = dev;
    pthread_mutex_destroy(&pm->lock);
    free(pm);
}

const struct device_ops acpi_pm_ops = {
    .name = "acpi-pm",
    .save = acpi_pm_save,
    .load = acpi_pm_load,
    .destroy = acpi_pm_destroy,
};
