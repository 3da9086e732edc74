/* More writable segments than the stub copies in (SB_MAX_COPIES): the test
 * links each .segN at its own address, so each is a PT_LOAD of its own.
 * Each holds its own bytes at both ends, and takes a write.  With an
 * argument it first says "ready" and waits for stdin to end. */
#include <stdio.h>

#define SEG(i) __attribute__((section(".seg" #i), used)) \
    unsigned char seg##i[5000] = {[0] = i + 1, [4999] = i + 101};
#define TEN(d) SEG(d##0) SEG(d##1) SEG(d##2) SEG(d##3) SEG(d##4) \
               SEG(d##5) SEG(d##6) SEG(d##7) SEG(d##8) SEG(d##9)
TEN() TEN(1) TEN(2) TEN(3)

#define AT(i) seg##i,
#define TEN_AT(d) AT(d##0) AT(d##1) AT(d##2) AT(d##3) AT(d##4) \
                  AT(d##5) AT(d##6) AT(d##7) AT(d##8) AT(d##9)
static unsigned char *const segs[] = {TEN_AT() TEN_AT(1) TEN_AT(2) TEN_AT(3)};

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) { /* ("wait": stand, fds and all, until stdin ends) */
        puts("ready");
        fflush(stdout);
        while (getchar() != EOF)
            ;
    }
    int bad = 0, n = sizeof segs / sizeof segs[0];
    for (int i = 0; i < n; i++) {
        bad += segs[i][0] != i + 1 || segs[i][4999] != i + 101;
        segs[i][1] = 1;
    }
    printf("segments %d wrong %d\n", n, bad);
    return bad != 0;
}
