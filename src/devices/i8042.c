#include "devices/i8042.h"

#include "core/state.h"
#include "core/bus.h"

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

#define PS2_ACK 0xfa
#define PS2_RESEND 0xfe
#define PS2_BAT_OK 0xaa

/* A PS/2 mouse that never moves, on the aux port: enough for Linux's
 * psmouse to find a "PS/2 Generic Mouse" at once (the DSDT lists one), as
 * a real mouse answers. */
struct ps2_mouse {
    uint8_t arg_cmd;                 /* a command waiting for its argument, or 0 */
    uint8_t rate, resolution;
    bool scaling21, reporting, remote;
};

struct i8042 {
    struct dev_host host;
    pthread_mutex_t lock;
    /* Saved state. */
    uint8_t status, ctr, pending_cmd, outport;
    uint8_t kbd_arg_cmd;             /* a keyboard command waiting for its argument, or 0 */
    struct ps2_mouse mouse;
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

/* Drives IRQ 1 or 12 while a byte waits in the output buffer and its
 * interrupt is enabled. The lines are edge-triggered on the ISA bus and
 * Linux takes one byte per interrupt, so every byte needs an edge of its
 * own: a read of the output buffer lowers the line (lower_lines) before
 * the next byte moves in and raises it again, as the real controller does
 * when it refills the buffer. */
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

static void lower_lines(struct i8042 *k)
{
    if (k->kbd_line && k->host.set_irq)
        k->host.set_irq(k->host.ctx, I8042_KBD_IRQ, false);
    if (k->aux_line && k->host.set_irq)
        k->host.set_irq(k->host.ctx, I8042_AUX_IRQ, false);
    k->kbd_line = k->aux_line = false;
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

#define KBD_SCANCODE_SET 2

static void keyboard_command(struct i8042 *k, uint8_t b)
{
    uint8_t arg_cmd = k->kbd_arg_cmd;
    k->kbd_arg_cmd = 0;
    if (arg_cmd == 0xf0 && b == 0) {                /* which scancode set? */
        push(k, PS2_ACK, false);
        /* Through the controller's translation set 2 reads as 0x41. */
        push(k, (k->ctr & CTR_XLATE) ? 0x41 : KBD_SCANCODE_SET, false);
        return;
    }
    if (arg_cmd) {                                  /* LEDs, rate, set: taken */
        push(k, PS2_ACK, false);
        return;
    }
    switch (b) {
    case 0xff: push(k, PS2_ACK, false); push(k, PS2_BAT_OK, false); break;  /* reset */
    case 0xf2:                                                  /* identify: MF2 */
        push(k, PS2_ACK, false);
        push(k, 0xab, false);
        push(k, (k->ctr & CTR_XLATE) ? 0x41 : 0x83, false);     /* 0x83, translated */
        break;
    case 0xee: push(k, 0xee, false); break;                     /* echo */
    case 0xed: case 0xf0: case 0xf3:                            /* an argument follows */
        k->kbd_arg_cmd = b;
        push(k, PS2_ACK, false);
        break;
    default: push(k, PS2_ACK, false); break;
    }
}

static void mouse_defaults(struct ps2_mouse *m)
{
    *m = (struct ps2_mouse){ .rate = 100, .resolution = 2 };
}

static void mouse_command(struct i8042 *k, uint8_t b)
{
    struct ps2_mouse *m = &k->mouse;
    uint8_t arg_cmd = m->arg_cmd;
    m->arg_cmd = 0;
    if (arg_cmd == 0xe8)
        m->resolution = b & 3;
    else if (arg_cmd == 0xf3)
        m->rate = b;
    if (arg_cmd) {
        push(k, PS2_ACK, true);
        return;
    }
    switch (b) {
    case 0xff:                                      /* reset: BAT ok, ID 0 */
        mouse_defaults(m);
        push(k, PS2_ACK, true); push(k, PS2_BAT_OK, true); push(k, 0x00, true);
        break;
    case 0xf6: mouse_defaults(m); push(k, PS2_ACK, true); break;
    case 0xf5: m->reporting = false; push(k, PS2_ACK, true); break;
    case 0xf4: m->reporting = true; push(k, PS2_ACK, true); break;
    case 0xf2: push(k, PS2_ACK, true); push(k, 0x00, true); break;   /* ID: plain PS/2 */
    case 0xf0: m->remote = true; push(k, PS2_ACK, true); break;
    case 0xea: m->remote = false; push(k, PS2_ACK, true); break;
    case 0xe7: m->scaling21 = true; push(k, PS2_ACK, true); break;
    case 0xe6: m->scaling21 = false; push(k, PS2_ACK, true); break;
    case 0xe8: case 0xf3: m->arg_cmd = b; push(k, PS2_ACK, true); break;
    case 0xe9:                                      /* status: mode, resolution, rate */
        push(k, PS2_ACK, true);
        push(k, (uint8_t)((m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) |
                          (m->scaling21 ? 0x10 : 0)), true);
        push(k, m->resolution, true);
        push(k, m->rate, true);
        break;
    case 0xeb:                                      /* read data: no motion, no button */
        push(k, PS2_ACK, true); push(k, 0x08, true); push(k, 0x00, true); push(k, 0x00, true);
        break;
    default:
        /* Unknown (wrap mode, vendor extensions): refused at once, so a
         * driver probing for a touchpad does not wait for a time-out. */
        push(k, PS2_RESEND, true);
        break;
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
        /* Write the aux output buffer: the byte comes back as if from the
         * mouse (AUX status, IRQ 12). Linux's probe loops bytes back this
         * way to find the aux port and to test its interrupt; without it
         * each test waits for its time-out. */
        push(k, b, true);
        break;
    case 0xd4:
        mouse_command(k, b);
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
            lower_lines(k);          /* the next byte gets an edge of its own */
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
    mouse_defaults(&k->mouse);
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
    *out = (struct device){ .ops = &i8042_ops, .dev = k };
    return k;
}

/* Version 2 adds the keyboard's and the mouse's command state. */
#define I8042_STATE_VERSION 2

static void i8042_save(const void *dev, struct state_writer *w)
{
    struct i8042 *k = (struct i8042 *)dev;
    pthread_mutex_lock(&k->lock);
    state_begin(w, i8042_ops.name, I8042_STATE_VERSION);
    state_put_u8(w, k->status);
    state_put_u8(w, k->ctr);
    state_put_u8(w, k->pending_cmd);
    state_put_u8(w, k->outport);
    state_put_u8(w, k->kbd_arg_cmd);
    state_put_u8(w, k->mouse.arg_cmd);
    state_put_u8(w, k->mouse.rate);
    state_put_u8(w, k->mouse.resolution);
    state_put_u8(w, (uint8_t)(k->mouse.scaling21 | k->mouse.reporting << 1 | k->mouse.remote << 2));
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
    if (state_open(r, i8042_ops.name, &version) < 0 || version != I8042_STATE_VERSION)
        return -1;
    uint8_t status = state_get_u8(r), ctr = state_get_u8(r);
    uint8_t pending = state_get_u8(r), outport = state_get_u8(r);
    uint8_t kbd_arg = state_get_u8(r);
    struct ps2_mouse m = { .arg_cmd = state_get_u8(r) };
    m.rate = state_get_u8(r);
    m.resolution = state_get_u8(r) & 3;
    uint8_t mode = state_get_u8(r);
    m.scaling21 = mode & 1;
    m.reporting = mode & 2;
    m.remote = mode & 4;
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
    k->kbd_arg_cmd = kbd_arg;
    k->mouse = m;
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
