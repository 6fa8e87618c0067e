/* A small ACPI Machine Language encoder (ACPI 6.x, 20.2): just what the
 * DSDT needs (names, integers, strings, packages, buffers, scopes and
 * devices), written into a growing buffer. */
#ifndef KVMBOX_ARCH_X86_AML_H
#define KVMBOX_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 8

struct aml {
    uint8_t *buf;
    size_t len, cap;
    bool failed;                     /* out of memory or misnested */
    size_t open[AML_MAX_DEPTH];      /* where each open PkgLength goes */
    unsigned depth;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);
/* A name: "_HID", "PCI0", or rooted "\\_SB_"; segments are padded with '_'. */
void aml_name(struct aml *a, const char *name);
void aml_int(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A compressed EISA ID such as "PNP0A08", as a DWord. */
void aml_eisaid(struct aml *a, const char *id);

/* Opens Name(name, ...): follow with one data object. */
void aml_name_decl(struct aml *a, const char *name);
/* Scope, Device, Package and Buffer open a length-prefixed body that
 * aml_close ends. */
void aml_scope(struct aml *a, const char *name);
void aml_device(struct aml *a, const char *name);
void aml_package(struct aml *a, uint8_t nelements);
void aml_buffer(struct aml *a);       /* the size is filled in by aml_close */
void aml_close(struct aml *a);

#endif
