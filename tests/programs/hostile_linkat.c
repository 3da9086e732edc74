/* Hard links and renames across mounts: a read-only file linked or moved
 * into the writable mount (then writable through the new name), and the
 * other way round.  EXDEV (or EROFS); the read-only file is unchanged. */
#include "hostile.h"

int main(void)
{
    long rodir = CALL(SYS_open, "/ro", O_RDONLY | O_DIRECTORY);
    long data = CALL(SYS_open, "/data", O_RDONLY | O_DIRECTORY);
    long ro = CALL(SYS_open, "/ro/file", O_RDONLY);
    show("link_ro_to_data", CALL(SYS_link, "/ro/file", "/data/hard"));
    show("linkat_dirfds", CALL(SYS_linkat, rodir, "file", data, "hard", 0));
    show("linkat_empty_path_ro", CALL(SYS_linkat, ro, "", data, "hard", AT_EMPTY_PATH));
    show("symlink_to_ro", CALL(SYS_symlink, "/ro/file", "/data/sym"));
    show("link_follow_symlink_to_ro", CALL(SYS_linkat, AT_CWD, "/data/sym", AT_CWD, "/data/hard", AT_SYMLINK_FOLLOW));
    show("write_through_symlink", CALL(SYS_open, "/data/sym", O_WRONLY));
    show("link_data_to_ro", CALL(SYS_link, "/data/own", "/ro/own"));
    show("rename_ro_to_data", CALL(SYS_rename, "/ro/file", "/data/moved"));
    show("rename_data_to_ro", CALL(SYS_rename, "/data/own", "/ro/dir/own"));
    show("rename_exchange", CALL(SYS_renameat2, AT_CWD, "/data/own", AT_CWD, "/ro/file", 2));
    show("link_to_tmp", CALL(SYS_link, "/data/own", "/tmp/own"));
    show("link_within_data", CALL(SYS_link, "/data/own", "/data/own2"));
    return 0;
}
