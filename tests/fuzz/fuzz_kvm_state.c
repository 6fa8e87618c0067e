/* libFuzzer target: the x86 KVM state loaders' parse step
 * (arch/x86/kvm_state.h), which reads an untrusted snapshot before any
 * ioctl. The first byte picks the parser: even, a "vcpu" section for vCPU
 * (byte >> 1) & 3; odd, the VM's "irqchip", "pit" and "clock". The rest is
 * the stream. A refusal must leave a message; an acceptance must write
 * back to exactly the bytes it read (the encoding is canonical). */
#include "arch/x86/kvm_state.h"
#include "core/state.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_written(const struct state_writer *w, const uint8_t *read, size_t n)
{
    if (w->failed || w->len != n || memcmp(w->buf, read, n) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t pick = data[0];
    data++, size--;
    struct state_reader r;
    state_reader_init(&r, data, size);
    struct state_writer w;
    state_writer_init(&w);
    char err[256] = "";
    int rc;
    if (pick & 1) {
        struct vm_arch_state s;
        rc = vm_arch_state_parse(&r, &s, err, sizeof err);
        if (rc == 0)
            vm_arch_state_write(&w, &s);
    } else {
        struct vcpu_state s;
        rc = vcpu_state_parse(&r, (pick >> 1) & 3, &s, err, sizeof err);
        if (rc == 0)
            vcpu_state_write(&w, &s);
        vcpu_state_free(&s);
    }
    if (rc == 0)
        check_written(&w, data, r.pos);
    else if (!err[0])
        abort();
    state_writer_free(&w);
    return 0;
}
