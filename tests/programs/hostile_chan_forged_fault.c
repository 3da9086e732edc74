/* Reports a fault with signal number 0: a protocol violation. */
#include "hostile.h"

int main(void)
{
    say("before");
    unsigned char msg[64];
    uint64_t args[4] = {0, 1, 0xdead, 0xbeef};
    long n = mp_request(msg, thread0()->seq + 1, SB_OP_FAULT, args, 4);
    channel_write(msg, n);
    unsigned char rep[64];
    show("reply", channel_read(rep, sizeof rep));
    return 0;
}
