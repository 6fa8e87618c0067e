#include "vmm/run_state.h"

#include <stddef.h>

const char *vm_state_name(enum vm_state s)
{
    static const char *const names[] = {
        [VM_STATE_CREATED] = "Created", [VM_STATE_RUNNING] = "Running",
        [VM_STATE_PAUSED] = "Paused", [VM_STATE_SHUTDOWN] = "Shutdown",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *vm_action_name(enum vm_action a)
{
    static const char *const names[] = {
        [VM_ACTION_BOOT] = "boot", [VM_ACTION_PAUSE] = "pause",
        [VM_ACTION_RESUME] = "resume", [VM_ACTION_SHUTDOWN] = "shutdown",
    };
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

bool vm_state_allows(enum vm_state s, enum vm_action a, enum vm_state *next, const char **why)
{
    static const char *const in_state[] = {
        [VM_STATE_CREATED] = "the VM has not been booted",
        [VM_STATE_RUNNING] = "the VM is already running",
        [VM_STATE_PAUSED] = "the VM is paused",
        [VM_STATE_SHUTDOWN] = "the VM is shut down",
    };
    enum vm_state to = s;
    bool ok = false;
    switch (a) {
    case VM_ACTION_BOOT:
        ok = s == VM_STATE_CREATED || s == VM_STATE_SHUTDOWN;
        to = VM_STATE_RUNNING;
        break;
    case VM_ACTION_PAUSE:
        ok = s == VM_STATE_RUNNING;
        to = VM_STATE_PAUSED;
        if (s == VM_STATE_PAUSED) {
            *why = "the VM is already paused";
            return false;
        }
        break;
    case VM_ACTION_RESUME:
        ok = s == VM_STATE_PAUSED;
        to = VM_STATE_RUNNING;
        if (s == VM_STATE_RUNNING) {
            *why = "the VM is not paused";
            return false;
        }
        break;
    case VM_ACTION_SHUTDOWN:
        ok = s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
        to = VM_STATE_SHUTDOWN;
        break;
    }
    if (!ok) {
        *why = (unsigned)s < sizeof in_state / sizeof in_state[0] ? in_state[s] : "bad state";
        return false;
    }
    *next = to;
    return true;
}
