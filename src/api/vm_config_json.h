/* Cloud Hypervisor's VmConfig (the body of vm.create) -> struct vm_config,
 * checked by the same rules as the command line (core/config_check.h).
 * docs/api.md lists what is read; unknown keys and nulls are ignored
 * (ch-remote sends whole structs), wrong types are errors. */
#ifndef KVMBOX_API_VM_CONFIG_JSON_H
#define KVMBOX_API_VM_CONFIG_JSON_H

#include "core/config.h"

#include <json-c/json.h>

#include <stddef.h>

/* Parses a CH VmConfig (the body of vm.create). `base` supplies what is the
 * VMM's, not the VM's (kvm_path, verbose, api_path/api_fd,
 * event_path/event_fd; NULL: none); everything else starts at the CLI's
 * defaults (512 MiB, 1 vCPU, serial console) and comes from the JSON. On
 * success *out is one allocation holding the config and all its strings
 * (free with vm_config_free) and 0 is returned; else -1 with one message
 * in err naming the field ("cpus.boot_vcpus: expected an integer"). */
int vm_config_from_json(const char *body, size_t len, const struct vm_config *base,
                        struct vm_config **out, char *err, size_t errlen);
void vm_config_free(struct vm_config *cfg);

/* The VmConfig as Cloud Hypervisor shapes it, kvmbox's extensions in
 * "kvmbox" objects: exactly what vm_config_from_json reads, so that
 * vm.info's config (or a snapshot's config.json) creates the same VM. */
json_object *vm_config_to_json(const struct vm_config *c);

#endif
