/* libFuzzer target: PCI configuration space (both mechanisms), BAR sizing
 * and moves, the MSI-X table and the virtio common configuration, as a
 * hostile guest would poke them. The input is a list of 16-byte accesses:
 * kind, size, address and value. */
#include "fake_host.h"

#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct pci_layout layout = {
    0xe0000000, { 0xc0000000, 0x20000000 }, { 1ull << 32, 1ull << 36 }
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fake_host *f = calloc(1, sizeof *f);
    fake_host_init(f, 16u << 20);
    struct device hostdev, rngdev;
    struct pci_host *h = pci_host_create(&f->host, &layout, &hostdev);
    if (!h || !virtio_rng_create(h, &rngdev))
        abort();
    for (; size >= 16; data += 16, size -= 16) {
        unsigned len = 1u << (data[1] & 3);
        bool write = data[0] & 0x80;
        uint64_t addr, value;
        memcpy(&addr, data + 2, 6);
        addr &= 0xffffffffffffull;
        memcpy(&value, data + 8, 8);
        uint8_t buf[8];
        memcpy(buf, &value, sizeof buf);
        switch (data[0] & 3) {
        case 0:                      /* CF8/CFC, any register of any function */
            if (write) {
                uint32_t a = 0x80000000u | (uint32_t)(addr & 0xffffff);
                bus_access(&f->pio, 0xcf8, (uint8_t *)&a, 4, true);
            }
            bus_access(&f->pio, 0xcfc + (unsigned)(addr >> 24 & 3), buf, len, write);
            break;
        case 1:                      /* ECAM */
            bus_access(&f->mmio, layout.ecam_base + (addr & 0xfffff), buf, len, write);
            break;
        case 2:                      /* the 32-bit MMIO window: BARs, MSI-X */
            bus_access(&f->mmio, layout.mmio32.base + (addr & 0xfffffff), buf, len, write);
            break;
        default:                     /* the 64-bit window: the virtio regions */
            bus_access(&f->mmio, layout.mmio64.base + (addr & 0xffffff), buf, len, write);
            break;
        }
    }
    rngdev.ops->destroy(rngdev.dev);
    hostdev.ops->destroy(hostdev.dev);
    fake_host_destroy(f);
    free(f);
    return 0;
}
