/* A PCI bus on a fake host for tests of one device on it: the bus is made
 * here, the test adds its device and hands it back for tear-down. */
#ifndef KVMBOX_TESTS_PCI_RIG_H
#define KVMBOX_TESTS_PCI_RIG_H

#include "fake_host.h"
#include "virtio_driver.h"

#include "devices/pci/pci.h"

/* 32 MiB of guest RAM and the host bridge; returns the bus. */
static inline struct pci_host *pci_rig_init(struct fake_host *f, struct device *hostdev)
{
    fake_host_init(f, 32 * MB);
    struct pci_host *h = pci_host_create(&f->host, &test_layout, hostdev);
    assert_non_null(h);
    return h;
}

/* Destroys the device (when one was added), the bus and the host. */
static inline void pci_rig_fini(struct fake_host *f, struct device *hostdev, struct device *dev)
{
    if (dev && dev->ops && dev->dev)
        dev->ops->destroy(dev->dev);
    hostdev->ops->destroy(hostdev->dev);
    fake_host_destroy(f);
}

#endif
