#include "vmm/vm.h"

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/mptable.h"
#include "devices/acpi_pm.h"
#include "arch/x86/layout.h"
#include "devices/debug_exit.h"
#include "devices/testdev.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/pci/pci.h"
#include "devices/serial.h"
#include "devices/virtio/blk.h"
#include "devices/net/backend.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "util/file.h"
#include "util/log.h"
#include "vmm/address_width.h"
#include "vmm/cpuid.h"
#include "vmm/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status)
{
    pthread_mutex_lock(&vm->stop_lock);
    if (vm->stop_reason == VM_STOP_NONE) {
        vm->stop_reason = why;
        vm->exit_status = status;
    }
    pthread_mutex_unlock(&vm->stop_lock);
    atomic_store(&vm->stopping, true);
    uint64_t one = 1;
    if (write(vm->env.wake_fd, &one, sizeof one) < 0) {
        /* eventfd full is impossible at these counts; nothing to do */
    }
}

size_t vm_console_receive(struct vm *vm, const uint8_t *buf, size_t n)
{
    return vm->vcon ? virtio_console_receive(vm->vcon, buf, n) : serial_receive(vm->serial, buf, n);
}

bool vm_console_can_receive(struct vm *vm)
{
    return vm->vcon ? virtio_console_can_receive(vm->vcon) : serial_can_receive(vm->serial);
}

static void host_set_irq(void *ctx, unsigned line, bool level)
{
    struct vm *vm = ctx;
    irq_set_line(&vm->irq, line, level);
}

static int host_msi_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct vm *vm = ctx;
    return irq_msi_route(&vm->irq, gsi, addr, data);
}

static void host_msi_unroute(void *ctx, int gsi)
{
    struct vm *vm = ctx;
    irq_msi_unroute(&vm->irq, gsi);
}

static int host_irqfd(void *ctx, int fd, unsigned gsi, bool assign)
{
    struct vm *vm = ctx;
    return irq_irqfd(&vm->irq, fd, gsi, assign);
}

static int host_ioeventfd(void *ctx, int fd, uint64_t addr, unsigned len, bool pio, bool assign)
{
    struct vm *vm = ctx;
    struct kvm_ioeventfd req = {
        .addr = addr, .len = len, .fd = fd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0) {
        log_debug("KVM_IOEVENTFD 0x%llx: %s", (unsigned long long)addr, log_strerror(errno));
        return -1;
    }
    return 0;
}

static void host_request_stop(void *ctx, enum vm_stop_reason why, int status)
{
    vm_request_stop(ctx, why, status);
}

static int host_start_thread(void *ctx, pthread_t *t, const char *name, enum sandbox_role role,
                             void *(*fn)(void *), void *arg)
{
    struct vm *vm = ctx;
    return spawner_spawn(&vm->spawner, t, name, role, fn, arg);
}

static void host_console_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct vm *vm = ctx;
    console_out_write(vm->env.console_out, buf, len);
}

/* A console device has room for input again: the main loop feeds it. */
static void console_rx_space(void *ctx)
{
    struct vm *vm = ctx;
    uint64_t one = 1;
    if (write(vm->env.wake_fd, &one, sizeof one) < 0) {
        /* see vm_request_stop */
    }
}

static int open_kvm(struct vm *vm, const char *path)
{
    /* The VMM's (held_fds.h), else opened here. */
    vm->kvm_fd = vm->env.held ? held_fds_kvm(vm->env.held) : -1;
    if (vm->kvm_fd < 0)
        vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        int e = errno;
        if (e == ENOENT)
            log_error("cannot open %s: it does not exist (is KVM enabled in the BIOS and "
                      "the kvm_intel or kvm_amd module loaded?)", path);
        else if (e == EACCES || e == EPERM)
            log_error("cannot open %s: permission denied (run as root or join the "
                      "group that owns it, usually 'kvm')", path);
        else
            log_error("cannot open %s: %s", path, log_strerror(e));
        return -1;
    }
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        log_error("%s is not a usable KVM device (API version %d, need %d)", path, api,
                  KVM_API_VERSION);
        return -1;
    }
    static const struct { int cap; const char *name; } needed[] = {
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    };
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
            log_error("%s lacks %s, which kvmbox needs", path, needed[i].name);
            return -1;
        }
    }
    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) {
        log_error("KVM_GET_VCPU_MMAP_SIZE: %s", log_strerror(errno));
        return -1;
    }
    vm->run_size = (size_t)run_size;
    return 0;
}

static int create_kvm_vm(struct vm *vm)
{
    do
        vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    while (vm->vm_fd < 0 && errno == EINTR);
    if (vm->vm_fd < 0) {
        log_error("KVM_CREATE_VM: %s", log_strerror(errno));
        return -1;
    }
    /* Intel needs three pages for the real-mode TSS and one for the
     * identity map of unrestricted-guest-less CPUs; both in the hole. */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0)
        log_debug("KVM_SET_TSS_ADDR: %s", log_strerror(errno));
    uint64_t idmap = LAYOUT_KVM_IDENTITY_MAP;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", log_strerror(errno));
    return 0;
}

/* In-kernel LAPIC/IOAPIC/PIC and PIT. Created after the memory slots, as
 * Firecracker does: measured here, the first KVM_SET_USER_MEMORY_REGION
 * took 6 ms once the irqchip and PIT existed and 0.35 ms before (a memslot
 * update waits for the VM's SRCU readers), most of kvmbox's startup. */
static int create_irqchip(struct vm *vm)
{
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        log_error("KVM_CREATE_IRQCHIP: %s", log_strerror(errno));
        return -1;
    }
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        log_error("KVM_CREATE_PIT2: %s", log_strerror(errno));
        return -1;
    }
    return irq_router_init(&vm->irq, vm->vm_fd);
}

static int setup_memory(struct vm *vm, const struct vm_memory_fill *fill)
{
    char err[256];
    enum guest_mem_backing backing = vm->cfg->mem_hugepages ? GUEST_MEM_HUGETLB
                                     : vm->cfg->mem_shared   ? GUEST_MEM_SHARED
                                                             : GUEST_MEM_ANON;
    if (guest_mem_init_backed(&vm->mem, vm->cfg->mem_size, backing, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    /* Before KVM maps it: a fill may replace the mapping (a snapshot's
     * memory file mapped in its place). */
    if (fill && fill->fn(fill->ctx, &vm->mem, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        const struct guest_mem_region *r = &vm->mem.regions[i];
        struct kvm_userspace_memory_region kr = {
            .slot = i,
            .guest_phys_addr = r->gpa,
            .memory_size = r->size,
            .userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + r->offset),
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
            log_error("cannot give the guest %llu MiB at 0x%llx: %s",
                      (unsigned long long)(r->size >> 20), (unsigned long long)r->gpa,
                      log_strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* A device's id comes from its configuration: it must fit whole. */
_Static_assert(DEVICE_ID_MAX >= CONFIG_ID_MAX + 1, "device ids hold configured ids");

static int add_device(struct vm *vm, const struct device *d)
{
    if (vm->ndevices == VM_MAX_DEVICES)
        return -1;
    if (d->id[0] && d->ops->set_id)
        d->ops->set_id(d->dev, d->id);
    vm->devices[vm->ndevices++] = *d;
    return 0;
}

/* Where PCI lives: ECAM and 32-bit BARs in the hole below 4 GiB, 64-bit
 * BARs from the first GiB boundary above RAM. */
static uint64_t ram_top(const struct guest_mem *mem)
{
    uint64_t top = 0;
    for (unsigned i = 0; i < mem->nregions; i++)
        if (mem->regions[i].gpa + mem->regions[i].size > top)
            top = mem->regions[i].gpa + mem->regions[i].size;
    return top;
}

/* The PCI windows for this guest: the 64-bit one from the first GiB line
 * above RAM (and 4 GiB), as wide as the address width allows. Returns -1
 * (with a message) when RAM or the window does not fit. */
static int pci_layout_for(const struct guest_mem *mem, struct pci_layout *l, char *err,
                          size_t errlen)
{
    uint64_t top = ram_top(mem) > LAYOUT_4G ? ram_top(mem) : LAYOUT_4G;
    top = (top + LAYOUT_PCI_MMIO64_ALIGN - 1) & ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
    *l = (struct pci_layout){
        .ecam_base = LAYOUT_PCI_ECAM_BASE,
        .mmio32 = { LAYOUT_PCI_MMIO32_BASE, LAYOUT_PCI_MMIO32_SIZE },
        .mmio64 = { top, LAYOUT_PCI_MMIO64_SIZE },
    };
    return address_width_check(ram_top(mem), host_phys_bits(), &l->mmio64.base, &l->mmio64.size,
                               LAYOUT_PCI_MMIO64_ALIGN, err, errlen);
}

static int setup_pci_devices(struct vm *vm)
{
    struct device d;
    struct pci_layout layout;
    char err[256];
    if (pci_layout_for(&vm->mem, &layout, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    vm->pci = pci_host_create(&vm->host, &layout, &d);
    if (!vm->pci || add_device(vm, &d) < 0)
        return -1;
    for (unsigned i = 0; i < vm->cfg->ndisks; i++) {
        struct blk *b = vm->disks[i];
        vm->disks[i] = NULL;         /* the device owns it now, even on failure */
        if (!virtio_blk_create(vm->pci, b, &d))
            return -1;
        config_disk_id(vm->cfg, i, d.id, sizeof d.id);
        if (add_device(vm, &d) < 0)
            return -1;
    }
    for (unsigned i = 0; i < vm->cfg->nnets; i++) {
        uint8_t mac[6];
        config_net_mac(vm->cfg, i, mac);
        struct net_backend *be = vm->nets[i];
        vm->nets[i] = NULL;
        if (!virtio_net_create(vm->pci, be, mac, &d))
            return -1;
        config_net_id(vm->cfg, i, d.id, sizeof d.id);
        if (add_device(vm, &d) < 0)
            return -1;
    }
    if (vm->cfg->rng &&
        (!virtio_rng_create(vm->pci, &d) || add_device(vm, device_name(&d, "__rng", -1)) < 0))
        return -1;
    if (vm->cfg->console == CONSOLE_VIRTIO &&
        (!(vm->vcon = virtio_console_create(vm->pci, console_rx_space, vm, &d)) ||
         add_device(vm, device_name(&d, "__console", -1)) < 0))
        return -1;
    return 0;
}

static int setup_devices(struct vm *vm)
{
    struct device d;
    vm->serial = serial_create(&vm->host, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, console_rx_space,
                               vm, &d);
    if (!vm->serial || add_device(vm, &d) < 0)
        goto fail;
    if (!i8042_create(&vm->host, &d) || add_device(vm, &d) < 0)
        goto fail;
    if (!rtc_create(&vm->host, guest_mem_low_end(&vm->mem),
                    vm->mem.nregions > 1 ? vm->mem.regions[1].size : 0, &d) ||
        add_device(vm, &d) < 0)
        goto fail;
    if (acpi_pm_create(&vm->host, ACPI_PM_BASE, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, &d) < 0 ||
        add_device(vm, &d) < 0)
        goto fail;
    vm->acpi_pm = d.dev;
    if (vm->cfg->debug_exit && (debug_exit_create(&vm->host, &d) < 0 || add_device(vm, &d) < 0))
        goto fail;
    if (vm->cfg->testdev && (testdev_create(&vm->host, &d) < 0 || add_device(vm, &d) < 0))
        goto fail;
    /* POST code port: written by firmware and some kernels as an I/O delay. */
    if (bus_register(&vm->pio, 0x80, 1, NULL, NULL, "post-code") < 0)
        goto fail;
    if (setup_pci_devices(vm) < 0) {
        log_error("cannot create the PCI devices");
        return -1;
    }
    return 0;
fail:
    log_error("cannot create the legacy devices");
    return -1;
}

/* A kernel or initrd: on the descriptor the VMM holds (a reboot's), else
 * opened now and held for the next VM built from this configuration. */
static int open_image(struct vm *vm, struct input_file *f, const char *path, char *err,
                      size_t errlen)
{
    struct held_fds *held = vm->env.held;
    int fd = held ? held_fds_get(held, HELD_IMAGE, path, 0) : -1;
    if (fd >= 0)
        return input_open_fd(f, path, fd, err, errlen);
    if (input_open(f, path, err, errlen) < 0)
        return -1;
    if (held)
        held_fds_keep(held, HELD_IMAGE, path, 0, f->fd);
    return 0;
}

/* Reads the kernel (once: detection and loading see the same bytes), opens
 * the initrds (read later, straight into guest RAM) and detects the format
 * before anything is asked of KVM: bad input gets its message even on a
 * host without KVM. */
static int open_images(struct vm *vm, struct input_file *kernel, struct input_file *initrds,
                       enum kernel_format *fmt)
{
    const struct vm_config *cfg = vm->cfg;
    char err[512];
    if (open_image(vm, kernel, cfg->kernel, err, sizeof err) < 0 ||
        input_load(kernel, err, sizeof err) < 0) {
        log_error("kernel: %s", err);
        return -1;
    }
    *fmt = kernel_detect(kernel->data, kernel->size);
    if (*fmt == KERNEL_UNKNOWN) {
        log_error("'%s' is not a known kernel format (expected a Linux bzImage, "
                  "a PVH ELF or a multiboot kernel)", cfg->kernel);
        return -1;
    }
    for (unsigned i = 0; i < cfg->ninitrds; i++) {
        if (open_image(vm, &initrds[i], cfg->initrds[i], err, sizeof err) < 0) {
            log_error("initrd: %s", err);
            return -1;
        }
    }
    return 0;
}

/* The object itself: locks, buses, the host interface devices get. */
static void init_object(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env)
{
    memset(vm, 0, sizeof *vm);
    vm->cfg = cfg;
    vm->env = *env;
    vm->kvm_fd = vm->vm_fd = -1;
    vm->mem.memfd = -1;
    pthread_mutex_init(&vm->stop_lock, NULL);
    pthread_mutex_init(&vm->state_lock, NULL);
    pthread_mutex_init(&vm->pause_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* vm_pause waits with deadlines */
    pthread_cond_init(&vm->parked_changed, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&vm->unpark, NULL);
    vm->state = VM_STATE_CREATED;
    bus_init(&vm->pio, "port I/O");
    bus_init(&vm->mmio, "MMIO");
    vm->host = (struct dev_host){
        .pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
        .set_irq = host_set_irq, .msi_route = host_msi_route, .msi_unroute = host_msi_unroute,
        .irqfd = host_irqfd, .ioeventfd = host_ioeventfd,
        .request_stop = host_request_stop, .console_write = host_console_write,
        .start_thread = host_start_thread, .ctx = vm,
    };
}

/* Disks and network backends, opened (and disks locked) before KVM is
 * asked for anything: a missing file, a TAP that is not there or a busy
 * hostfwd port is reported first. */
static int open_backends(struct vm *vm)
{
    const struct vm_config *cfg = vm->cfg;
    struct held_fds *held = vm->env.held;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        /* A disk the VMM holds (a reboot's), else opened now and held for
         * the next VM built from this configuration. */
        const struct disk_config *dc = &cfg->disks[i];
        int how = (dc->readonly ? 1 : 0) | (dc->direct ? 2 : 0);
        int fd = held ? held_fds_get(held, HELD_DISK, dc->path, how) : -1;
        if (fd < 0 && (fd = blk_open_file(dc)) >= 0 && held)
            held_fds_keep(held, HELD_DISK, dc->path, how, fd);
        if (fd < 0 || !(vm->disks[i] = blk_open(dc, fd)))
            return -1;
    }
    for (unsigned i = 0; i < cfg->nnets; i++) {
        const struct net_config *nc = &cfg->nets[i];
        if (nc->kind == NET_USER) {
            vm->nets[i] = net_slirp_open(nc);
        } else {
            /* The same for a TAP. */
            int fd = held ? held_fds_get(held, HELD_TAP, nc->ifname, 0) : -1;
            if (fd < 0 && (fd = net_tap_attach(nc->ifname)) >= 0 && held)
                held_fds_keep(held, HELD_TAP, nc->ifname, 0, fd);
            vm->nets[i] = fd < 0 ? NULL : net_tap_open(nc->ifname, fd);
        }
        if (!vm->nets[i])
            return -1;
    }
    return 0;
}

/* The machine, as a boot and a restore both need it: KVM, guest memory
 * (filled by `fill` before KVM maps it, for a restore), the in-kernel
 * interrupt controllers, the vCPUs (created, not yet given any state) and
 * the devices (in their reset state). */
static int build_machine(struct vm *vm, const struct vm_memory_fill *fill)
{
    const struct vm_config *cfg = vm->cfg;
    if (spawner_start(&vm->spawner) < 0 || open_backends(vm) < 0 ||
        open_kvm(vm, cfg->kvm_path) < 0 || create_kvm_vm(vm) < 0 ||
        setup_memory(vm, fill) < 0 || create_irqchip(vm) < 0)
        return -1;
    int max_vcpus = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus <= 0)
        max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_vcpus > 0 && cfg->cpus > (unsigned)max_vcpus) {
        log_error("--cpus %u: this host's KVM allows at most %d vCPUs per VM", cfg->cpus,
                  max_vcpus);
        return -1;
    }
    vm->vcpus = calloc(cfg->cpus, sizeof *vm->vcpus);
    if (!vm->vcpus)
        return -1;
    for (unsigned i = 0; i < cfg->cpus; i++) {
        if (vcpu_create(vm, i, &vm->vcpus[i]) < 0)
            return -1;
        vm->nvcpus++;
    }
    return setup_devices(vm);
}

/* What only a boot does: the platform tables, the kernel and initrds in
 * RAM, every vCPU's reset state (CPUID, MSRs, LAPIC wiring) and the boot
 * vCPU's entry state. A restore does none of it: all of it is in the
 * snapshot. */
static int load_kernel(struct vm *vm, struct input_file *kernel, struct input_file *initrds,
                       enum kernel_format fmt)
{
    const struct vm_config *cfg = vm->cfg;
    /* Platform tables first: the loaders hand the RSDP to the kernel. */
    struct pci_layout pci;
    char err[512];
    if (pci_layout_for(&vm->mem, &pci, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    uint64_t rsdp = acpi_build(&vm->mem, cfg->cpus, &pci);
    if (!rsdp || mptable_build(&vm->mem, cfg->cpus) < 0) {
        log_error("memory too small for the ACPI and MP tables");
        return -1;
    }
    struct boot_input in = {
        .kernel = kernel,
        .initrds = initrds,
        .ninitrds = cfg->ninitrds,
        .cmdline = cfg->cmdline ? cfg->cmdline : kernel_default_cmdline(fmt),
        .acpi_rsdp = rsdp,
    };
    struct boot_entry entry;
    if (boot_load(&vm->mem, fmt, &in, &entry, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    log_debug("entry 0x%llx in %s mode", (unsigned long long)entry.rip,
              entry.mode == ENTRY_LONG64 ? "64-bit long" : "32-bit protected");
    vm->cpuid = cpuid_build(vm->kvm_fd, &cfg->cpu_filter, err, sizeof err);
    if (!vm->cpuid) {
        log_error("%s", err);
        return -1;
    }
    /* The TSC rate every vCPU runs at (KVM gives all of them the same). */
    int tsc_khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
    if (tsc_khz > 0)
        cpuid_add_timing(vm->cpuid, (uint32_t)tsc_khz);
    else
        log_debug("KVM_GET_TSC_KHZ: %s; no timing leaf", log_strerror(errno));
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vcpu_setup(&vm->vcpus[i]) < 0)
            return -1;
    return vcpu_setup_boot(&vm->vcpus[0], &entry);
}

int vm_create(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env)
{
    init_object(vm, cfg, env);
    /* The kernel is read (once: detection and loading see the same bytes)
     * before anything else: bad input is reported even without KVM. */
    struct input_file kernel = { 0 }, initrds[CONFIG_MAX_INITRDS] = { 0 };
    enum kernel_format fmt;
    int ret = -1;
    if (open_images(vm, &kernel, initrds, &fmt) == 0) {
        log_debug("kernel '%s': %s, %zu bytes", cfg->kernel, kernel_format_name(fmt), kernel.size);
        ret = build_machine(vm, NULL) == 0 && load_kernel(vm, &kernel, initrds, fmt) == 0 ? 0 : -1;
    }
    input_close(&kernel);
    for (unsigned i = 0; i < cfg->ninitrds; i++)
        input_close(&initrds[i]);
    return ret;
}

int vm_create_for_restore(struct vm *vm, const struct vm_config *cfg, const struct vm_env *env,
                          const struct vm_memory_fill *fill)
{
    init_object(vm, cfg, env);
    return build_machine(vm, fill);
}
