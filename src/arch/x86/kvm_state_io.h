/* What the x86 KVM state sections share (arch/x86/vcpu_state.c,
 * vm_state.c): opening a section of one known version, fixed-size KVM
 * structures as a u32 size and their bytes, and errors that name the item. */
#ifndef KVMBOX_ARCH_X86_KVM_STATE_IO_H
#define KVMBOX_ARCH_X86_KVM_STATE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer;
struct state_reader;

void kvm_state_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Opens the next section, which must be `name` at `version`. */
int kvm_state_open(struct state_reader *r, const char *name, uint32_t version, char *err,
                   size_t errlen);
/* Closes it: -1 if it was truncated or has bytes this build does not read. */
int kvm_state_close(struct state_reader *r, const char *name, char *err, size_t errlen);

/* A structure as its size and bytes; size 0 says "not saved" (the source
 * host's KVM did not offer it). */
void kvm_state_put_blob(struct state_writer *w, const void *p, size_t n);
void kvm_state_put_absent(struct state_writer *w);
/* Reads one into p (of exactly `size` bytes). An absent one is accepted
 * when `present` is non-NULL (then *present says which), else an error;
 * any other size is an error naming `what`. */
int kvm_state_get_blob(struct state_reader *r, void *p, size_t size, bool *present,
                       const char *what, char *err, size_t errlen);

#endif
