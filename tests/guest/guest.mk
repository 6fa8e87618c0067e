# The freestanding test guests (tests/guest), one program linked four ways:
# a Linux bzImage, a PVH ELF, a multiboot ELF (32-bit ELF class, as QEMU
# wants) and a multiboot flat binary using the header's address fields.

GUEST_BUILD := build/guest
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie \
    -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
    -fcf-protection=none -fno-tree-loop-distribute-patterns -Itests/guest/runtime -Isrc
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-n \
    -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -Wl,-T,tests/guest/runtime/guest.ld
GUEST_COMMON := $(GUEST_BUILD)/lib.o $(GUEST_BUILD)/boot_check.o $(GUEST_BUILD)/irq_check.o \
    $(GUEST_BUILD)/interrupts.o $(GUEST_BUILD)/isr.o $(GUEST_BUILD)/tables_check.o \
    $(GUEST_BUILD)/smp_check.o $(GUEST_BUILD)/trampoline.o \
    $(GUEST_BUILD)/time_check.o $(GUEST_BUILD)/pci.o $(GUEST_BUILD)/virtio.o \
    $(GUEST_BUILD)/virtio_check.o $(GUEST_BUILD)/net_check.o

GUESTS := $(GUEST_BUILD)/boot-linux.bzImage $(GUEST_BUILD)/boot-pvh.elf \
          $(GUEST_BUILD)/boot-multiboot.elf $(GUEST_BUILD)/boot-multiboot-aout.bin
guests: $(GUESTS) $(GUEST_BUILD)/hello.elf

$(GUEST_BUILD)/%.o: tests/guest/runtime/%.c tests/guest/runtime/*.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<
$(GUEST_BUILD)/%.o: tests/guest/%.c tests/guest/*.h tests/guest/runtime/*.h src/arch/x86/bootparam.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<
$(GUEST_BUILD)/%.o: tests/guest/runtime/%.S tests/guest/runtime/boot_state.h tests/guest/runtime/long_mode.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<
$(GUEST_BUILD)/multiboot_header_aout.o: tests/guest/runtime/multiboot_header.S
	$(CC) $(GUEST_CFLAGS) -DMB_AOUT -c -o $@ $<

$(GUEST_BUILD)/mkbzimage: tests/guest/tools/mkbzimage.c src/arch/x86/bootparam.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Isrc -o $@ $<

$(GUEST_BUILD)/boot-linux.elf: $(GUEST_BUILD)/entry64.o $(GUEST_COMMON)
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,startup_64 -o $@ $^
$(GUEST_BUILD)/boot-linux.bzImage: $(GUEST_BUILD)/boot-linux.elf $(GUEST_BUILD)/mkbzimage
	objcopy -O binary $< $@.payload
	$(GUEST_BUILD)/mkbzimage $@.payload \
	    $$(( 0x$$(nm $< | awk '$$3=="_end"{print $$1}') - 0x100000 )) $@

$(GUEST_BUILD)/boot-pvh.elf: $(GUEST_BUILD)/pvh_note.o $(GUEST_BUILD)/entry32.o $(GUEST_COMMON)
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,entry_pvh -o $@ $^
# The demo is the PVH guest under another name, so `make run-demo` reads well.
$(GUEST_BUILD)/hello.elf: $(GUEST_BUILD)/boot-pvh.elf
	cp $< $@

$(GUEST_BUILD)/boot-multiboot.elf64: $(GUEST_BUILD)/multiboot_header.o $(GUEST_BUILD)/entry32.o $(GUEST_COMMON)
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,entry_multiboot -o $@ $^
$(GUEST_BUILD)/boot-multiboot.elf: $(GUEST_BUILD)/boot-multiboot.elf64
	objcopy -O elf32-i386 $< $@

$(GUEST_BUILD)/boot-multiboot-aout.elf: $(GUEST_BUILD)/multiboot_header_aout.o $(GUEST_BUILD)/entry32.o $(GUEST_COMMON)
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,entry_multiboot -o $@ $^
$(GUEST_BUILD)/boot-multiboot-aout.bin: $(GUEST_BUILD)/boot-multiboot-aout.elf
	objcopy -O binary $< $@

# The startup benchmark's guest (see first_byte.S).
$(GUEST_BUILD)/first-byte.elf: tests/guest/first_byte.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $(GUEST_BUILD)/first_byte.o $<
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,first_byte_entry -o $@ $(GUEST_BUILD)/first_byte.o
guests: $(GUEST_BUILD)/first-byte.elf

# test_limits.sh's console flood (see console_flood.S).
$(GUEST_BUILD)/console-flood.elf: tests/guest/console_flood.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $(GUEST_BUILD)/console_flood.o $<
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,console_flood_entry -o $@ $(GUEST_BUILD)/console_flood.o
guests: $(GUEST_BUILD)/console-flood.elf
