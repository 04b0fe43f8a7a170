#define _GNU_SOURCE
#include "CGatewaySystem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

int cgateway_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int cgateway_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}

const char *cgateway_signal_abbreviation(int signal) {
    return sigabbrev_np(signal);
}

int cgateway_dup_cloexec_at_least(int fd, int minimum) {
    return fcntl(fd, F_DUPFD_CLOEXEC, minimum);
}

int cgateway_accept_cloexec(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

static struct sigaction crash_previous[NSIG];
static int crash_notify_fd = -1;
static uint64_t *crash_state_word = NULL;
static uint64_t crash_value = 0;

static void crash_handler(int signal, siginfo_t *info, void *context) {
    int saved = errno;
    if (crash_state_word != NULL) {
        __atomic_store_n(crash_state_word, crash_value, __ATOMIC_RELEASE);
    }
    if (crash_notify_fd >= 0) {
        char byte = 2;
        (void)send(crash_notify_fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    errno = saved;
    struct sigaction *previous = &crash_previous[signal];
    if (previous->sa_flags & SA_SIGINFO) {
        previous->sa_sigaction(signal, info, context);
    } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) {
        previous->sa_handler(signal);
    } else {
        // Die of the signal as if no handler had been there: back to the default, and the
        // faulting instruction runs again on return (or the signal, if raised, is raised again).
        struct sigaction standard;
        memset(&standard, 0, sizeof standard);
        standard.sa_handler = SIG_DFL;
        sigemptyset(&standard.sa_mask);
        sigaction(signal, &standard, NULL);
        if (info == NULL || info->si_code <= 0) {
            raise(signal);
        }
    }
}

int cgateway_install_crash_notifier(int notify_fd, uint64_t *state_word, uint64_t crashed_value) {
    static const int signals[] = { SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV };
    crash_notify_fd = notify_fd;
    crash_state_word = state_word;
    crash_value = crashed_value;
    for (size_t index = 0; index < sizeof signals / sizeof signals[0]; index++) {
        int signal = signals[index];
        struct sigaction previous;
        if (sigaction(signal, NULL, &previous) != 0) return -1;
        crash_previous[signal] = previous;
        struct sigaction action = previous;
        action.sa_sigaction = crash_handler;
        action.sa_flags = (previous.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
        if (sigaction(signal, &action, NULL) != 0) return -1;
    }
    return 0;
}
