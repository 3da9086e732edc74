/* The broker's made-up files at the system call level.  Prints one line per
 * check, "label value", where value is a result or "-ERRNO"; the test
 * compares them with what Linux would answer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void show(const char *label, long r)
{
    if (r < 0)
        printf("%s -%d\n", label, errno);
    else
        printf("%s %ld\n", label, r);
}

static void show_str(const char *label, const char *s)
{
    printf("%s %s\n", label, s);
}

static int dtype_of(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int t = -1;
    while (d && (e = readdir(d)))
        if (!strcmp(e->d_name, name))
            t = e->d_type;
    if (d)
        closedir(d);
    return t;
}

int main(void)
{
    char buf[8192], path[64], link[256];
    struct stat s;
    long n;

    /* devices */
    show("tty_open", open("/dev/tty", O_RDWR));
    int null = open("/dev/null", O_RDWR);
    show("null_read", read(null, buf, sizeof buf));
    show("null_write", write(null, "hello", 5));
    show("null_fstat", fstat(null, &s));
    printf("null_dev %u,%u %o\n", major(s.st_rdev), minor(s.st_rdev), s.st_mode);
    show("null_creat", open("/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644) >= 0);

    int zero = open("/dev/zero", O_RDONLY);
    memset(buf, 'x', sizeof buf);
    n = read(zero, buf, 4096);
    int all_zero = 1;
    for (long i = 0; i < n; i++)
        all_zero &= buf[i] == 0;
    show("zero_read", n);
    show("zero_all_zero", all_zero);
    show("zero_write_rdonly", write(zero, "x", 1));
    show("zero_stat", stat("/dev/zero", &s));
    printf("zero_dev %u,%u\n", major(s.st_rdev), minor(s.st_rdev));

    struct statx sx;
    show("zero_statx", statx(AT_FDCWD, "/dev/zero", 0, STATX_BASIC_STATS, &sx));
    printf("zero_statx_dev %u,%u %o\n", sx.stx_rdev_major, sx.stx_rdev_minor, sx.stx_mode);
    show("zero_statx_empty_path", statx(zero, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    printf("zero_statx_fd_dev %u,%u\n", sx.stx_rdev_major, sx.stx_rdev_minor);

    int ur = open("/dev/urandom", O_RDONLY);
    char a[32], b[32];
    show("urandom_read", read(ur, a, sizeof a));
    show("urandom_pread", pread(ur, b, sizeof b, 100));
    show("urandom_differs", memcmp(a, b, sizeof a) != 0);

    /* /proc/self/status: a snapshot with a position */
    int st = open("/proc/self/status", O_RDONLY);
    n = read(st, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    show("status_has_seccomp", strstr(buf, "\nSeccomp:\t1\n") != NULL);
    show("status_read_at_end", read(st, buf, 16));
    show("status_seek", lseek(st, 2, SEEK_SET));
    n = read(st, buf, 4);
    buf[n > 0 ? n : 0] = 0;
    show_str("status_after_seek", buf);
    n = pread(st, buf, 5, 0);
    buf[n > 0 ? n : 0] = 0;
    show_str("status_pread", buf);
    show("status_write", write(st, "x", 1));
    show("status_open_write", open("/proc/self/status", O_WRONLY));
    show("status_fstat_reg", fstat(st, &s) == 0 && S_ISREG(s.st_mode));
    show("passwd_open_rdwr", open("/etc/passwd", O_RDWR));

    /* links */
    show("exe_nofollow", open("/proc/self/exe", O_RDONLY | O_NOFOLLOW));
    n = readlink("/proc/self/exe", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    show_str("exe_link", link);
    show("self_lstat_link", lstat("/proc/self", &s) == 0 && S_ISLNK(s.st_mode));
    struct stat s2;
    snprintf(path, sizeof path, "/proc/%d", getpid());
    stat("/proc/self", &s);
    stat(path, &s2);
    show("self_is_pid", s.st_ino == s2.st_ino && S_ISDIR(s.st_mode));
    show("dtype_null_is_chr", dtype_of("/dev", "null") == DT_CHR);
    show("dtype_stdin_is_lnk", dtype_of("/dev", "stdin") == DT_LNK);
    show("dtype_passwd_is_reg", dtype_of("/etc", "passwd") == DT_REG);

    /* /proc/self/fd of a pipe: readlink names it, opening it duplicates it */
    int p[2];
    pipe(p);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    show("pipe_link_is_pipe", strncmp(link, "pipe:[", 6) == 0);
    snprintf(path, sizeof path, "/dev/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    show("pipe_reopen", w >= 0);
    write(w, "hey", 3);
    n = read(p[0], buf, sizeof buf);
    show("pipe_reopen_read", n);

    /* /dev/stdout: writes go where the program's stdout goes */
    int out = open("/dev/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    fflush(stdout);
    show("stdout_open", out >= 0);
    fflush(stdout);
    write(out, "via-dev-stdout\n", 15);

    /* access, chdir and things that are not there */
    show("access_passwd_w", access("/etc/passwd", W_OK));
    show("access_null_w", access("/dev/null", R_OK | W_OK));
    show("access_status_x", access("/proc/self/status", X_OK));
    show("proc_1", open("/proc/1/status", O_RDONLY));
    show("proc_sys", open("/proc/sys/kernel/hostname", O_RDONLY));
    show("etc_shadow", open("/etc/shadow", O_RDONLY));
    show("chdir_null", chdir("/dev/null"));
    show("chdir_fd", chdir("/proc/self/fd"));
    show_str("cwd", getcwd(link, sizeof link) ? link : "?");
    return 0;
}
