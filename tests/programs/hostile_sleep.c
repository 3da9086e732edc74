/* Sleeps for a thousand seconds (the broker times the wait): the wall-clock
 * limit ends it long before. */
#include "hostile.h"
#include <time.h>

int main(void)
{
    say("sleeping");
    struct timespec ts = {1000, 0};
    nanosleep(&ts, NULL);
    say("woke up");
    return 0;
}
