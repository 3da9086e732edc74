/* Makes one ordinary broker call (getcwd), then sends the runtime's last
 * request again, byte for byte, from its thread block: a replayed sequence
 * number is a protocol violation. */
#include "hostile.h"

int main(void)
{
    char cwd[64];
    show("getcwd", getcwd(cwd, sizeof cwd) ? 0 : -errno);
    struct sb_thread *t = thread0();
    unsigned char msg[256];
    memcpy(msg, t->req, sizeof msg);
    long n = 1;
    /* its length: the array header says how many items; walk them */
    int items = msg[0] & 0x0f;
    for (int i = 0; i < items; i++)
        n += msg[n] < 0x80 ? 1 : msg[n] == 0xd3 || msg[n] == 0xcf ? 9 : 1;
    /* printed before the write: the broker may kill us before write returns */
    show("replayed bytes", n);
    channel_write(msg, n);
    unsigned char rep[64];
    show("reply", channel_read(rep, sizeof rep));
    return 0;
}
