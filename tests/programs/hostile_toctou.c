/* A path buffer that changes under the broker: the test runs `racer mem`
 * beside this program, flipping race_path between an allowed name and one
 * the policy denies (/data/secret) while this program uses it again and
 * again.  The broker copies the path once, judges that copy and acts on it:
 * the secret file is never reached, whatever the timing.
 *   hostile_toctou MODE N
 *   MODE: open chmod utime truncate rename rename_from link unlink xattr */
#include "hostile.h"
#include <sys/stat.h>

char race_path[64] __attribute__((aligned(64)));

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "open";
    long n = argc > 2 ? atol(argv[2]) : 1000;
    long ok = 0, denied = 0, other = 0;
    strcpy(race_path, "/data/aaaaaa");
    printf("race_path %p\n", (void *)race_path);
    fflush(stdout);
    for (long i = 0; i < n; i++) {
        long r;
        if (!strcmp(mode, "open")) {
            r = CALL(SYS_open, race_path, O_WRONLY | O_APPEND);
            if (r >= 0) {
                write((int)r, "x", 1);
                close((int)r);
            }
        } else if (!strcmp(mode, "chmod")) {
            r = CALL(SYS_chmod, race_path, 0777);
        } else if (!strcmp(mode, "utime")) {
            r = CALL(SYS_utimensat, AT_CWD, race_path, 0L, 0);
        } else if (!strcmp(mode, "rename")) {
            long fd = CALL(SYS_open, "/data/src", O_WRONLY | O_CREAT, 0644);
            if (fd >= 0)
                close((int)fd);
            r = CALL(SYS_rename, "/data/src", race_path);
        } else if (!strcmp(mode, "truncate")) {
            r = CALL(SYS_truncate, race_path, 0);
        } else if (!strcmp(mode, "link")) {
            r = CALL(SYS_link, race_path, "/data/hardlink");
            CALL(SYS_unlink, "/data/hardlink");
        } else if (!strcmp(mode, "rename_from")) {
            r = CALL(SYS_rename, race_path, "/data/moved");
            if (r >= 0)
                CALL(SYS_rename, "/data/moved", "/data/aaaaaa");
        } else if (!strcmp(mode, "xattr")) {
            r = CALL(SYS_setxattr, race_path, "user.x", "1", 1, 0);
            if (r == -EOPNOTSUPP)
                r = 0; /* served, and refused for every file alike */
        } else { /* unlink */
            long fd = CALL(SYS_open, "/data/aaaaaa", O_WRONLY | O_CREAT, 0644);
            if (fd >= 0)
                close((int)fd);
            r = CALL(SYS_unlink, race_path);
        }
        if (r >= 0)
            ok++;
        else if (r == -EACCES)
            denied++;
        else
            other++;
    }
    printf("ok %ld denied %ld other %ld\n", ok, denied, other);
    return 0;
}
