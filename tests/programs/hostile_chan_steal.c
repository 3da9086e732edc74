/* Reads its channel without having asked anything: the broker never writes
 * unasked, so this waits until the wall-clock limit ends it. */
#include "hostile.h"

int main(void)
{
    say("reading the channel");
    unsigned char rep[64];
    show("got", channel_read(rep, sizeof rep));
    return 0;
}
