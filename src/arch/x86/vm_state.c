/* The VM-wide in-kernel state as sections "irqchip" (both 8259s and the
 * IOAPIC), "pit" and "clock" (kvmclock). */
#include "arch/x86/kvm_state.h"

#include "arch/x86/kvm_state_io.h"
#include "core/state.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#define STATE_VERSION 1u

static const struct {
    uint32_t chip_id;
    const char *name;
} chips[] = {
    { KVM_IRQCHIP_PIC_MASTER, "PIC master" },
    { KVM_IRQCHIP_PIC_SLAVE, "PIC slave" },
    { KVM_IRQCHIP_IOAPIC, "IOAPIC" },
};
#define NCHIPS (sizeof chips / sizeof chips[0])

static int fail_errno(char *err, size_t errlen, const char *what)
{
    kvm_state_err(err, errlen, "%s: %s", what, log_strerror(errno));
    return -1;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Where each chip's state lives in the struct, and its size. */
static void *chip_state(struct vm_arch_state *s, unsigned i, size_t *size)
{
    if (chips[i].chip_id == KVM_IRQCHIP_IOAPIC) {
        *size = sizeof s->ioapic;
        return &s->ioapic;
    }
    *size = sizeof s->pic[0];
    return &s->pic[chips[i].chip_id];
}

static int read_vm(int vm_fd, struct vm_arch_state *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < NCHIPS; i++) {
        struct kvm_irqchip c = { .chip_id = chips[i].chip_id };
        if (ioctl(vm_fd, KVM_GET_IRQCHIP, &c) < 0)
            return fail_errno(err, errlen, "KVM_GET_IRQCHIP");
        size_t size;
        void *p = chip_state(s, i, &size);
        memcpy(p, &c.chip, size);
    }
    if (ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0)
        return fail_errno(err, errlen, "KVM_GET_PIT2");
    /* Last, and the real-time sample right after it: the guest's clock is
     * the one thing here that moves while the VM is paused. */
    if (ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
        return fail_errno(err, errlen, "KVM_GET_CLOCK");
    s->realtime_ns = realtime_ns();
    return 0;
}

void vm_arch_state_write(struct state_writer *w, const struct vm_arch_state *s)
{
    state_begin(w, "irqchip", STATE_VERSION);
    for (unsigned i = 0; i < NCHIPS; i++) {
        size_t size;
        const void *p = chip_state((struct vm_arch_state *)s, i, &size);
        kvm_state_put_blob(w, p, size);
    }
    state_end(w);
    state_begin(w, "pit", STATE_VERSION);
    kvm_state_put_blob(w, &s->pit, sizeof s->pit);
    state_end(w);
    state_begin(w, "clock", STATE_VERSION);
    state_put_u64(w, s->clock.clock);
    state_put_u32(w, s->clock.flags);
    state_put_u64(w, s->clock.realtime);
    state_put_u64(w, s->clock.host_tsc);
    state_put_u64(w, s->realtime_ns);
    state_end(w);
}

int vm_arch_state_save(int vm_fd, struct state_writer *w, char *err, size_t errlen)
{
    struct vm_arch_state s;
    memset(&s, 0, sizeof s);
    if (read_vm(vm_fd, &s, err, errlen) < 0)
        return -1;
    vm_arch_state_write(w, &s);
    if (w->failed) {
        kvm_state_err(err, errlen, "out of memory writing the VM's state");
        return -1;
    }
    return 0;
}

int vm_arch_state_parse(struct state_reader *r, struct vm_arch_state *s, char *err,
                        size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (kvm_state_open(r, "irqchip", STATE_VERSION, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < NCHIPS; i++) {
        size_t size;
        void *p = chip_state(s, i, &size);
        if (kvm_state_get_blob(r, p, size, NULL, chips[i].name, err, errlen) < 0) {
            state_close(r);
            return -1;
        }
    }
    if (kvm_state_close(r, "irqchip", err, errlen) < 0)
        return -1;

    if (kvm_state_open(r, "pit", STATE_VERSION, err, errlen) < 0)
        return -1;
    if (kvm_state_get_blob(r, &s->pit, sizeof s->pit, NULL, "PIT", err, errlen) < 0) {
        state_close(r);
        return -1;
    }
    if (kvm_state_close(r, "pit", err, errlen) < 0)
        return -1;

    if (kvm_state_open(r, "clock", STATE_VERSION, err, errlen) < 0)
        return -1;
    s->clock.clock = state_get_u64(r);
    s->clock.flags = state_get_u32(r);
    s->clock.realtime = state_get_u64(r);
    s->clock.host_tsc = state_get_u64(r);
    s->realtime_ns = state_get_u64(r);
    return kvm_state_close(r, "clock", err, errlen);
}

static int apply_clock(int vm_fd, const struct vm_arch_state *s, char *err, size_t errlen)
{
    struct kvm_clock_data c = { .clock = s->clock.clock };
    int offered = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
    if ((s->clock.flags & KVM_CLOCK_REALTIME) && offered > 0 && (offered & KVM_CLOCK_REALTIME)) {
        /* KVM adds the real time elapsed since `realtime`, and never steps
         * the clock back (its kvm_vm_ioctl_set_clock). */
        c.flags = KVM_CLOCK_REALTIME;
        c.realtime = s->clock.realtime;
    } else {
        /* The same, here: the source's KVM gave no (TSC, real time) pair
         * (it does only while its clock is TSC-based), or this one takes
         * none. The sample was taken just after KVM_GET_CLOCK. */
        uint64_t now = realtime_ns();
        if (now > s->realtime_ns)
            c.clock += now - s->realtime_ns;
    }
    if (ioctl(vm_fd, KVM_SET_CLOCK, &c) < 0)
        return fail_errno(err, errlen, "KVM_SET_CLOCK");
    return 0;
}

int vm_arch_state_apply(int vm_fd, const struct vm_arch_state *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < NCHIPS; i++) {
        struct kvm_irqchip c = { .chip_id = chips[i].chip_id };
        size_t size;
        const void *p = chip_state((struct vm_arch_state *)s, i, &size);
        memcpy(&c.chip, p, size);
        if (ioctl(vm_fd, KVM_SET_IRQCHIP, &c) < 0) {
            kvm_state_err(err, errlen, "KVM_SET_IRQCHIP (%s): %s", chips[i].name,
                          log_strerror(errno));
            return -1;
        }
    }
    if (ioctl(vm_fd, KVM_SET_PIT2, &s->pit) < 0)
        return fail_errno(err, errlen, "KVM_SET_PIT2");
    return apply_clock(vm_fd, s, err, errlen);
}

int vm_arch_state_load(int vm_fd, struct state_reader *r, char *err, size_t errlen)
{
    struct vm_arch_state s;
    if (vm_arch_state_parse(r, &s, err, errlen) < 0)
        return -1;
    return vm_arch_state_apply(vm_fd, &s, err, errlen);
}
