/* Symlink races inside a writable mount aimed outside it.  /data/d is a
 * directory and /data/s a symlink to a host directory outside every mount
 * (absolute, or ../ relative); the two are swapped again and again -- by
 * `racer swap` on the host (mode "racer") or by this program itself with
 * renameat2(RENAME_EXCHANGE) between its own calls (mode "self") -- while
 * it creates, truncates and writes /data/d/canary and makes directories
 * under /data/d.  Outside the mount nothing may change.
 * Mode "dotdot": the same race under `..` -- the program sits in
 * /data/d/sub and creates files through ../ chains reaching above the mount
 * while /data/d keeps turning into the symlink; cwd and `..` are walked in
 * the view, so nothing lands outside either.
 *   hostile_symlink_race MODE N */
#include "hostile.h"
#include <sys/stat.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "self";
    long n = argc > 2 ? atol(argv[2]) : 1000;
    long ok = 0, refused = 0;
    say("racing");
    if (!strcmp(mode, "dotdot")) {
        for (int tries = 0; tries < 100000 && CALL(SYS_chdir, "/data/d/sub") != 0; tries++)
            CALL(SYS_mkdir, "/data/d/sub", 0755);
        for (long i = 0; i < n; i++) {
            static const char *up[] = {"../made", "../../d/made", "../../../made",
                                       "../../../../../../made", "../../s/made",
                                       "/data/d/sub/../../../../made"};
            for (unsigned k = 0; k < sizeof up / sizeof up[0]; k++) {
                long fd = CALL(SYS_open, up[k], O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) {
                    close((int)fd);
                    ok++;
                } else {
                    refused++;
                }
            }
            CALL(SYS_chdir, "..");
            CALL(SYS_chdir, "/data/d/sub");
        }
        printf("done ok %s refused %s\n", ok ? "some" : "none", refused ? "some" : "none");
        return 0;
    }
    for (long i = 0; i < n; i++) {
        if (!strcmp(mode, "self"))
            CALL(SYS_renameat2, AT_CWD, "/data/d", AT_CWD, "/data/s", 2 /* RENAME_EXCHANGE */);
        long fd = CALL(SYS_open, "/data/d/canary", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            write((int)fd, "sandbox\n", 8);
            close((int)fd);
            ok++;
        } else {
            refused++;
        }
        if (CALL(SYS_mkdir, "/data/d/made", 0755) == 0)
            CALL(SYS_rmdir, "/data/d/made");
        CALL(SYS_symlink, "/data/d/canary", "/data/d/ln");
        CALL(SYS_unlink, "/data/d/ln");
        CALL(SYS_chmod, "/data/d/canary", 0600);
    }
    printf("done ok %s refused %s\n", ok ? "some" : "none", refused ? "some" : "none");
    return 0;
}
