/* Writes a value to the dispatch selector that is neither "allow" nor
 * "block": the kernel ends the process with SIGSYS at the next call. */
#include "hostile.h"

int main(void)
{
    say("before");
    ST->selector = 7;
    show("escaped getpid", raw3(SYS_getpid, 0, 0, 0));
    return 0;
}
