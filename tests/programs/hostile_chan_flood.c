/* Writes well-formed, correctly numbered getcwd requests to its channel as
 * fast as it can and never reads a reply: the replies fill the channel and
 * the broker ends the sandbox (one request at a time per channel). */
#include "hostile.h"

static char buf[64];

int main(void)
{
    say("flooding");
    struct sb_thread *t = thread0();
    uint64_t seq = t->seq;
    unsigned char msg[64];
    for (long i = 1; i <= 1000000; i++) {
        uint64_t args[6] = {(uint64_t)(uintptr_t)buf, sizeof buf, 0, 0, 0, 0};
        long n = mp_request(msg, seq + i, 79, args, 6);
        if (channel_write(msg, n) != n)
            break;
    }
    say("flood ended without a kill");
    return 0;
}
