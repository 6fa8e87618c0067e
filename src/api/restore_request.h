/* A snapshot request and a restore request, as vm.snapshot's and
 * vm.restore's bodies (Cloud Hypervisor's SnapshotConfig and
 * RestoreConfig) and `kvmbox run --restore` give them, and the restore
 * itself, which the API and the command line share. */
#ifndef KVMBOX_API_RESTORE_REQUEST_H
#define KVMBOX_API_RESTORE_REQUEST_H

#include "core/config.h"
#include "vmm/vmm.h"

#include <stdbool.h>
#include <stddef.h>

#define SNAPSHOT_PATH_MAX 4096

/* What belongs to the host, not the guest, given anew at restore: a TAP
 * name for a NIC, a path for a disk, each by the device's id (clones of
 * one snapshot each need their own TAP). */
struct restore_override {
    char id[CONFIG_ID_MAX + 1];
    char value[SNAPSHOT_PATH_MAX];
};

struct restore_request {
    char path[SNAPSHOT_PATH_MAX];     /* the snapshot directory */
    bool resume;                      /* run at once (else restored paused, as CH) */
    bool ondemand;                    /* memory_restore_mode=ondemand (else copy) */
    struct restore_override taps[CONFIG_MAX_NETS], disks[CONFIG_MAX_DISKS];
    unsigned ntaps, ndisks;
};

/* "file:///dir" (the only scheme) into a path. -1 with the reason. */
int snapshot_url_path(const char *url, size_t len, char *path, size_t size, char *err,
                      size_t errlen);
/* vm.snapshot's body, {"destination_url": "file:///dir"}, into a path. */
int snapshot_request_from_json(const char *body, size_t len, char *path, size_t size, char *err,
                               size_t errlen);
/* vm.restore's body: {"source_url", "prefault", "resume", "memory_restore_mode": "copy" or
 * "ondemand", "kvmbox": {"taps": {"ID": "IFNAME"}, "disks": {"ID": "PATH"}}}. */
int restore_request_from_json(const char *body, size_t len, struct restore_request *req,
                              char *err, size_t errlen);
/* Restores the snapshot into the empty VMM: its config.json, the
 * overrides applied, builds the VM and loads its state and memory. */
enum vmm_result restore_vm(struct vmm *m, const struct restore_request *req, char *err,
                           size_t errlen);

#endif
