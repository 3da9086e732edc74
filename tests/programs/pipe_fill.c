/* Fills a pipe the broker holds for it (both ends) until it is full, then
 * reads everything back: every byte written must come back, in order, and
 * a full non-blocking pipe says EAGAIN rather than waiting. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char block[4096], back[65536];

int main(void)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK))
        return 1;
    long total = 0, w;
    for (unsigned i = 0;; i++) {
        for (unsigned k = 0; k < sizeof block; k++)
            block[k] = (char)(i * 7 + k);
        w = write(p[1], block, 1000 + i % 3000);
        if (w < 0)
            break;
        total += w;
    }
    printf("full after %s bytes: %s\n", total >= 4096 ? "many" : "few", strerrorname_np(errno));
    long got = 0, r;
    unsigned i = 0;
    long in_block = 0;
    while ((r = read(p[0], back, sizeof back)) > 0) {
        for (long k = 0; k < r; k++) {
            long len = 1000 + i % 3000;
            if (back[k] != (char)(i * 7 + in_block)) {
                printf("mismatch at %ld\n", got + k);
                return 2;
            }
            if (++in_block == len) {
                in_block = 0;
                i++;
            }
        }
        got += r;
    }
    printf("read back %s, then %s\n", got == total ? "all" : "short", r < 0 ? strerrorname_np(errno) : "eof");
    close(p[1]);
    printf("after close: %ld\n", (long)read(p[0], back, 1));
    return 0;
}
