/*
 * kvm-pin: holds one idle VM open in the lab for the lab's whole life.
 *
 * Why: KVM flips kernel static keys when the first VM or vCPU appears and
 * when the last one goes (preempt_notifier_key in kvm_create_vm and
 * kvm_destroy_vm; apic_sw_disabled and apic_hw_disabled while a vCPU's
 * local APIC is disabled). Flipping a static key rewrites kernel text with
 * int3 breakpoints and IPIs to the other CPUs. Under QEMU's multi-threaded
 * software emulation that cross-modification sometimes leaves the other CPU
 * executing a stale int3 for ever, with interrupts off, while the writer
 * waits for it to answer the IPI: the whole lab freezes (docs/lab.md has
 * the state we read out of QEMU's monitor). Every kvmbox run in the lab
 * creates and destroys a VM, so every run was a chance to freeze.
 *
 * A VM that exists from boot to power-off, with a vCPU whose local APIC
 * stays disabled in both ways, keeps each of those keys' counts above zero,
 * so later VMs only move the counts and never rewrite text.
 *
 * It sets itself up, then forks: the parent exits 0 once the keys are
 * pinned (or non-zero saying why not) and the child sleeps holding the fds.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSR_IA32_APICBASE 0x1b
#define APIC_DEFAULT_BASE 0xfee00000ull /* the enable bit (11) clear */

static int fail(const char *what)
{
    fprintf(stderr, "kvm-pin: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return fail("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return fail("KVM_CREATE_VM");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        return fail("KVM_CREATE_IRQCHIP");
    /* Created software-disabled (its SVR is never written). */
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        return fail("KVM_CREATE_VCPU");
    struct {
        struct kvm_msrs head;
        struct kvm_msr_entry entry;
    } msrs;
    memset(&msrs, 0, sizeof(msrs));
    msrs.head.nmsrs = 1;
    msrs.entry.index = MSR_IA32_APICBASE;
    msrs.entry.data = APIC_DEFAULT_BASE;
    if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 1)
        return fail("KVM_SET_MSRS (APIC base, disabled)");

    pid_t child = fork();
    if (child < 0)
        return fail("fork");
    if (child > 0)
        return 0;
    for (;;)
        pause();
}
