/* A pool that threads grew, then an execve: the new image's threads still
 * find the pool's idle slots (a thread limit of 4 left no room for more),
 * and raise() and pthread_kill(self) still find the calling thread. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t all;
static volatile sig_atomic_t got;

static void on_usr1(int sig) { got += sig == SIGUSR1; }
static void *meet(void *arg) { pthread_barrier_wait(&all); return arg; }
static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv)
{
    pthread_t t[3];
    if (argc > 1) {
        signal(SIGUSR1, on_usr1);
        int r = raise(SIGUSR1), k = pthread_kill(pthread_self(), SIGUSR1);
        printf("raise %d pthread_kill %d got %d\n", r, k, (int)got);
        for (int i = 0; i < 3; i++) {
            int e = pthread_create(&t[i], NULL, nothing, NULL);
            printf("create %s\n", e ? strerror(e) : "ok");
            if (!e)
                pthread_join(t[i], NULL);
        }
        return 0;
    }
    pthread_barrier_init(&all, NULL, 4);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, meet, NULL);
    pthread_barrier_wait(&all);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    fflush(stdout);
    execl(argv[0], argv[0], "again", (char *)NULL);
    perror("execl");
    return 1;
}
