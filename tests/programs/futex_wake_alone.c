/* One thread, one futex wake (glibc makes some with no other thread): the
 * runtime looks for waiters among the threads started, not the whole pool. */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    int word = 0;
    return syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0) != 0;
}
