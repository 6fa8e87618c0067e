#include "arch/x86/kvm_state_io.h"

#include "core/state.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kvm_state_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int kvm_state_open(struct state_reader *r, const char *name, uint32_t version, char *err,
                   size_t errlen)
{
    uint32_t v = 0;
    if (state_open(r, name, &v) < 0) {
        kvm_state_err(err, errlen, "section '%s': missing, misplaced or truncated", name);
        return -1;
    }
    if (v != version) {
        r->failed = true;
        kvm_state_err(err, errlen, "section '%s': version %u, this build reads only %u", name,
                      v, version);
        return -1;
    }
    return 0;
}

int kvm_state_close(struct state_reader *r, const char *name, char *err, size_t errlen)
{
    bool truncated = r->failed;
    if (state_close(r) == 0)
        return 0;
    kvm_state_err(err, errlen, "section '%s': %s", name,
                  truncated ? "truncated" : "has bytes this build does not read");
    return -1;
}

void kvm_state_put_blob(struct state_writer *w, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    state_put_u32(w, (uint32_t)n);
    state_put_bytes(w, p, n);
}

void kvm_state_put_absent(struct state_writer *w) { state_put_u32(w, 0); }

int kvm_state_get_blob(struct state_reader *r, void *p, size_t size, bool *present,
                       const char *what, char *err, size_t errlen)
{
    uint32_t n = state_get_u32(r);
    if (r->failed) {
        kvm_state_err(err, errlen, "%s: truncated", what);
        return -1;
    }
    if (n == 0 && present) {
        *present = false;
        memset(p, 0, size);
        return 0;
    }
    if (n != size) {
        r->failed = true;
        kvm_state_err(err, errlen, "%s: saved as %u bytes, this build's is %zu", what, n, size);
        return -1;
    }
    state_get_bytes(r, p, size);
    if (r->failed) {
        kvm_state_err(err, errlen, "%s: truncated", what);
        return -1;
    }
    if (present)
        *present = true;
    return 0;
}
