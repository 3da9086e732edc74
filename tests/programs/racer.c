/* The racing partner of the TOCTOU tests, run on the host by the test: it
 * plays a second sandbox thread (threads are not served yet) or a second
 * sandbox sharing a mount, flipping things as fast as it can until killed.
 *
 *   racer mem ARENA_FILE OFFSET A B   flips the string at OFFSET of the
 *                                     arena memfd (opened through
 *                                     /proc/BROKER/fd/N) between A and B
 *   racer swap DIR A B                swaps DIR/A and DIR/B with
 *                                     renameat2(RENAME_EXCHANGE) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "mem")) {
        int fd = open(argv[2], O_RDWR);
        if (fd < 0) {
            perror("open arena");
            return 1;
        }
        unsigned long off = strtoul(argv[3], NULL, 0), page = off & ~0xfffUL;
        char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (long)page);
        if (m == MAP_FAILED) {
            perror("mmap arena");
            return 1;
        }
        volatile char *p = m + (off - page);
        const char *s[2] = {argv[4], argv[5]};
        size_t n[2] = {strlen(s[0]) + 1, strlen(s[1]) + 1};
        printf("racing\n");
        fflush(stdout);
        for (unsigned long i = 0;; i++)
            for (size_t k = 0; k < n[i & 1]; k++)
                p[k] = s[i & 1][k];
    }
    if (argc == 5 && !strcmp(argv[1], "swap")) {
        int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
        if (dfd < 0) {
            perror("open dir");
            return 1;
        }
        printf("racing\n");
        fflush(stdout);
        for (;;)
            syscall(SYS_renameat2, dfd, argv[3], dfd, argv[4], 2 /* RENAME_EXCHANGE */);
    }
    fprintf(stderr, "usage: racer mem FILE OFFSET A B | racer swap DIR A B\n");
    return 2;
}
