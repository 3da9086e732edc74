/* Reads a pipe it holds both ends of and never writes: a read that can
 * never finish.  Only this sandbox waits (the broker serves others); the
 * wall-clock limit ends it. */
#include "hostile.h"

int main(void)
{
    int p[2];
    show("pipe", pipe(p) ? -errno : 0);
    char b;
    say("reading");
    show("read", read(p[0], &b, 1));
    return 0;
}
