/* A program mapping a large file read-only at run time, which the sandbox
 * maps straight from the file (the spawner pins it, struct sb_pin): each
 * mode prints what it prints natively.  `mapped_file MODE PATH`:
 *   read:    the mapping's bytes are the file's; a write() from it reaches
 *            the broker; a read() into it is EFAULT and the bytes stay.
 *   write:   mprotect(PROT_WRITE) on a middle page, a write there; the
 *            other pages are still the file's.
 *   unmap:   munmap of a middle page, an anonymous mapping there (zeros).
 *   fixed:   a MAP_FIXED mapping of another part of the file over the middle.
 *   shifted: a writable MAP_FIXED mapping of the middle a page further on
 *            (as ld.so maps a data segment over a library's first mapping).
 *   tail:    a mapping past the end of the file: zeros to the page's end.
 *   threads: four threads each map, check and unmap the file, over and over.
 *   signals: maps in a loop while another thread signals this one (a
 *            handler without SA_RESTART): mmap never fails with EINTR.
 *   empty:   madvise, mprotect and munmap of no bytes inside it: no-ops.
 *   many:    70 mappings at once (more than the runtime's list of pins
 *            holds: the rest are copies), then a page unmapped in the
 *            middle of the first: the rest of it is still the file.
 *   fault:   a write to the mapping without mprotect: SIGSEGV. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL

static const char *path;
static int fd;
static size_t size;
static unsigned char *file; /* the file's bytes, read() */

static unsigned long sum(const unsigned char *p, size_t n)
{
    unsigned long h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + p[i];
    return h;
}

static unsigned char *map(size_t len, off_t off, void *at, int flags)
{
    unsigned char *m = mmap(at, len, PROT_READ, MAP_PRIVATE | flags, fd, off);
    if (m == MAP_FAILED) {
        printf("mmap: %s\n", strerror(errno));
        exit(1);
    }
    return m;
}

static int same(const unsigned char *m, size_t off, size_t n)
{
    return memcmp(m, file + off, n) == 0;
}

static void *mapper(void *arg)
{
    long ok = 0;
    for (int i = 0; i < 20; i++) {
        unsigned char *m = map(size, 0, NULL, 0);
        ok += same(m, 0, size);
        munmap(m, size);
    }
    return (void *)ok;
}

static volatile int stop, handled;
static void on_usr1(int sig)
{
    handled += sig == SIGUSR1;
}

static void *signaller(void *arg)
{
    while (!stop) {
        pthread_kill(*(pthread_t *)arg, SIGUSR1);
        usleep(50);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *mode = argv[1];
    path = argv[2];
    fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st))
        return 3;
    size = (size_t)st.st_size;
    file = malloc(size);
    if (pread(fd, file, size, 0) != (ssize_t)size)
        return 4;
    size_t mid = (size / 2) & ~(PAGE - 1);
    setvbuf(stdout, NULL, _IONBF, 0);

    if (!strcmp(mode, "read")) {
        unsigned char *m = map(size, 0, NULL, 0);
        printf("size %zu same %d sum %lu\n", size, same(m, 0, size), sum(m, size));
        fflush(stdout);
        write(1, m + mid, 64); /* the broker reads it from the file */
        int p[2];
        pipe(p);
        write(p[1], "abc", 3);
        errno = 0;
        long r = read(p[0], m + mid, 3);
        char got[4] = {0};
        read(p[0], got, 3);
        printf("\nread into it: %ld %s, then %s; same %d\n", r, strerror(errno), got, same(m, 0, size));
    } else if (!strcmp(mode, "write")) {
        unsigned char *m = map(size, 0, NULL, 0);
        int r = mprotect(m + mid, PAGE, PROT_READ | PROT_WRITE);
        memset(m + mid + 10, 'w', 20);
        printf("mprotect %d; before %d, page %d, after %d; sum %lu\n", r, same(m, 0, mid),
               same(m + mid, mid, PAGE), same(m + mid + PAGE, mid + PAGE, size - mid - PAGE),
               sum(m, size));
    } else if (!strcmp(mode, "unmap")) {
        unsigned char *m = map(size, 0, NULL, 0);
        int r = munmap(m + mid, PAGE);
        unsigned char *a = mmap(m + mid, PAGE, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        unsigned char zeros[PAGE] = {0};
        printf("munmap %d; anon there %d zeros %d; before %d, after %d\n", r, a == m + mid,
               !memcmp(a, zeros, PAGE), same(m, 0, mid),
               same(m + mid + PAGE, mid + PAGE, size - mid - PAGE));
    } else if (!strcmp(mode, "fixed")) {
        unsigned char *m = map(size, 0, NULL, 0);
        map(2 * PAGE, 0, m + mid, MAP_FIXED);
        printf("before %d, over %d, after %d\n", same(m, 0, mid), same(m + mid, 0, 2 * PAGE),
               same(m + mid + 2 * PAGE, mid + 2 * PAGE, size - mid - 2 * PAGE));
    } else if (!strcmp(mode, "shifted")) {
        unsigned char *m = map(size, 0, NULL, 0);
        /* an offset off a page boundary fails first, changing nothing (the
         * raw call: glibc's mmap refuses it itself) */
        long odd = syscall(SYS_mmap, m + mid + PAGE, PAGE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_FIXED, fd, mid + 1);
        printf("unaligned %s, stays %d; ", odd == -1 ? strerror(errno) : "mapped", same(m, 0, size));
        unsigned char *d = mmap(m + mid + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_FIXED, fd, mid);
        int same_there = d == m + mid + PAGE && same(d, mid, 2 * PAGE);
        memset(d, 'w', 10);
        printf("shifted %d, written %d; before %d, after %d\n", same_there, d[9] == 'w',
               same(m, 0, mid + PAGE), same(m + mid + 3 * PAGE, mid + 3 * PAGE, size - mid - 3 * PAGE));
    } else if (!strcmp(mode, "tail")) {
        size_t len = (size + PAGE - 1) & ~(PAGE - 1);
        unsigned char *m = map(len, 0, NULL, 0);
        size_t zero = 1;
        for (size_t i = size; i < len; i++)
            zero &= m[i] == 0;
        printf("same %d, zeros past the end %zu\n", same(m, 0, size), zero);
    } else if (!strcmp(mode, "threads")) {
        pthread_t t[4];
        long ok = 0;
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, mapper, NULL);
        for (int i = 0; i < 4; i++) {
            void *r;
            pthread_join(t[i], &r);
            ok += (long)r;
        }
        printf("mappings as the file: %ld\n", ok);
    } else if (!strcmp(mode, "signals")) {
        struct sigaction sa = {.sa_handler = on_usr1};
        sigaction(SIGUSR1, &sa, NULL);
        pthread_t self = pthread_self(), t;
        pthread_create(&t, NULL, signaller, &self);
        int ok = 0, i = 0;
        for (; i < 200 || (!handled && i < 1000000); i++) { /* (some signal lands meanwhile) */
            unsigned char *m = map(size, 0, NULL, 0);
            ok += same(m, 0, size);
            munmap(m, size);
        }
        stop = 1;
        pthread_join(t, NULL);
        printf("every mapping as the file: %d, a signal handled: %d\n", ok == i, handled > 0);
    } else if (!strcmp(mode, "empty")) {
        unsigned char *m = map(size, 0, NULL, 0);
        int a = madvise(m + mid, 0, MADV_DONTNEED), b = mprotect(m + mid, 0, PROT_READ | PROT_WRITE);
        errno = 0;
        int c = munmap(m + mid, 0);
        printf("madvise %d, mprotect %d, munmap %d %s; same %d\n", a, b, c, strerror(errno),
               same(m, 0, size));
    } else if (!strcmp(mode, "many")) {
        unsigned char *m[70];
        int all = 1;
        for (int i = 0; i < 70; i++) {
            m[i] = map(size, 0, NULL, 0);
            all &= same(m[i], 0, size);
        }
        int r = munmap(m[0] + mid, PAGE);
        printf("all the file %d; munmap %d; before %d, after %d; last %d\n", all, r,
               same(m[0], 0, mid), same(m[0] + mid + PAGE, mid + PAGE, size - mid - PAGE),
               same(m[69], 0, size));
    } else if (!strcmp(mode, "fault")) {
        unsigned char *m = map(size, 0, NULL, 0);
        printf("mapped\n");
        m[mid] = 1;
        printf("wrote\n");
    } else {
        return 2;
    }
    return 0;
}
