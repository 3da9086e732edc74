/* Writes one 64 KiB message to its channel: over the 256-byte limit. */
#include "hostile.h"

static unsigned char big[65536];

int main(void)
{
    say("before");
    memset(big, 0x90, sizeof big);
    long w = channel_write(big, sizeof big);
    unsigned char rep[64];
    long r = channel_read(rep, sizeof rep);
    show("wrote", w);
    show("reply", r);
    return 0;
}
