/* Symlinks made in the writable mount that point outside it -- at the host
 * path of a file outside every mount, at `..` chains, at /proc/self/root --
 * then written, truncated, chmod'ed and linked through.  Each resolves
 * inside the view (if at all): the host file never changes.
 *   hostile_symlink_plant HOST_CANARY */
#include "hostile.h"

int main(int argc, char **argv)
{
    const char *canary = argc > 1 ? argv[1] : "/nonexistent";
    char target[4096];
    show("symlink_host_path", CALL(SYS_symlink, canary, "/data/l_host"));
    snprintf(target, sizeof target, "../../../../../../../..%s", canary);
    show("symlink_dotdot", CALL(SYS_symlink, target, "/data/l_up"));
    show("symlink_root", CALL(SYS_symlink, "/", "/data/l_root"));
    show("symlink_proc_root", CALL(SYS_symlink, "/proc/self/root", "/data/l_proc"));
    show("symlink_loop", CALL(SYS_symlink, "/data/l_loop", "/data/l_loop"));
    show("open_host_trunc", CALL(SYS_open, "/data/l_host", O_WRONLY | O_TRUNC));
    show("open_host_creat", CALL(SYS_open, "/data/l_host", O_WRONLY | O_CREAT, 0644) >= 0);
    show("open_up_trunc", CALL(SYS_open, "/data/l_up", O_WRONLY | O_TRUNC));
    snprintf(target, sizeof target, "/data/l_root%s", canary);
    show("through_root", CALL(SYS_open, target, O_WRONLY | O_TRUNC));
    snprintf(target, sizeof target, "/data/l_proc%s", canary);
    show("through_proc_root", CALL(SYS_open, target, O_WRONLY | O_TRUNC));
    show("open_loop", CALL(SYS_open, "/data/l_loop", O_RDONLY));
    show("chmod_host", CALL(SYS_chmod, "/data/l_up", 0777));
    show("truncate_host", CALL(SYS_truncate, "/data/l_up", 0));
    show("link_follow_host", CALL(SYS_linkat, AT_CWD, "/data/l_up", AT_CWD, "/data/hard", AT_SYMLINK_FOLLOW));
    show("passwd_through_root_is_virtual", ({
        char b[64] = {0};
        long fd = CALL(SYS_open, "/data/l_root/etc/passwd", O_RDONLY);
        long n = fd >= 0 ? read((int)fd, b, sizeof b - 1) : fd;
        n > 0 && !strncmp(b, "root:x:0:0:", 11);
    }));
    return 0;
}
