/* An output bomb: a known pattern written to stdout forever.  The broker
 * captures up to the output limit -- every byte of it, in order -- and then
 * ends the sandbox. */
#include "hostile.h"

int main(void)
{
    static char block[65536];
    for (unsigned i = 0; i < sizeof block; i++)
        block[i] = (char)('a' + i % 26);
    for (;;)
        if (write(1, block, sizeof block) < 0)
            return 1;
}
