/* The on-disk and in-memory structures of the three x86 boot protocols
 * kvmbox speaks: the Linux boot protocol (setup header and zero page), PVH
 * (hvm_start_info) and multiboot v1. Layouts follow the kernel's
 * Documentation/arch/x86/boot.rst and zero-page.rst, Xen's
 * arch-x86/hvm/start_info.h and the Multiboot 0.6.96 specification; the
 * static asserts pin every offset we rely on. Also used by the test-guest
 * build tools, so it must stay free of VMM types. */
#ifndef KVMBOX_ARCH_X86_BOOTPARAM_H
#define KVMBOX_ARCH_X86_BOOTPARAM_H

#include <stddef.h>
#include <stdint.h>

/* ---- Linux boot protocol ---- */

#define SETUP_HEADER_OFFSET 0x1f1
#define SETUP_HDRS_MAGIC 0x53726448u     /* "HdrS" */
#define SETUP_BOOT_FLAG 0xaa55
#define LOADFLAG_LOADED_HIGH 0x01
#define LOADFLAG_QUIET 0x20
#define LOADFLAG_KEEP_SEGMENTS 0x40
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x0001
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x0002
#define LINUX_64BIT_ENTRY_OFFSET 0x200

struct setup_header {
    uint8_t setup_sects;
    uint16_t root_flags;
    uint32_t syssize;
    uint16_t ram_size;
    uint16_t vid_mode;
    uint16_t root_dev;
    uint16_t boot_flag;
    uint16_t jump;
    uint32_t header;
    uint16_t version;
    uint32_t realmode_swtch;
    uint16_t start_sys_seg;
    uint16_t kernel_version;
    uint8_t type_of_loader;
    uint8_t loadflags;
    uint16_t setup_move_size;
    uint32_t code32_start;
    uint32_t ramdisk_image;
    uint32_t ramdisk_size;
    uint32_t bootsect_kludge;
    uint16_t heap_end_ptr;
    uint8_t ext_loader_ver;
    uint8_t ext_loader_type;
    uint32_t cmd_line_ptr;
    uint32_t initrd_addr_max;
    uint32_t kernel_alignment;
    uint8_t relocatable_kernel;
    uint8_t min_alignment;
    uint16_t xloadflags;
    uint32_t cmdline_size;
    uint32_t hardware_subarch;
    uint64_t hardware_subarch_data;
    uint32_t payload_offset;
    uint32_t payload_length;
    uint64_t setup_data;
    uint64_t pref_address;
    uint32_t init_size;
    uint32_t handover_offset;
    uint32_t kernel_info_offset;
} __attribute__((packed));

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
#define E820_MAX_ENTRIES_ZEROPAGE 128

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

struct boot_params {
    uint8_t screen_info[0x40];
    uint8_t apm_bios_info[0x14];
    uint8_t _pad2[4];
    uint64_t tboot_addr;
    uint8_t ist_info[0x10];
    uint64_t acpi_rsdp_addr;
    uint8_t _pad3[8];
    uint8_t hd0_info[16];
    uint8_t hd1_info[16];
    uint8_t sys_desc_table[0x10];
    uint8_t olpc_ofw_header[0x10];
    uint32_t ext_ramdisk_image;
    uint32_t ext_ramdisk_size;
    uint32_t ext_cmd_line_ptr;
    uint8_t _pad4[112];
    uint32_t cc_blob_address;
    uint8_t edid_info[0x80];
    uint8_t efi_info[0x20];
    uint32_t alt_mem_k;
    uint32_t scratch;
    uint8_t e820_entries;
    uint8_t eddbuf_entries;
    uint8_t edd_mbr_sig_buf_entries;
    uint8_t kbd_status;
    uint8_t secure_boot;
    uint8_t _pad5[2];
    uint8_t sentinel;
    uint8_t _pad6[1];
    struct setup_header hdr;
    uint8_t _pad7[0x290 - SETUP_HEADER_OFFSET - sizeof(struct setup_header)];
    uint32_t edd_mbr_sig_buffer[16];
    struct e820_entry e820_table[E820_MAX_ENTRIES_ZEROPAGE];
    uint8_t _pad8[48];
    uint8_t eddbuf[0x1ec];
    uint8_t _pad9[276];
} __attribute__((packed));

_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "zero page layout");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "zero page layout");
_Static_assert(offsetof(struct boot_params, cc_blob_address) == 0x13c, "zero page layout");
_Static_assert(offsetof(struct boot_params, alt_mem_k) == 0x1e0, "zero page layout");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "zero page layout");
_Static_assert(offsetof(struct boot_params, hdr) == SETUP_HEADER_OFFSET, "zero page layout");
_Static_assert(offsetof(struct boot_params, hdr.header) == 0x202, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.type_of_loader) == 0x210, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.cmd_line_ptr) == 0x228, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.xloadflags) == 0x236, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.init_size) == 0x260, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.kernel_info_offset) == 0x268, "setup header layout");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "zero page layout");
_Static_assert(offsetof(struct boot_params, eddbuf) == 0xd00, "zero page layout");
_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");

/* ---- PVH ---- */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;     /* version 1 */
    uint32_t memmap_entries;   /* version 1 */
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;             /* E820 types */
    uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info v1 layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "hvm_start_info v1 layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm memmap layout");

/* ---- Multiboot v1 ---- */

#define MULTIBOOT_HEADER_MAGIC 0x1badb002u
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u
#define MULTIBOOT_SEARCH 8192
#define MB_HDR_PAGE_ALIGN 0x00000001u  /* modules page aligned */
#define MB_HDR_MEMORY_INFO 0x00000002u
#define MB_HDR_VIDEO_MODE 0x00000004u
#define MB_HDR_AOUT_KLUDGE 0x00010000u /* the address fields are valid */

#define MB_INFO_MEMORY 0x00000001u
#define MB_INFO_CMDLINE 0x00000004u
#define MB_INFO_MODS 0x00000008u
#define MB_INFO_MEM_MAP 0x00000040u
#define MB_INFO_BOOT_LOADER_NAME 0x00000200u

struct multiboot_header {
    uint32_t magic;
    uint32_t flags;
    uint32_t checksum;
    uint32_t header_addr;      /* these five with MB_HDR_AOUT_KLUDGE */
    uint32_t load_addr;
    uint32_t load_end_addr;
    uint32_t bss_end_addr;
    uint32_t entry_addr;
};

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;
    uint32_t mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
    uint32_t drives_length;
    uint32_t drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
    uint32_t apm_table;
    uint32_t vbe[4];
    uint8_t framebuffer[22];
} __attribute__((packed));

struct multiboot_mod {
    uint32_t mod_start;
    uint32_t mod_end;
    uint32_t string;
    uint32_t reserved;
};

/* `size` counts the bytes after itself (20), not itself. */
struct multiboot_mmap_entry {
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

_Static_assert(offsetof(struct multiboot_info, mmap_length) == 44, "multiboot info layout");
_Static_assert(offsetof(struct multiboot_info, boot_loader_name) == 64, "multiboot info layout");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap layout");

#endif
