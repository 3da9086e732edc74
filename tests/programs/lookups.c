/* Looks paths up as its arguments say, one line each, so a sandboxed run
 * can be held against a native one and against itself with and without
 * the answers the runtime keeps:
 *   s:PATH  stat (follows links): "s PATH size N" or "s PATH errno E"
 *   o:PATH  open read-only, then close: "o PATH ok" or "o PATH errno E"
 *   a:PATH  access(F_OK), faccessat(R_OK) and faccessat2(AT_EACCESS) agreeing: "a PATH ok" or
 *           "a PATH errno E" (else "a PATH differ")
 *   c:PATH  create (O_CREAT|O_WRONLY), then close: "c PATH ok" or "... errno E"
 *   r:PATH  open read-only and use the fd: its number, bytes read through it
 *           and a dup of it (one offset), fstat, F_GETFD, lseek; then close
 *   k:PATH  open read-only and keep it open: "k PATH fd N"
 *   n:PATH  open read-only with O_NONBLOCK: "n PATH fd N nonblock F" (F_GETFL's bit)
 *   d:PATH  list a directory as opendir does: entries, after a rewind, on a dup
 *   x:PATH  open read-only (no O_CLOEXEC), ioctl(FIOCLEX) it, keep it open: "x PATH fd N"
 *   m:PREFIX  stat PREFIX0 ... PREFIX999 (fills a stat cache): "m PREFIX"
 *   L:LINK=TARGET  (re)make LINK a symlink to TARGET: "L LINK=TARGET ok"
 *   h:PATH  chdir: "h PATH ok"
 *   M:PATH  mkdir 0755, D:PATH  rmdir: "M PATH ok" ... */
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long entries(int fd)
{
    static char buf[32768];
    long count = 0, r;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long off = 0; off < r; off += *(unsigned short *)(buf + off + 16))
            count++;
    return r < 0 ? r : count;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char op = argv[i][0];
        const char *path = argv[i] + 2;
        struct stat st;
        int r = -1;
        if (op == 's')
            r = stat(path, &st);
        else if (op == 'm') {
            char p[256];
            for (int k = 0; k < 1000; k++) {
                snprintf(p, sizeof p, "%.200s%d", path, k);
                stat(p, &st);
            }
            printf("m %s\n", path);
            continue;
        } else if (op == 'x') {
            int fd = open(path, O_RDONLY);
            if (fd >= 0 && ioctl(fd, FIOCLEX) == 0) {
                printf("x %s fd %d\n", path, fd);
                continue;
            }
        }
        else if (op == 'r' || op == 'k') {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0 && op == 'k') {
                printf("k %s fd %d\n", path, fd);
                continue;
            }
            if (fd >= 0) {
                char a[4] = {0}, b[3] = {0};
                long n = read(fd, a, 3);
                int d = dup(fd);
                long m = read(d, b, 2);
                r = fstat(fd, &st);
                printf("r %s fd %d read %ld '%s' dup %ld '%s' size %lld cloexec %d/%d at %ld\n", path,
                       fd, n, a, m, b, (long long)st.st_size, fcntl(fd, F_GETFD), fcntl(d, F_GETFD),
                       (long)lseek(fd, 0, SEEK_CUR));
                close(d);
                r = close(fd);
                continue;
            }
        } else if (op == 'd') {
            int fd = open(path, O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                long first = entries(fd), again = entries(fd);
                lseek(fd, 0, SEEK_SET);
                long rewound = entries(fd);
                lseek(fd, 0, SEEK_SET);
                int d = dup(fd);
                long on_dup = entries(d), after = entries(fd);
                printf("d %s fd %d entries %ld %ld %ld dup %ld %ld\n", path, fd, first, again, rewound,
                       on_dup, after);
                close(d);
                r = close(fd);
                continue;
            }
        } else if (op == 'n') {
            int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) {
                printf("n %s fd %d nonblock %d\n", path, fd, fcntl(fd, F_GETFL) & O_NONBLOCK);
                r = close(fd);
                continue;
            }
        } else if (op == 'L') {
            char link[256];
            const char *eq = strchr(path, '=');
            snprintf(link, sizeof link, "%.*s", eq ? (int)(eq - path) : 0, path);
            unlink(link);
            r = eq ? symlink(eq + 1, link) : -1;
        } else if (op == 'h') {
            r = chdir(path);
        } else if (op == 'M') {
            r = mkdir(path, 0755);
        } else if (op == 'D') {
            r = rmdir(path);
        } else if (op == 'a') {
            r = access(path, F_OK);
            int e = errno;
            long r2 = syscall(SYS_faccessat, AT_FDCWD, path, R_OK), e2 = errno;
            long r3 = syscall(SYS_faccessat2, AT_FDCWD, path, R_OK, AT_EACCESS), e3 = errno;
            if (r2 != r || r3 != r || (r < 0 && (e2 != e || e3 != e))) {
                printf("a %s differ\n", path);
                continue;
            }
            errno = e;
        } else if (op == 'o' || op == 'c') {
            int fd = op == 'o' ? open(path, O_RDONLY | O_CLOEXEC)
                               : open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            r = fd < 0 ? -1 : close(fd);
        }
        if (r < 0)
            printf("%c %s errno %d\n", op, path, errno);
        else if (op == 's')
            printf("s %s size %lld\n", path, (long long)st.st_size);
        else
            printf("%c %s ok\n", op, path);
    }
    return 0;
}
