/* Interrupting a thread that sits in a blocking system call (KVM_RUN, a
 * write() to a pipe nobody reads): a signal whose handler does nothing,
 * installed without SA_RESTART, so the call returns EINTR and the thread
 * looks at its flags again. */
#ifndef KVMBOX_UTIL_KICK_H
#define KVMBOX_UTIL_KICK_H

#include <pthread.h>

/* Installs the handler (idempotent; before the first kick_thread). */
void kick_signal_init(void);
void kick_thread(pthread_t t);
/* The kick's signal number, for a timer that kicks a thread itself. */
int kick_signal(void);

#endif
