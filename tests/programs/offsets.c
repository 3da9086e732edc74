/* File offsets at their edges, as Linux keeps them (a third review's cases):
 *   made_up         a dup of /etc/passwd seeked near 2^63, then past it: EINVAL
 *   exec FILE       an offset past the end of FILE kept across an execve
 *   dups FILE N     N dups of FILE, then 40 one-byte reads of FILE (the test
 *                   counts broker round trips: a dup takes no prefetch slot)
 *   dup3_high       dup3's flags are an int: junk above bit 31 is not EINVAL
 *   hand_back FILE  SB_OP_HAND_BACK sent for a file whose offset the broker
 *                   never gave the runtime: refused (EBADF), no seek */
#include "hostile.h"

static long hand_back(uint64_t fd, uint64_t pos)
{
    struct sb_thread *t = thread0();
    unsigned char msg[64], rep[64];
    uint64_t a[2] = {fd, pos};
    long n = mp_request(msg, ++t->seq, SB_OP_HAND_BACK, a, 2);
    channel_write(msg, n);
    long r = channel_read(rep, sizeof rep);
    return r >= 3 && rep[2] >= 0xe0 ? (signed char)rep[2] : r >= 3 && rep[2] < 0x80 ? rep[2] : -9999;
}

int main(int argc, char **argv)
{
    const char *mode = argv[1];
    if (!strcmp(mode, "made_up")) {
        int fd = open("/etc/passwd", O_RDONLY), d = dup(fd);
        long big = 0x7fffffffffffffffL;
        show("set", CALL(SYS_lseek, d, big, SEEK_SET) == big);
        show("cur", CALL(SYS_lseek, d, big, SEEK_CUR));
        show("cur again", CALL(SYS_lseek, d, big, SEEK_CUR));
    } else if (!strcmp(mode, "exec")) {
        if (argc > 3) {
            show("after exec", CALL(SYS_lseek, 3, 0, SEEK_CUR));
            return 0;
        }
        int fd = open(argv[2], O_RDONLY);
        show("fd", fd);
        show("seek", CALL(SYS_lseek, fd, 300000, SEEK_SET));
        char *av[] = {argv[0], argv[1], argv[2], "again", NULL};
        execv("/proc/self/exe", av);
        show("execv", -errno);
    } else if (!strcmp(mode, "dups")) {
        int fd = open(argv[2], O_RDONLY);
        for (int i = 0; i < atoi(argv[3]); i++)
            dup(fd);
        int f = open(argv[2], O_RDONLY);
        char c;
        long got = 0;
        for (int i = 0; i < 40; i++)
            got += read(f, &c, 1);
        show("read", got);
    } else if (!strcmp(mode, "dup3_high")) {
        show("dup3", raw6(SYS_dup3, 1, 9, 1L << 32, 0, 0, 0));
    } else if (!strcmp(mode, "hand_back")) {
        int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
        show("write", CALL(SYS_write, fd, "secret-bytes", 12));
        show("hand_back", hand_back(fd, 0));
        char b[16] = {0};
        show("read", CALL(SYS_read, fd, b, 12));
    }
    return 0;
}
