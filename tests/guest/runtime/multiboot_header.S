/* Multiboot v1 header. With MB_AOUT the address fields are used, so the
 * same code can be shipped as a flat binary. */
#define MB_MAGIC 0x1badb002
#ifdef MB_AOUT
#define MB_FLAGS 0x00010003     /* page-aligned modules, memory info, address fields */
#else
#define MB_FLAGS 0x00000003     /* page-aligned modules, memory info */
#endif

    .section .head, "a"
    .balign 4
    .globl multiboot_header
multiboot_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long multiboot_header      /* header_addr */
    .long __load_start          /* load_addr */
    .long _edata                /* load_end_addr */
    .long _end                  /* bss_end_addr */
    .long entry_multiboot       /* entry_addr */
