/* The VM object: the KVM handles, guest memory, buses, devices and vCPUs of
 * one guest, and the state of its stopping. All VM state lives here. */
#ifndef KVMBOX_VMM_VM_H
#define KVMBOX_VMM_VM_H

#include "devices/device.h"
#include "core/bus.h"
#include "core/config.h"
#include "vmm/console.h"
#include "vmm/console_out.h"
#include "vmm/event_loop.h"
#include "vmm/events.h"
#include "core/guest_mem.h"
#include "vmm/irq.h"
#include "vmm/run_state.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define VM_MAX_DEVICES 32

struct vcpu;
struct pci_host;
struct blk;
struct net_backend;
struct serial;
struct virtio_console;
struct kvm_cpuid2;

struct vm {
    const struct vm_config *cfg;
    int kvm_fd, vm_fd;
    struct guest_mem mem;
    struct bus pio, mmio;
    struct irq_router irq;
    struct dev_host host;
    struct device devices[VM_MAX_DEVICES];
    unsigned ndevices;
    struct serial *serial;
    void *acpi_pm;                /* the PM1 block: the power button */
    struct virtio_console *vcon;  /* --console virtio: takes the terminal's input */
    struct pci_host *pci;
    struct blk *disks[CONFIG_MAX_DISKS];   /* opened, until handed to a device */
    struct net_backend *nets[CONFIG_MAX_NETS];  /* likewise */
    struct kvm_cpuid2 *cpuid;
    struct vcpu *vcpus;
    unsigned nvcpus;
    size_t run_size;          /* size of each vCPU's kvm_run mapping */
    struct console console;
    struct console_out console_out;   /* the guest's output, to stdout */
    struct event_loop loop;           /* the main thread's fds (vm_run.c) */
    struct event_monitor events;      /* --event-monitor */

    /* Stopping: the first request sets reason and status; wake_fd (an
     * eventfd) wakes the main loop, which then stops every vCPU. */
    pthread_mutex_t stop_lock;
    enum vm_stop_reason stop_reason;
    int exit_status;
    atomic_bool stopping;
    int wake_fd;
    bool vcpus_abandoned;     /* a vCPU thread would not stop: leave its state be */

    /* Run state and pause (vm_pause.c). `state_lock` serialises pause,
     * resume and every change of `state`; it is taken only by the thread
     * that asks (the main loop, the API), never by a vCPU or device
     * thread, and sits above every device lock (pausing calls into the
     * devices with it held). `pause_lock` is a leaf: it guards the vCPU
     * gate (`parked`, and `pause_requested`, which vCPUs also read
     * atomically before each KVM_RUN); parked vCPUs wait on `unpark`, the
     * pauser on `parked_changed`. */
    pthread_mutex_t state_lock;
    enum vm_state state;
    pthread_mutex_t pause_lock;
    pthread_cond_t unpark, parked_changed;
    atomic_bool pause_requested;
    unsigned parked;
};

/* Builds the whole VM (KVM, memory, devices, kernel, boot vCPU). Returns 0,
 * or -1 after logging one line that says what is wrong. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Runs the guest until it stops; returns the process exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status);

/* Pause: returns once every vCPU is parked outside KVM_RUN and every
 * device has quiesced (no guest-visible progress, no writes to guest
 * memory, requests in flight completed). Resume undoes it. Both are for
 * a thread that is neither a vCPU nor a device thread; each returns 0, or
 * -1 with the reason in err (a pause while paused, a resume while
 * running, a VM that is stopping). */
int vm_pause(struct vm *vm, char *err, size_t errlen);
int vm_resume(struct vm *vm, char *err, size_t errlen);
enum vm_state vm_get_state(struct vm *vm);
/* The ACPI power button, pressed once (Linux shuts down cleanly); -1 with
 * the reason unless the VM is running. */
int vm_power_button(struct vm *vm, char *err, size_t errlen);
/* For a vCPU thread that saw pause_requested: waits, parked, until resume
 * or stop. */
void vm_vcpu_park(struct vm *vm);
/* Lets parked vCPUs go (the stop path: they then see `stopping`). */
void vm_unpark_all(struct vm *vm);

#endif
