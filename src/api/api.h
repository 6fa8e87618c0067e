/* Cloud Hypervisor's REST API v1 for one VM, served on a Unix socket from
 * the main loop: the endpoints under /api/v1/ with CH's names, bodies and
 * status codes (docs/api.md). Everything runs on the main loop's thread;
 * a pause blocks it until the VM is paused (other clients wait). */
#ifndef KVMBOX_API_API_H
#define KVMBOX_API_API_H

#include <stddef.h>

struct vmm;
struct api;

/* Opens the socket the command line names (--api-socket) and serves it
 * on the VMM's main loop. Returns NULL with the reason in err. */
struct api *api_start(struct vmm *vmm, char *err, size_t errlen);
/* Stops serving and removes the socket and its lock file. */
void api_stop(struct api *a);

#endif
