/* Denied calls, 20000 of them (twenty times the log's length): each is logged, and a log that grew with
 * them would be a memory bomb aimed at the broker.  The log keeps its first
 * lines and counts the rest. */
#include "hostile.h"

int main(void)
{
    long r = 0;
    for (int i = 0; i < 20000; i++)
        r = CALL(SYS_socket, 2, 1, 0);
    show("socket", r);
    return 0;
}
