/* Rewrites the runtime's own fd table (fd_host, in the arena) so that fd 1
 * goes straight to the broker channel, then prints: the runtime writes the
 * text to the channel as it stands, and the broker sees garbage. */
#include "hostile.h"

int main(void)
{
    say("before");
    ST->fd_host[1] = thread0()->chan_fd;
    say("hello broker, this is not msgpack");
    ST->fd_host[1] = 1;
    char cwd[64];
    getcwd(cwd, sizeof cwd); /* answered only if the garbage was let through */
    say("after");
    return 0;
}
