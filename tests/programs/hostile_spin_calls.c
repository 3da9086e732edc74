/* An infinite loop of broker round trips: the broker keeps its deadlines
 * while this sandbox asks as fast as it can; the wall-clock limit ends it. */
#include "hostile.h"

int main(void)
{
    say("calling");
    char cwd[64];
    for (;;)
        getcwd(cwd, sizeof cwd);
}
