/* Scans the stub's text around its restorer for `syscall` instructions
 * (0f 05; taken where a `mov $imm32, %eax` comes right before, so it is an
 * instruction and not the middle of one) and jumps to one that is not the
 * restorer's with a forbidden call (unlink of a host file): strict mode
 * kills the process.
 *   hostile_stub_scan HOST_PATH */
#include "hostile.h"
#include "stub_find.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/nonexistent";
    unsigned long r = find_restorer();
    if (!r) {
        say("restorer not found");
        return 1;
    }
    /* The stub's text around the restorer: down to the stub's own ELF
     * header (below it lies the vDSO, outside the allowed region), and up
     * as far as it can be read. */
    unsigned long page = r & ~0xfffUL, lo = page, hi = page + 0x1000;
    while (hi < page + 0x40000 && readable((const unsigned char *)hi, 1))
        hi += 0x1000;
    while (lo > page - 0x40000 && memcmp((const void *)lo, "\x7f" "ELF", 4) &&
           readable((const unsigned char *)lo - 0x1000, 1))
        lo -= 0x1000;
    int count = 0;
    unsigned long pick = 0;
    for (const unsigned char *p = (const unsigned char *)lo; (unsigned long)(p + 1) < hi; p++)
        if (p[0] == 0x0f && p[1] == 0x05 && (unsigned long)p >= lo + 5 && p[-5] == 0xb8 &&
            p[-2] == 0 && p[-1] == 0) {
            count++;
            if ((unsigned long)p != r + 5 && !pick)
                pick = (unsigned long)p;
        }
    printf("syscall instructions %s\n", count > 1 ? "several" : "too few");
    fflush(stdout);
    if (!pick)
        return 1;
    jump_to_syscall(pick, SYS_unlinkat, AT_CWD, (long)path, 0);
}
