/* Runs one write-side operation per argument ("rename /a /b") and prints
 * "<argument> = <result>": 0 (or what was read), or -1 and the errno name.
 * The tests assert what each attempt gets and then look at the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(void)
{
    printf("-1 %s\n", strerrorname_np(errno));
    return 0;
}

static int done(long r)
{
    if (r < 0)
        return fail();
    printf("0\n");
    return 0;
}

/* open, then act on the fd: the fd-based calls. */
static int with_fd(const char *path, int flags, long (*act)(int, const char *), const char *arg)
{
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return fail();
    long r = act(fd, arg);
    int e = errno;
    close(fd);
    errno = e;
    return done(r);
}

static long do_write(int fd, const char *s) { return write(fd, s, strlen(s)) < 0 ? -1 : 0; }
static long do_ftruncate(int fd, const char *n) { return ftruncate(fd, atol(n)); }
static long do_fchmod(int fd, const char *m) { return fchmod(fd, strtol(m, 0, 8)); }
static long do_fchown(int fd, const char *unused) { (void)unused; return fchown(fd, 0, 0); }
static long do_linkfd(int fd, const char *to) { return linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH); }

static int tmpfile_op(const char *dir, const char *name, int extra)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | extra, 0640);
    if (fd < 0)
        return fail();
    char text[256];
    snprintf(text, sizeof text, "tmp:%s", name);
    if (write(fd, text, strlen(text)) < 0)
        return fail();
    long r = linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH);
    int e = errno;
    close(fd);
    errno = e;
    return done(r);
}

static int op(char *line)
{
    char *v[4] = {0};
    int n = 0;
    for (char *t = strtok(line, " "); t && n < 4; t = strtok(NULL, " "))
        v[n++] = t;
    const char *o = v[0], *a = v[1], *b = v[2];
    if (!o)
        return 1;
    if (!strcmp(o, "create"))
        return with_fd(a, O_CREAT | O_WRONLY | O_TRUNC, do_write, "new");
    if (!strcmp(o, "createmode")) {
        int fd = open(a, O_CREAT | O_WRONLY | O_EXCL, (mode_t)strtol(b, 0, 8));
        return fd < 0 ? fail() : done(close(fd));
    }
    if (!strcmp(o, "append"))
        return with_fd(a, O_WRONLY | O_APPEND, do_write, "+more");
    if (!strcmp(o, "trunc"))  /* open with O_TRUNC and nothing else */
        return with_fd(a, O_WRONLY | O_TRUNC, do_write, "");
    if (!strcmp(o, "read")) {
        char buf[256] = {0};
        int fd = open(a, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf - 1) < 0)
            return fail();
        close(fd);
        for (char *c = buf; *c; c++)  /* one line per result: newlines as \n */
            fputs(*c == '\n' ? "\\n" : (char[2]){*c, 0}, stdout);
        printf("\n");
        return 0;
    }
    if (!strcmp(o, "mode")) {
        struct stat s;
        if (lstat(a, &s))
            return fail();
        printf("%04o\n", (unsigned)(s.st_mode & 07777));
        return 0;
    }
    if (!strcmp(o, "mkdir"))
        return done(mkdir(a, b ? (mode_t)strtol(b, 0, 8) : 0755));
    if (!strcmp(o, "rmdir"))
        return done(rmdir(a));
    if (!strcmp(o, "unlink"))
        return done(unlink(a));
    if (!strcmp(o, "rename"))
        return done(rename(a, b));
    if (!strcmp(o, "exchange"))
        return done(syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE));
    if (!strcmp(o, "link"))
        return done(link(a, b));
    if (!strcmp(o, "linkf"))
        return done(linkat(AT_FDCWD, a, AT_FDCWD, b, AT_SYMLINK_FOLLOW));
    if (!strcmp(o, "symlink"))
        return done(symlink(a, b));
    if (!strcmp(o, "chmod"))
        return done(chmod(a, (mode_t)strtol(b, 0, 8)));
    if (!strcmp(o, "fchmod"))
        return with_fd(a, O_RDONLY, do_fchmod, b);
    if (!strcmp(o, "chown"))
        return done(chown(a, 0, 0));
    if (!strcmp(o, "lchown"))
        return done(lchown(a, 0, 0));
    if (!strcmp(o, "fchownat"))
        return done(fchownat(AT_FDCWD, a, 0, 0, AT_SYMLINK_NOFOLLOW));
    if (!strcmp(o, "fchown"))
        return with_fd(a, O_RDONLY, do_fchown, NULL);
    if (!strcmp(o, "truncate"))
        return done(truncate(a, atol(b)));
    if (!strcmp(o, "ftruncate"))
        return with_fd(a, O_RDWR, do_ftruncate, b);
    if (!strcmp(o, "utime"))
        return done(utimensat(AT_FDCWD, a, NULL, 0));
    if (!strcmp(o, "tmpfile"))  /* tmpfile DIR NAME [excl]: O_TMPFILE, then linkat names it */
        return tmpfile_op(a, b, v[3] ? O_EXCL : 0);
    if (!strcmp(o, "opentmp")) {  /* opentmp DIR: O_TMPFILE alone */
        int fd = open(a, O_TMPFILE | O_RDWR, 0600);
        return fd < 0 ? fail() : done(close(fd));
    }
    if (!strcmp(o, "linkfd"))  /* linkfd SRC DST: open SRC, linkat(fd, "", AT_EMPTY_PATH) */
        return with_fd(a, O_RDONLY, do_linkfd, b);
    if (!strcmp(o, "linkfdpath"))  /* the same through an O_PATH|O_NOFOLLOW fd */
        return with_fd(a, O_PATH | O_NOFOLLOW, do_linkfd, b);
    if (!strcmp(o, "linkdir"))
        return with_fd(a, O_RDONLY | O_DIRECTORY, do_linkfd, b);
    printf("unknown op\n");
    return 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        char line[4096];
        snprintf(line, sizeof line, "%s", argv[i]);
        printf("%s = ", argv[i]);
        if (op(line))
            return 2;
    }
    return 0;
}
