/* `kvmbox run --restore source_url=file:///DIR[,resume=on]
 * [,memory_restore_mode=copy|ondemand][,prefault=on][,tap=ID:IFNAME]
 * [,disk=ID:PATH]`, as Cloud Hypervisor's --restore, into the request the
 * API's vm.restore makes too. */
#ifndef KVMBOX_CLI_RESTORE_OPTION_H
#define KVMBOX_CLI_RESTORE_OPTION_H

#include "api/restore_request.h"

int restore_option_parse(const char *arg, struct restore_request *req, char *err, size_t errlen);

#endif
