/* The one interface between devices and the VMM. A device is created with a
 * dev_host (what it may use of the VM: the buses to claim ranges on, guest
 * memory, interrupt lines, a way to stop the VM) and hands back a
 * struct device (what the VM may do with it: save, load, destroy). Unit
 * tests build a dev_host of their own, with no /dev/kvm behind it. */
#ifndef KVMBOX_DEVICES_DEVICE_H
#define KVMBOX_DEVICES_DEVICE_H

#include "sandbox/sandbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bus;
struct guest_mem;
struct state_writer;
struct state_reader;

enum vm_stop_reason {
    VM_STOP_NONE = 0,
    VM_STOP_POWEROFF,   /* guest powered off: status 0 */
    VM_STOP_RESET,      /* guest reset (i8042, triple fault): status 0 */
    VM_STOP_DEBUG_EXIT, /* guest wrote the debug-exit port: its code */
    VM_STOP_USER,       /* Ctrl-A x, SIGINT, SIGTERM: status 0 */
    VM_STOP_ERROR,      /* unexpected exit or host failure: status 1 */
};

struct dev_host {
    struct bus *pio;
    struct bus *mmio;
    struct guest_mem *mem;
    /* Drives legacy interrupt line `line` (GSI 0-23) to `level`. */
    void (*set_irq)(void *ctx, unsigned line, bool level);
    /* MSI: routes GSI `gsi` (gsi < 0: a new one) to the message
     * (addr, data) and returns the GSI, or -1. */
    int (*msi_route)(void *ctx, int gsi, uint64_t addr, uint32_t data);
    void (*msi_unroute)(void *ctx, int gsi);
    /* Binds eventfd `fd` to GSI `gsi` so that a write to it injects that
     * interrupt (irqfd), or unbinds it. Returns 0 or -1. */
    int (*irqfd)(void *ctx, int fd, unsigned gsi, bool assign);
    /* Makes a guest write of `len` bytes to `addr` (port I/O when `pio`)
     * signal eventfd `fd` instead of exiting to a vCPU thread, or undoes
     * that. Returns 0, or -1 where the host cannot (the bus still sees the
     * write then, so devices must handle it there too). */
    int (*ioeventfd)(void *ctx, int fd, uint64_t addr, unsigned len, bool pio, bool assign);
    /* Asks the VM to stop; the first request wins. */
    void (*request_stop)(void *ctx, enum vm_stop_reason why, int status);
    /* The guest's console output (UART, virtio-console), for the user's
     * stdout. Never blocks, whatever the reader does: the VMM buffers it
     * and drops (counting) what does not fit. May be NULL: no output. */
    void (*console_write)(void *ctx, const uint8_t *buf, size_t len);
    /* Starts a device thread `name` in the sandbox's `role`
     * (sandbox_thread_create), from the VM's spawner: the caller may be a
     * vCPU thread, which may not create threads. Returns 0 or an error
     * number. NULL: the caller's own thread creates it (unit tests). */
    int (*start_thread)(void *ctx, pthread_t *t, const char *name, enum sandbox_role role,
                        void *(*fn)(void *), void *arg);
    void *ctx;
};

/* A device's thread, as dev_host.start_thread says. */
static inline int dev_start_thread(const struct dev_host *h, pthread_t *t, const char *name,
                                   enum sandbox_role role, void *(*fn)(void *), void *arg)
{
    return h->start_thread ? h->start_thread(h->ctx, t, name, role, fn, arg)
                           : sandbox_thread_create(t, NULL, name, role, fn, arg);
}

/* Receives one of a device's counters (see device_ops.counters). */
typedef void (*device_counter_fn)(void *ctx, const char *name, uint64_t value);

struct device_ops {
    const char *name;   /* also the state section name */
    void (*save)(const void *dev, struct state_writer *w);
    int (*load)(void *dev, struct state_reader *r);
    void (*destroy)(void *dev);
    /* Quiesce (the VM's pause, before a save): returns only when none of
     * the device's threads will touch guest memory, raise an interrupt or
     * take a request until resume, and every request already taken from
     * the guest has been completed and returned to it (for virtio: pushed
     * to the used ring, the driver notified). Called with every vCPU
     * parked, from the VMM's thread that pauses; never with a device lock
     * held. NULL: the device has no thread of its own (it only answers
     * vCPU accesses, and the vCPUs are parked). */
    void (*pause)(void *dev);
    /* Undoes pause: the device carries on where it stopped. */
    void (*resume)(void *dev);
    /* The device's statistics (the API's vm.counters): calls emit once per
     * counter, with Cloud Hypervisor's names (read_bytes, rx_frames, ...).
     * Callable from any thread while the device runs: each value is read
     * on its own (relaxed), not a snapshot of all of them together. NULL,
     * or no call of emit: the device counts nothing. */
    void (*counters)(const void *dev, device_counter_fn emit, void *ctx);
    /* The device's PCI address as "0000:00:01.0" into buf (the API's
     * device tree). Returns false, buf untouched, for a device that is not
     * a PCI function. NULL: not on PCI. */
    bool (*pci_bdf)(const void *dev, char *buf, size_t len);
    /* The id the VM gave the device (struct device.id), for the device's
     * own threads to take as their name, as Cloud Hypervisor names them
     * (libvirt finds a disk's thread by "_disk0"). NULL: no threads. */
    void (*set_id)(void *dev, const char *id);
};

/* For a counters op: emits n counters kept as relaxed atomics, values[i]
 * under names[i]. */
static inline void device_emit_counters(const uint64_t *values, const char *const *names,
                                        unsigned n, device_counter_fn emit, void *ctx)
{
    for (unsigned i = 0; i < n; i++)
        emit(ctx, names[i], __atomic_load_n(&values[i], __ATOMIC_RELAXED));
}

#define DEVICE_ID_MAX 32   /* core/config.h: CONFIG_ID_MAX + 1 */

struct device {
    const struct device_ops *ops;
    void *dev;
    /* Its name for the API, as Cloud Hypervisor names it ("_disk0",
     * "_net1", "__rng", ...); set by whoever adds the device to the VM.
     * Empty: a device the API does not list (buses, legacy chips). */
    char id[DEVICE_ID_MAX];
};

/* Names d: `prefix` followed by `n` (n < 0: the prefix alone). Returns d,
 * so that it fits where the device is added. */
static inline struct device *device_name(struct device *d, const char *prefix, int n)
{
    if (n < 0)
        snprintf(d->id, sizeof d->id, "%s", prefix);
    else
        snprintf(d->id, sizeof d->id, "%s%d", prefix, n);
    return d;
}

#endif
