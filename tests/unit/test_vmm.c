/* The VM's life under the VMM, as the API drives it: no VM until one is
 * created; boot, shutdown, boot again, reboot and delete, each refused in
 * the wrong state with a reason; a VM whose kernel cannot be read refused
 * at boot with the loader's own message, leaving the configuration as it
 * was. The lifecycle on a real VM runs where /dev/kvm is usable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "real_vm.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned released;

static void count_release(struct vm_config *cfg)
{
    (void)cfg;
    released++;
}

static void init(struct vmm *m, struct vm_config *cfg, const char *kernel)
{
    static char path[512];
    test_guest_config(cfg, path, sizeof path, "count", 1, 64ull << 20);
    cfg->kernel = kernel;
    assert_int_equal(test_vmm_init(m, cfg), 0);
}

static void fini(struct vmm *m) { test_vmm_fini(m); }

static void expect_state(struct vmm *m, enum vm_state want)
{
    enum vm_state s;
    assert_int_equal(vmm_vm_state(m, &s), VMM_OK);
    assert_int_equal(s, want);
}

static void nothing_before_create(void **state)
{
    (void)state;
    struct vmm m;
    static struct vm_config cfg;
    init(&m, &cfg, NULL);
    char err[512];
    enum vm_state s;
    assert_int_equal(vmm_vm_state(&m, &s), VMM_NO_VM);
    assert_int_equal(vmm_vm_boot(&m, err, sizeof err), VMM_NO_VM);
    assert_non_null(strstr(err, "vm.create"));
    assert_int_equal(vmm_vm_shutdown(&m, err, sizeof err), VMM_NO_VM);
    assert_int_equal(vmm_vm_reboot(&m, err, sizeof err), VMM_NO_VM);
    assert_int_equal(vmm_vm_delete(&m, err, sizeof err), VMM_OK);   /* as CH */
    fini(&m);
}

static void refusals_and_a_bad_kernel(void **state)
{
    (void)state;
    struct vmm m;
    static struct vm_config cfg, other;
    init(&m, &cfg, "/nonexistent/kernel");
    char err[512];
    released = 0;
    assert_int_equal(vmm_vm_create(&m, &cfg, count_release, err, sizeof err), VMM_OK);
    expect_state(&m, VM_STATE_CREATED);
    assert_int_equal(vmm_vm_create(&m, &other, NULL, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "already been created"));
    assert_int_equal(vmm_vm_shutdown(&m, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "has not been booted"));
    assert_int_equal(vmm_vm_reboot(&m, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "not running"));
    /* The loader's message reaches the caller; nothing changes. */
    assert_int_equal(vmm_vm_boot(&m, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "/nonexistent/kernel"));
    expect_state(&m, VM_STATE_CREATED);
    assert_null(m.vm);
    assert_int_equal(released, 0);
    assert_int_equal(vmm_vm_delete(&m, err, sizeof err), VMM_OK);
    assert_int_equal(released, 1);
    enum vm_state s;
    assert_int_equal(vmm_vm_state(&m, &s), VMM_NO_VM);
    /* A new configuration may follow. */
    assert_int_equal(vmm_vm_create(&m, &other, NULL, err, sizeof err), VMM_OK);
    fini(&m);
}

static void boot_shutdown_boot_reboot_delete(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: the lifecycle on a real VM not tested here\n");
        return;
    }
    static char kernel[512];
    const char *g = getenv("GUEST_BUILD");
    snprintf(kernel, sizeof kernel, "%s/boot-pvh.elf", g && *g ? g : "build/guest");
    struct vmm m;
    static struct vm_config cfg;
    init(&m, &cfg, kernel);
    char err[512];
    assert_int_equal(vmm_vm_create(&m, &cfg, NULL, err, sizeof err), VMM_OK);
    assert_int_equal(vmm_vm_boot(&m, err, sizeof err), VMM_OK);
    expect_state(&m, VM_STATE_RUNNING);
    assert_int_equal(vmm_vm_boot(&m, err, sizeof err), VMM_REFUSED);
    assert_non_null(strstr(err, "already running"));
    assert_int_equal(vmm_vm_shutdown(&m, err, sizeof err), VMM_OK);
    expect_state(&m, VM_STATE_SHUTDOWN);
    assert_null(m.vm);
    assert_int_equal(vmm_vm_shutdown(&m, err, sizeof err), VMM_REFUSED);
    /* Booted again from the same configuration: a new VM. */
    assert_int_equal(vmm_vm_boot(&m, err, sizeof err), VMM_OK);
    expect_state(&m, VM_STATE_RUNNING);
    struct vm *before = m.vm;
    assert_int_equal(vm_pause(before, err, sizeof err), 0);
    /* A paused VM reboots too, and comes back running. */
    assert_int_equal(vmm_vm_reboot(&m, err, sizeof err), VMM_OK);
    expect_state(&m, VM_STATE_RUNNING);
    assert_int_equal(vmm_vm_delete(&m, err, sizeof err), VMM_OK);
    enum vm_state s;
    assert_int_equal(vmm_vm_state(&m, &s), VMM_NO_VM);
    fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_before_create),
        cmocka_unit_test(refusals_and_a_bad_kernel),
        cmocka_unit_test(boot_shutdown_boot_reboot_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
