#include "devices/serial.h"

#include "core/state.h"
#include "core/bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    REG_DATA = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
    REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};
#define IER_RDI  0x01   /* received data available */
#define IER_THRI 0x02   /* transmit holding register empty */
#define IER_RLSI 0x04   /* receiver line status */
#define IER_MSI  0x08   /* modem status */
#define IIR_NONE 0x01
#define IIR_MSI  0x00
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_RLSI 0x06
#define IIR_CTI  0x0c   /* character timeout: data below the trigger level */
#define IIR_FIFO 0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
#define MSR_DELTAS 0x0f

#define FIFO_SIZE 16

struct serial {
    struct dev_host host;
    unsigned irq;
    void (*rx_space)(void *ctx);
    void *rx_ctx;
    pthread_mutex_t lock;

    /* Guest-visible state; all of it is saved. */
    uint8_t ier, lcr, mcr, msr, scr, dll, dlm, fcr;
    bool overrun;        /* LSR.OE, cleared by reading LSR */
    bool thr_pending;    /* THR-empty interrupt not yet acknowledged */
    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;

    bool irq_level;      /* what the line is driven to now */
    bool rx_starved;     /* a receive was refused for lack of room */
};

static unsigned rx_capacity(const struct serial *s)
{
    return (s->fcr & FCR_ENABLE) ? FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct serial *s)
{
    static const unsigned levels[4] = { 1, 4, 8, 14 };
    return (s->fcr & FCR_ENABLE) ? levels[s->fcr >> 6] : 1;
}

static uint8_t iir(const struct serial *s)
{
    uint8_t id = IIR_NONE;
    if (s->overrun && (s->ier & IER_RLSI))
        id = IIR_RLSI;
    else if (s->rx_count && (s->ier & IER_RDI))
        id = s->rx_count < rx_trigger(s) ? IIR_CTI : IIR_RDI;
    else if (s->thr_pending && (s->ier & IER_THRI))
        id = IIR_THRI;
    else if ((s->msr & MSR_DELTAS) && (s->ier & IER_MSI))
        id = IIR_MSI;
    return id | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
}

static void update_irq(struct serial *s)
{
    bool level = !(iir(s) & IIR_NONE);
    if (level != s->irq_level) {
        s->irq_level = level;
        if (s->host.set_irq)
            s->host.set_irq(s->host.ctx, s->irq, level);
    }
}

/* Recomputes the modem status inputs; in loopback they mirror MCR, else a
 * terminal is always "connected". Changed inputs set the delta bits. */
static void update_msr(struct serial *s)
{
    uint8_t in;
    if (s->mcr & MCR_LOOP)
        in = ((s->mcr & MCR_RTS) ? MSR_CTS : 0) | ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
             ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
    else
        in = MSR_DCD | MSR_DSR | MSR_CTS;
    uint8_t changed = (uint8_t)((s->msr ^ in) & 0xf0);
    uint8_t delta = 0;
    if (changed & MSR_CTS) delta |= 0x01;
    if (changed & MSR_DSR) delta |= 0x02;
    if ((s->msr & MSR_RI) && !(in & MSR_RI)) delta |= 0x04; /* trailing edge of RI */
    if (changed & MSR_DCD) delta |= 0x08;
    s->msr = (uint8_t)(in | (s->msr & MSR_DELTAS) | delta);
}

static bool rx_push(struct serial *s, uint8_t b)
{
    if (s->rx_count >= rx_capacity(s)) {
        s->overrun = true;
        return false;
    }
    s->rx[(s->rx_head + s->rx_count) % FIFO_SIZE] = b;
    s->rx_count++;
    return true;
}

static void transmit(struct serial *s, uint8_t b)
{
    if (s->mcr & MCR_LOOP) {
        rx_push(s, b);
    } else if (s->host.console_write) {
        /* The byte is handed over at once (the VMM buffers it without ever
         * blocking), so THR is empty again at once. A reader that does not
         * keep up loses output but never stops the guest or the VMM. */
        s->host.console_write(s->host.ctx, &b, 1);
    }
    s->thr_pending = true;
}

static uint8_t read_reg(struct serial *s, unsigned reg)
{
    switch (reg) {
    case REG_DATA:
        if (s->lcr & LCR_DLAB)
            return s->dll;
        if (!s->rx_count)
            return 0;
        {
            uint8_t b = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % FIFO_SIZE;
            s->rx_count--;
            return b;
        }
    case REG_IER:
        return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
    case REG_IIR_FCR: {
        uint8_t v = iir(s);
        if ((v & 0x0f) == IIR_THRI)
            s->thr_pending = false;  /* reading IIR acknowledges THRE */
        return v;
    }
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR: {
        uint8_t v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0) | (s->overrun ? LSR_OE : 0);
        s->overrun = false;
        return v;
    }
    case REG_MSR: {
        uint8_t v = s->msr;
        s->msr &= (uint8_t)~MSR_DELTAS;
        return v;
    }
    default:
        return s->scr;
    }
}

static void write_reg(struct serial *s, unsigned reg, uint8_t v)
{
    switch (reg) {
    case REG_DATA:
        if (s->lcr & LCR_DLAB)
            s->dll = v;
        else
            transmit(s, v);
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
        } else {
            /* Enabling THRI while THR is empty raises it at once, which
             * is what drivers waiting for their first THRE rely on. */
            if (!(s->ier & IER_THRI) && (v & IER_THRI))
                s->thr_pending = true;
            s->ier = v & 0x0f;
        }
        break;
    case REG_IIR_FCR:
        if ((v ^ s->fcr) & FCR_ENABLE || (v & FCR_CLEAR_RX)) {
            s->rx_head = s->rx_count = 0;
        }
        s->fcr = v & 0xc1;
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR:
        s->mcr = v & 0x1f;
        update_msr(s);
        break;
    case REG_LSR:
    case REG_MSR:
        break;  /* read-only (factory test writes ignored) */
    default:
        s->scr = v;
        break;
    }
}

static void serial_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct serial *s = opaque;
    bool drained = false;
    pthread_mutex_lock(&s->lock);
    /* Wider accesses touch consecutive registers, as on an ISA bus. */
    for (unsigned i = 0; i < len && offset + i < 8; i++) {
        if (is_write)
            write_reg(s, (unsigned)(offset + i), data[i]);
        else
            data[i] = read_reg(s, (unsigned)(offset + i));
    }
    /* Reading RBR, or clearing or resizing the FIFO, may have made room
     * for input that was refused: tell the console to offer it again. */
    if (s->rx_starved && s->rx_count < rx_capacity(s) && !(s->mcr & MCR_LOOP)) {
        s->rx_starved = false;
        drained = true;
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    if (drained && s->rx_space)
        s->rx_space(s->rx_ctx);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t n)
{
    size_t taken = 0;
    pthread_mutex_lock(&s->lock);
    if (!(s->mcr & MCR_LOOP)) {  /* loopback disconnects the line */
        while (taken < n && s->rx_count < rx_capacity(s))
            rx_push(s, buf[taken++]);
    }
    if (taken < n)
        s->rx_starved = true;
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return taken;
}

bool serial_can_receive(struct serial *s)
{
    pthread_mutex_lock(&s->lock);
    bool ok = !(s->mcr & MCR_LOOP) && s->rx_count < rx_capacity(s);
    if (!ok)
        s->rx_starved = true;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static void reset_state(struct serial *s)
{
    s->ier = s->mcr = s->scr = s->fcr = 0;
    s->lcr = 0x03;         /* 8N1 */
    s->dll = 0x0c;         /* 9600 baud */
    s->dlm = 0;
    s->msr = 0;
    s->overrun = s->thr_pending = false;
    s->rx_head = s->rx_count = 0;
    update_msr(s);
    s->msr &= (uint8_t)~MSR_DELTAS;
}

struct serial *serial_create(const struct dev_host *host, uint16_t base, unsigned irq,
                             void (*rx_space)(void *ctx), void *rx_ctx,
                             struct device *out)
{
    struct serial *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->host = *host;
    s->irq = irq;
    s->rx_space = rx_space;
    s->rx_ctx = rx_ctx;
    pthread_mutex_init(&s->lock, NULL);
    reset_state(s);
    if (bus_register(host->pio, base, 8, serial_io, s, "serial") < 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    *out = (struct device){ .ops = &serial_ops, .dev = s };
    return s;
}

static void serial_save(const void *dev, struct state_writer *w)
{
    struct serial *s = (struct serial *)dev;
    pthread_mutex_lock(&s->lock);
    state_begin(w, serial_ops.name, 1);
    const uint8_t regs[] = { s->ier, s->lcr, s->mcr, s->msr, s->scr, s->dll, s->dlm, s->fcr,
                             s->overrun, s->thr_pending };
    state_put_bytes(w, regs, sizeof regs);
    state_put_u8(w, (uint8_t)s->rx_count);
    for (unsigned i = 0; i < s->rx_count; i++)
        state_put_u8(w, s->rx[(s->rx_head + i) % FIFO_SIZE]);
    state_end(w);
    pthread_mutex_unlock(&s->lock);
}

static int serial_load(void *dev, struct state_reader *r)
{
    struct serial *s = dev;
    uint32_t version;
    if (state_open(r, serial_ops.name, &version) < 0 || version != 1)
        return -1;
    uint8_t regs[10];
    state_get_bytes(r, regs, sizeof regs);
    unsigned count = state_get_u8(r);
    if (count > FIFO_SIZE)
        return -1;
    uint8_t fifo[FIFO_SIZE];
    state_get_bytes(r, fifo, count);
    if (state_close(r) < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    s->ier = regs[0] & 0x0f; s->lcr = regs[1]; s->mcr = regs[2] & 0x1f; s->msr = regs[3];
    s->scr = regs[4]; s->dll = regs[5]; s->dlm = regs[6]; s->fcr = regs[7] & 0xc1;
    s->overrun = regs[8]; s->thr_pending = regs[9];
    memcpy(s->rx, fifo, count);
    s->rx_head = 0;
    s->rx_count = count;
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void serial_destroy(void *dev)
{
    struct serial *s = dev;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const struct device_ops serial_ops = {
    .name = "serial",
    .save = serial_save,
    .load = serial_load,
    .destroy = serial_destroy,
};
