#include "devices/i8042.h"

#include "migration/state.h"
#include "vmm/bus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STS_OBF    0x01  /* output buffer full */
#define STS_SYS    0x04  /* self test passed */
#define STS_CMD    0x08  /* last write was to the command port */
#define STS_UNLOCK 0x10  /* keyboard not inhibited (no keylock) */
#define STS_AUXOBF 0x20  /* output byte is from the aux port */

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS    0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

#define QUEUE_SIZE 16

struct i8042 {
    struct dev_host host;
    pthread_mutex_t lock;
    /* Saved state. */
    uint8_t status, ctr, pending_cmd, outport;
    uint8_t queue[QUEUE_SIZE], queue_aux[QUEUE_SIZE];  /* byte, and whether from aux */
    unsigned head, count;
    bool kbd_line, aux_line;
};

static void push(struct i8042 *k, uint8_t b, bool aux)
{
    if (k->count == QUEUE_SIZE)
        return;
    unsigned i = (k->head + k->count) % QUEUE_SIZE;
    k->queue[i] = b;
    k->queue_aux[i] = aux;
    k->count++;
}

/* Drives IRQ 1 or 12 while a byte waits and its interrupt is enabled; the
 * lines are edge-triggered on the ISA bus, so each byte gives one edge. */
static void update(struct i8042 *k)
{
    bool aux = k->count && k->queue_aux[k->head];
    k->status = (uint8_t)((k->status & ~(STS_OBF | STS_AUXOBF)) |
                          (k->count ? STS_OBF : 0) | (aux ? STS_AUXOBF : 0));
    bool kbd = k->count && !aux && (k->ctr & CTR_KBDINT);
    bool auxl = k->count && aux && (k->ctr & CTR_AUXINT);
    if (kbd != k->kbd_line && k->host.set_irq)
        k->host.set_irq(k->host.ctx, I8042_KBD_IRQ, kbd);
    if (auxl != k->aux_line && k->host.set_irq)
        k->host.set_irq(k->host.ctx, I8042_AUX_IRQ, auxl);
    k->kbd_line = kbd;
    k->aux_line = auxl;
}

static void reset_cpu(struct i8042 *k)
{
    if (k->host.request_stop)
        k->host.request_stop(k->host.ctx, VM_STOP_RESET, 0);
}

static void command(struct i8042 *k, uint8_t cmd)
{
    switch (cmd) {
    case 0x20: push(k, k->ctr, false); break;          /* read CTR */
    case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
        k->pending_cmd = cmd;                           /* a data byte follows */
        break;
    case 0xa7: k->ctr |= CTR_AUXDIS; break;
    case 0xa8: k->ctr &= (uint8_t)~CTR_AUXDIS; break;
    case 0xa9: push(k, 0x00, false); break;             /* aux port test: ok */
    case 0xaa: push(k, 0x55, false); k->status |= STS_SYS; break;  /* self test */
    case 0xab: push(k, 0x00, false); break;             /* keyboard port test: ok */
    case 0xad: k->ctr |= CTR_KBDDIS; break;
    case 0xae: k->ctr &= (uint8_t)~CTR_KBDDIS; break;
    case 0xc0: push(k, 0x00, false); break;             /* read input port */
    case 0xd0: push(k, k->outport, false); break;       /* read output port */
    default:
        /* 0xF0-0xFF pulse output port bits low for a moment; bit 0 is the
         * CPU reset line. */
        if ((cmd & 0xf0) == 0xf0 && !(cmd & 0x01))
            reset_cpu(k);
        break;
    }
}

static void keyboard_command(struct i8042 *k, uint8_t b)
{
    switch (b) {
    case 0xff: push(k, 0xfa, false); push(k, 0xaa, false); break;  /* reset, BAT ok */
    case 0xf2: push(k, 0xfa, false); push(k, 0xab, false); push(k, 0x83, false); break;
    case 0xee: push(k, 0xee, false); break;                          /* echo */
    default: push(k, 0xfa, false); break;                            /* ack */
    }
}

static void data_write(struct i8042 *k, uint8_t b)
{
    uint8_t cmd = k->pending_cmd;
    k->pending_cmd = 0;
    switch (cmd) {
    case 0x60:
        k->ctr = b;
        break;
    case 0xd1:
        k->outport = b;
        if (!(b & 0x01))
            reset_cpu(k);
        break;
    case 0xd2:
        push(k, b, false);
        break;
    case 0xd3:
    case 0xd4:
        /* No mouse: aux bytes go nowhere, so Linux finds no aux port. */
        break;
    default:
        keyboard_command(k, b);
        break;
    }
}

static void access(struct i8042 *k, bool cmd_port, uint8_t *data, bool is_write)
{
    pthread_mutex_lock(&k->lock);
    if (!cmd_port) {                      /* port 0x60 */
        if (is_write) {
            k->status &= (uint8_t)~STS_CMD;
            data_write(k, data[0]);
        } else if (k->count) {
            data[0] = k->queue[k->head];
            k->head = (k->head + 1) % QUEUE_SIZE;
            k->count--;
        } else {
            data[0] = 0;
        }
    } else {                              /* port 0x64 */
        if (is_write) {
            k->status |= STS_CMD;
            command(k, data[0]);
        } else {
            data[0] = k->status;
        }
    }
    update(k);
    pthread_mutex_unlock(&k->lock);
}

static void data_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    (void)offset, (void)len;
    access(opaque, false, data, is_write);
}

static void cmd_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    (void)offset, (void)len;
    access(opaque, true, data, is_write);
}

struct i8042 *i8042_create(const struct dev_host *host, struct device *out)
{
    struct i8042 *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->host = *host;
    pthread_mutex_init(&k->lock, NULL);
    /* "Not inhibited", as QEMU: without it Linux warns "Keylock active". */
    k->status = STS_SYS | STS_UNLOCK;
    k->ctr = CTR_KBDINT | CTR_SYS | CTR_XLATE;
    k->outport = 0x01;
    /* Two one-byte ranges: 0x61-0x63 in between are the in-kernel PIT's
     * and system port B, which KVM serves before an exit reaches us. */
    if (bus_register(host->pio, 0x60, 1, data_io, k, "i8042-data") < 0) {
        free(k);
        return NULL;
    }
    if (bus_register(host->pio, 0x64, 1, cmd_io, k, "i8042-cmd") < 0) {
        bus_unregister(host->pio, 0x60);
        free(k);
        return NULL;
    }
    *out = (struct device){ &i8042_ops, k };
    return k;
}

static void i8042_save(const void *dev, struct state_writer *w)
{
    struct i8042 *k = (struct i8042 *)dev;
    pthread_mutex_lock(&k->lock);
    state_begin(w, i8042_ops.name, 1);
    state_put_u8(w, k->status);
    state_put_u8(w, k->ctr);
    state_put_u8(w, k->pending_cmd);
    state_put_u8(w, k->outport);
    state_put_u8(w, (uint8_t)k->count);
    for (unsigned i = 0; i < k->count; i++) {
        state_put_u8(w, k->queue[(k->head + i) % QUEUE_SIZE]);
        state_put_u8(w, k->queue_aux[(k->head + i) % QUEUE_SIZE]);
    }
    state_end(w);
    pthread_mutex_unlock(&k->lock);
}

static int i8042_load(void *dev, struct state_reader *r)
{
    struct i8042 *k = dev;
    uint32_t version;
    if (state_open(r, i8042_ops.name, &version) < 0 || version != 1)
        return -1;
    uint8_t status = state_get_u8(r), ctr = state_get_u8(r);
    uint8_t pending = state_get_u8(r), outport = state_get_u8(r);
    unsigned count = state_get_u8(r);
    if (count > QUEUE_SIZE)
        return -1;
    uint8_t q[QUEUE_SIZE], qa[QUEUE_SIZE];
    for (unsigned i = 0; i < count; i++) {
        q[i] = state_get_u8(r);
        qa[i] = state_get_u8(r) != 0;
    }
    if (state_close(r) < 0)
        return -1;
    pthread_mutex_lock(&k->lock);
    k->status = status;
    k->ctr = ctr;
    k->pending_cmd = pending;
    k->outport = outport;
    memcpy(k->queue, q, count);
    memcpy(k->queue_aux, qa, count);
    k->head = 0;
    k->count = count;
    update(k);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

static void i8042_destroy(void *dev)
{
    struct i8042 *k = dev;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

const struct device_ops i8042_ops = {
    .name = "i8042",
    .save = i8042_save,
    .load = i8042_load,
    .destroy = i8042_destroy,
};
