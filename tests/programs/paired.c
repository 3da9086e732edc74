/* Reads its own thread block (sandbox memory, as every program may) around
 * broker calls: whether the main thread is paired with the broker
 * (boot.cpu), and whether the broker said it sent each answer (answered). */
#define SB_CFFI
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "strictbox_abi.h"

static void *idle(void *arg)
{
    return arg;
}

static void show(const char *when)
{
    volatile struct sb_state *st = (volatile struct sb_state *)SB_ARENA_BASE;
    volatile struct sb_thread *t = (volatile struct sb_thread *)st->boot.threads_base;
    getgroups(0, NULL); /* a broker call */
    unsigned long seq = t->seq, answered = t->answered;
    printf("%s: paired %d, answered %s\n", when, st->boot.cpu != 0,
           answered == seq ? "this call" : answered == 0 ? "none" : "an earlier call");
}

int main(void)
{
    show("alone");
    pthread_t th;
    pthread_create(&th, NULL, idle, NULL);
    pthread_join(th, NULL);
    show("after a thread");
    fflush(stdout);
    return 0;
}
