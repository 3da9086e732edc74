/* Writes into a sibling thread's broker channel a request that continues the
 * sibling's own sequence, while the sibling's own call (a long sleep) waits
 * in the broker: a protocol violation that ends this sandbox; the broker and
 * the others carry on. */
#include "hostile.h"
#include <pthread.h>

static void *park(void *arg)
{
    (void)arg;
    sleep(30);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, park, NULL);
    struct sb_thread *me = NULL, *other = NULL;
    for (int tries = 0; tries < 500 && !(other && other->awaiting); tries++) {
        usleep(10000);
        for (unsigned i = 0; i < ST->boot.max_threads; i++) {
            struct sb_thread *b = (struct sb_thread *)(ST->boot.threads_base + (unsigned long)i * SB_THREAD_BLOCK);
            if (b->tid == gettid())
                me = b;
            else if (b->state == SB_THREAD_LIVE)
                other = b;
        }
    }
    usleep(50000); /* its sleep has reached the broker by now */
    printf("found sibling %d\n", me && other);
    fflush(stdout);
    if (!other)
        return 1;
    /* [seq, getppid]: a well-formed request on the sibling's channel */
    unsigned char msg[] = {0x98, (unsigned char)(other->seq + 1), 110, 0, 0, 0, 0, 0, 0};
    allow_direct(); /* the program's own fds would go to the broker: write for real */
    long n = raw3(SYS_write, other->chan_fd, msg, sizeof msg);
    trap_again();
    printf("forged request %ld\n", n);
    fflush(stdout);
    sleep(30); /* the sandbox ends first */
    return 0;
}
