/* Flips the selector and calls execve directly: strict mode kills. */
#include "hostile.h"

int main(void)
{
    static char *const argv[] = {"/bin/sh", "-c", "echo escaped", NULL};
    say("before");
    allow_direct();
    long r = raw3(SYS_execve, "/bin/sh", argv, NULL);
    trap_again();
    show("escaped execve", r);
    return 0;
}
