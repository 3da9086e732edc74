/* Every pointer argument of every broker-served call, one at a time, made
 * wild (W: unmapped user space) or wrapping (T: a range past 2^64), the
 * other arguments valid.  The test writes the rows from the syscall table,
 * one per line on stdin:  LABEL NR A0 A1 A2 A3 A4 A5,  each A a number or
 *   W  wild pointer      T  wrapping pointer
 *   P  "/data/own"       Q  "/data/new" (does not exist)   B  a 64 KiB buffer
 *   F  an fd of /data/own opened O_RDWR                    D  an fd of /data
 * and reads back "LABEL result".  Afterwards: "next_fd N", the fd the next
 * open gets (a failed call must not have kept one). */
#include "hostile.h"

static char buf[1 << 16], own[] = "/data/own", fresh[] = "/data/new";

int main(void)
{
    long f = CALL(SYS_open, "/data/own", O_RDWR);
    long d = CALL(SYS_open, "/data", O_RDONLY | O_DIRECTORY);
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char label[128], tok[6][32];
        long nr, a[6];
        if (sscanf(line, "%127s %ld %31s %31s %31s %31s %31s %31s", label, &nr, tok[0], tok[1], tok[2],
                   tok[3], tok[4], tok[5]) != 8)
            continue;
        for (int i = 0; i < 6; i++) {
            switch (tok[i][0]) {
            case 'W': a[i] = (long)WILD; break;
            case 'T': a[i] = (long)TOP; break;
            case 'P': a[i] = (long)own; break;
            case 'Q': a[i] = (long)fresh; break;
            case 'B': memset(buf, 0, 64); a[i] = (long)buf; break;
            case 'F': a[i] = f; break;
            case 'D': a[i] = d; break;
            default: a[i] = strtol(tok[i], NULL, 0);
            }
        }
        show(label, CALL(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
    }
    long n = CALL(SYS_open, "/data/own", O_RDONLY);
    show("next_fd", n);
    return 0;
}
