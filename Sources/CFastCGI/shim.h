// libfcgi's application interface (Debian: libfcgi-dev, pkg-config `fcgi`).
// FCGX_FPrintF and FCGX_VFPrintF are C-variadic and not imported into Swift: use FCGX_PutStr.
#ifndef SWIFT_ASGI_CFASTCGI_SHIM_H
#define SWIFT_ASGI_CFASTCGI_SHIM_H
#include <fcgiapp.h>

#ifdef __linux__
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
// epoll (sys/epoll.h, which Swift's Glibc module leaves out) holds the idle kept connections.
// GNU extensions the FastCGI frontend's worker threads use; Swift's Glibc module does not import
// them (they are declared only under _GNU_SOURCE).
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int pipe2(int fds[2], int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);
#endif

#endif
