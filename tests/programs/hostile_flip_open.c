/* Flips the dispatch selector to "allow" and opens a host file directly
 * (O_WRONLY|O_TRUNC) by its host path.  Strict mode forbids open: killed,
 * and the file keeps its contents.   hostile_flip_open HOST_PATH */
#include "hostile.h"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/etc/passwd";
    say("before");
    allow_direct();
    long r = raw3(SYS_openat, AT_CWD, path, O_WRONLY | O_TRUNC);
    trap_again();
    show("escaped openat", r);
    return 0;
}
