/* A file mapped with MAP_FIXED over memory that held other bytes: the file's
 * bytes, then zeros to the end of the last page (what the kernel shows).
 * With "beyond", also checks that whole pages past the end of the file read
 * as zeros (strictbox's copy; Linux would raise SIGBUS there). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int check(const char *name, size_t file_len, size_t map_len, int beyond)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/mmap_fixed_%zu", file_len);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return perror("open"), 1;
    static char buf[1 << 20];
    memset(buf, 'F', file_len);
    if (write(fd, buf, file_len) != (ssize_t)file_len)
        return perror("write"), 1;
    unsigned char *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return perror("mmap anon"), 1;
    memset(p, 0xAA, map_len);
    if (mmap(p, map_len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) != p)
        return perror("mmap fixed"), 1;
    size_t page_end = (file_len + 4095) & ~4095UL, bad = 0;
    for (size_t i = 0; i < file_len; i++)
        bad += p[i] != 'F';
    printf("%s_file_bytes %d\n", name, bad == 0);
    bad = 0;
    for (size_t i = file_len; i < page_end; i++)
        bad += p[i] != 0;
    printf("%s_page_tail_zero %d\n", name, bad == 0);
    if (beyond) {
        bad = 0;
        for (size_t i = page_end; i < map_len; i++)
            bad += p[i] != 0;
        printf("%s_beyond_zero %d\n", name, bad == 0);
    }
    munmap(p, map_len);
    close(fd);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    int beyond = argc > 1 && strcmp(argv[1], "beyond") == 0;
    /* small: the runtime used to clear it itself; large: with a round trip */
    return check("small", 5000, 3 * 4096, beyond) | check("large", 100 * 1024 + 123, 300 * 1024, beyond);
}
