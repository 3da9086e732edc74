/* A program changing its own read-only image, which the sandbox maps
 * straight from the file (pinned segments, struct sb_pin): each mode prints
 * what it prints natively.
 *   read:    paths and strings in .rodata reach the broker; the text's bytes
 *            are the file's.
 *   write:   mprotect(PROT_WRITE) on .rodata, then a write to it.
 *   unmap:   munmap of a page of .rodata, then an anonymous mapping there.
 *   threads: the same write while other threads run the image's code.
 *   exec:    the image after an execve of this same program.
 *   fault:   a write to .rodata without mprotect: SIGSEGV.
 *   rodata_x: mprotect(PROT_EXEC) on code kept in .rodata, then a call.
 *   read_ro: a read from a pipe into .rodata: EFAULT, the bytes stay.
 *   signals: the write's mprotect while another thread signals this one
 *            (a handler without SA_RESTART): it never fails with EINTR.
 *   read_file_ro PATH: a read from a (prefetched) file into .rodata: EFAULT.
 *   pipe_ro: pipe() with its fds' array in .rodata: EFAULT, no fds made.
 *   twice:   prints the message, sleeps 1 s, prints it again.
 *   scribble PATH OFFSET MS: opens PATH for writing, waits, writes there.
 *   sleep:   sleeps 1 s (while another sandbox tries its file).
 *   open_rw PATH: opens PATH for writing (a running program: ETXTBSY). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char __executable_start[], etext[];

static const char dir[] = "/usr";
static const char message[] = "read-only data";
static const char big[3 * 4096] __attribute__((aligned(4096))) = {1, 2, 3};
static const unsigned char code[4096] __attribute__((aligned(4096))) = {
    0xb8, 42, 0, 0, 0, 0xc3}; /* mov $42, %eax; ret */

static unsigned long sum(const char *start, const char *end)
{
    unsigned long h = 5381;
    for (const char *p = start; p < end; p++)
        h = h * 33 + (unsigned char)*p;
    return h;
}

static int writable(const void *p)
{
    unsigned long page = (unsigned long)p & ~4095UL;
    return mprotect((void *)page, 4096, PROT_READ | PROT_WRITE);
}

static volatile int stop;
static volatile int handled;
static pthread_t main_thread;

static void on_usr1(int sig)
{
    handled += sig == SIGUSR1;
}

static void *signaller(void *arg)
{
    while (!stop)
        pthread_kill(main_thread, SIGUSR1);
    return arg;
}

static void *runner(void *arg)
{
    unsigned long n = 0;
    while (!stop)
        n += sum(message, message + sizeof message) & 1;
    return (void *)n;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "read";
    printf("text %lx\n", sum(__executable_start, etext));
    if (!strcmp(mode, "read")) {
        struct stat st;
        int r = stat(dir, &st);
        printf("stat %s: %d dir %d\n", dir, r, S_ISDIR(st.st_mode));
        printf("%s, big %d %d\n", message, big[0], big[4096]);
    } else if (!strcmp(mode, "write")) {
        printf("mprotect %d\n", writable(message));
        *(volatile char *)message = 'R';
        printf("%s\n", message);
    } else if (!strcmp(mode, "unmap")) {
        char *middle = (char *)big + 4096;
        printf("munmap %d\n", munmap(middle, 4096));
        char *p = mmap(middle, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        printf("mmap %d, byte %d, around %d %d\n", p == middle, p[0], big[0], big[2 * 4096]);
    } else if (!strcmp(mode, "threads")) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, runner, NULL);
        printf("mprotect %d\n", writable(message));
        *(volatile char *)message = 'R';
        stop = 1;
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        printf("%s\n", message);
    } else if (!strcmp(mode, "rodata_x")) {
        printf("mprotect %d\n", mprotect((void *)code, 4096, PROT_READ | PROT_EXEC));
        printf("code() = %d\n", ((int (*)(void))(unsigned long)code)());
    } else if (!strcmp(mode, "read_ro")) {
        int p[2];
        char got[8] = {0};
        pipe(p);
        write(p[1], "hello", 5);
        long r = read(p[0], (char *)message, 5);
        printf("read into .rodata: %ld %s\n", r, r < 0 ? strerror(errno) : "");
        printf("then: %ld %s\n", (long)read(p[0], got, 5), got);
    } else if (!strcmp(mode, "signals")) {
        struct sigaction sa = {.sa_handler = on_usr1};
        sigaction(SIGUSR1, &sa, NULL);
        main_thread = pthread_self();
        pthread_t t;
        pthread_create(&t, NULL, signaller, NULL);
        while (!handled)
            ;
        int r = writable(message);
        printf("mprotect %d %s\n", r, r ? strerror(errno) : "");
        stop = 1;
        pthread_join(t, NULL);
    } else if (!strcmp(mode, "read_file_ro") && argc > 2) {
        char got[8] = {0};
        int fd = open(argv[2], O_RDONLY);
        long r = read(fd, (char *)message, 5);
        printf("read into .rodata: %ld %s\n", r, r < 0 ? strerror(errno) : "");
        printf("then: %ld %s\n", (long)read(fd, got, 5), got);
    } else if (!strcmp(mode, "pipe_ro")) {
        int r = pipe((int *)message), p[2];
        printf("pipe into .rodata: %d %s\n", r, r < 0 ? strerror(errno) : "");
        printf("then: %d %d\n", pipe(p), p[0]);
    } else if (!strcmp(mode, "twice")) {
        printf("%s\n", message);
        fflush(stdout);
        sleep(1);
        printf("%s\n", message);
    } else if (!strcmp(mode, "scribble") && argc > 4) {
        int fd = open(argv[2], O_RDWR);
        printf("open: %s\n", fd < 0 ? strerror(errno) : "ok");
        fflush(stdout);
        usleep(atoi(argv[4]) * 1000);
        printf("pwrite %ld\n", (long)pwrite(fd, "WRITTEN-OVER!!", 14, strtol(argv[3], NULL, 0)));
        return 0;
    } else if (!strcmp(mode, "sleep")) {
        sleep(1);
    } else if (!strcmp(mode, "open_rw") && argc > 2) {
        int fd = open(argv[2], O_RDWR);
        printf("open_rw: %s\n", fd < 0 ? strerror(errno) : "ok");
        return 0;
    } else if (!strcmp(mode, "fault")) {
        fflush(stdout);
        *(volatile char *)message = 'R';
    } else if (!strcmp(mode, "exec")) {
        if (argc > 2) {
            printf("after exec: %s\n", message);
            return 0;
        }
        fflush(stdout);
        execl("/proc/self/exe", argv[0], "exec", "again", (char *)NULL);
        perror("execl");
        return 1;
    }
    printf("text %lx\n", sum(__executable_start, etext));
    return 0;
}
