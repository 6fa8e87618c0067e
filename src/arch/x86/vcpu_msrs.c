#include "arch/x86/vcpu_msrs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* KVM's msr_io refuses a batch of 256 or more (MAX_IO_MSRS). */
#define MSR_BATCH 255u

#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

/* The MTRRs KVM emulates (8 variable ranges, as its MTRRcap says), which
 * Linux programs and KVM_GET_MSR_INDEX_LIST does not list; QEMU saves the
 * same set. */
static const uint32_t mtrr_msrs[] = {
    0x2ff,                                      /* MTRRdefType */
    0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,  /* PHYSBASE/MASK 0-3 */
    0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,  /* 4-7 */
    0x250, 0x258, 0x259,                        /* fixed 64K, 16K */
    0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,  /* fixed 4K */
};
#define NMTRR (sizeof mtrr_msrs / sizeof mtrr_msrs[0])

static bool listed(const uint32_t *v, unsigned n, uint32_t index)
{
    for (unsigned i = 0; i < n; i++)
        if (v[i] == index)
            return true;
    return false;
}

int vcpu_msrs_candidates(int kvm_fd, uint32_t **out)
{
    /* Asked with room for none, KVM answers E2BIG and the count. */
    struct kvm_msr_list probe = { .nmsrs = 0 };
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return -1;
    unsigned nlist = probe.nmsrs;
    struct kvm_msr_list *l = malloc(sizeof *l + (size_t)nlist * sizeof l->indices[0]);
    uint32_t *v = malloc(((size_t)nlist + NMTRR) * sizeof *v);
    if (!l || !v)
        goto fail;
    l->nmsrs = nlist;
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0)
        goto fail;
    unsigned n = 0;
    bool deadline = false;
    for (unsigned i = 0; i < l->nmsrs && i < nlist; i++) {
        if (l->indices[i] == MSR_IA32_TSC_DEADLINE)
            deadline = true;
        else if (!listed(v, n, l->indices[i]))
            v[n++] = l->indices[i];
    }
    for (unsigned i = 0; i < NMTRR; i++)
        if (!listed(v, n, mtrr_msrs[i]))
            v[n++] = mtrr_msrs[i];
    /* Last: KVM takes a deadline only once the TSC it counts in is set. */
    if (deadline)
        v[n++] = MSR_IA32_TSC_DEADLINE;
    free(l);
    *out = v;
    return (int)n;
fail:
    free(l);
    free(v);
    return -1;
}

int vcpu_msrs_io(int vcpu_fd, unsigned long req, struct kvm_msr_entry *e, unsigned n,
                 bool *refused)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[MSR_BATCH];
    } *b = malloc(sizeof *b);
    if (!b)
        return -1;
    memset(refused, 0, n * sizeof *refused);
    int nrefused = 0;
    for (unsigned i = 0; i < n;) {
        unsigned k = n - i < MSR_BATCH ? n - i : MSR_BATCH;
        memset(&b->hdr, 0, sizeof b->hdr);
        b->hdr.nmsrs = k;
        memcpy(b->e, &e[i], k * sizeof *e);
        int done = ioctl(vcpu_fd, req, b);
        if (done < 0) {
            int saved = errno;
            free(b);
            errno = saved;
            return -1;
        }
        if ((unsigned)done > k)
            done = (int)k;
        memcpy(&e[i], b->e, (unsigned)done * sizeof *e);  /* GET fills values */
        i += (unsigned)done;
        if ((unsigned)done < k) {
            refused[i++] = true;
            nrefused++;
        }
    }
    free(b);
    return nrefused;
}

bool vcpu_msr_required(uint32_t index)
{
    switch (index) {
    case MSR_IA32_TSC:
    case MSR_IA32_TSC_DEADLINE:
    case MSR_KVM_WALL_CLOCK:
    case MSR_KVM_SYSTEM_TIME:
    case MSR_KVM_WALL_CLOCK_NEW:
    case MSR_KVM_SYSTEM_TIME_NEW:
        return true;
    default:
        return false;
    }
}
