/* The VMM: the process around at most one VM. It owns what outlives a VM
 * (the main loop and its signals, the terminal, the guest's console
 * output, the event monitor) and the VM's configuration, and it drives the
 * VM's life: created from a configuration (the command line's, or the
 * API's vm.create), booted, shut down and booted again, rebooted, deleted.
 * `kvmbox run --kernel` boots at once; `kvmbox run --api-socket` alone
 * starts empty and waits for the API.
 *
 * Everything here runs on the main thread (the loop, and the API, which
 * the loop serves), except vmm_request_exit, which any thread may call,
 * and a migration being sent, which has a thread of its own. */
#ifndef KVMBOX_VMM_VMM_H
#define KVMBOX_VMM_VMM_H

#include "core/config.h"
#include "vmm/console.h"
#include "vmm/console_out.h"
#include "vmm/event_loop.h"
#include "vmm/events.h"
#include "vmm/held_fds.h"
#include "vmm/run_state.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct migration_job;

/* Releases a configuration the VMM was given to own (vm.create's). */
typedef void (*vmm_config_release_fn)(struct vm_config *cfg);

/* Live migration (vmm_migrate.c, docs/migration.md): the sender's options
 * and where it stands. */
struct migrate_options {
    uint32_t downtime_ms;        /* the pause allowed at the switch-over */
    uint32_t timeout_s;          /* precopy longer than this: */
    bool timeout_cancel;         /* give up (else switch over anyway) */
    bool auto_converge;          /* slow the vCPUs down when they dirty faster than the link */
    bool local;                  /* unix: on one host: memory handed over as its memfd */
};
enum migrate_status { MIGRATE_NONE, MIGRATE_RUNNING, MIGRATE_COMPLETED, MIGRATE_FAILED,
                      MIGRATE_CANCELLED };
/* Where a migration being sent stands, or how it ended. */
struct migrate_progress {
    enum migrate_status status;
    const char *phase;           /* "precopy", "switch-over", "completing", "done" */
    unsigned iterations;         /* precopy passes so far */
    uint64_t ram_pages;          /* guest memory, in 4 KiB pages */
    uint64_t dirty_pages;        /* still to send in this pass, or dirty at its end */
    uint64_t bandwidth;          /* bytes a millisecond, the last pass */
    uint64_t dirty_rate;         /* pages the guest dirtied a second, the last pass */
    unsigned throttle_pct;       /* auto-converge: the vCPUs' time taken away */
    bool local;                  /* memory handed over, not copied */
    uint64_t expected_pause_ms, pause_ms, elapsed_ms, bytes, pages;
    char error[512];             /* failed or cancelled: why */
};

struct vmm {
    const struct vm_config *base;     /* the command line: the VMM's own settings */
    /* The VM's configuration, or NULL when none has been created (or it was
     * deleted); released with `release` when that is set. */
    struct vm_config *cfg;
    vmm_config_release_fn release;
    struct vm *vm;                    /* the VM while it is booted, else NULL */
    enum vm_state idle_state;         /* with cfg but no VM: Created or Shutdown */
    bool reboot_on_reset;             /* a guest reset reboots (with the API, as CH) */

    struct event_loop loop;           /* the main thread's fds */
    struct event_monitor events;      /* --event-monitor */
    struct console console;           /* the terminal (stdin) */
    struct console_out console_out;   /* the guest's output, to stdout */
    int stdin_fd;                     /* STDIN_FILENO; -1: take no input */
    int wake_fd;                      /* an eventfd: a VM stops, a console has room */
    int sig_fd;                       /* SIGINT, SIGTERM, SIGHUP */
    /* /dev/kvm and the configuration's TAPs, opened while the VMM had its
     * privileges and kept for every VM it builds (a reboot's too). */
    struct held_fds held;

    /* A migration being sent (vmm_migrate.c), on its own thread, else
     * NULL; while it runs, nothing else may change the VM's state. */
    struct migration_job *migration;
    struct migrate_progress last_migration;   /* the last one's outcome */
    /* Protects console's buffer and its delivery to the guest against a
     * migration's thread, which pauses the VM and saves what is buffered.
     * Lock order: before the VM's state_lock. */
    pthread_mutex_t console_lock;

    atomic_bool exiting;
    atomic_int exit_status;
};

enum vmm_result {
    VMM_OK = 0,
    VMM_REFUSED = -1,   /* the wrong state for it, or it failed: err says why */
    VMM_NO_VM = -2,     /* no VM has been created */
};

/* Blocks the signals the loop takes (before any thread exists, so every
 * thread inherits the mask), opens the event monitor. Returns 0, or -1
 * after logging why. vmm_destroy either way. */
int vmm_init(struct vmm *m, const struct vm_config *base);
/* Serves the loop until the VMM is to exit (vmm.shutdown, a signal,
 * Ctrl-A x, a guest that powers off or stops with an error); shuts down
 * any VM; returns the process's exit status. */
int vmm_run(struct vmm *m);
void vmm_destroy(struct vmm *m);
/* Any thread: the loop ends with this status (the first request wins). */
void vmm_request_exit(struct vmm *m, int status);

/* What a VM built by this VMM is given: its console, events, wake-up
 * and the descriptors the VMM holds for it. */
struct vm_env vmm_vm_env(struct vmm *m);

/* The VM's life, for the CLI and the API. Each returns VMM_OK, or an
 * error with the reason in err. */
enum vmm_result vmm_vm_create(struct vmm *m, struct vm_config *cfg, vmm_config_release_fn release,
                              char *err, size_t errlen);
enum vmm_result vmm_vm_boot(struct vmm *m, char *err, size_t errlen);
enum vmm_result vmm_vm_shutdown(struct vmm *m, char *err, size_t errlen);
enum vmm_result vmm_vm_reboot(struct vmm *m, char *err, size_t errlen);
/* Shuts the VM down if it runs and forgets its configuration. */
enum vmm_result vmm_vm_delete(struct vmm *m, char *err, size_t errlen);
/* Writes the paused VM to the snapshot directory `dir` (vmm_snapshot.c,
 * migration/snapshot_dir.h): its configuration as config_json (the
 * caller's VmConfig text), its state and its memory. The VM stays paused. */
enum vmm_result vmm_vm_snapshot(struct vmm *m, const char *dir, const char *config_json,
                                size_t config_len, char *err, size_t errlen);
/* Builds the VM from cfg (given to the VMM as vmm_vm_create takes it, and
 * released on failure) with the opened snapshot's memory and state, into
 * an empty VMM; the VM is Paused, or Running with `resume`. */
struct snapshot;
enum vmm_result vmm_vm_restore(struct vmm *m, struct vm_config *cfg, vmm_config_release_fn release,
                               struct snapshot *snap, bool ondemand, bool resume, char *err,
                               size_t errlen);
/* For a long task on the main thread (a migration): takes a pending
 * SIGINT/SIGTERM/SIGHUP as the loop would, and says whether the VMM is to
 * exit, so that the task can give up and let it. */
bool vmm_interrupted(struct vmm *m);

/* Called on the main thread once a migration ends; vmm_exits: it went to
 * the destination and the VMM exits once the caller has had its say (the
 * caller then calls vmm_request_exit(m, 0)). */
typedef void (*migrate_end_fn)(void *ctx, const struct migrate_progress *outcome,
                               bool vmm_exits);
/* Starts sending the running VM over s (connected, TLS started if asked
 * for; taken: copied, the caller forgets it, even on failure) on a thread
 * of its own, and returns: the API goes on serving (progress, cancel). On
 * success the VM is gone from here; on failure it runs on, and the
 * outcome says why. on_end may be NULL (then the VMM exits by itself). */
struct migration_stream;
enum vmm_result vmm_migration_start(struct vmm *m, struct migration_stream *s,
                                    const char *config_json, size_t config_len,
                                    const struct migrate_options *o, migrate_end_fn on_end,
                                    void *ctx, char *err, size_t errlen);
/* The migration in progress, else the last one's outcome; VMM_NO_VM when
 * none was ever started. */
enum vmm_result vmm_migration_progress(struct vmm *m, struct migrate_progress *out);
/* Stops the migration in progress: the VM runs on here. Refused once the
 * destination may already run the VM. */
enum vmm_result vmm_migration_cancel(struct vmm *m, char *err, size_t errlen);
/* The main loop's part: a finished migration's thread is joined and its
 * outcome handed on; at exit one still running is cancelled first. */
void vmm_migration_reap(struct vmm *m, bool exiting);
/* Whether a guest with this CPUID (n struct kvm_cpuid_entry2, the
 * source's) can run here: -1 naming the first feature this host lacks. */
int vmm_check_cpuid(struct vmm *m, const void *entries, size_t n, char *err, size_t errlen);
/* Receives a VM into this empty VMM over s (vmm_receive.c; HELLO, CONFIG
 * and CPUID already taken: cfg is the VmConfig, given as vmm_vm_create
 * takes it), and runs it once all has arrived and checks out. memfd >= 0:
 * a local migration, the guest's memory is that file (taken). */
enum vmm_result vmm_vm_receive_migration(struct vmm *m, struct migration_stream *s,
                                         struct vm_config *cfg, vmm_config_release_fn release,
                                         int memfd, char *err, size_t errlen);
/* The paused VM's whole state, and the VMM's that goes with it (terminal
 * input the guest has not taken), as one stream (vmm_snapshot.c); loaded
 * into a VM built for a restore. -1 with the reason. */
struct state_writer;
int vmm_save_state(struct vmm *m, struct state_writer *w, char *err, size_t errlen);
int vmm_load_state(struct vmm *m, struct vm *vm, const void *state, size_t len, char *err,
                   size_t errlen);
/* The VM's state (Created or Shutdown while no VM is booted); VMM_NO_VM
 * when no VM has been created. */
enum vmm_result vmm_vm_state(struct vmm *m, enum vm_state *state);

#endif
