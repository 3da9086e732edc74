/* A path rewritten by the program's own threads while it asks to open it:
 *
 *   toctou_open ALLOWED FORBIDDEN N [FLIPPERS [HOLD]]
 *
 * FLIPPERS threads (default 2) rewrite one shared path buffer between
 * ALLOWED and FORBIDDEN in a tight loop, byte by byte, while the main thread
 * calls open(buffer, O_RDONLY) N times, reads what it opened and closes it.
 * A policy that denies FORBIDDEN must judge the path it copied once and open
 * exactly that: every open that works is the allowed file (its contents are
 * read first, through a private copy of the name), none is the forbidden one.
 *
 * Prints "reference N bytes" and then
 *   "ok N denied N other N leaked N"
 * ok: opens that worked; denied: EACCES or EPERM; other: any other error
 * (a half-written name that names nothing: ENOENT); leaked: opens that
 * worked but read something other than the allowed file's contents.
 * HOLD (default 0): the main thread sleeps that many ms with the flippers
 * running before it starts (to let them get going).  Exit status 0 unless
 * something could not be set up. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXLEN 256

static char shared_path[MAXLEN] __attribute__((aligned(64)));
static char names[2][MAXLEN];
static size_t lens[2];
static volatile int stop;
static volatile long flips[16];

static void *flipper(void *arg)
{
    long me = (long)arg;
    volatile char *p = shared_path;
    unsigned k = (unsigned)me;
    long n = 0;
    while (!stop) {
        const char *s = names[k & 1];
        size_t len = lens[k & 1];
        for (size_t i = 0; i <= len; i++) /* with the terminating NUL */
            p[i] = s[i];
        k++;
        n++;
    }
    flips[me] = n;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: toctou_open ALLOWED FORBIDDEN N [FLIPPERS [HOLD_MS]]\n");
        return 2;
    }
    long n = atol(argv[3]);
    int nf = argc > 4 ? atoi(argv[4]) : 2;
    long hold = argc > 5 ? atol(argv[5]) : 0;
    if (nf < 1 || nf > 16 || strlen(argv[1]) >= MAXLEN || strlen(argv[2]) >= MAXLEN) {
        fprintf(stderr, "toctou_open: 1..16 flippers, paths shorter than %d\n", MAXLEN);
        return 2;
    }
    strcpy(names[0], argv[1]);
    strcpy(names[1], argv[2]);
    lens[0] = strlen(names[0]);
    lens[1] = strlen(names[1]);

    /* what the allowed file holds, opened through a name nobody rewrites */
    char ref[4096], buf[4096];
    int fd = open(names[0], O_RDONLY);
    if (fd < 0) {
        printf("cannot open the allowed file: %s\n", strerrorname_np(errno));
        return 2;
    }
    ssize_t reflen = read(fd, ref, sizeof ref);
    close(fd);
    if (reflen <= 0) {
        printf("the allowed file reads as empty\n");
        return 2;
    }
    printf("reference %zd bytes\n", reflen);
    fflush(stdout);

    strcpy(shared_path, names[0]);
    pthread_t th[16];
    for (long i = 0; i < nf; i++)
        if (pthread_create(&th[i], NULL, flipper, (void *)i)) {
            printf("pthread_create failed\n");
            return 2;
        }
    if (hold > 0) {
        struct timespec ts = {hold / 1000, (hold % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }

    long ok = 0, denied = 0, other = 0, leaked = 0;
    for (long i = 0; i < n; i++) {
        fd = open(shared_path, O_RDONLY);
        if (fd < 0) {
            if (errno == EACCES || errno == EPERM)
                denied++;
            else
                other++;
            continue;
        }
        ok++;
        ssize_t got = read(fd, buf, sizeof buf);
        if (got != reflen || memcmp(buf, ref, (size_t)reflen))
            leaked++;
        close(fd);
    }
    stop = 1;
    long total_flips = 0;
    for (int i = 0; i < nf; i++) {
        pthread_join(th[i], NULL);
        total_flips += flips[i];
    }
    printf("ok %ld denied %ld other %ld leaked %ld\n", ok, denied, other, leaked);
    fprintf(stderr, "flips %ld\n", total_flips); /* timing-dependent: not on stdout */
    return 0;
}
