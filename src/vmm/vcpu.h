/* One vCPU: its KVM file descriptor, its kvm_run page and the host thread
 * that runs it. */
#ifndef KVMBOX_VMM_VCPU_H
#define KVMBOX_VMM_VCPU_H

#include "arch/x86/boot.h"
#include "vmm/vcpu_throttle.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct vm;

struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    struct vcpu_throttle throttle;   /* auto-converge; the vCPU thread's own */
};

int vcpu_create(struct vm *vm, unsigned id, struct vcpu *v);
/* CPUID, MSRs, FPU and LAPIC wiring: what every vCPU needs. The others
 * then wait for the guest's INIT-SIPI-SIPI in KVM. */
int vcpu_setup(struct vcpu *v);
/* Puts the boot vCPU in the state the boot protocol enters the kernel with. */
int vcpu_setup_boot(struct vcpu *v, const struct boot_entry *entry);
int vcpu_start(struct vcpu *v);
/* Makes a running KVM_RUN return so the thread notices the VM stopping. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Joins the thread, kicking it again meanwhile, but no later than `until`
 * (CLOCK_REALTIME). Returns 0, or -1 when the thread is still running. */
int vcpu_join_until(struct vcpu *v, const struct timespec *until);
void vcpu_destroy(struct vcpu *v);

/* Installs the (empty) kick signal handler; once per process. */
void vcpu_signals_init(void);

/* Handles one exit; returns false when the vCPU must stop. */
bool vcpu_handle_exit(struct vcpu *v);
/* Reports an unexpected exit on stderr: reason, suberror, RIP, code bytes. */
void vcpu_report_exit(struct vcpu *v, const char *what);

#endif
