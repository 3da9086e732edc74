/* Writes a known pattern to PATH in 64 KiB blocks until a write fails,
 * then reports how far it got and why; then checks that what it wrote reads
 * back, and that removing the file gives the space back.
 *   fill_disk PATH */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char block[65536], back[65536];

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/data/fill";
    for (unsigned i = 0; i < sizeof block; i++)
        block[i] = (char)('a' + i % 26);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open %s\n", strerrorname_np(errno));
        return 1;
    }
    long total = 0, w;
    for (;;) {
        w = write(fd, block + total % sizeof block, sizeof block - total % sizeof block);
        if (w <= 0)
            break;
        total += w;
    }
    printf("wrote %ld then %s\n", total, w < 0 ? strerrorname_np(errno) : "0");
    printf("fsync %s\n", fsync(fd) ? strerrorname_np(errno) : "ok");
    long got = 0, r;
    while ((r = pread(fd, back, sizeof back, got)) > 0) {
        for (long i = 0; i < r; i++)
            if (back[i] != block[(got + i) % sizeof block]) {
                printf("mismatch at %ld\n", got + i);
                return 2;
            }
        got += r;
    }
    printf("read back %s\n", got == total ? "all" : "short");
    close(fd);
    printf("unlink %s\n", unlink(path) ? strerrorname_np(errno) : "ok");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    printf("write after unlink %s\n", fd >= 0 && write(fd, block, 4096) == 4096 ? "ok" : strerrorname_np(errno));
    return 0;
}
