#include "arch/x86/aml.h"

#include "util/grow.h"

#include <stdlib.h>
#include <string.h>

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_ONES 0xff
#define AML_BYTE 0x0a
#define AML_WORD 0x0b
#define AML_DWORD 0x0c
#define AML_STRING 0x0d
#define AML_QWORD 0x0e
#define AML_NAME 0x08
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT 0x5b
#define AML_DEVICE 0x82
#define AML_ROOT '\\'
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f
#define PKGLEN_BYTES 4                   /* always the 4-byte form: patched later */

enum open_kind { OPEN_PLAIN, OPEN_BUFFER };

void aml_init(struct aml *a) { memset(a, 0, sizeof *a); }
void aml_free(struct aml *a) { free(a->buf); memset(a, 0, sizeof *a); }

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (a->failed)
        return;
    if (!grow_to(&a->buf, &a->cap, a->len + n)) {
        a->failed = true;
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

void aml_byte(struct aml *a, uint8_t b) { aml_bytes(a, &b, 1); }

static void name_seg(struct aml *a, const char *s, size_t n)
{
    char seg[4] = { '_', '_', '_', '_' };
    memcpy(seg, s, n > 4 ? 4 : n);
    aml_bytes(a, seg, 4);
}

void aml_name(struct aml *a, const char *name)
{
    if (*name == AML_ROOT) {
        aml_byte(a, AML_ROOT);
        name++;
    }
    if (!*name) {
        aml_byte(a, AML_ZERO);           /* NullName */
        return;
    }
    unsigned nseg = 1;
    for (const char *p = name; *p; p++)
        nseg += *p == '.';
    if (nseg == 2)
        aml_byte(a, AML_DUAL_NAME);
    else if (nseg > 2) {
        aml_byte(a, AML_MULTI_NAME);
        aml_byte(a, (uint8_t)nseg);
    }
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        name_seg(a, p, n);
        p += n + (dot ? 1 : 0);
    }
}

void aml_int(struct aml *a, uint64_t v)
{
    if (v == 0)
        aml_byte(a, AML_ZERO);
    else if (v == 1)
        aml_byte(a, AML_ONE);
    else if (v <= 0xff) {
        aml_byte(a, AML_BYTE);
        aml_byte(a, (uint8_t)v);
    } else {
        unsigned n = v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
        aml_byte(a, n == 2 ? AML_WORD : n == 4 ? AML_DWORD : AML_QWORD);
        for (unsigned i = 0; i < n; i++)
            aml_byte(a, (uint8_t)(v >> (8 * i)));
    }
}

void aml_string(struct aml *a, const char *s)
{
    aml_byte(a, AML_STRING);
    aml_bytes(a, s, strlen(s) + 1);
}

void aml_eisaid(struct aml *a, const char *id)
{
    /* Three letters of five bits each, then four hex digits, big-endian. */
    uint32_t v = 0;
    if (strlen(id) == 7) {
        v = (uint32_t)((id[0] - '@') & 0x1f) << 26 | (uint32_t)((id[1] - '@') & 0x1f) << 21 |
            (uint32_t)((id[2] - '@') & 0x1f) << 16 | (uint32_t)strtoul(id + 3, NULL, 16);
    }
    aml_byte(a, AML_DWORD);
    aml_byte(a, (uint8_t)(v >> 24));
    aml_byte(a, (uint8_t)(v >> 16));
    aml_byte(a, (uint8_t)(v >> 8));
    aml_byte(a, (uint8_t)v);
}

void aml_name_decl(struct aml *a, const char *name)
{
    aml_byte(a, AML_NAME);
    aml_name(a, name);
}

static void open_pkg(struct aml *a)
{
    if (a->depth == AML_MAX_DEPTH) {
        a->failed = true;
        return;
    }
    a->open[a->depth++] = a->len;
    uint8_t zero[PKGLEN_BYTES] = { 0 };
    aml_bytes(a, zero, PKGLEN_BYTES);
}

void aml_scope(struct aml *a, const char *name)
{
    aml_byte(a, AML_SCOPE);
    open_pkg(a);
    aml_name(a, name);
}

void aml_device(struct aml *a, const char *name)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_DEVICE);
    open_pkg(a);
    aml_name(a, name);
}

void aml_package(struct aml *a, uint8_t nelements)
{
    aml_byte(a, AML_PACKAGE);
    open_pkg(a);
    aml_byte(a, nelements);
}

void aml_buffer(struct aml *a)
{
    aml_byte(a, AML_BUFFER);
    open_pkg(a);
    /* BufferSize as a DWord, patched by aml_close. */
    uint8_t size[5] = { AML_DWORD, 0, 0, 0, 0 };
    aml_bytes(a, size, sizeof size);
}

void aml_close(struct aml *a)
{
    if (a->failed || a->depth == 0) {
        a->failed = true;
        return;
    }
    size_t at = a->open[--a->depth];
    size_t len = a->len - at;        /* PkgLength counts itself */
    if (len >= (1u << 28)) {
        a->failed = true;
        return;
    }
    uint8_t *p = a->buf + at;
    p[0] = (uint8_t)((PKGLEN_BYTES - 1) << 6 | (len & 0x0f));
    p[1] = (uint8_t)(len >> 4);
    p[2] = (uint8_t)(len >> 12);
    p[3] = (uint8_t)(len >> 20);
    /* The opcode precedes its PkgLength; a buffer's size field follows
     * it and counts the bytes after the field. */
    if (at > 0 && a->buf[at - 1] == AML_BUFFER) {
        uint32_t n = (uint32_t)(a->len - (at + PKGLEN_BYTES + 5));
        memcpy(p + PKGLEN_BYTES + 1, &n, 4);
    }
}
