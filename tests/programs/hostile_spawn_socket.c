/* The spawn socket (trusted_stub/spawner.c) from the program's side.
 *   scribble: overwrite the spawner's message box and the next slot's stack
 *             record, then start threads: every one starts, confined.
 *   forge:    find the socket (the one fd of the sandbox that is not stdio,
 *             a channel or a wake pipe) and write a zero-length record and
 *             a forged "thread idle" to the broker over it: a protocol
 *             violation that ends the sandbox; the broker and the others
 *             carry on.
 *   forge_x:  the same with a forged 'X' (the spawner's "pages remapped").
 *   forge_m:  the same with a forged 'M' (the spawner's "file mapped").
 *   race_x:   while threads start, another thread keeps turning the byte
 *             the spawner received into 'x' (map the arena back over the
 *             pinned image): the program breaks itself, or runs on; the
 *             broker is never fooled.
 *   race_m PATH: while the program maps PATH (large: pinned, 'm') and
 *             starts threads, another thread keeps turning the request
 *             into a mapping of a range outside the arena (the clock page,
 *             other user space):
 *             the spawner refuses them all and ends the sandbox, or the
 *             race was lost and it runs on; the clock page is never
 *             replaced. */
#include "hostile.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

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

static int start_threads(void)
{
    int started = 0;
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        void *ret;
        if (pthread_create(&t, NULL, worker, (void *)(long)i) == 0) {
            pthread_join(t, &ret);
            started += (long)ret == i;
        }
    }
    return started;
}

static void *racer(void *arg)
{
    for (;;)
        ((volatile struct sb_spawn_box *)&ST->spawn)->byte = 'x';
    return arg;
}

static void *range_racer(void *arg)
{
    /* Ranges the kernel would map (so only the spawner's check stops it),
     * mixed any way (the racer writes start and length one at a time). */
    unsigned long starts[] = {SB_CLOCK_PAGE, WILD};
    for (unsigned i = 0;; i++) {
        volatile struct sb_spawn_box *b = (volatile struct sb_spawn_box *)&ST->spawn;
        b->args[0] = starts[i & 1];
        b->args[1] = 4096;
        b->byte = 'm';
    }
    return arg;
}

static void forge(const char *bytes, long n)
{
    for (int fd = 3; fd < 1024; fd++) {
        if (known(fd))
            continue;
        allow_direct();
        raw3(SYS_write, fd, bytes, n);
        trap_again();
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "race_x")) {
        pthread_t r;
        pthread_create(&r, NULL, racer, NULL);
        show("threads_started", start_threads());
        return 0;
    }
    if (argc > 2 && !strcmp(argv[1], "race_m")) {
        pthread_t r;
        pthread_create(&r, NULL, range_racer, NULL);
        int fd = open(argv[2], O_RDONLY), same = 0;
        volatile struct sb_clock *clock = (volatile struct sb_clock *)SB_CLOCK_PAGE;
        unsigned tick = clock->tick_ns;
        for (int i = 0; i < 200; i++) {
            void *m = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE, fd, 0);
            if (clock->tick_ns != tick || tick != SB_CLOCK_TICK_NS) {
                show("clock_page_kept", 0);
                return 0;
            }
            same += m != MAP_FAILED && !memcmp(m, "\177ELF", 4);
            munmap(m, 1 << 20);
        }
        show("mapped", same);
        show("clock_page_kept", 1);
        show("threads_started", start_threads());
        return 0;
    }
    if (argc > 1 && (!strcmp(argv[1], "forge_x") || !strcmp(argv[1], "forge_m"))) {
        say("forging");
        forge(argv[1][6] == 'x' ? "X" : "M", 1);
        usleep(500000);
        show("threads_started", start_threads());
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "scribble")) {
        memset((void *)&ST->spawn, 0xff, sizeof ST->spawn);
        memset((char *)ST->boot.threads_base + SB_THREAD_BLOCK + SB_IDLE_STACK - 24, 0xff, 24);
        show("threads_started", start_threads());
        return 0;
    }
    say("forging");
    forge("", 0);
    forge("r", 1);
    usleep(500000); /* the broker ends the sandbox meanwhile */
    show("threads_started", start_threads());
    return 0;
}
