/* O_TMPFILE tricks: an unnamed file in a read-only mount, one linked into
 * a mount it was not made in or under a name outside the view, and links
 * made through /proc/self/fd.  Only what stays in the writable mount works. */
#include "hostile.h"

int main(void)
{
    char path[64];
    show("tmpfile_in_ro", CALL(SYS_open, "/ro/dir", O_TMPFILE | O_RDWR, 0600));
    show("tmpfile_no_write", CALL(SYS_open, "/data", O_TMPFILE | O_RDONLY, 0600));
    long t = CALL(SYS_open, "/data", O_TMPFILE | O_RDWR, 0600);
    show_ok("tmpfile_in_data", t);
    show("write", CALL(SYS_write, t, "tmp\n", 4));
    show("link_into_ro", CALL(SYS_linkat, t, "", AT_CWD, "/ro/dir/linked", AT_EMPTY_PATH));
    show("link_into_tmp", CALL(SYS_linkat, t, "", AT_CWD, "/tmp/linked", AT_EMPTY_PATH));
    show("link_dotdot", CALL(SYS_linkat, t, "", AT_CWD, "/data/../../../linked", AT_EMPTY_PATH));
    snprintf(path, sizeof path, "/proc/self/fd/%ld", t);
    show("link_proc_follow_ro", CALL(SYS_linkat, AT_CWD, path, AT_CWD, "/ro/linked", AT_SYMLINK_FOLLOW));
    show("link_into_data", CALL(SYS_linkat, t, "", AT_CWD, "/data/linked", AT_EMPTY_PATH));
    long x = CALL(SYS_open, "/data", O_TMPFILE | O_RDWR | O_EXCL, 0600);
    show_ok("tmpfile_excl", x);
    show("link_excl", CALL(SYS_linkat, x, "", AT_CWD, "/data/excl", AT_EMPTY_PATH));
    return 0;
}
