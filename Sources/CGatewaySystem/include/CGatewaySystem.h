// Linux calls the Gateway's supervisor and workers, and the HTTP server, need that Swift's Glibc
// module does not import: C-variadic ones (prctl) and GNU extensions declared only under
// _GNU_SOURCE.
#ifndef SWIFT_ASGI_CGATEWAYSYSTEM_H
#define SWIFT_ASGI_CGATEWAYSYSTEM_H

/// memfd_create(name, MFD_CLOEXEC): an anonymous file for shared memory; -1 and errno on failure.
int cgateway_memfd_create(const char *name);

/// prctl(PR_SET_PDEATHSIG, signal): the signal this process gets when the thread that started it
/// ends. 0, or -1 and errno.
int cgateway_set_parent_death_signal(int signal);

/// The abbreviation of a signal without "SIG" ("SEGV"), or NULL when the number has none.
const char *cgateway_signal_abbreviation(int signal);

/// fcntl(fd, F_DUPFD_CLOEXEC, minimum): a close-on-exec copy of `fd` numbered `minimum` or above.
int cgateway_dup_cloexec_at_least(int fd, int minimum);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC): the next connection of a listening socket, marked
/// close-on-exec as it is made (a program another thread starts never inherits it). -1 and errno.
int cgateway_accept_cloexec(int fd);

#include <stdint.h>

/// Installs, in front of the handlers already in place (the Swift runtime's backtracer among
/// them), a handler for the signals a crash raises (SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
/// SIGSEGV) that first stores `crashed_value` in `state_word` and sends one byte on `notify_fd`,
/// then hands the signal on. A supervisor learns of the crash at once, not only when the
/// process is gone. 0, or -1 and errno.
int cgateway_install_crash_notifier(int notify_fd, uint64_t *state_word, uint64_t crashed_value);

#endif
