/* Flips the selector and turns Syscall User Dispatch off with prctl, then
 * makes a plain system call: prctl itself is forbidden by strict mode. */
#include "hostile.h"
#include <sys/prctl.h>

int main(void)
{
    say("before");
    allow_direct();
    long r = raw6(SYS_prctl, 59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0 /* OFF */, 0, 0, 0, 0);
    show("prctl", r);
    show("escaped getpid", raw3(SYS_getpid, 0, 0, 0));
    return 0;
}
