/* One vCPU's state read from KVM and put into a new vCPU (the stream side
 * is vcpu_state_stream.c). The orders below are KVM's rules, as
 * Firecracker's save_state/restore_state record them. */
#include "arch/x86/kvm_state.h"

#include "arch/x86/kvm_state_io.h"
#include "arch/x86/vcpu_msrs.h"
#include "core/state.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* A differing TSC frequency within this is calibration noise, not another
 * machine (Firecracker's tolerance: 250 parts per million). */
#define TSC_KHZ_TOLERANCE_PPM 250u

static int cap(int kvm_fd, long which)
{
    int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, which);
    return r < 0 ? 0 : r;
}

static int fail_errno(char *err, size_t errlen, unsigned index, const char *what)
{
    kvm_state_err(err, errlen, "vcpu %u: %s: %s", index, what, log_strerror(errno));
    return -1;
}

/* ---- from KVM ---- */

static int read_cpuid(int vcpu_fd, struct vcpu_state *s)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + VCPU_STATE_MAX_CPUID * sizeof c->entries[0]);
    if (!c)
        return -1;
    c->nent = VCPU_STATE_MAX_CPUID;
    if (ioctl(vcpu_fd, KVM_GET_CPUID2, c) < 0 || c->nent > VCPU_STATE_MAX_CPUID) {
        int e = errno;
        free(c);
        errno = e;
        return -1;
    }
    s->ncpuid = c->nent;
    s->cpuid = malloc((c->nent ? c->nent : 1) * sizeof *s->cpuid);
    if (s->cpuid)
        memcpy(s->cpuid, c->entries, c->nent * sizeof *s->cpuid);
    free(c);
    return s->cpuid ? 0 : -1;
}

/* This host's XSAVE area: KVM_CAP_XSAVE2 gives its size with every feature
 * this process may enable (AMX makes it larger than struct kvm_xsave);
 * without that capability it is struct kvm_xsave. */
static unsigned xsave_size_here(int kvm_fd)
{
    int size2 = cap(kvm_fd, KVM_CAP_XSAVE2);
    return size2 > (int)sizeof(struct kvm_xsave) ? (unsigned)size2 : sizeof(struct kvm_xsave);
}

static int read_xsave(int kvm_fd, int vcpu_fd, struct vcpu_state *s)
{
    unsigned size = xsave_size_here(kvm_fd);
    s->xsave = calloc(1, size);
    if (!s->xsave)
        return -1;
    s->xsave_size = size;
    s->fpu_kind = VCPU_FPU_XSAVE;
    return ioctl(vcpu_fd, cap(kvm_fd, KVM_CAP_XSAVE2) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, s->xsave);
}

static int read_msrs(int kvm_fd, int vcpu_fd, struct vcpu_state *s)
{
    uint32_t *idx = NULL;
    int n = vcpu_msrs_candidates(kvm_fd, &idx);
    if (n < 0)
        return -1;
    s->msrs = calloc(n ? (size_t)n : 1, sizeof *s->msrs);
    bool *refused = calloc(n ? (size_t)n : 1, sizeof *refused);
    int r = -1;
    if (s->msrs && refused) {
        for (int i = 0; i < n; i++)
            s->msrs[i].index = idx[i];
        r = vcpu_msrs_io(vcpu_fd, KVM_GET_MSRS, s->msrs, (unsigned)n, refused);
    }
    if (r >= 0) {
        /* Those KVM would not read are not this guest's to use. */
        unsigned kept = 0;
        for (int i = 0; i < n; i++)
            if (!refused[i])
                s->msrs[kept++] = s->msrs[i];
        s->nmsrs = kept;
        if (kept > VCPU_STATE_MAX_MSRS) {
            errno = E2BIG;
            r = -1;
        }
    }
    free(refused);
    free(idx);
    return r < 0 ? -1 : 0;
}

/* The order is KVM's: GET_MP_STATE first (it accepts pending INIT/SIPI
 * into the LAPIC, changing what the others read), GET_LAPIC after the
 * registers, GET_VCPU_EVENTS last (the other GETs may still change it). */
static int read_vcpu(int kvm_fd, int vcpu_fd, struct vcpu_state *s, char *err, size_t errlen)
{
    unsigned i = s->index;
    if (cap(kvm_fd, KVM_CAP_MP_STATE)) {
        if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &s->mp_state) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_MP_STATE");
        s->has_mp_state = true;
    }
    if (ioctl(vcpu_fd, KVM_GET_REGS, &s->regs) < 0)
        return fail_errno(err, errlen, i, "KVM_GET_REGS");
    if (cap(kvm_fd, KVM_CAP_SREGS2)) {
        s->sregs_kind = VCPU_SREGS2;
        if (ioctl(vcpu_fd, KVM_GET_SREGS2, &s->sregs2) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_SREGS2");
    } else {
        s->sregs_kind = VCPU_SREGS;
        if (ioctl(vcpu_fd, KVM_GET_SREGS, &s->sregs) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_SREGS");
    }
    if (cap(kvm_fd, KVM_CAP_XSAVE)) {
        if (read_xsave(kvm_fd, vcpu_fd, s) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_XSAVE");
    } else {
        s->fpu_kind = VCPU_FPU_LEGACY;
        if (ioctl(vcpu_fd, KVM_GET_FPU, &s->fpu) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_FPU");
    }
    if (cap(kvm_fd, KVM_CAP_XCRS)) {
        if (ioctl(vcpu_fd, KVM_GET_XCRS, &s->xcrs) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_XCRS");
        s->has_xcrs = true;
    }
    if (cap(kvm_fd, KVM_CAP_DEBUGREGS)) {
        if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_DEBUGREGS");
        s->has_debugregs = true;
    }
    if (ioctl(vcpu_fd, KVM_GET_LAPIC, &s->lapic) < 0)
        return fail_errno(err, errlen, i, "KVM_GET_LAPIC");
    if (cap(kvm_fd, KVM_CAP_GET_TSC_KHZ)) {
        int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
        s->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    }
    if (read_cpuid(vcpu_fd, s) < 0)
        return fail_errno(err, errlen, i, "KVM_GET_CPUID2");
    if (read_msrs(kvm_fd, vcpu_fd, s) < 0)
        return fail_errno(err, errlen, i, "MSRs (KVM_GET_MSR_INDEX_LIST, KVM_GET_MSRS)");
    if (cap(kvm_fd, KVM_CAP_VCPU_EVENTS)) {
        if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
            return fail_errno(err, errlen, i, "KVM_GET_VCPU_EVENTS");
        s->has_events = true;
    }
    return 0;
}


int vcpu_state_save(int kvm_fd, int vcpu_fd, unsigned index, struct state_writer *w,
                    char *err, size_t errlen)
{
    struct vcpu_state s;
    memset(&s, 0, sizeof s);
    s.index = index;
    int r = read_vcpu(kvm_fd, vcpu_fd, &s, err, errlen);
    if (r == 0) {
        vcpu_state_write(w, &s);
        if (w->failed) {
            kvm_state_err(err, errlen, "vcpu %u: out of memory writing its state", index);
            r = -1;
        }
    }
    vcpu_state_free(&s);
    return r;
}

/* ---- into KVM ---- */

static int apply_tsc_khz(int kvm_fd, int vcpu_fd, const struct vcpu_state *s, char *err,
                         size_t errlen)
{
    int here = cap(kvm_fd, KVM_CAP_GET_TSC_KHZ) ? ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0) : -1;
    if (!s->tsc_khz || here <= 0)
        return 0;
    int64_t diff = (int64_t)here - (int64_t)s->tsc_khz;
    if ((uint64_t)llabs(diff) * 1000000u <= (uint64_t)s->tsc_khz * TSC_KHZ_TOLERANCE_PPM)
        return 0;
    if (cap(kvm_fd, KVM_CAP_TSC_CONTROL)) {
        if (ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)s->tsc_khz) < 0)
            return fail_errno(err, errlen, s->index, "KVM_SET_TSC_KHZ");
        return 0;
    }
    log_warn("vcpu %u: the guest's TSC ran at %u kHz, this host's at %d kHz and KVM cannot "
             "scale it: the guest's time will drift",
             s->index, s->tsc_khz, here);
    return 0;
}

static int apply_sregs(int kvm_fd, int vcpu_fd, const struct vcpu_state *s, char *err,
                       size_t errlen)
{
    if (s->sregs_kind == VCPU_SREGS2 && cap(kvm_fd, KVM_CAP_SREGS2)) {
        if (ioctl(vcpu_fd, KVM_SET_SREGS2, &s->sregs2) < 0)
            return fail_errno(err, errlen, s->index, "KVM_SET_SREGS2");
        return 0;
    }
    struct kvm_sregs sr = s->sregs;
    if (s->sregs_kind == VCPU_SREGS2) {
        /* The same fields less the PDPTRs, which KVM then reloads from
         * guest memory; a pending interrupt is in the vCPU events. */
        const struct kvm_sregs2 *s2 = &s->sregs2;
        memset(&sr, 0, sizeof sr);
        sr.cs = s2->cs, sr.ds = s2->ds, sr.es = s2->es, sr.fs = s2->fs, sr.gs = s2->gs;
        sr.ss = s2->ss, sr.tr = s2->tr, sr.ldt = s2->ldt, sr.gdt = s2->gdt, sr.idt = s2->idt;
        sr.cr0 = s2->cr0, sr.cr2 = s2->cr2, sr.cr3 = s2->cr3, sr.cr4 = s2->cr4, sr.cr8 = s2->cr8;
        sr.efer = s2->efer, sr.apic_base = s2->apic_base;
    }
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &sr) < 0)
        return fail_errno(err, errlen, s->index, "KVM_SET_SREGS");
    return 0;
}

static int apply_fpu(int kvm_fd, int vcpu_fd, const struct vcpu_state *s, char *err,
                     size_t errlen)
{
    if (s->fpu_kind == VCPU_FPU_LEGACY) {
        if (ioctl(vcpu_fd, KVM_SET_FPU, &s->fpu) < 0)
            return fail_errno(err, errlen, s->index, "KVM_SET_FPU");
        return 0;
    }
    if (!cap(kvm_fd, KVM_CAP_XSAVE)) {
        kvm_state_err(err, errlen, "vcpu %u: XSAVE state saved, but this host's KVM lacks "
                      "KVM_CAP_XSAVE", s->index);
        return -1;
    }
    /* KVM_SET_XSAVE reads as many bytes as this host's area has: a smaller
     * saved area is padded with zeros (its header says which parts are
     * valid); a larger one holds state this host cannot. */
    unsigned here = xsave_size_here(kvm_fd);
    if (s->xsave_size > here) {
        kvm_state_err(err, errlen, "vcpu %u: XSAVE area of %u bytes, this host's holds %u",
                      s->index, s->xsave_size, here);
        return -1;
    }
    uint8_t *buf = calloc(1, here);
    if (!buf) {
        kvm_state_err(err, errlen, "vcpu %u: out of memory", s->index);
        return -1;
    }
    memcpy(buf, s->xsave, s->xsave_size);
    int r = ioctl(vcpu_fd, KVM_SET_XSAVE, buf);
    free(buf);
    if (r < 0)
        return fail_errno(err, errlen, s->index, "KVM_SET_XSAVE");
    return 0;
}

static int apply_msrs(int vcpu_fd, const struct vcpu_state *s, char *err, size_t errlen)
{
    /* TSC_DEADLINE after the TSC, whatever order the stream has. */
    struct kvm_msr_entry *e = calloc(s->nmsrs ? s->nmsrs : 1, sizeof *e);
    bool *refused = calloc(s->nmsrs ? s->nmsrs : 1, sizeof *refused);
    int r = -1;
    if (!e || !refused) {
        kvm_state_err(err, errlen, "vcpu %u: out of memory", s->index);
        goto out;
    }
    unsigned n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < s->nmsrs; i++)
            if ((s->msrs[i].index == MSR_IA32_TSC_DEADLINE) == (pass == 1))
                e[n++] = s->msrs[i];
    if (vcpu_msrs_io(vcpu_fd, KVM_SET_MSRS, e, n, refused) < 0) {
        fail_errno(err, errlen, s->index, "KVM_SET_MSRS");
        goto out;
    }
    r = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!refused[i])
            continue;
        if (vcpu_msr_required(e[i].index)) {
            kvm_state_err(err, errlen, "vcpu %u: this host's KVM refuses MSR 0x%x = 0x%llx, "
                          "which the guest's time depends on", s->index, e[i].index,
                          (unsigned long long)e[i].data);
            r = -1;
            break;
        }
        log_debug("vcpu %u: MSR 0x%x not settable here, left at KVM's default", s->index,
                  e[i].index);
    }
out:
    free(e);
    free(refused);
    return r;
}

static int need(bool saved, int kvm_fd, long capability, const char *what, unsigned index,
                char *err, size_t errlen)
{
    if (!saved || cap(kvm_fd, capability))
        return 0;
    kvm_state_err(err, errlen, "vcpu %u: %s saved, but this host's KVM cannot set them", index,
                  what);
    return -1;
}

/* The order is KVM's: CPUID and MP state first (both depend on which vCPU
 * is the BSP), REGS before SREGS and before VCPU_EVENTS (SET_REGS drops a
 * pending exception that the events restore), LAPIC after SREGS (which
 * sets the APIC base) and before the MSRs (the TSC deadline is only taken
 * by a LAPIC in TSC-deadline mode), VCPU_EVENTS last. */
int vcpu_state_apply(int kvm_fd, int vcpu_fd, const struct vcpu_state *s, char *err,
                     size_t errlen)
{
    unsigned i = s->index;
    if (need(s->has_mp_state, kvm_fd, KVM_CAP_MP_STATE, "MP state", i, err, errlen) < 0 ||
        need(s->has_xcrs, kvm_fd, KVM_CAP_XCRS, "XCRs", i, err, errlen) < 0 ||
        need(s->has_debugregs, kvm_fd, KVM_CAP_DEBUGREGS, "debug registers", i, err, errlen) < 0 ||
        need(s->has_events, kvm_fd, KVM_CAP_VCPU_EVENTS, "vCPU events", i, err, errlen) < 0)
        return -1;
    if (apply_tsc_khz(kvm_fd, vcpu_fd, s, err, errlen) < 0)
        return -1;
    if (s->ncpuid) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + s->ncpuid * sizeof c->entries[0]);
        if (!c) {
            kvm_state_err(err, errlen, "vcpu %u: out of memory", i);
            return -1;
        }
        c->nent = s->ncpuid;
        memcpy(c->entries, s->cpuid, s->ncpuid * sizeof c->entries[0]);
        int r = ioctl(vcpu_fd, KVM_SET_CPUID2, c);
        int e = errno;
        free(c);
        errno = e;
        if (r < 0)
            return fail_errno(err, errlen, i, "KVM_SET_CPUID2");
    }
    if (s->has_mp_state && ioctl(vcpu_fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
        return fail_errno(err, errlen, i, "KVM_SET_MP_STATE");
    if (ioctl(vcpu_fd, KVM_SET_REGS, &s->regs) < 0)
        return fail_errno(err, errlen, i, "KVM_SET_REGS");
    if (apply_sregs(kvm_fd, vcpu_fd, s, err, errlen) < 0 ||
        apply_fpu(kvm_fd, vcpu_fd, s, err, errlen) < 0)
        return -1;
    if (s->has_xcrs && ioctl(vcpu_fd, KVM_SET_XCRS, &s->xcrs) < 0)
        return fail_errno(err, errlen, i, "KVM_SET_XCRS");
    if (s->has_debugregs && ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
        return fail_errno(err, errlen, i, "KVM_SET_DEBUGREGS");
    if (ioctl(vcpu_fd, KVM_SET_LAPIC, &s->lapic) < 0)
        return fail_errno(err, errlen, i, "KVM_SET_LAPIC");
    if (apply_msrs(vcpu_fd, s, err, errlen) < 0)
        return -1;
    if (s->has_events && ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
        return fail_errno(err, errlen, i, "KVM_SET_VCPU_EVENTS");
    /* Tells a guest with kvmclock that it was stopped, so that its
     * watchdogs do not take the gap for a lockup; refused (EINVAL) while
     * the guest has not enabled kvmclock, which is fine. */
    if (cap(kvm_fd, KVM_CAP_KVMCLOCK_CTRL) && ioctl(vcpu_fd, KVM_KVMCLOCK_CTRL, 0) < 0)
        log_debug("vcpu %u: KVM_KVMCLOCK_CTRL: %s", i, log_strerror(errno));
    return 0;
}

int vcpu_state_load(int kvm_fd, int vcpu_fd, unsigned index, struct state_reader *r,
                    char *err, size_t errlen)
{
    struct vcpu_state s;
    int rc = vcpu_state_parse(r, index, &s, err, errlen);
    if (rc == 0)
        rc = vcpu_state_apply(kvm_fd, vcpu_fd, &s, err, errlen);
    vcpu_state_free(&s);
    return rc;
}

int vcpu_state_sync_tsc(const int *vcpu_fds, unsigned n, char *err, size_t errlen)
{
    if (n < 2)
        return 0;
    struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET };
    if (ioctl(vcpu_fds[0], KVM_HAS_DEVICE_ATTR, &a) < 0)
        return 0;
    uint64_t offset;
    a.addr = (uint64_t)(uintptr_t)&offset;
    if (ioctl(vcpu_fds[0], KVM_GET_DEVICE_ATTR, &a) < 0)
        return fail_errno(err, errlen, 0, "KVM_GET_DEVICE_ATTR (TSC offset)");
    for (unsigned i = 1; i < n; i++)
        if (ioctl(vcpu_fds[i], KVM_SET_DEVICE_ATTR, &a) < 0)
            return fail_errno(err, errlen, i, "KVM_SET_DEVICE_ATTR (TSC offset)");
    return 0;
}
