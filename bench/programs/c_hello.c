/* Threaded libfcgi hello, after libfcgi's examples/threaded.c (NO_LOCK=1: no accept mutex). */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
static int sock, use_lock = 1;
static pthread_mutex_t accept_mutex = PTHREAD_MUTEX_INITIALIZER;
static void *worker(void *arg) {
    (void)arg;
    FCGX_Request req;
    FCGX_InitRequest(&req, sock, 0);
    for (;;) {
        if (use_lock) pthread_mutex_lock(&accept_mutex);
        int rc = FCGX_Accept_r(&req);
        if (use_lock) pthread_mutex_unlock(&accept_mutex);
        if (rc < 0) break;
        FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", req.out);
        FCGX_Finish_r(&req);
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: c_hello PATH NTHREADS\n"); return 2; }
    use_lock = getenv("NO_LOCK") == NULL;
    FCGX_Init();
    sock = FCGX_OpenSocket(argv[1], 1024);
    if (sock < 0) { perror("FCGX_OpenSocket"); return 1; }
    chmod(argv[1], 0666);
    int n = atoi(argv[2]);
    pthread_t *t = calloc(n, sizeof *t);
    for (int i = 1; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
    worker(NULL);
    return 0;
}
