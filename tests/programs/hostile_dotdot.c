/* `..` aimed outside the view, from every starting point: absolute paths,
 * the cwd, directory fds of a mount and of the view's root, and names made
 * in the writable mount.  Each must stay inside the view: a host file by its
 * host path is never found, and nothing is made outside.
 *   hostile_dotdot HOST_CANARY (the host path of a file outside every mount) */
#include "hostile.h"

int main(int argc, char **argv)
{
    const char *canary = argc > 1 ? argv[1] : "/nonexistent";
    char path[4096];
    long data = CALL(SYS_open, "/data", O_RDONLY | O_DIRECTORY);
    long root = CALL(SYS_open, "/", O_RDONLY | O_DIRECTORY);
    show_ok("open_data", data);
    show_ok("open_root", root);
    snprintf(path, sizeof path, "/data/../../../../../..%s", canary);
    show("abs_dotdot", CALL(SYS_open, path, O_WRONLY | O_TRUNC));
    show("abs_dotdot_creat", CALL(SYS_open, path, O_WRONLY | O_CREAT, 0644));
    snprintf(path, sizeof path, "../../../../../../..%s", canary);
    show("chdir_data", CALL(SYS_chdir, "/data"));
    show("cwd_dotdot", CALL(SYS_open, path, O_WRONLY | O_TRUNC));
    show("dirfd_data_dotdot", CALL(SYS_openat, data, path, O_WRONLY | O_TRUNC));
    show("dirfd_root_dotdot", CALL(SYS_openat, root, path, O_WRONLY | O_TRUNC));
    show("dirfd_data_parent_is_root", CALL(SYS_openat, data, "..", O_RDONLY | O_DIRECTORY) >= 0);
    long up = CALL(SYS_openat, data, "../../../../..", O_RDONLY | O_DIRECTORY);
    char buf[256];
    show("fchdir_up", CALL(SYS_fchdir, up));
    show("getcwd_after_up", CALL(SYS_getcwd, buf, sizeof buf));
    printf("cwd %s\n", buf);
    show("mkdir_dotdot", CALL(SYS_mkdir, "/data/../../escape_dir", 0755));
    show("mkdirat_dotdot", CALL(SYS_mkdirat, data, "../../../escape_dir", 0755));
    show("rename_out", CALL(SYS_rename, "/data/own", "/data/../../../own_escaped"));
    show("symlink_dotdot_name", CALL(SYS_symlink, "/x", "/data/../../escape_link"));
    show("link_dotdot", CALL(SYS_link, "/data/own", "/data/../../../../escape_hard"));
    snprintf(path, sizeof path, "/data/sub/../../..%s", canary);
    show("mkdir_sub", CALL(SYS_mkdir, "/data/sub", 0755));
    show("sub_dotdot", CALL(SYS_open, path, O_RDONLY));
    show("proc_dotdot", CALL(SYS_open, "/proc/self/../../../..", O_RDONLY | O_DIRECTORY) >= 0);
    show("host_path_direct", CALL(SYS_open, canary, O_RDONLY));
    return 0;
}
