/* The spawn socket (trusted_stub/spawner.c) from the program's side: it
 * finds the socket (the one fd of the sandbox that is not stdio, a
 * channel or a wake pipe), writes forged "thread ready" and junk messages to
 * the broker over it, scribbles over the spawner's message box and the next
 * slot's stack record, then starts threads.  A forged message may cost one
 * EAGAIN (pthread_create is retried); every thread that runs is a confined
 * pool thread, and the program ends normally. */
#include "hostile.h"
#include <pthread.h>

static void *worker(void *arg)
{
    return arg;
}

static int known(int fd)
{
    for (unsigned i = 0; i < ST->boot.max_threads; i++) {
        volatile struct sb_thread *t = (volatile struct sb_thread *)(ST->boot.threads_base + i * SB_THREAD_BLOCK);
        if (fd == t->chan_fd || fd == t->wake_rfd || fd == t->wake_wfd)
            return 1;
    }
    return 0;
}

int main(void)
{
    int found = 0;
    for (int fd = 3; fd < 1024; fd++) {
        if (known(fd))
            continue;
        allow_direct();
        long w1 = raw3(SYS_write, fd, "r", 1);
        long w2 = raw3(SYS_write, fd, "junk", 4);
        trap_again();
        if (w1 == 1 && w2 == 4)
            found++;
    }
    show("spawn_socket_found", found);
    memset((void *)&ST->spawn, 0xff, sizeof ST->spawn);
    memset((char *)ST->boot.threads_base + SB_THREAD_BLOCK + SB_IDLE_STACK - 24, 0xff, 24);
    int started = 0;
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        for (int tries = 0; tries < 3; tries++) {
            int e = pthread_create(&t, NULL, worker, (void *)(long)i);
            if (e == 0) {
                void *ret;
                pthread_join(t, &ret);
                started += (long)ret == i;
                break;
            }
            if (e != EAGAIN) {
                show("pthread_create", -e);
                break;
            }
        }
    }
    show("threads_started", started);
    return 0;
}
