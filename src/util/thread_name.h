/* Names a thread as ps, top and libvirt see it (/proc/PID/task/TID/comm),
 * cut to the kernel's 15 characters: pthread_setname_np refuses a longer
 * name outright rather than shortening it. */
#ifndef KVMBOX_UTIL_THREAD_NAME_H
#define KVMBOX_UTIL_THREAD_NAME_H

#include <pthread.h>
#include <string.h>

static inline void thread_set_name(pthread_t t, const char *name)
{
    char comm[16];
    size_t n = strnlen(name, sizeof comm - 1);
    memcpy(comm, name, n);
    comm[n] = 0;
    pthread_setname_np(t, comm);
}

#endif
