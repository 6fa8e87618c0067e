/* The physical floor for bench/startup: the least a KVM program can do to
 * get one byte out of a guest (VM, 2 MiB of RAM, one vCPU in real mode
 * writing 'K' to port 0x3f8). kvmbox's startup is judged against this. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    size_t size = 2 << 20;
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    /* mov dx, 0x3f8; mov al, 'K'; out dx, al; hlt */
    static const uint8_t code[] = { 0xba, 0xf8, 0x03, 0xb0, 'K', 0xee, 0xf4 };
    memcpy(mem + 0x1000, code, sizeof code);
    struct kvm_userspace_memory_region r = { .memory_size = size,
                                             .userspace_addr = (uint64_t)(uintptr_t)mem };
    if (kvm < 0 || vm < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return 1;
    int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    struct kvm_run *run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
                               PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
    struct kvm_sregs s;
    ioctl(cpu, KVM_GET_SREGS, &s);
    s.cs.base = 0;
    s.cs.selector = 0;
    ioctl(cpu, KVM_SET_SREGS, &s);
    struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
    ioctl(cpu, KVM_SET_REGS, &regs);
    for (;;) {
        if (ioctl(cpu, KVM_RUN, 0) < 0)
            return 1;
        if (run->exit_reason == KVM_EXIT_IO) {
            if (write(1, (uint8_t *)run + run->io.data_offset, 1) != 1)
                return 1;
            return 0;
        }
        if (run->exit_reason != KVM_EXIT_INTR)
            return 1;
    }
}
