#include "devices/virtio/console.h"

#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/worker.h"
#include "util/log.h"

#include <errno.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONSOLE_QUEUE_SIZE 128
#define CLASS_COMMUNICATION_OTHER 0x078000
#define RXQ 0
#define TXQ 1
/* Output one request may carry: bounds how long a hostile driver keeps the
 * worker writing (the rest of a longer chain is dropped). */
#define CONSOLE_MAX_PER_REQUEST (1u << 20)

struct virtio_console {
    struct virtio_pci *vp;
    struct virtio_worker worker;
    struct virtq_chain tx_chain, rx_chain;
    void (*rx_space)(void *ctx);
    void *rx_ctx;
    /* The receive queue is filled from the main loop, not the worker: this
     * lock orders it against the driver's reset (which stops the worker and
     * forgets the queues under the transport's lock). */
    pthread_mutex_t rx_lock;
    bool rx_active;
    bool rx_paused;                  /* the VM is paused: take no input */
    bool rx_starved;                 /* input was refused for lack of buffers */
};

/* To the user's stdout through the VMM, which never blocks the caller
 * (output a stalled reader cannot take is dropped and counted). */
static void output(struct virtio_console *con, const void *buf, size_t len)
{
    const struct dev_host *h = pci_dev_host(&con->vp->pci);
    if (h->console_write)
        h->console_write(h->ctx, buf, len);
}

static uint32_t transmit(void *dev, const struct virtq_chain *c)
{
    struct virtio_console *con = dev;
    uint64_t left = CONSOLE_MAX_PER_REQUEST;
    for (unsigned i = 0; i < c->nout && left; i++) {
        size_t len = c->out[i].iov_len < left ? c->out[i].iov_len : left;
        output(con, c->out[i].iov_base, len);
        left -= len;
    }
    return 0;
}

static void console_event(void *dev, unsigned queue)
{
    struct virtio_console *con = dev;
    if (queue == TXQ) {
        virtio_pci_serve_queue(con->vp, TXQ, &con->tx_chain, transmit, con);
        return;
    }
    /* New receive buffers: wake whoever holds input back. */
    pthread_mutex_lock(&con->rx_lock);
    bool wake = con->rx_starved;
    con->rx_starved = false;
    pthread_mutex_unlock(&con->rx_lock);
    if (wake && con->rx_space)
        con->rx_space(con->rx_ctx);
}

/* Whether the receive queue holds a buffer; if not, asks the driver to
 * kick when it adds one. Called with rx_lock held. */
static bool rx_ready_locked(struct virtio_console *con)
{
    if (!con->rx_active || con->rx_paused)
        return false;                /* the main loop holds input back */
    struct virtq *vq = virtio_pci_queue(con->vp, RXQ);
    if (vq->broken || !vq->ready)
        return false;
    if (virtq_has_work(vq))
        return true;
    virtq_set_kicks(vq, true);
    if (virtq_has_work(vq))
        return true;
    con->rx_starved = true;
    return false;
}

bool virtio_console_can_receive(struct virtio_console *con)
{
    pthread_mutex_lock(&con->rx_lock);
    bool ready = rx_ready_locked(con);
    pthread_mutex_unlock(&con->rx_lock);
    return ready;
}

size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf, size_t n)
{
    size_t taken = 0;
    bool pushed = false;
    pthread_mutex_lock(&con->rx_lock);
    struct virtq *vq = virtio_pci_queue(con->vp, RXQ);
    while (taken < n && rx_ready_locked(con)) {
        int got = virtq_pop(vq, &con->rx_chain);
        if (got < 0) {
            virtio_pci_needs_reset(con->vp, RXQ);
            break;
        }
        if (got == 0)
            continue;                /* rx_ready_locked re-checks */
        uint64_t len = virtq_chain_write(&con->rx_chain, 0, buf + taken, n - taken);
        virtq_chain_written(vq, &con->rx_chain);
        virtq_push(vq, con->rx_chain.head, (uint32_t)len);
        pushed = true;
        taken += len;                /* a chain with no writable buffer goes back empty */
    }
    if (pushed)
        virtio_pci_notify(con->vp, RXQ);
    pthread_mutex_unlock(&con->rx_lock);
    return taken;
}

static void console_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
    (void)dev;
    /* cols, rows (no size feature), max_nr_ports 1, emerg_wr. */
    struct virtio_console_config cfg = { .max_nr_ports = 1 };
    virtio_config_copy(&cfg, sizeof cfg, offset, data, len);
}

static void console_config_write(void *dev, unsigned offset, const uint8_t *data, unsigned len)
{
    struct virtio_console *con = dev;
    /* Emergency write: one character, before or without the queues. */
    if (offset == offsetof(struct virtio_console_config, emerg_wr) && len >= 1)
        output(con, data, 1);
}

static int console_activate(void *dev)
{
    struct virtio_console *con = dev;
    /* Activated while the VM is paused (a state load; vp->paused is the
     * transport lock's, held here): input stays refused until the resume,
     * which wakes the main loop then. */
    bool paused = con->vp->paused;
    pthread_mutex_lock(&con->rx_lock);
    con->rx_active = true;
    con->rx_paused = paused;
    con->rx_starved = true;          /* the main loop may be holding input */
    pthread_mutex_unlock(&con->rx_lock);
    int ret = virtio_pci_start_worker(con->vp, &con->worker, "virtio-console", SANDBOX_DEVICE,
                                      console_event, con, -1);
    if (con->rx_space && !paused)
        con->rx_space(con->rx_ctx);
    return ret;
}

static void console_reset(void *dev)
{
    struct virtio_console *con = dev;
    worker_stop(&con->worker);
    pthread_mutex_lock(&con->rx_lock);
    con->rx_active = false;
    pthread_mutex_unlock(&con->rx_lock);
}

static void set_rx_paused(struct virtio_console *con, bool paused)
{
    pthread_mutex_lock(&con->rx_lock);
    con->rx_paused = paused;
    pthread_mutex_unlock(&con->rx_lock);
}

/* The VM's pause: input is refused from here on (a receive under way
 * finishes first: it holds rx_lock), then the worker parks. Transmit is
 * served whole on the worker, so there is nothing in flight to finish. */
static void console_pause(void *dev)
{
    struct virtio_console *con = dev;
    set_rx_paused(con, true);
    worker_pause(&con->worker, NULL);
}

static void console_resume(void *dev)
{
    struct virtio_console *con = dev;
    worker_resume(&con->worker);
    set_rx_paused(con, false);
    /* Input held back meanwhile flows again. */
    if (con->rx_space)
        con->rx_space(con->rx_ctx);
}

static void console_destroy(void *dev)
{
    struct virtio_console *con = dev;
    pthread_mutex_destroy(&con->rx_lock);
    free(con);
}

static const struct virtio_dev_ops console_ops = {
    .name = "virtio-console",
    .device_type = VIRTIO_ID_CONSOLE,
    .class_code = CLASS_COMMUNICATION_OTHER,
    .nqueues = 2,
    .queue_size = CONSOLE_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_console_config),
    .config_read = console_config_read,
    .config_write = console_config_write,
    .activate = console_activate,
    .reset = console_reset,
    .pause = console_pause,
    .resume = console_resume,
    .destroy = console_destroy,
};

struct virtio_console *virtio_console_create(struct pci_host *bus,
                                             void (*rx_space)(void *ctx), void *rx_ctx,
                                             struct device *out)
{
    struct virtio_console *con = calloc(1, sizeof *con);
    if (!con)
        return NULL;
    con->rx_space = rx_space;
    con->rx_ctx = rx_ctx;
    pthread_mutex_init(&con->rx_lock, NULL);
    con->vp = virtio_pci_create(bus, &console_ops, con, 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE);
    if (!con->vp) {
        console_destroy(con);
        return NULL;
    }
    *out = (struct device){ .ops = &virtio_pci_device_ops, .dev = con->vp };
    return con;
}
