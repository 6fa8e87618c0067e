/* Wraps a flat 64-bit payload (linked at 1 MiB, 64-bit entry at +0x200) in
 * a Linux bzImage: a boot sector and one setup sector holding a setup
 * header that declares protocol 2.15 and XLF_KERNEL_64. Lets the test
 * guest exercise kvmbox's Linux boot path without a Linux kernel.
 * usage: mkbzimage PAYLOAD INIT_SIZE OUT */
#include "arch/x86/bootparam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mkbzimage PAYLOAD INIT_SIZE OUT\n");
        return 1;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    static unsigned char payload[16 << 20];
    size_t n = fread(payload, 1, sizeof payload, in);
    fclose(in);
    unsigned long init_size = strtoul(argv[2], NULL, 0);

    unsigned char setup[1024] = { 0 };
    struct setup_header h = {
        .setup_sects = 1,
        .boot_flag = SETUP_BOOT_FLAG,
        .jump = 0x6aeb,  /* "jmp 0x26c": the header ends at 0x202 + 0x6a */
        .header = SETUP_HDRS_MAGIC,
        .version = 0x020f,
        .loadflags = LOADFLAG_LOADED_HIGH,
        .code32_start = 0x100000,
        .initrd_addr_max = 0x7fffffff,
        .kernel_alignment = 0x200000,
        .xloadflags = XLF_KERNEL_64,
        .cmdline_size = 2047,
        .pref_address = 0x100000,
        .syssize = (uint32_t)((n + 15) / 16),
        .init_size = (uint32_t)(init_size > n ? init_size : n),
    };
    memcpy(setup + SETUP_HEADER_OFFSET, &h, sizeof h);
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(setup, 1, sizeof setup, out) != sizeof setup ||
        fwrite(payload, 1, n, out) != n || fclose(out) != 0) {
        perror(argv[3]);
        return 1;
    }
    return 0;
}
