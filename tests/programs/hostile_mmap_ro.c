/* Mapping a read-only mount's file to change it: MAP_SHARED with write
 * access is refused; a MAP_PRIVATE copy may be written, but only the copy
 * changes.  The file itself stays as it was. */
#include "hostile.h"
#include <sys/mman.h>

int main(void)
{
    long fd = CALL(SYS_open, "/ro/file", O_RDONLY);
    show_ok("open", fd);
    void *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
    show("shared_write", s == MAP_FAILED ? -errno : 0);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, (int)fd, 0);
    show("private_write", p == MAP_FAILED ? -errno : 0);
    if (p != MAP_FAILED) {
        p[0] = 'X';
        show("msync", msync(p, 4096, MS_SYNC) ? -errno : 0);
        munmap(p, 4096);
    }
    char b[4] = {0};
    show("pread", CALL(SYS_pread64, fd, b, 2, 0));
    printf("first byte %c\n", b[0]);
    long w = CALL(SYS_open, "/data/own", O_RDWR);
    char *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, (int)w, 0);
    show("shared_rw_mount", q == MAP_FAILED ? -errno : 0);
    return 0;
}
