/* File descriptors 0-2 must be open before kvmbox opens anything: a
 * process started with one of them closed (`>&-`) would otherwise get a
 * disk image, a TAP or /dev/kvm as its "stdout", and the guest's console
 * output or kvmbox's own messages would be written into it. */
#ifndef KVMBOX_UTIL_STDFDS_H
#define KVMBOX_UTIL_STDFDS_H

/* Opens /dev/null on each of fds 0-2 that is closed. Returns 0, or -1
 * when that is impossible (then nothing may be opened safely). */
int stdfds_ensure_open(void);

/* kvmbox needs several descriptors per vCPU and per device (eventfds for
 * every queue and MSI-X vector): the soft open-file limit is raised to
 * the hard one, as systemd advises for programs that need many. */
void nofile_limit_raise(void);

#endif
