/* The calls that reach past a process: mounts, namespaces, chroot, ptrace,
 * other processes' memory, modules, reboot, BPF, perf, io_uring, keys,
 * sockets, new seccomp filters, raw I/O ports.  Each is refused (ENOSYS for
 * calls strictbox does not serve, or the errno its table names) and logged. */
#include "hostile.h"
#include <sys/mount.h>

int main(void)
{
    show("mount", CALL(SYS_mount, "none", "/data", "tmpfs", 0, 0));
    show("umount2", CALL(SYS_umount2, "/usr", 0));
    show("chroot", CALL(SYS_chroot, "/data"));
    show("pivot_root", CALL(SYS_pivot_root, "/data", "/data"));
    show("unshare", CALL(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */));
    show("setns", CALL(SYS_setns, 0, 0));
    show("ptrace", CALL(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0));
    show("process_vm_writev", CALL(SYS_process_vm_writev, 1, 0, 0, 0, 0, 0));
    show("init_module", CALL(SYS_init_module, 0, 0, ""));
    show("reboot", CALL(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, 0));
    show("bpf", CALL(SYS_bpf, 0, 0, 0));
    show("perf_event_open", CALL(SYS_perf_event_open, 0, 0, -1, -1, 0));
    show("io_uring_setup", CALL(SYS_io_uring_setup, 1, 0));
    show("keyctl", CALL(SYS_keyctl, 0, 0, 0, 0, 0));
    show("socket", CALL(SYS_socket, 1, 1, 0));
    show("seccomp", CALL(SYS_seccomp, 1, 0, 0));
    show("prctl", CALL(SYS_prctl, 22, 2, 0, 0, 0));
    show("iopl", CALL(SYS_iopl, 3));
    show("ioperm", CALL(SYS_ioperm, 0, 1024, 1));
    show("userfaultfd", CALL(SYS_userfaultfd, 0));
    show("memfd_create", CALL(SYS_memfd_create, "x", 0));
    show("personality", CALL(SYS_personality, 0xffffffff));
    show("setuid_root", CALL(SYS_setuid, 0));
    show("setresuid_root", CALL(SYS_setresuid, 0, 0, 0));
    show("syscall_1000", CALL(1000));
    return 0;
}
