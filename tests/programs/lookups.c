/* Looks paths up as its arguments say, one line each, so a sandboxed run
 * can be held against a native one and against itself with and without
 * the answers the runtime keeps:
 *   s:PATH  stat (follows links): "s PATH size N" or "s PATH errno E"
 *   o:PATH  open read-only, then close: "o PATH ok" or "o PATH errno E"
 *   c:PATH  create (O_CREAT|O_WRONLY), then close: "c PATH ok" or "... errno E" */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char op = argv[i][0];
        const char *path = argv[i] + 2;
        struct stat st;
        int r = -1;
        if (op == 's')
            r = stat(path, &st);
        else if (op == 'o' || op == 'c') {
            int fd = op == 'o' ? open(path, O_RDONLY | O_CLOEXEC)
                               : open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            r = fd < 0 ? -1 : close(fd);
        }
        if (r < 0)
            printf("%c %s errno %d\n", op, path, errno);
        else if (op == 's')
            printf("s %s size %lld\n", path, (long long)st.st_size);
        else
            printf("%c %s ok\n", op, path);
    }
    return 0;
}
