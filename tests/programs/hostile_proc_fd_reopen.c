/* Reopening an fd through /proc/self/fd/N to get more than it was opened
 * with: write access to a read-only mount's file (opened O_RDONLY, or
 * O_PATH), or the directory above a mount.  Refused; the file is unchanged. */
#include "hostile.h"

int main(void)
{
    char path[64];
    long ro = CALL(SYS_open, "/ro/file", O_RDONLY);
    long opath = CALL(SYS_open, "/ro/file", O_PATH);
    long dir = CALL(SYS_open, "/ro/dir", O_RDONLY | O_DIRECTORY);
    show_ok("open_ro", ro);
    show_ok("open_path", opath);
    snprintf(path, sizeof path, "/proc/self/fd/%ld", ro);
    show("reopen_rdwr", CALL(SYS_open, path, O_RDWR));
    show("reopen_trunc", CALL(SYS_open, path, O_WRONLY | O_TRUNC));
    show("reopen_rdonly", CALL(SYS_open, path, O_RDONLY) >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%ld", opath);
    show("reopen_opath_wronly", CALL(SYS_open, path, O_WRONLY));
    snprintf(path, sizeof path, "/dev/fd/%ld", ro);
    show("devfd_wronly", CALL(SYS_open, path, O_WRONLY));
    snprintf(path, sizeof path, "/proc/self/fd/%ld/../..", dir);
    show("fd_dir_dotdot", CALL(SYS_open, path, O_RDONLY | O_DIRECTORY) >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%ld/new", dir);
    show("fd_dir_creat", CALL(SYS_open, path, O_WRONLY | O_CREAT, 0644));
    show("write_ro_fd", CALL(SYS_write, ro, "x", 1));
    show("ftruncate_ro_fd", CALL(SYS_ftruncate, ro, 0));
    show("fchmod_ro_fd", CALL(SYS_fchmod, ro, 0777));
    return 0;
}
