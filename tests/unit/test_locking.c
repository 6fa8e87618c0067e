/* Locking between vCPUs, device threads and interrupt delivery, without
 * /dev/kvm: the guest paths that once deadlocked kvmbox (the virtio PCI
 * configuration window pointed at the ISR, or at the device status while
 * the device's worker raises INTx) and the INTx line that must follow the
 * ISR whatever order a reader and a device thread run in. A regression
 * here would hang, so every test runs under an alarm that turns a hang
 * into a failure. */
#include "fake_host.h"
#include "pci_rig.h"
#include "virtio_driver.h"
#include "vq_driver.h"

#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_pci.h"

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define SLOT 1
#define HANG_LIMIT_S 20
#define ISR_OFFSET 0x1000               /* where the transport puts the ISR in BAR 4 */

struct rig {
    struct fake_host f;
    struct device hostdev, rngdev;
    struct pci_host *h;
    struct virtio_pci *vp;
    unsigned window;                    /* the VIRTIO_PCI_CAP_PCI_CFG capability */
};

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_locking: hung (a deadlock?)\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(2);
}

static struct rig *rig_new(void)
{
    signal(SIGALRM, on_alarm);
    alarm(HANG_LIMIT_S);
    struct rig *r = test_calloc(1, sizeof *r);
    r->h = pci_rig_init(&r->f, &r->hostdev);
    r->vp = virtio_rng_create(r->h, &r->rngdev);
    assert_non_null(r->vp);
    for (unsigned p = cf8_read(&r->f, SLOT, PCI_CAP_PTR) & 0xff; p;
         p = (cf8_read(&r->f, SLOT, p) >> 8) & 0xff) {
        uint32_t head = cf8_read(&r->f, SLOT, p);
        if ((head & 0xff) == 0x09 && (head >> 24) == VIRTIO_PCI_CAP_PCI_CFG)
            r->window = p;
    }
    assert_int_not_equal(r->window, 0);
    return r;
}

static void rig_free(struct rig *r)
{
    pci_rig_fini(&r->f, &r->hostdev, &r->rngdev);
    test_free(r);
    alarm(0);
}

/* Points the window at [offset, offset + len) of BAR 4. */
static void aim(struct rig *r, uint32_t offset, uint32_t len)
{
    unsigned w = r->window;
    uint32_t head = cf8_read(&r->f, SLOT, w + 4);
    cf8_write(&r->f, SLOT, w + 4, (head & ~0xffu) | 4);     /* bar = 4 */
    cf8_write(&r->f, SLOT, w + 8, offset);
    cf8_write(&r->f, SLOT, w + 12, len);
}

static unsigned intx_gsi(struct rig *r) { return cf8_read(&r->f, SLOT, PCI_INT_LINE) & 0xff; }

/* Reading the ISR through the configuration window clears it and lowers
 * INTx, which once took the PCI host's lock the configuration read
 * already held: the vCPU waited on itself forever. */
static void window_reads_isr(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    virtio_pci_config_changed(r->vp);            /* ISR bit 1, INTx up */
    assert_true(r->f.irq[intx_gsi(r)]);
    assert_true(cf8_read(&r->f, SLOT, PCI_COMMAND) & (PCI_STATUS_INTERRUPT << 16));
    aim(r, ISR_OFFSET, 1);
    uint32_t v = cf8_read(&r->f, SLOT, r->window + 16);
    assert_int_equal(v & 0xff, VIRTIO_PCI_ISR_CONFIG);
    assert_false(r->f.irq[intx_gsi(r)]);
    assert_false(cf8_read(&r->f, SLOT, PCI_COMMAND) & (PCI_STATUS_INTERRUPT << 16));
    /* Read again: nothing pending now. */
    assert_int_equal(cf8_read(&r->f, SLOT, r->window + 16) & 0xff, 0);
    rig_free(r);
}

/* A window whose offset is near 4 GiB must not wrap around to the start
 * of the BAR: the access is refused and the data register keeps what the
 * driver wrote. */
static void window_bound_does_not_wrap(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    aim(r, 0xfffffffcu, 4);
    cf8_write(&r->f, SLOT, r->window + 16, 0x12345678);
    assert_int_equal(cf8_read(&r->f, SLOT, r->window + 16), 0x12345678);
    aim(r, 0xffffffffu, 1);
    assert_int_equal(cf8_read(&r->f, SLOT, r->window + 16) & 0xff, 0x78);
    rig_free(r);
}

/* The device's worker interrupts the driver (INTx, no MSI-X) while the
 * driver resets the device through the window: the reset, under the PCI
 * host's lock, waits for the worker, and the worker's interrupt once
 * waited for that same lock. */
static void window_reset_while_worker_interrupts(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    uint64_t bar = vdrv_bar4(&r->f, SLOT);
    for (unsigned round = 0; round < 50; round++) {
        struct vq_driver drv;
        assert_int_equal(vdrv_bring_up(&r->f, SLOT, 0, &drv, 1, 0x10000) & 0x0f, 0x0f);
        for (unsigned i = 0; i < 8; i++) {
            struct vq_buf b = { 0x100000 + i * 0x1000, 64, true };
            vqd_add(&drv, &b, 1, 0);
        }
        vdrv_kick(&r->f, SLOT, &drv, 0);
        if (round & 1)
            usleep(100);                         /* sometimes let the worker get going */
        aim(r, VIRTIO_PCI_COMMON_STATUS, 1);
        cf8_write(&r->f, SLOT, r->window + 16, 0);     /* reset through the window */
        assert_int_equal(mmio_read(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 1), 0);
    }
    rig_free(r);
}

/* A device thread sets an ISR bit and raises INTx while a vCPU reads the
 * ISR (clear, lower the line). Whatever the interleaving, once both are
 * done the line is up exactly when the ISR holds a bit: an interrupt is
 * never lost with its bit set and the line low. The two run in lock step,
 * one interrupt against one read per round, each after a spin of a
 * varying length, so that every interleaving comes up. */
#define ROUNDS 20000
struct race {
    struct rig *r;
    atomic_uint go, done;
};

static void spin(unsigned n)
{
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

static void *interrupter(void *arg)
{
    struct race *x = arg;
    for (unsigned round = 1; round <= ROUNDS; round++) {
        while (atomic_load(&x->go) != round) {
        }
        spin(round * 7 % 61);
        virtio_pci_config_changed(x->r->vp);
        atomic_store(&x->done, round);
    }
    return NULL;
}

static void intx_follows_isr(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    uint64_t isr = vdrv_bar4(&r->f, SLOT) + ISR_OFFSET;
    struct race x = { .r = r };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, interrupter, &x), 0);
    unsigned lost = 0;
    for (unsigned round = 1; round <= ROUNDS; round++) {
        atomic_store(&x.go, round);
        spin(round * 13 % 53);
        (void)mmio_read(&r->f, isr, 1);
        while (atomic_load(&x.done) != round) {
        }
        bool pending = __atomic_load_n(&r->vp->isr, __ATOMIC_SEQ_CST) != 0;
        if (r->f.irq[intx_gsi(r)] != pending)
            lost++;
        (void)mmio_read(&r->f, isr, 1);          /* start the next round clear */
    }
    pthread_join(t, NULL);
    assert_int_equal(lost, 0);
    rig_free(r);
}

/* NEEDS_RESET, set by a device thread, survives the driver's own status
 * writes, and the driver cannot set it. */
static void status_keeps_needs_reset(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    uint64_t bar = vdrv_bar4(&r->f, SLOT);
    mmio_write(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_NEEDS_RESET | 1, 1);
    assert_int_equal(mmio_read(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 1), 1);
    virtio_pci_needs_reset(r->vp, 0);
    mmio_write(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 3, 1);
    assert_int_equal(mmio_read(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 1),
                     3 | VIRTIO_CONFIG_S_NEEDS_RESET);
    mmio_write(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 0, 1);
    assert_int_equal(mmio_read(&r->f, bar + VIRTIO_PCI_COMMON_STATUS, 1), 0);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_reads_isr),
        cmocka_unit_test(window_bound_does_not_wrap),
        cmocka_unit_test(window_reset_while_worker_interrupts),
        cmocka_unit_test(intx_follows_isr),
        cmocka_unit_test(status_keeps_needs_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
