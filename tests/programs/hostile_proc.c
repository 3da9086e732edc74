/* /proc tricks: the kernel's magic links (/proc/self/root, cwd, exe, fd/N),
 * /proc/self/mem, other processes' /proc entries and the channel's fd.  The
 * broker's /proc/self is made up and holds no magic links: each of these is
 * refused or names something inside the view.   hostile_proc HOST_CANARY */
#include "hostile.h"

int main(int argc, char **argv)
{
    const char *canary = argc > 1 ? argv[1] : "/nonexistent";
    char path[4096], buf[512];
    snprintf(path, sizeof path, "/proc/self/root%s", canary);
    show("root_canary", CALL(SYS_open, path, O_WRONLY | O_TRUNC));
    snprintf(path, sizeof path, "/proc/self/cwd/../../../..%s", canary);
    show("cwd_canary", CALL(SYS_open, path, O_RDONLY));
    snprintf(path, sizeof path, "/proc/1/root%s", canary);
    show("pid1_root", CALL(SYS_open, path, O_RDONLY));
    show("self_mem", CALL(SYS_open, "/proc/self/mem", O_RDWR));
    show("self_exe_write", CALL(SYS_open, "/proc/self/exe", O_WRONLY));
    snprintf(path, sizeof path, "/proc/self/fd/%d", thread0()->chan_fd);
    show("channel_by_fd", CALL(SYS_open, path, O_RDWR));
    show("thread_self", CALL(SYS_open, "/proc/thread-self/root", O_RDONLY));
    show("self_map_files", CALL(SYS_open, "/proc/self/map_files", O_RDONLY));
    show("self_maps", CALL(SYS_open, "/proc/self/maps", O_RDONLY));
    show("sys_kernel", CALL(SYS_open, "/proc/sys/kernel/core_pattern", O_WRONLY));
    show("sysrq", CALL(SYS_open, "/proc/sysrq-trigger", O_WRONLY));
    show("kcore", CALL(SYS_open, "/proc/kcore", O_RDONLY));
    long n = CALL(SYS_readlink, "/proc/self/root", buf, sizeof buf);
    show("readlink_root", n);
    long fd = CALL(SYS_open, "/proc/self/status", O_RDONLY);
    n = fd >= 0 ? read((int)fd, buf, sizeof buf - 1) : -1;
    buf[n > 0 ? n : 0] = 0;
    show("status_is_made_up", strstr(buf, "Seccomp:") == NULL && strstr(buf, "Name:") != NULL);
    return 0;
}
