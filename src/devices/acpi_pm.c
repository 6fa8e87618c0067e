#include "devices/acpi_pm.h"

#include "migration/state.h"
#include "vmm/bus.h"

#include <pthread.h>
#include <stdlib.h>

#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK 0x1c00

struct acpi_pm {
    struct dev_host host;
    uint8_t s5_typ, reset_value;
    pthread_mutex_t lock;
    /* Saved state. */
    uint16_t sts, en, cnt;
};

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
    bool poweroff = false, reset = false;
    pthread_mutex_lock(&pm->lock);
    if (off < 2) {                            /* PM1a_STS: write 1 to clear */
        if (is_write) put16(&pm->sts, off, data, len, true);
        else get16(pm->sts, off, data, len);
    } else if (off < 4) {                     /* PM1a_EN */
        if (is_write) put16(&pm->en, off - 2, data, len, false);
        else get16(pm->en, off - 2, data, len);
    } else if (off < 6) {                     /* PM1a_CNT */
        if (is_write) {
            put16(&pm->cnt, off - 4, data, len, false);
            unsigned typ = (pm->cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;
            if ((pm->cnt & PM1_CNT_SLP_EN) && typ == pm->s5_typ)
                poweroff = true;
            pm->cnt &= (uint16_t)~PM1_CNT_SLP_EN;  /* SLP_EN reads as 0 */
        } else {
            get16(pm->cnt, off - 4, data, len);
        }
    } else {                                  /* reset register */
        if (is_write)
            reset = data[0] == pm->reset_value;
        else
            data[0] = 0;
    }
    pthread_mutex_unlock(&pm->lock);
    /* Sleep states other than S5 are not offered (the DSDT names none). */
    if (poweroff && pm->host.request_stop)
        pm->host.request_stop(pm->host.ctx, VM_STOP_POWEROFF, 0);
    if (reset && pm->host.request_stop)
        pm->host.request_stop(pm->host.ctx, VM_STOP_RESET, 0);
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
    if (bus_register(host->pio, base, 7, pm_io, pm, "acpi-pm") < 0) {
        pthread_mutex_destroy(&pm->lock);
        free(pm);
        return -1;
    }
    *out = (struct device){ &acpi_pm_ops, pm };
    return 0;
}

static void acpi_pm_save(const void *dev, struct state_writer *w)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    pthread_mutex_lock(&pm->lock);
    state_begin(w, acpi_pm_ops.name, 1);
    state_put_u16(w, pm->sts);
    state_put_u16(w, pm->en);
    state_put_u16(w, pm->cnt);
    state_end(w);
    pthread_mutex_unlock(&pm->lock);
}

static int acpi_pm_load(void *dev, struct state_reader *r)
{
    struct acpi_pm *pm = dev;
    uint32_t version;
    if (state_open(r, acpi_pm_ops.name, &version) < 0 || version != 1)
        return -1;
    uint16_t sts = state_get_u16(r), en = state_get_u16(r), cnt = state_get_u16(r);
    if (state_close(r) < 0)
        return -1;
    pthread_mutex_lock(&pm->lock);
    pm->sts = sts;
    pm->en = en;
    pm->cnt = cnt;
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
