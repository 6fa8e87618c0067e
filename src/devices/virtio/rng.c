#include "devices/virtio/rng.h"

#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/worker.h"

#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <sys/random.h>

#define RNG_QUEUE_SIZE 256
#define CLASS_OTHER 0xff0000
/* What one request may take: bounds the time a hostile driver can keep
 * the worker in getrandom with one huge buffer. */
#define RNG_MAX_PER_REQUEST (64u * 1024)

struct rng {
    struct virtio_pci *vp;
    struct virtio_worker worker;
    struct virtq_chain chain;
};

/* Fills the chain's writable buffers with random bytes. */
static uint32_t fill(void *dev, const struct virtq_chain *c)
{
    (void)dev;
    uint32_t written = 0;
    for (unsigned i = 0; i < c->nin && written < RNG_MAX_PER_REQUEST; i++) {
        size_t want = c->in[i].iov_len;
        if (want > RNG_MAX_PER_REQUEST - written)
            want = RNG_MAX_PER_REQUEST - written;
        ssize_t n = getrandom(c->in[i].iov_base, want, 0);
        if (n <= 0)
            break;
        written += (uint32_t)n;
    }
    return written;
}

static void rng_event(void *dev, unsigned queue)
{
    struct rng *r = dev;
    virtio_pci_serve_queue(r->vp, queue, &r->chain, fill, r);
}

static int rng_activate(void *dev)
{
    struct rng *r = dev;
    return virtio_pci_start_worker(r->vp, &r->worker, "virtio-rng", SANDBOX_DEVICE, rng_event, r,
                                   -1);
}

static void rng_reset(void *dev)
{
    struct rng *r = dev;
    worker_stop(&r->worker);
}

static void rng_pause(void *dev)
{
    struct rng *r = dev;
    worker_pause(&r->worker, NULL);  /* each request is served whole, synchronously */
}

static void rng_resume(void *dev)
{
    struct rng *r = dev;
    worker_resume(&r->worker);
}

static void rng_destroy(void *dev) { free(dev); }

static const struct virtio_dev_ops rng_ops = {
    .name = "virtio-rng",
    .device_type = VIRTIO_ID_RNG,
    .class_code = CLASS_OTHER,
    .nqueues = 1,
    .queue_size = RNG_QUEUE_SIZE,
    .activate = rng_activate,
    .reset = rng_reset,
    .pause = rng_pause,
    .resume = rng_resume,
    .destroy = rng_destroy,
};

struct virtio_pci *virtio_rng_create(struct pci_host *bus, struct device *out)
{
    struct rng *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->vp = virtio_pci_create(bus, &rng_ops, r, 0);
    if (!r->vp) {
        free(r);
        return NULL;
    }
    *out = (struct device){ .ops = &virtio_pci_device_ops, .dev = r->vp };
    return r->vp;
}
