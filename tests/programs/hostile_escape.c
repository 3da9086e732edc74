/* Flips the Syscall User Dispatch selector to "allow" and makes a system call
 * that strict mode forbids (getpid) with a raw `syscall` instruction.
 * strictbox must kill it; the marker written before must still arrive. */
#include <stdint.h>
#include <unistd.h>
#include "strictbox_abi.h"

int main(void)
{
    static const char marker[] = "marker: before the escape\n";
    write(1, marker, sizeof marker - 1);
    volatile struct sb_state *st = (volatile struct sb_state *)SB_ARENA_BASE;
    st->selector = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW */
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(39L) : "rcx", "r11", "memory");
    /* Not reached under strictbox.  write is allowed by strict mode, so this
     * line would show that the escape worked. */
    static const char escaped[] = "escaped: getpid returned\n";
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(escaped), "d"(sizeof escaped - 1)
                     : "rcx", "r11", "memory");
    return 0;
}
