/* A second thread turns Syscall User Dispatch's selector off and unlinks a
 * host file directly, while the main thread waits in a broker call: strict
 * mode kills that thread, and the broker, watching every thread's pidfd,
 * ends the whole sandbox with the reason.
 *   hostile_thread_escape HOST_PATH */
#include "hostile.h"
#include <pthread.h>

static const char *target;

static void *escape(void *arg)
{
    (void)arg;
    say("thread: escaping");
    allow_direct();
    raw3(SYS_unlink, target, 0, 0);
    say("thread: escaped"); /* never */
    return NULL;
}

int main(int argc, char **argv)
{
    target = argc > 1 ? argv[1] : "/nonexistent";
    pthread_t t;
    pthread_create(&t, NULL, escape, NULL);
    sleep(30); /* the broker holds this call; the sandbox ends first */
    say("main: still here"); /* never */
    return 0;
}
