/* What kvmbox says when a guest stops in a way nobody planned: the exit
 * reason, the suberror, where the vCPU was and the instruction bytes
 * there, in one block on stderr, so a failure is never silent. */
#include "vmm/vcpu.h"

#include "util/log.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

static const char *reason_name(uint32_t r)
{
    static const char *const names[] = {
        [KVM_EXIT_UNKNOWN] = "KVM_EXIT_UNKNOWN",
        [KVM_EXIT_EXCEPTION] = "KVM_EXIT_EXCEPTION",
        [KVM_EXIT_IO] = "KVM_EXIT_IO",
        [KVM_EXIT_HYPERCALL] = "KVM_EXIT_HYPERCALL",
        [KVM_EXIT_DEBUG] = "KVM_EXIT_DEBUG",
        [KVM_EXIT_HLT] = "KVM_EXIT_HLT",
        [KVM_EXIT_MMIO] = "KVM_EXIT_MMIO",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "KVM_EXIT_IRQ_WINDOW_OPEN",
        [KVM_EXIT_SHUTDOWN] = "KVM_EXIT_SHUTDOWN",
        [KVM_EXIT_FAIL_ENTRY] = "KVM_EXIT_FAIL_ENTRY",
        [KVM_EXIT_INTR] = "KVM_EXIT_INTR",
        [KVM_EXIT_SET_TPR] = "KVM_EXIT_SET_TPR",
        [KVM_EXIT_TPR_ACCESS] = "KVM_EXIT_TPR_ACCESS",
        [KVM_EXIT_NMI] = "KVM_EXIT_NMI",
        [KVM_EXIT_INTERNAL_ERROR] = "KVM_EXIT_INTERNAL_ERROR",
        [KVM_EXIT_OSI] = "KVM_EXIT_OSI",
        [KVM_EXIT_WATCHDOG] = "KVM_EXIT_WATCHDOG",
        [KVM_EXIT_EPR] = "KVM_EXIT_EPR",
        [KVM_EXIT_SYSTEM_EVENT] = "KVM_EXIT_SYSTEM_EVENT",
    };
    if (r < sizeof names / sizeof names[0] && names[r])
        return names[r];
    return "unknown exit reason";
}

static const char *suberror_name(uint32_t s)
{
    switch (s) {
    case KVM_INTERNAL_ERROR_EMULATION: return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "exit while delivering an event";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "unexpected hardware exit reason";
    default: return "unknown suberror";
    }
}

/* The bytes at CS:RIP, through the guest's own page tables (KVM_TRANSLATE)
 * and then the bounds-checked guest-memory API. */
static int code_bytes(struct vcpu *v, const struct kvm_regs *regs, const struct kvm_sregs *sregs,
                      uint8_t *buf, unsigned max, uint64_t *phys)
{
    uint64_t linear = sregs->cs.base + regs->rip;
    if (!(sregs->efer & (1 << 10)))  /* not in long mode: 32-bit wrap */
        linear &= 0xffffffffULL;
    struct kvm_translation t = { .linear_address = linear };
    if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
        return -1;
    *phys = t.physical_address;
    unsigned n = 0;
    while (n < max && guest_mem_read(&v->vm->mem, t.physical_address + n, buf + n, 1) == 0)
        n++;
    return (int)n;
}

void vcpu_report_exit(struct vcpu *v, const char *what)
{
    struct kvm_run *run = v->run;
    char line[1024];
    int len = snprintf(line, sizeof line, "vcpu %u: %s: %s (%u)", v->id, what,
                       reason_name(run->exit_reason), run->exit_reason);
#define APPEND(...) \
    if (len >= 0 && (size_t)len < sizeof line) len += snprintf(line + len, sizeof line - (size_t)len, __VA_ARGS__)
    switch (run->exit_reason) {
    case KVM_EXIT_INTERNAL_ERROR:
        APPEND(", suberror %u (%s)", run->internal.suberror, suberror_name(run->internal.suberror));
        for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
            APPEND("%s0x%llx", i ? " " : ", data ", (unsigned long long)run->internal.data[i]);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        APPEND(", hardware entry failure reason 0x%llx",
               (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        APPEND(", event type %u", run->system_event.type);
        break;
    case KVM_EXIT_EXCEPTION:
        APPEND(", exception %u, error code 0x%x", run->ex.exception, run->ex.error_code);
        break;
    default:
        break;
    }
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0) {
        const char *mode = (sregs.efer & (1 << 10)) && sregs.cs.l ? "64-bit"
                           : (sregs.cr0 & 1) ? (sregs.cs.db ? "32-bit" : "16-bit protected")
                                             : "real";
        APPEND(", rip 0x%llx (cs 0x%x, %s mode)", (unsigned long long)regs.rip,
               sregs.cs.selector, mode);
        /* On AMD, KVM resets the vCPU after a shutdown intercept (the VMCB
         * is undefined then): what we read is the reset vector, not where
         * the guest died. Say so rather than mislead. */
        if (run->exit_reason == KVM_EXIT_SHUTDOWN && regs.rip == 0xfff0 &&
            sregs.cs.base == 0xffff0000) {
            APPEND(": the CPU was already reset by KVM, so where the guest faulted is lost "
                   "on this host");
            goto done;
        }
        uint8_t code[16];
        uint64_t phys;
        int n = code_bytes(v, &regs, &sregs, code, sizeof code, &phys);
        if (n > 0) {
            APPEND(", code at 0x%llx:", (unsigned long long)phys);
            for (int i = 0; i < n; i++)
                APPEND(" %02x", code[i]);
        } else {
            APPEND(", code bytes unavailable (rip not mapped to RAM)");
        }
        if (log_verbose())
            APPEND("; rax 0x%llx rbx 0x%llx rcx 0x%llx rdx 0x%llx rsi 0x%llx rdi 0x%llx "
                   "rsp 0x%llx cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx",
                   (unsigned long long)regs.rax, (unsigned long long)regs.rbx,
                   (unsigned long long)regs.rcx, (unsigned long long)regs.rdx,
                   (unsigned long long)regs.rsi, (unsigned long long)regs.rdi,
                   (unsigned long long)regs.rsp, (unsigned long long)sregs.cr0,
                   (unsigned long long)sregs.cr3, (unsigned long long)sregs.cr4,
                   (unsigned long long)sregs.efer);
    }
done:
#undef APPEND
    if (run->exit_reason == KVM_EXIT_SHUTDOWN)
        log_warn("%s", line);
    else
        log_error("%s", line);
}
