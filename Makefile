# kvmbox build. `make` builds build/kvmbox; `make check` builds and runs
# every test; `make check SANITIZE=1` does the same under ASan+UBSan.

CC      ?= cc
PREFIX  ?= /usr/local
VERSION := 0.1.0

ifeq ($(SANITIZE),1)
BUILD   ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS :=
endif

CFLAGS  ?= -O2 -g
# No .eh_frame: nothing in kvmbox unwinds through C frames (no exceptions,
# no pthread_cancel); gdb uses .debug_frame, and 20 KB less to keep resident.
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -fno-asynchronous-unwind-tables \
           -D_GNU_SOURCE -DKVMBOX_VERSION='"$(VERSION)"' -Isrc -MMD -MP $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
# No -lslirp: src/devices/net/slirp.c loads libslirp (and glib with it)
# with dlopen only when a VM has a --net user NIC; libslirp-dev is still
# needed for the header. liburing is linked statically (liburing-dev's
# liburing.a): the few functions used cost less than loading one more
# shared library into every VM (about 50 KiB of resident memory).
# The API's HTTP parser and JSON library, static for the same reason: only
# what the API uses is linked, and a VM without --api-socket touches none.
# libxxhash (XXH3: migration's per-message checksums and memory digest),
# static likewise. GnuTLS (a migration's tls_dir) is loaded with dlopen, as
# libslirp: linked, it added 2.5 MiB to every VM; libgnutls28-dev is for
# the header (and openssl, in deps, makes the tests' certificates).
# libseccomp makes the seccomp filters at build time (seccomp_gen below):
# kvmbox carries the programs, not the library.
LDLIBS  += -lpthread -l:liburing.a -l:libhttp_parser.a -l:libjson-c.a -l:libxxhash.a

# The VMM minus main(): unit tests link against this. The seccomp filters'
# source is the generator's, which writes the programs kvmbox carries.
SECCOMP_GEN_SRCS := src/sandbox/seccomp_gen.c src/sandbox/seccomp_filter.c
LIB_SRCS := $(filter-out src/cli/main.c $(SECCOMP_GEN_SRCS),$(shell find src -name '*.c' | sort))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/seccomp_programs.o
MAIN_OBJ := $(BUILD)/src/cli/main.o

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

.PHONY: all install deps run-demo fuzz fuzz-smoke check check-unit check-integration check-lab guest-linux guests bench bench-api bench-blk bench-lab bench-smp bench-smp-lab bench-snapshot bench-migrate clean
all: $(BUILD)/kvmbox

$(BUILD)/kvmbox: $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Built with this build's flags: a sanitizer build's filters allow what
# ASan and LSan call.
$(BUILD)/tools/seccomp_gen: $(SECCOMP_GEN_SRCS) src/sandbox/sandbox.h src/sandbox/seccomp_filter.h \
    src/sandbox/seccomp_programs.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(SECCOMP_GEN_SRCS) $(LDFLAGS) -l:libseccomp.a

$(BUILD)/gen/seccomp_programs.c: $(BUILD)/tools/seccomp_gen
	@mkdir -p $(dir $@)
	$< > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/seccomp_programs.o: $(BUILD)/gen/seccomp_programs.c
	$(CC) $(CFLAGS) -c -o $@ $<

# Test-side helpers (a guest's virtio driver, ...) shared by unit tests,
# fuzz targets and benchmarks.
SUPPORT_SRCS := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_OBJS) $(SUPPORT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -Itests/support -o $@ $< $(LIB_OBJS) $(SUPPORT_OBJS) \
	    $(LDFLAGS) $(LDLIBS) -lcmocka

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang and ASan+UBSan
# over their own copy of the VMM objects; seed corpora in tests/fuzz/corpus.
FUZZ_CC    ?= clang
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -DKVMBOX_VERSION='"$(VERSION)"' \
              -Isrc -Itests/unit -Itests/support -MMD -MP \
              -Wno-gnu-variable-sized-type-not-at-end \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_OBJS  := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o) $(SUPPORT_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o) \
              $(FUZZ_BUILD)/obj/gen/seccomp_programs.o
FUZZ_SECONDS ?= 60

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# (The fuzz targets load no filter: any build's programs will do.)
$(FUZZ_BUILD)/obj/gen/seccomp_programs.o: $(BUILD)/gen/seccomp_programs.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS) -lcmocka

# Kept between runs (make would delete them as intermediates).
.SECONDARY: $(FUZZ_OBJS)

fuzz: $(FUZZ_BINS)

# Each fuzz target for FUZZ_SECONDS (60) from its seed corpus; what it
# finds is kept in build/fuzz/findings. Part of CI.
fuzz-smoke: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ONLY=fuzz tests/run-all.sh $(FUZZ_BINS)

# Test guests: freestanding, built the same way whatever SANITIZE says.
include tests/guest/guest.mk

install: $(BUILD)/kvmbox
	install -D -m 0755 $(BUILD)/kvmbox $(DESTDIR)$(PREFIX)/bin/kvmbox

# Everything the build, the tests and the benchmarks need, from Debian
# (qemu-system-x86 is the benchmark peer; python3 drives the terminal test).
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    gcc make libc6-dev binutils libcmocka-dev qemu-system-x86 python3 util-linux \
	    e2fsprogs libslirp-dev liburing-dev libhttp-parser-dev libjson-c-dev libxxhash-dev curl iproute2 \
	    libgnutls28-dev openssl libseccomp-dev \
	    clang libclang-rt-14-dev fio

# Boots the PVH test guest, which reports what it was given and resets
# (kvmbox exits 0): the quickest way to see kvmbox work.
run-demo: $(BUILD)/kvmbox guests
	$(BUILD)/kvmbox run --kernel $(GUEST_BUILD)/hello.elf --memory 64M --cmdline "kvmbox demo"

check: all $(UNIT_BINS) guests
	@BUILD=$(BUILD) GUEST_BUILD=$(GUEST_BUILD) tests/run-all.sh $(UNIT_BINS)

check-unit: $(UNIT_BINS)
	@BUILD=$(BUILD) GUEST_BUILD=$(GUEST_BUILD) ONLY=unit tests/run-all.sh $(UNIT_BINS)

# The full lab run, SMP boots of the stock kernel included.
check-lab: all guests
	@BUILD=$(BUILD) GUEST_BUILD=$(GUEST_BUILD) LAB_FULL=1 ONLY=lab tests/run-all.sh

# Debian's cloud kernel and busybox, and the nested guest's initramfs.
guest-linux:
	tests/lab/fetch.sh build/lab

check-integration: all guests
	@BUILD=$(BUILD) GUEST_BUILD=$(GUEST_BUILD) ONLY=integration tests/run-all.sh

# Benchmarks print their figures next to a peer's measured in the same run.
BENCH_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

# Those that report a VMM's memory share one measure of it (bench/footprint.c).
$(BUILD)/bench/startup $(BUILD)/bench/api: $(BUILD)/bench/%: bench/%.c bench/footprint.c bench/footprint.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $< bench/footprint.c

# Those that drive whole VMMs share their processes and control connections
# (bench/vmm_proc.c).
$(BUILD)/bench/snapshot $(BUILD)/bench/migrate: $(BUILD)/bench/%: bench/%.c bench/vmm_proc.c \
    bench/vmm_proc.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $< bench/vmm_proc.c

# The virtio-blk harness links the VMM's objects and the test-side driver.
$(BUILD)/bench/blk_harness: bench/blk_harness.c $(LIB_OBJS) $(SUPPORT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -Itests/support -o $@ $< $(LIB_OBJS) $(SUPPORT_OBJS) \
	    $(LDFLAGS) $(LDLIBS) -lcmocka

# virtio-blk IOPS and throughput next to fio on the same file.
bench-blk: $(BUILD)/bench/blk_harness
	BUILD=$(BUILD) bench/blk.sh

# Startup time, the VMM's own memory (no devices; a disk and a NIC) and
# guest RAM's huge-page coverage after a memory-bound guest, next to QEMU.
bench: all guests $(GUEST_BUILD)/mem-touch.elf $(BUILD)/bench/startup $(BUILD)/bench/kvm_floor
	$(BUILD)/bench/startup $(BUILD)/kvmbox $(BUILD)/bench/kvm_floor $(GUEST_BUILD)/first-byte.elf \
	    $(GUEST_BUILD)/mem-touch.elf

# The API's ping round trip next to a bare Unix-socket round trip, pause and
# resume latency with 1, 8 and 32 vCPUs, and what the API adds to the VMM's
# own memory (the same figure as `make bench`).
bench-api: all guests $(BUILD)/bench/api
	$(BUILD)/bench/api $(BUILD)/kvmbox $(GUEST_BUILD)/boot-pvh.elf $(GUEST_BUILD)/first-byte.elf

# The huge-page benchmark's guest (see bench/mem_touch.S).
$(GUEST_BUILD)/mem-touch.elf: bench/mem_touch.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $(GUEST_BUILD)/mem_touch.o $<
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,mem_touch_entry -o $@ $(GUEST_BUILD)/mem_touch.o

# Snapshot time and size and restore latency (copy and ondemand), next to
# QEMU's migration to a file and -incoming, medians of 3 (bench/snapshot.c).
# Cases are RAM_MIB:TOUCH_MIB. The large case touches 512 MiB, not 1 GiB:
# where guest code is emulated, filling 1 GiB takes minutes per boot.
SNAPSHOT_CASES := 128:8 128:100 2048:8 2048:512
bench-snapshot: all $(BUILD)/bench/snapshot \
    $(sort $(foreach c,$(SNAPSHOT_CASES),$(GUEST_BUILD)/mem-dirty-$(word 2,$(subst :, ,$(c))).elf))
	$(BUILD)/bench/snapshot $(BUILD)/kvmbox 3 $(GUEST_BUILD) $(SNAPSHOT_CASES)

# The snapshot benchmark's guest, one per touched size (see bench/mem_dirty.S).
$(GUEST_BUILD)/mem-dirty-%.elf: bench/mem_dirty.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -DTOUCH_MIB=$* -c -o $(GUEST_BUILD)/mem_dirty-$*.o $<
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,mem_dirty_entry -o $@ $(GUEST_BUILD)/mem_dirty-$*.o

# Live migration next to QEMU's, the same guest and dirty rate (bench/migrate.c):
# the pause the guest sees, each VMM's downtime, total time, bytes sent; an
# idle guest and one rewriting MIGRATE_BUSY_MIB round and round, over
# loopback TCP, a rate-limited veth between network namespaces (as root) and
# kvmbox's local migration. BENCH_QUICK=1: the 128 MiB guests only.
MIGRATE_RUNS := 3
MIGRATE_BUSY_MIB := 4
MIGRATE_RAM_MIB := $(if $(filter 1,$(BENCH_QUICK)),128,128 2048)
bench-migrate: all $(BUILD)/bench/migrate $(GUEST_BUILD)/mem-dirty-8.elf \
    $(GUEST_BUILD)/mem-rewrite-$(MIGRATE_BUSY_MIB).elf
	$(BUILD)/bench/migrate $(BUILD)/kvmbox $(MIGRATE_RUNS) $(GUEST_BUILD) \
	    $(foreach r,$(MIGRATE_RAM_MIB),$(r):0 $(r):$(MIGRATE_BUSY_MIB))

# The migration benchmark's busy guest: 8 MiB filled, then M MiB rewritten.
$(GUEST_BUILD)/mem-rewrite-%.elf: bench/mem_dirty.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -DTOUCH_MIB=8 -DREWRITE_MIB=$* -c -o $(GUEST_BUILD)/mem_rewrite-$*.o $<
	$(CC) $(GUEST_LDFLAGS) -Wl,-e,mem_dirty_entry -o $@ $(GUEST_BUILD)/mem_rewrite-$*.o

# SMP bring-up time and RSS per vCPU, kvmbox next to QEMU.
bench-smp: all guests
	BUILD=$(BUILD) GUEST_BUILD=$(GUEST_BUILD) bench/smp.sh

# The same bring-up inside the lab, where /dev/kvm has hardware semantics.
bench-smp-lab: all guests guest-linux
	bench/smp-lab.sh

# The stock Debian kernel under kvmbox and QEMU inside the lab.
bench-lab: all guests guest-linux
	BUILD=$(BUILD) GUEST_BUILD=$(GUEST_BUILD) bench/lab-boot.sh

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
