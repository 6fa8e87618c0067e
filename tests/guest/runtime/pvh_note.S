/* The note that makes an ELF a PVH kernel: XEN_ELFNOTE_PHYS32_ENTRY (18),
 * owner "Xen", holding the 32-bit entry point. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                     /* namesz */
    .long 4                     /* descsz */
    .long 18                    /* type */
    .asciz "Xen"
    .long entry_pvh
    .balign 4
