/* Pointers to memory the process does have but the arena does not hold: the
 * shared clock page (read-only, the same page for every sandbox of the
 * broker), the stub's own text, the vsyscall page, and buffers that start
 * in the arena and run past its end.  The broker reads and writes only the
 * arena: EFAULT for each, and the clock page stays as it was. */
#include "hostile.h"
#include "stub_find.h"

int main(void)
{
    long fd = CALL(SYS_open, "/proc/self/exe", O_RDONLY);
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
    }
    return 0;
}
