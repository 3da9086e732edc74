/* Finds the stub's own `syscall` (its rt_sigreturn restorer) and jumps to it
 * with a forbidden call: unlink of a host file.  Syscall User Dispatch lets
 * a call from the stub's text through -- it is not a boundary -- but strict
 * mode kills the process.   hostile_stub_restorer HOST_PATH */
#include "hostile.h"
#include "stub_find.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/nonexistent";
    unsigned long r = find_restorer();
    printf("restorer %s\n", r ? "found" : "not found");
    fflush(stdout);
    if (!r)
        return 1;
    jump_to_syscall(r + 5, SYS_unlinkat, AT_CWD, (long)path, 0);
}
