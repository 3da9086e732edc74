/* A well-behaved sandbox for the load test: N broker round trips (lseek
 * and fstat on a file in its private /tmp, getppid served locally between
 * them), a checksum line every 100 calls, then 64 KiB of a known pattern on
 * stdout and 4 KiB on stderr.   load_calls ID N */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int id = argc > 1 ? atoi(argv[1]) : 0;
    long n = argc > 2 ? atol(argv[2]) : 10000;
    int fd = open("/tmp/f", O_RDWR | O_CREAT, 0600);
    if (fd < 0 || write(fd, "0123456789", 10) != 10)
        return 1;
    unsigned long sum = (unsigned long)id;
    struct stat st;
    for (long i = 0; i < n; i++) {
        long v;
        if (i % 2) {
            v = fstat(fd, &st) == 0 ? (long)st.st_size : -1;
        } else {
            v = lseek(fd, i % 1000, SEEK_SET);
        }
        sum = sum * 31 + (unsigned long)v + (unsigned long)getppid();
        if (i % 100 == 99)
            printf("s%02d %05ld %016lx\n", id, i + 1, sum);
    }
    fflush(stdout);
    static char block[65536];
    for (unsigned i = 0; i < sizeof block; i++)
        block[i] = (char)('A' + (i + id) % 26);
    if (write(1, block, sizeof block) != sizeof block || write(2, block, 4096) != 4096)
        return 2;
    return 0;
}
