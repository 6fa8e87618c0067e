/* The VM's run states, as Cloud Hypervisor names them for its API:
 *
 *   Created --boot--> Running --pause--> Paused --resume--> Running
 *   Running/Paused --shutdown--> Shutdown
 *
 * The VM object owns the state (vm->state, changed under vm->state_lock);
 * this file is the table of what may follow what, so every transition and
 * every refusal is decided, and unit-tested, in one place. */
#ifndef KVMBOX_VMM_RUN_STATE_H
#define KVMBOX_VMM_RUN_STATE_H

#include <stdbool.h>

enum vm_state { VM_STATE_CREATED, VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_SHUTDOWN };

enum vm_action { VM_ACTION_BOOT, VM_ACTION_PAUSE, VM_ACTION_RESUME, VM_ACTION_SHUTDOWN };

/* "Created", "Running", "Paused", "Shutdown": CH's spelling in vm.info. */
const char *vm_state_name(enum vm_state s);
const char *vm_action_name(enum vm_action a);

/* Whether `a` may be taken in state `s`; if so, *next is the state after
 * it. If not, *why says why in a few words ("the VM is already paused"). */
bool vm_state_allows(enum vm_state s, enum vm_action a, enum vm_state *next, const char **why);

#endif
