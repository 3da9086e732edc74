/* Sends an exit op with a status no exit can have (300): a protocol violation. */
#include "hostile.h"

int main(void)
{
    say("before");
    unsigned char msg[32];
    uint64_t args[1] = {300};
    long n = mp_request(msg, thread0()->seq + 1, SB_OP_EXIT, args, 1);
    channel_write(msg, n);
    unsigned char rep[64];
    show("reply", channel_read(rep, sizeof rep));
    return 0;
}
