/* Scribbles over the runtime's whole state block (boot block, memory map,
 * fd table, signal table) with 0xff and then asks for an execve, which
 * makes the broker read that state.  Whatever the runtime makes of it, the
 * broker must not: it takes no decision from arena data, and it reports
 * how this sandbox ended. */
#include "hostile.h"

int main(int argc, char **argv)
{
    if (argc > 1) { /* the new image, on a state the broker laid out afresh */
        printf("after execve: %s\n", argv[1]);
        return 0;
    }
    say("scribbling");
    unsigned char *st = (unsigned char *)SB_ARENA_BASE;
    unsigned long keep = sizeof(struct sb_boot) + 8; /* the boot block and selector, so calls still trap */
    memset(st + keep, 0xff, sizeof(struct sb_state) - keep);
    memset((void *)&ST->boot.npins, 0xff, sizeof ST->boot.npins + sizeof ST->boot.pins);
    /* ... all but the process's pending signals: the execve waits while the
     * broker maps the arena back over the pinned image, and a runtime that
     * sees every signal pending rightly cancels it for a SIGKILL. */
    ST->sigpending = ST->sigpoked = 0;
    char *const args[] = {"/proc/self/exe", "fresh", NULL};
    long r = syscall(SYS_execve, "/proc/self/exe", args, NULL);
    show("execve", r == -1 ? -errno : r);
    return 0;
}
