/* Points a sibling's thread block at a host process (its host_tid field,
 * which the broker would use for a real tgkill) and signals the sibling.
 * The broker only signals thread ids the kernel listed for this sandbox, and
 * tgkill names the sandbox as the thread group: the host process lives.
 *   hostile_thread_hosttid HOST_PID */
#include "hostile.h"
#include <pthread.h>
#include <signal.h>

static volatile int stop;

static void *park(void *arg)
{
    (void)arg;
    while (!stop)
        usleep(1000);
    return NULL;
}

int main(int argc, char **argv)
{
    long host = argc > 1 ? atol(argv[1]) : 1;
    pthread_t t;
    pthread_create(&t, NULL, park, NULL);
    usleep(20000);
    struct sb_thread *other = NULL;
    for (unsigned i = 0; i < ST->boot.max_threads; i++) {
        struct sb_thread *b = (struct sb_thread *)(ST->boot.threads_base + (unsigned long)i * SB_THREAD_BLOCK);
        if (b->tid != gettid() && b->state == SB_THREAD_LIVE)
            other = b;
    }
    if (!other)
        return 1;
    other->host_tid = (int)host;
    show("pthread_kill_sibling", -pthread_kill(t, SIGUSR1));
    show("tgkill_sibling", CALL(SYS_tgkill, getpid(), other->tid, SIGTERM));
    for (unsigned i = 0; i < ST->boot.max_threads; i++) { /* every slot, live or idle */
        struct sb_thread *b = (struct sb_thread *)(ST->boot.threads_base + (unsigned long)i * SB_THREAD_BLOCK);
        b->host_tid = (int)host;
    }
    show("tgkill_all_forged", CALL(SYS_tgkill, getpid(), other->tid, SIGUSR1));
    stop = 1;
    pthread_join(t, NULL);
    say("host process spared");
    return 0;
}
