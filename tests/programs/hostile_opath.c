/* O_PATH descriptors used for more than naming: I/O, metadata changes,
 * and as directory fds for `..` walks out of a mount.  Refused; the
 * read-only mount is unchanged. */
#include "hostile.h"

int main(void)
{
    long f = CALL(SYS_open, "/ro/file", O_PATH);
    long d = CALL(SYS_open, "/ro/dir", O_PATH | O_DIRECTORY);
    show_ok("opath_file", f);
    show_ok("opath_dir", d);
    char b[16];
    show("read", CALL(SYS_read, f, b, sizeof b));
    show("write", CALL(SYS_write, f, "x", 1));
    show("pwrite", CALL(SYS_pwrite64, f, "x", 1, 0));
    show("ftruncate", CALL(SYS_ftruncate, f, 0));
    show("fchmod", CALL(SYS_fchmod, f, 0777));
    show("fchown", CALL(SYS_fchown, f, 0, 0));
    show("fsetxattr", CALL(SYS_fsetxattr, f, "user.x", "1", 1, 0));
    show("futimens", CALL(SYS_utimensat, f, 0L, 0L, 0));
    show("openat_write_in_ro", CALL(SYS_openat, d, "inner", O_WRONLY));
    show("openat_creat_in_ro", CALL(SYS_openat, d, "new", O_WRONLY | O_CREAT, 0644));
    show("openat_dotdot_data", CALL(SYS_openat, d, "../../data/own", O_WRONLY | O_APPEND) >= 0);
    show("unlinkat_in_ro", CALL(SYS_unlinkat, d, "inner", 0));
    show("fchdir", CALL(SYS_fchdir, d));
    show("creat_in_cwd", CALL(SYS_open, "new", O_WRONLY | O_CREAT, 0644));
    show("linkat_empty_path", CALL(SYS_linkat, f, "", AT_CWD, "/data/hard", AT_EMPTY_PATH));
    return 0;
}
