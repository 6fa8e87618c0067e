/* The VM object: the KVM handles, guest memory, buses, devices and vCPUs of
 * one guest, and the state of its stopping. All VM state lives here. */
#ifndef KVMBOX_VMM_VM_H
#define KVMBOX_VMM_VM_H

#include "devices/device.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/console_out.h"
#include "vmm/guest_mem.h"
#include "vmm/irq.h"

#include <pthread.h>
#include <stdatomic.h>

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

    /* Stopping: the first request sets reason and status; wake_fd (an
     * eventfd) wakes the main loop, which then stops every vCPU. */
    pthread_mutex_t stop_lock;
    enum vm_stop_reason stop_reason;
    int exit_status;
    atomic_bool stopping;
    int wake_fd;
    bool vcpus_abandoned;     /* a vCPU thread would not stop: leave its state be */
};

/* Builds the whole VM (KVM, memory, devices, kernel, boot vCPU). Returns 0,
 * or -1 after logging one line that says what is wrong. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Runs the guest until it stops; returns the process exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status);

#endif
