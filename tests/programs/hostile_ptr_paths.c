/* Every broker call that takes a path, given a path pointer that does not
 * name sandbox memory: NULL, 1, a wild user address, a kernel address, and
 * one that starts in the arena and wraps past 2^64.  Linux says EFAULT to
 * each; so must the broker, for every call. */
#include "hostile.h"
#include <sys/stat.h>

static const struct {
    const char *name;
    unsigned long ptr;
} bad[] = {{"null", 0}, {"one", 1}, {"wild", WILD}, {"kernel", 0xffffffff81000000UL}, {"top", TOP}};

static char buf[4096];

int main(void)
{
    long b = (long)buf;
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long p = (long)bad[i].ptr;
        char label[64];
#define T(call, expr)                                                  \
    snprintf(label, sizeof label, "%s_%s", call, bad[i].name); \
    show(label, sc(expr));
        T("open", syscall(SYS_open, p, O_RDONLY, 0));
        T("openat", syscall(SYS_openat, AT_CWD, p, O_RDONLY, 0));
        T("creat", syscall(SYS_creat, p, 0600));
        T("stat", syscall(SYS_stat, p, b));
        T("lstat", syscall(SYS_lstat, p, b));
        T("newfstatat", syscall(SYS_newfstatat, AT_CWD, p, b, 0));
        T("statx", syscall(SYS_statx, AT_CWD, p, 0, 0xfff, b));
        T("access", syscall(SYS_access, p, 0));
        T("faccessat2", syscall(SYS_faccessat2, AT_CWD, p, 0, 0));
        T("readlink", syscall(SYS_readlink, p, b, 100));
        T("chdir", syscall(SYS_chdir, p));
        T("mkdir", syscall(SYS_mkdir, p, 0700));
        T("rmdir", syscall(SYS_rmdir, p));
        T("unlink", syscall(SYS_unlink, p));
        T("rename_from", syscall(SYS_rename, p, "/tmp/x"));
        T("rename_to", syscall(SYS_rename, "/tmp", p));
        T("link_to", syscall(SYS_link, "/tmp", p));
        T("symlink_target", syscall(SYS_symlink, p, "/tmp/s"));
        T("symlink_name", syscall(SYS_symlink, "/x", p));
        T("chmod", syscall(SYS_chmod, p, 0700));
        T("chown", syscall(SYS_chown, p, 0, 0));
        T("truncate", syscall(SYS_truncate, p, 0));
        T("utimes", syscall(SYS_utimes, p, 0));
        T("statfs", syscall(SYS_statfs, p, b));
        T("getxattr", syscall(SYS_getxattr, p, "user.x", b, 10));
        T("getxattr_name", syscall(SYS_getxattr, "/tmp", p, b, 10));
        T("listxattr", syscall(SYS_listxattr, p, b, 10));
        T("execve", syscall(SYS_execve, p, 0, 0));
    }
    return 0;
}
