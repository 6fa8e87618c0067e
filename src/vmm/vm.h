/* The VM object: the KVM handles, guest memory, buses, devices and vCPUs of
 * one guest, and the state of its stopping. All VM state lives here. */
#ifndef KVMBOX_VMM_VM_H
#define KVMBOX_VMM_VM_H

#include "devices/device.h"
#include "core/bus.h"
#include "core/config.h"
#include "vmm/console_out.h"
#include "vmm/dirty_log.h"
#include "vmm/events.h"
#include "vmm/held_fds.h"
#include "core/guest_mem.h"
#include "vmm/irq.h"
#include "vmm/run_state.h"
#include "vmm/thread_spawner.h"

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

/* What a VM uses of the VMM around it (vmm/vmm.c), which outlives it: a
 * VM is created, shut down and created again (vm.reboot) under one VMM. */
struct vm_env {
    struct console_out *console_out;  /* the guest's output, to stdout */
    struct event_monitor *events;     /* --event-monitor (may be NULL) */
    int wake_fd;                      /* an eventfd the main loop polls */
    struct held_fds *held;            /* what the VMM holds for its VMs (may be NULL) */
};

struct vm {
    const struct vm_config *cfg;
    int kvm_fd, vm_fd;
    struct guest_mem mem;
    struct bus pio, mmio;
    struct irq_router irq;
    struct dev_host host;
    struct thread_spawner spawner;   /* creates the device threads (thread_spawner.h) */
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
    struct vm_env env;
    struct dirty_log dirty_log;   /* how KVM's dirty log is read (dirty_log.c) */

    /* Stopping: the first request sets reason and status; env.wake_fd
     * wakes the main loop, which then shuts the VM down. */
    pthread_mutex_t stop_lock;
    enum vm_stop_reason stop_reason;
    int exit_status;
    atomic_bool stopping;
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
    /* Auto-converge: the share of each vCPU's time taken away (0-99),
     * set by a migration, read by the vCPUs before each KVM_RUN. */
    atomic_uint throttle_pct;
};

/* Builds the whole VM (KVM, memory, devices, kernel, boot vCPU) in state
 * Created. Returns 0, or -1 after logging one line that says what is
 * wrong; the caller calls vm_destroy either way. cfg and env's objects
 * must outlive the VM. */
int vm_create(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env);
/* Fills guest memory before KVM maps it (a restore's memory file). */
struct vm_memory_fill {
    int (*fn)(void *ctx, struct guest_mem *mem, char *err, size_t errlen);
    void *ctx;
};
/* Builds the VM for a restore: memory, filled by `fill`; the interrupt
 * controllers, the vCPUs and the devices with no state yet (vm_load_state
 * gives them theirs); no kernel, no tables. As vm_create otherwise. */
int vm_create_for_restore(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env,
                          const struct vm_memory_fill *fill);
/* Created -> Running: starts the vCPU threads. Returns 0, or -1 (logged). */
int vm_boot(struct vm *vm);
/* Running or Paused -> Shutdown: stops every vCPU (kicked out of KVM_RUN
 * and joined, a parked one let go). Returns 0, or -1 when a vCPU did not
 * stop in time: it is left behind, and vm_destroy then frees nothing it
 * might touch (the process has to exit). */
int vm_shutdown(struct vm *vm);
void vm_destroy(struct vm *vm);

struct state_writer;
struct state_reader;
/* The whole VM's state (vm_save.c): -1 with the reason in err. Save only
 * while paused; load into a VM from vm_create_for_restore, which then
 * starts paused (vm_start_paused). The load reads the VM's sections and
 * leaves the reader after them (the VMM's own may follow). */
int vm_save_state(struct vm *vm, struct state_writer *w, char *err, size_t errlen);
int vm_load_state(struct vm *vm, struct state_reader *r, char *err, size_t errlen);
/* Created -> Paused: the vCPU threads start, and park before their first
 * KVM_RUN; vm_resume lets them go. Returns 0, or -1 with the reason. */
int vm_start_paused(struct vm *vm, char *err, size_t errlen);

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status);

/* The terminal's input for the guest: to the virtio console with
 * --console virtio, else the UART. Receive returns how many bytes the
 * device took (it may take fewer; the rest waits, flow control). */
size_t vm_console_receive(struct vm *vm, const uint8_t *buf, size_t n);
bool vm_console_can_receive(struct vm *vm);

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
