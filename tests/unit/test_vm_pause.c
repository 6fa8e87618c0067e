/* Run states and pause. The state table is tested on its own (every
 * transition and every refusal); the pause itself on a real VM where
 * /dev/kvm is usable: a test guest counts in a loop, and while the VM is
 * paused the count must not move, every vCPU must be parked, and a second
 * pause must be refused; after resume it counts again, and a VM stopped
 * while paused still stops. Without /dev/kvm that part passes with a
 * note, as the other host-tier tests skip. */
#include "fake_host.h"
#include "real_vm.h"

#include "core/config.h"
#include "vmm/run_state.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void transitions(void **state)
{
    (void)state;
    static const struct {
        enum vm_state from;
        enum vm_action action;
        bool ok;
        enum vm_state to;
    } table[] = {
        { VM_STATE_CREATED, VM_ACTION_BOOT, true, VM_STATE_RUNNING },
        { VM_STATE_CREATED, VM_ACTION_PAUSE, false, 0 },
        { VM_STATE_CREATED, VM_ACTION_RESUME, false, 0 },
        { VM_STATE_CREATED, VM_ACTION_SHUTDOWN, false, 0 },
        { VM_STATE_RUNNING, VM_ACTION_BOOT, false, 0 },
        { VM_STATE_RUNNING, VM_ACTION_PAUSE, true, VM_STATE_PAUSED },
        { VM_STATE_RUNNING, VM_ACTION_RESUME, false, 0 },
        { VM_STATE_RUNNING, VM_ACTION_SHUTDOWN, true, VM_STATE_SHUTDOWN },
        { VM_STATE_PAUSED, VM_ACTION_BOOT, false, 0 },
        { VM_STATE_PAUSED, VM_ACTION_PAUSE, false, 0 },
        { VM_STATE_PAUSED, VM_ACTION_RESUME, true, VM_STATE_RUNNING },
        { VM_STATE_PAUSED, VM_ACTION_SHUTDOWN, true, VM_STATE_SHUTDOWN },
        { VM_STATE_SHUTDOWN, VM_ACTION_BOOT, true, VM_STATE_RUNNING },
        { VM_STATE_SHUTDOWN, VM_ACTION_PAUSE, false, 0 },
        { VM_STATE_SHUTDOWN, VM_ACTION_RESUME, false, 0 },
        { VM_STATE_SHUTDOWN, VM_ACTION_SHUTDOWN, false, 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        enum vm_state next = (enum vm_state)-1;
        const char *why = NULL;
        bool ok = vm_state_allows(table[i].from, table[i].action, &next, &why);
        assert_int_equal(ok, table[i].ok);
        if (ok)
            assert_int_equal(next, table[i].to);
        else
            assert_non_null(why);
    }
    const char *why = NULL;
    enum vm_state next;
    vm_state_allows(VM_STATE_PAUSED, VM_ACTION_PAUSE, &next, &why);
    assert_string_equal(why, "the VM is already paused");
    assert_string_equal(vm_state_name(VM_STATE_PAUSED), "Paused");
    assert_string_equal(vm_state_name(VM_STATE_CREATED), "Created");
}

struct runner {
    struct vmm m;
    struct vm_config cfg;
    char kernel[512];
    pthread_t thread;
    int status;
};

static void *run_vmm(void *arg)
{
    struct runner *r = arg;
    r->status = vmm_run(&r->m);
    return NULL;
}

/* The guest's counter, found by its marker in the first MiBs of RAM. */
static volatile uint64_t *find_counter(struct vm *vm)
{
    static const char marker[16] = "KVMBOX-COUNTER!";
    for (int tries = 0; tries < 600; tries++) {
        uint8_t *p = memmem(vm->mem.host, 8u << 20, marker, sizeof marker);
        if (p && *(volatile uint64_t *)(p + 16) > 0)
            return (volatile uint64_t *)(p + 16);
        usleep(50000);
    }
    return NULL;
}

static bool moves(volatile uint64_t *c)
{
    uint64_t a = *c;
    for (int i = 0; i < 100; i++) {
        usleep(10000);
        if (*c != a)
            return true;
    }
    return false;
}

/* A VMM with one booted VM, its loop on a thread of its own (the test's
 * thread plays the API's part). */
static struct vm *start(struct runner *r, unsigned cpus)
{
    test_guest_config(&r->cfg, r->kernel, sizeof r->kernel, "count", cpus, 64ull << 20);
    char err[512];
    assert_int_equal(test_vmm_init(&r->m, &r->cfg), 0);
    assert_int_equal(vmm_vm_create(&r->m, &r->cfg, NULL, err, sizeof err), VMM_OK);
    enum vm_state s;
    assert_int_equal(vmm_vm_state(&r->m, &s), VMM_OK);
    assert_int_equal(s, VM_STATE_CREATED);
    assert_int_equal(vmm_vm_boot(&r->m, err, sizeof err), VMM_OK);
    assert_int_equal(pthread_create(&r->thread, NULL, run_vmm, r), 0);
    return r->m.vm;
}

/* As a signal or vmm.shutdown ends it: the loop shuts the VM down. */
static void stop(struct runner *r)
{
    vmm_request_exit(&r->m, 0);
    pthread_join(r->thread, NULL);
    assert_int_equal(r->status, 0);
    enum vm_state s;
    assert_int_equal(vmm_vm_state(&r->m, &s), VMM_OK);
    assert_int_equal(s, VM_STATE_SHUTDOWN);
    assert_null(r->m.vm);
    test_vmm_fini(&r->m);
}

static void pause_stops_the_guest(void **state)
{
    (void)state;
    if (!have_kvm()) {
        print_message("no usable /dev/kvm: pause on a real VM not tested here\n");
        return;
    }
    alarm(120);
    struct runner *r = test_calloc(1, sizeof *r);
    struct vm *vm = start(r, 2);
    volatile uint64_t *counter = find_counter(vm);
    assert_non_null(counter);
    assert_true(moves(counter));
    char err[256];
    for (int round = 0; round < 3; round++) {
        assert_int_equal(vm_pause(vm, err, sizeof err), 0);
        assert_int_equal(vm_get_state(vm), VM_STATE_PAUSED);
        pthread_mutex_lock(&vm->pause_lock);
        assert_int_equal(vm->parked, vm->nvcpus);
        pthread_mutex_unlock(&vm->pause_lock);
        assert_false(moves(counter));
        assert_int_equal(vm_pause(vm, err, sizeof err), -1);
        assert_non_null(strstr(err, "already paused"));
        assert_int_equal(vm_resume(vm, err, sizeof err), 0);
        assert_int_equal(vm_get_state(vm), VM_STATE_RUNNING);
        assert_true(moves(counter));
    }
    assert_int_equal(vm_resume(vm, err, sizeof err), -1);
    assert_non_null(strstr(err, "not paused"));
    /* Stopped while paused: the parked vCPUs leave, the VM shuts down. */
    assert_int_equal(vm_pause(vm, err, sizeof err), 0);
    stop(r);
    test_free(r);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transitions),
        cmocka_unit_test(pause_stops_the_guest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
