/* Thread and process bombs: clone with thread flags, clone3, fork and vfork
 * in a loop.  One process per sandbox: each call is refused (ENOSYS) and
 * logged; nothing is created. */
#include "hostile.h"
#include <sched.h>

int main(void)
{
    long r = 0;
    for (int i = 0; i < 200; i++) {
        r = CALL(SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, 0, 0, 0, 0);
        if (r == 0)
            for (;;)
                ;
    }
    show("clone_thread", r);
    for (int i = 0; i < 200; i++) {
        r = CALL(SYS_fork);
        if (r == 0)
            for (;;)
                ;
    }
    show("fork", r);
    show("vfork", CALL(SYS_vfork) == 0 ? 0 : -errno);
    unsigned long args[11] = {0};
    show("clone3", CALL(SYS_clone3, args, sizeof args));
    return 0;
}
