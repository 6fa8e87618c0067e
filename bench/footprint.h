/* The benchmarks' one measure of a VMM's memory, so that `make bench` and
 * `make bench-api` report the same figure: peak RSS (VmHWM), and of the
 * guest-RAM mapping the resident part and the part in huge pages. The
 * VMM's own memory is the peak less the guest RAM the guest touched. */
#ifndef BENCH_FOOTPRINT_H
#define BENCH_FOOTPRINT_H

#include <sys/types.h>

/* kB, as /proc reports them. */
struct mem_use {
    long hwm, ram, huge;
};

/* Reads /proc/PID/status and /proc/PID/smaps. The guest-RAM mapping is
 * recognised by its size (at least ram_mib MiB, whatever backs it), so
 * the guest must have at least that much RAM and nothing else in the VMM
 * may map as much. 0, or -1 if the process could not be read. */
int mem_use(pid_t pid, unsigned ram_mib, struct mem_use *m);

#endif
