/* Points its thread block's channel fd at stdout and makes a broker call:
 * the runtime writes the request to stdout and cannot read a reply from it,
 * so it gives up (exit 125, "lost its broker channel").  The broker is not
 * involved at all. */
#include "hostile.h"

int main(void)
{
    say("before");
    thread0()->chan_fd = 1;
    char cwd[64];
    getcwd(cwd, sizeof cwd);
    say("after");
    return 0;
}
