/* The exit dispatcher: port I/O and MMIO go to the buses; resets and power
 * events stop the VM; everything else is unexpected and reported. */
#include "vmm/vcpu.h"

#include "util/log.h"
#include "vmm/vm.h"

#include <stdio.h>

static void handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    /* String I/O (rep ins/outs) arrives as `count` accesses in a row. */
    for (uint32_t i = 0; i < run->io.count; i++)
        bus_access(&v->vm->pio, run->io.port, data + (size_t)i * run->io.size, run->io.size,
                   is_write);
}

static void handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len <= sizeof run->mmio.data ? run->mmio.len : sizeof run->mmio.data;
    bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
}

bool vcpu_handle_exit(struct vcpu *v)
{
    struct vm *vm = v->vm;
    switch (v->run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v);
        return true;
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        /* A triple fault is how many kernels reset (Linux reboot=t); it is
         * also how an early crash looks, so say where it happened. */
        vcpu_report_exit(v, "guest reset by triple fault");
        vm_request_stop(vm, VM_STOP_RESET, 0);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (v->run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            vm_request_stop(vm, VM_STOP_POWEROFF, 0);
            return false;
        case KVM_SYSTEM_EVENT_RESET:
            vm_request_stop(vm, VM_STOP_RESET, 0);
            return false;
        default:
            break;
        }
        /* fall through */
    default:
        vcpu_report_exit(v, "unexpected exit");
        vm_request_stop(vm, VM_STOP_ERROR, 1);
        return false;
    }
}
