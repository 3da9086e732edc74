/* Pointers to memory the process does have but the arena does not hold: the
 * shared clock page (read-only, the same page for every sandbox of the
 * broker), the stub's own text, the vsyscall page: EFAULT for each, and the
 * clock page stays as it was.  And buffers that start in the arena and run
 * past its end: the broker writes only the arena, so like Linux at the first
 * page it cannot write, they get what fits (a short count), or EFAULT when
 * not even the first item does -- which is then not used up. */
#include "hostile.h"
#include "stub_find.h"

int main(void)
{
    long fd = CALL(SYS_open, "/proc/self/exe", O_RDONLY);
    long dfd = CALL(SYS_open, "/", O_RDONLY | O_DIRECTORY);     /* made up by the broker */
    long hdfd = CALL(SYS_open, "/usr", O_RDONLY | O_DIRECTORY); /* a host directory */
    show_ok("open", fd);
    unsigned long clock = SB_CLOCK_PAGE, stub = find_restorer() & ~0xfffUL;
    unsigned long end = arena_end();
    show("stub_found", stub != 0);
    const struct {
        const char *name;
        unsigned long p;
    } where[] = {{"clock", clock}, {"stub", stub}, {"vsyscall", 0xffffffffff600000UL},
                 {"arena_end", end - 16}};
    for (unsigned i = 0; i < sizeof where / sizeof where[0]; i++) {
        char label[64];
        long p = (long)where[i].p;
        snprintf(label, sizeof label, "read_into_%s", where[i].name);
        show(label, CALL(SYS_pread64, fd, p, 4096, 0));
        snprintf(label, sizeof label, "stat_into_%s", where[i].name);
        show(label, CALL(SYS_stat, "/", p));
        snprintf(label, sizeof label, "getcwd_into_%s", where[i].name);
        show(label, CALL(SYS_getcwd, p, 4096));
        snprintf(label, sizeof label, "path_from_%s", where[i].name);
        show(label, CALL(SYS_access, p + 4080, 0));
        /* no room for the first entry where it would go: EFAULT, and the
         * entry is not used up (the next call with room gets ".") */
        snprintf(label, sizeof label, "getdents_into_%s", where[i].name);
        show(label, CALL(SYS_getdents64, dfd, p, 4096));
        snprintf(label, sizeof label, "getdents_into_%s_host", where[i].name);
        show(label, CALL(SYS_getdents64, hdfd, p, 4096));
    }
    static char room[4096];
    show("getdents_after_efault", CALL(SYS_getdents64, dfd, room, sizeof room) > 0);
    printf("first_entry %s\n", room + 19);
    static char fresh[4096];
    long again = CALL(SYS_open, "/usr", O_RDONLY | O_DIRECTORY);
    show("getdents_host_after_efault", CALL(SYS_getdents64, hdfd, room, sizeof room) > 0);
    show("getdents_host_fresh", CALL(SYS_getdents64, again, fresh, sizeof fresh) > 0);
    show("first_host_entry_kept", strcmp(room + 19, fresh + 19) == 0);
    return 0;
}
