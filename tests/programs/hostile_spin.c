/* An infinite loop with no system calls: the wall-clock limit ends it. */
#include "hostile.h"

int main(void)
{
    say("spinning");
    for (volatile unsigned long i = 0;; i++)
        ;
}
