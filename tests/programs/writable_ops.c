/* Every write-side call and open flag, in the directory given as argv[1]
 * (empty at the start).  Prints one line per call: its result or errno name,
 * and what stat then says; the same lines natively and sandboxed.  Nothing
 * here depends on privileges or on the time. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

static long show(const char *what, long r)
{
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
    return r;
}

/* For calls returning an fd: the number itself may differ, success may not. */
static int showfd(const char *what, int fd)
{
    if (fd < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = fd\n", what);
    return fd;
}

#define T(e) show(#e, (long)(e))
#define FD(e) showfd(#e, (e))

static void st(const char *path)
{
    struct stat s;
    if (lstat(path, &s)) {
        printf("  lstat %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    printf("  %s: type %o mode %04o nlink %lu", path, (unsigned)(s.st_mode & S_IFMT) >> 12,
           (unsigned)(s.st_mode & 07777), (unsigned long)s.st_nlink);
    if (!S_ISDIR(s.st_mode))
        printf(" size %lld", (long long)s.st_size);
    printf("\n");
}

static void contents(const char *path)
{
    char buf[256] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("  read %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("  %s holds %zd \"%s\"\n", path, n, buf);
}

static void times_of(const char *path)
{
    struct stat s;
    if (lstat(path, &s) == 0)
        printf("  %s: atime %lld.%09ld mtime %lld.%09ld\n", path, (long long)s.st_atim.tv_sec,
               s.st_atim.tv_nsec, (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 2 || chdir(argv[1]))
        return 2;
    umask(022);
    int fd, dfd;
    char buf[64];

    puts("-- open flags");
    fd = FD(open("f", O_CREAT | O_WRONLY | O_EXCL, 0666));
    T(write(fd, "hello world", 11));
    T(close(fd));
    st("f");
    FD(open("f", O_CREAT | O_EXCL | O_WRONLY, 0666));
    fd = FD(open("f", O_WRONLY | O_APPEND));
    T(write(fd, "!!", 2));
    T(close(fd));
    contents("f");
    fd = FD(open("f", O_RDWR));
    T(pwrite(fd, "HE", 2, 0));
    T(pread(fd, buf, 5, 0));
    T(pwrite(fd, "x", 1, -1));
    T(ftruncate(fd, 5));
    T(ftruncate(fd, -1));
    T(fallocate(fd, 0, 0, 100));
    st("f");
    T(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096));
    T(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2));
    T(fsync(fd));
    T(fdatasync(fd));
    T(close(fd));
    st("f");
    contents("f");
    fd = FD(open("f", O_WRONLY | O_TRUNC));
    T(close(fd));
    st("f");
    fd = FD(open("f", O_RDONLY));
    T(pwrite(fd, "x", 1, 0));
    T(ftruncate(fd, 0));
    T(fallocate(fd, 0, 0, 10));
    T(write(fd, "x", 1));
    T(close(fd));
    FD(open("missing", O_WRONLY));
    FD(open("nodir/x", O_CREAT | O_WRONLY, 0644));
    fd = FD(creat("c", 0600));
    T(write(fd, "creat", 5));
    T(close(fd));
    st("c");
    fd = FD(open("m", O_CREAT | O_WRONLY, 0777));
    T(close(fd));
    st("m");

    puts("-- directories");
    T(mkdir("d", 0777));
    st("d");
    T(mkdir("d", 0777));
    T(mkdir("d/", 0777));
    T(mkdir("d/e/", 0750));
    st("d/e");
    dfd = FD(open("d", O_RDONLY | O_DIRECTORY));
    T(mkdirat(dfd, "sub", 0700));
    st("d/sub");
    FD(open("f", O_RDONLY | O_DIRECTORY));
    FD(open("d", O_WRONLY));
    FD(open("d/new", O_CREAT | O_DIRECTORY | O_RDWR, 0644));
    fd = FD(openat(dfd, "inside", O_CREAT | O_WRONLY, 0640));
    T(close(fd));
    st("d/inside");
    T(rmdir("d"));
    T(rmdir("f"));
    T(rmdir("d/."));
    T(rmdir("f/."));       /* the name before a final dot is looked up first */
    T(rmdir("missing/."));
    T(rmdir("missing/.."));
    T(mkdir("f/.", 0755));
    T(mkdir("missing/.", 0755));
    T(mkdir("d/.", 0755));
    T(unlink("f/."));
    T(rename("f/.", "elsewhere"));
    T(unlinkat(dfd, "sub", AT_REMOVEDIR));
    T(unlinkat(dfd, "inside", AT_REMOVEDIR));
    T(unlinkat(dfd, "inside", 0));
    T(unlinkat(dfd, "inside", 0x1234));
    T(unlink("d"));
    T(unlink("missing"));
    T(unlink("f/"));

    puts("-- rename");
    T(rename("f", "g"));
    st("f");
    st("g");
    T(renameat(AT_FDCWD, "g", dfd, "g"));
    T(renameat(dfd, "g", AT_FDCWD, "g"));
    T(syscall(SYS_renameat2, AT_FDCWD, "c", AT_FDCWD, "g", RENAME_NOREPLACE));
    T(syscall(SYS_renameat2, AT_FDCWD, "c", AT_FDCWD, "g", RENAME_EXCHANGE));
    contents("g");
    contents("c");
    T(syscall(SYS_renameat2, AT_FDCWD, "c", AT_FDCWD, "nothere", RENAME_EXCHANGE));
    T(syscall(SYS_renameat2, AT_FDCWD, "c", AT_FDCWD, "g", 0x100));
    T(rename("d", "d/e/inner"));
    T(rename("g/", "h"));
    T(rename(".", "x"));
    T(rename("d", "dd"));
    T(rename("dd", "d"));
    T(rename("c", "m"));
    st("m");
    st("c");

    puts("-- links");
    T(link("m", "m2"));
    st("m");
    T(link("d", "d2"));
    T(link("m", "m2"));
    T(link("missing", "m3"));
    T(symlink("m", "s"));
    T(symlink("nowhere", "dangling"));
    T(symlink("x", "m"));
    T(symlink("", "empty"));
    T(symlinkat("d", dfd, "up"));
    st("s");
    buf[0] = 0;
    T(readlink("s", buf, sizeof buf));
    printf("  s -> %s\n", buf);
    contents("s");
    T(linkat(AT_FDCWD, "s", AT_FDCWD, "s_hard", 0));
    st("s_hard");
    T(linkat(AT_FDCWD, "s", AT_FDCWD, "s_followed", AT_SYMLINK_FOLLOW));
    st("s_followed");
    st("m");
    T(linkat(AT_FDCWD, "dangling", AT_FDCWD, "x", AT_SYMLINK_FOLLOW));
    T(linkat(AT_FDCWD, "m", AT_FDCWD, "x", 0x4));
    T(unlink("s_hard"));
    T(unlink("s_followed"));
    T(unlink("m2"));
    st("m");
    fd = FD(open("s", O_WRONLY | O_APPEND | O_NOFOLLOW));
    fd = FD(open("s", O_WRONLY | O_APPEND));
    T(write(fd, "via s", 5));
    T(close(fd));
    contents("m");
    fd = FD(open("dangling", O_CREAT | O_WRONLY, 0644));
    T(close(fd));
    st("nowhere");

    puts("-- metadata");
    T(chmod("m", 0600));
    st("m");
    T(chmod("s", 0640));
    st("m");
    T(fchmodat(AT_FDCWD, "m", 0604, 0));
    st("m");
    T(chmod("d", 01777));
    st("d");
    fd = FD(open("m", O_RDONLY));
    T(fchmod(fd, 0644));
    st("m");
    T(chmod("missing", 0644));
    struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
    T(utimensat(AT_FDCWD, "m", ts, 0));
    times_of("m");
    struct timespec omit[2] = {{0, UTIME_OMIT}, {1300000000, 9}};
    T(utimensat(AT_FDCWD, "m", omit, 0));
    times_of("m");
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    T(utimensat(AT_FDCWD, "m", bad, 0));
    T(utimensat(AT_FDCWD, "m", ts, 0x4000));
    struct timespec later[2] = {{1400000000, 11}, {1400000000, 13}};
    T(futimens(fd, later));
    times_of("m");
    T(utimensat(AT_FDCWD, "s", ts, AT_SYMLINK_NOFOLLOW));
    times_of("s");
    times_of("m");
    struct timeval tv[2] = {{1500000000, 1}, {1500000000, 2}};
    T(utimes("s", tv));
    times_of("m");
    struct timeval badtv[2] = {{0, 1000000}, {0, 0}};
    T(utimes("m", badtv));
    T(syscall(SYS_futimesat, dfd, "../m", tv));
    times_of("m");
    struct utimbuf ub = {1600000000, 1700000000};
    T(utime("m", &ub));
    times_of("m");
    T(utimensat(AT_FDCWD, "missing", ts, 0));
    T(close(fd));
    T(truncate("m", 2));
    st("m");
    T(truncate("s", 1));
    st("m");
    T(truncate("d", 0));
    T(truncate("m", -1));
    T(truncate("missing", 0));
    mode_t old = umask(077);
    printf("  umask was %03o\n", old);
    T(mkdir("private", 0777));
    st("private");
    fd = FD(open("private/f", O_CREAT | O_WRONLY, 0666));
    T(close(fd));
    st("private/f");
    umask(022);

    puts("-- O_TMPFILE");
    fd = FD(open(".", O_TMPFILE | O_RDWR, 0600));
    T(write(fd, "anonymous", 9));
    struct stat s;
    T(fstat(fd, &s));
    printf("  nlink %lu mode %04o\n", (unsigned long)s.st_nlink, (unsigned)(s.st_mode & 07777));
    T(close(fd));
    FD(open(".", O_TMPFILE | O_RDONLY, 0600));
    FD(open("m", O_TMPFILE | O_RDWR, 0600));
    FD(open("missing", O_TMPFILE | O_RDWR, 0600));
    fd = FD(open("d", O_TMPFILE | O_WRONLY | O_EXCL, 0600));
    T(close(fd));

    puts("-- cleanup");
    T(close(dfd));
    T(unlink("s"));
    T(unlink("dangling"));
    T(unlink("nowhere"));
    T(unlink("m"));
    T(unlink("d/up"));
    T(unlink("private/f"));
    T(rmdir("private"));
    T(rmdir("d/e"));
    T(rmdir("d"));
    T(rmdir("."));
    T(rmdir(".."));
    return 0;
}
