#include "util/kick.h"

#include <signal.h>

#define SIG_KICK SIGUSR1

static void kick_handler(int sig) { (void)sig; }

void kick_signal_init(void)
{
    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(SIG_KICK, &sa, NULL);  /* no SA_RESTART: the call must return */
}

void kick_thread(pthread_t t) { pthread_kill(t, SIG_KICK); }

int kick_signal(void) { return SIG_KICK; }
