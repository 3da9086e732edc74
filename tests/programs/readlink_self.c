/* readlink, then readlinkat with a 3-byte buffer, then readlink with none,
 * of each path given: the program runs by the first, a link to itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[256];
    for (int i = 1; i < argc; i++) {
        ssize_t n = readlink(argv[i], buf, sizeof buf - 1);
        if (n >= 0)
            buf[n] = 0;
        printf("%d readlink: %zd %s\n", i, n, n >= 0 ? buf : strerror(errno));
        n = readlinkat(AT_FDCWD, argv[i], buf, 3);
        printf("%d readlinkat 3: %zd %.*s%s\n", i, n, n > 0 ? (int)n : 0, buf, n < 0 ? strerror(errno) : "");
        n = readlink(argv[i], buf, 0);
        printf("%d readlink 0: %zd %s\n", i, n, n < 0 ? strerror(errno) : "");
    }
    return 0;
}
