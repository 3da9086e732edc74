/* Looks paths up from one buffer it then overwrites, before the broker
 * reads the trace ring: the trace must show the paths as they were.  Each
 * path is looked up twice (the second answer is kept in the sandbox: a
 * call the runtime reports); then a broker call drains the ring. */
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    static char buf[256];
    struct stat st;
    strcpy(buf, "/etc/passwd");
    stat(buf, &st);
    stat(buf, &st);
    memset(buf, 0, sizeof buf);
    strcpy(buf, "/etc/");
    memset(buf + 5, 'a', 150); /* a missing name, longer than a record holds */
    stat(buf, &st);
    stat(buf, &st);
    memset(buf, 'X', sizeof buf - 1);
    syscall(SYS_getgroups, 0, NULL); /* a broker call: it drains the ring first */
    return 0;
}
