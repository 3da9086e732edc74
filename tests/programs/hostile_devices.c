/* Devices and terminal tricks: raw memory, disks, the kernel log, the
 * controlling terminal, TIOCSTI input injection on stdin, mknod.  None of
 * the host's devices exists in the view; the broker's made-up ones are
 * harmless. */
#include "hostile.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(void)
{
    const char *devs[] = {"/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/kmsg",
                          "/dev/console", "/dev/ptmx", "/dev/shm", "/dev/fuse", "/dev/net/tun",
                          "/sys/kernel/notes", "/dev/tty"};
    for (unsigned i = 0; i < sizeof devs / sizeof devs[0]; i++)
        show(devs[i], CALL(SYS_open, devs[i], O_RDWR));
    show("ioctl_tiocsti", CALL(SYS_ioctl, 0, TIOCSTI, "x"));
    show("ioctl_tiocsti_dev_null", ({ long fd = CALL(SYS_open, "/dev/null", O_RDWR); CALL(SYS_ioctl, fd, TIOCSTI, "x"); }));
    show("mknod_char", CALL(SYS_mknod, "/data/mem", S_IFCHR | 0666, makedev(1, 1)));
    show("mknod_fifo", CALL(SYS_mknod, "/data/fifo", S_IFIFO | 0666, 0));
    show("read_dev_zero", ({ char b[8] = {1}; long fd = CALL(SYS_open, "/dev/zero", O_RDONLY); read((int)fd, b, 8) == 8 && !b[0] ? 0 : -1; }));
    return 0;
}
