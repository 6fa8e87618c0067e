/* One vCPU's state as section "vcpu" version 1, written and parsed. The
 * layout: u32 index, u32 TSC kHz, u32 CPUID count and the entries (seven
 * u32 fields each), MP state, regs, a sregs kind and sregs or sregs2, an
 * FPU kind and the XSAVE area or kvm_fpu, XCRs, debug registers, LAPIC,
 * u32 MSR count and (u32 index, u64 value) pairs, vCPU events; each KVM
 * structure as a u32 size and its bytes, size 0 for one not saved. */
#include "arch/x86/kvm_state.h"

#include "arch/x86/kvm_state_io.h"
#include "core/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes per CPUID entry and per MSR in the stream (fields, not structs). */
#define CPUID_ENTRY_BYTES 28u
#define MSR_ENTRY_BYTES 12u
#define VCPU_STATE_VERSION 1u

void vcpu_state_free(struct vcpu_state *s)
{
    free(s->cpuid);
    free(s->xsave);
    free(s->msrs);
    memset(s, 0, sizeof *s);
}

static void put_opt(struct state_writer *w, bool has, const void *p, size_t n)
{
    if (has)
        kvm_state_put_blob(w, p, n);
    else
        kvm_state_put_absent(w);
}

void vcpu_state_write(struct state_writer *w, const struct vcpu_state *s)
{
    state_begin(w, "vcpu", VCPU_STATE_VERSION);
    state_put_u32(w, s->index);
    state_put_u32(w, s->tsc_khz);
    state_put_u32(w, s->ncpuid);
    for (uint32_t i = 0; i < s->ncpuid; i++) {
        const struct kvm_cpuid_entry2 *e = &s->cpuid[i];
        state_put_u32(w, e->function);
        state_put_u32(w, e->index);
        state_put_u32(w, e->flags);
        state_put_u32(w, e->eax);
        state_put_u32(w, e->ebx);
        state_put_u32(w, e->ecx);
        state_put_u32(w, e->edx);
    }
    put_opt(w, s->has_mp_state, &s->mp_state, sizeof s->mp_state);
    kvm_state_put_blob(w, &s->regs, sizeof s->regs);
    state_put_u8(w, (uint8_t)s->sregs_kind);
    if (s->sregs_kind == VCPU_SREGS2)
        kvm_state_put_blob(w, &s->sregs2, sizeof s->sregs2);
    else
        kvm_state_put_blob(w, &s->sregs, sizeof s->sregs);
    state_put_u8(w, (uint8_t)s->fpu_kind);
    if (s->fpu_kind == VCPU_FPU_XSAVE)
        kvm_state_put_blob(w, s->xsave, s->xsave_size);
    else
        kvm_state_put_blob(w, &s->fpu, sizeof s->fpu);
    put_opt(w, s->has_xcrs, &s->xcrs, sizeof s->xcrs);
    put_opt(w, s->has_debugregs, &s->debugregs, sizeof s->debugregs);
    kvm_state_put_blob(w, &s->lapic, sizeof s->lapic);
    state_put_u32(w, s->nmsrs);
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        state_put_u32(w, s->msrs[i].index);
        state_put_u64(w, s->msrs[i].data);
    }
    put_opt(w, s->has_events, &s->events, sizeof s->events);
    state_end(w);
}
/* A count from the stream, checked against this build's bound and against
 * the bytes left in the section before anything is allocated for it. */
static int get_count(struct state_reader *r, uint32_t max, size_t bytes_each, uint32_t *out,
                     const char *what, unsigned index, char *err, size_t errlen)
{
    uint32_t n = state_get_u32(r);
    if (r->failed) {
        kvm_state_err(err, errlen, "vcpu %u: %s: truncated", index, what);
        return -1;
    }
    if (n > max || (size_t)n * bytes_each > r->section_end - r->pos) {
        r->failed = true;
        kvm_state_err(err, errlen, "vcpu %u: %s: count %u is more than %s (%u)", index, what,
                      n, n > max ? "this build takes" : "the section holds",
                      n > max ? max : (unsigned)((r->section_end - r->pos) / bytes_each));
        return -1;
    }
    *out = n;
    return 0;
}

static int get_kind(struct state_reader *r, unsigned a, unsigned b, const char *what,
                    unsigned index, char *err, size_t errlen)
{
    uint8_t k = state_get_u8(r);
    if (r->failed || (k != a && k != b)) {
        kvm_state_err(err, errlen, "vcpu %u: %s: %s", index, what,
                      r->failed ? "truncated" : "unknown kind");
        r->failed = true;
        return -1;
    }
    return k;
}

#define GET_BLOB(field, present, what)                                                   \
    do {                                                                                 \
        char what_[48];                                                                  \
        snprintf(what_, sizeof what_, "vcpu %u: %s", index, what);                       \
        if (kvm_state_get_blob(r, &s->field, sizeof s->field, present, what_, err, errlen) < 0) \
            return -1;                                                                   \
    } while (0)

static int parse_body(struct state_reader *r, unsigned index, struct vcpu_state *s, char *err,
                      size_t errlen)
{
    s->index = state_get_u32(r);
    s->tsc_khz = state_get_u32(r);
    if (r->failed) {
        kvm_state_err(err, errlen, "vcpu %u: truncated", index);
        return -1;
    }
    if (s->index != index) {
        r->failed = true;
        kvm_state_err(err, errlen, "vcpu %u: the section is vCPU %u's", index, s->index);
        return -1;
    }
    if (get_count(r, VCPU_STATE_MAX_CPUID, CPUID_ENTRY_BYTES, &s->ncpuid, "CPUID entries",
                  index, err, errlen) < 0)
        return -1;
    s->cpuid = calloc(s->ncpuid ? s->ncpuid : 1, sizeof *s->cpuid);
    if (!s->cpuid) {
        kvm_state_err(err, errlen, "vcpu %u: out of memory", index);
        return -1;
    }
    for (uint32_t i = 0; i < s->ncpuid; i++) {
        struct kvm_cpuid_entry2 *e = &s->cpuid[i];
        e->function = state_get_u32(r);
        e->index = state_get_u32(r);
        e->flags = state_get_u32(r);
        e->eax = state_get_u32(r);
        e->ebx = state_get_u32(r);
        e->ecx = state_get_u32(r);
        e->edx = state_get_u32(r);
    }
    GET_BLOB(mp_state, &s->has_mp_state, "MP state");
    GET_BLOB(regs, NULL, "regs");
    int k = get_kind(r, VCPU_SREGS, VCPU_SREGS2, "sregs", index, err, errlen);
    if (k < 0)
        return -1;
    s->sregs_kind = (enum vcpu_sregs_kind)k;
    if (k == VCPU_SREGS2)
        GET_BLOB(sregs2, NULL, "sregs2");
    else
        GET_BLOB(sregs, NULL, "sregs");
    k = get_kind(r, VCPU_FPU_XSAVE, VCPU_FPU_LEGACY, "FPU", index, err, errlen);
    if (k < 0)
        return -1;
    s->fpu_kind = (enum vcpu_fpu_kind)k;
    if (k == VCPU_FPU_XSAVE) {
        if (get_count(r, VCPU_STATE_MAX_XSAVE, 1, &s->xsave_size, "XSAVE bytes", index, err,
                      errlen) < 0)
            return -1;
        if (!s->xsave_size) {
            r->failed = true;
            kvm_state_err(err, errlen, "vcpu %u: XSAVE: empty", index);
            return -1;
        }
        s->xsave = malloc(s->xsave_size);
        if (!s->xsave) {
            kvm_state_err(err, errlen, "vcpu %u: out of memory", index);
            return -1;
        }
        state_get_bytes(r, s->xsave, s->xsave_size);
    } else {
        GET_BLOB(fpu, NULL, "FPU");
    }
    GET_BLOB(xcrs, &s->has_xcrs, "XCRs");
    GET_BLOB(debugregs, &s->has_debugregs, "debug registers");
    GET_BLOB(lapic, NULL, "LAPIC");
    if (get_count(r, VCPU_STATE_MAX_MSRS, MSR_ENTRY_BYTES, &s->nmsrs, "MSRs", index, err,
                  errlen) < 0)
        return -1;
    s->msrs = calloc(s->nmsrs ? s->nmsrs : 1, sizeof *s->msrs);
    if (!s->msrs) {
        kvm_state_err(err, errlen, "vcpu %u: out of memory", index);
        return -1;
    }
    for (uint32_t i = 0; i < s->nmsrs; i++) {
        s->msrs[i].index = state_get_u32(r);
        s->msrs[i].data = state_get_u64(r);
    }
    GET_BLOB(events, &s->has_events, "vCPU events");
    return 0;
}

int vcpu_state_parse(struct state_reader *r, unsigned index, struct vcpu_state *s, char *err,
                     size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (kvm_state_open(r, "vcpu", VCPU_STATE_VERSION, err, errlen) < 0)
        return -1;
    if (parse_body(r, index, s, err, errlen) < 0) {
        state_close(r);
        return -1;
    }
    char what[32];
    snprintf(what, sizeof what, "vcpu %u", index);
    return kvm_state_close(r, what, err, errlen);
}

