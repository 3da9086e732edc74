/* The calls the runtime denies itself are counted in the state, which the
 * program can write: it forges a count of billions, then renames a row to
 * getcwd, a call the broker serves.  The broker logs what the counts say,
 * bounded, and goes on; the renamed row changes only this sandbox's own
 * answers (its getcwd is refused inside it), and sysinfo is still served. */
#include "hostile.h"

int main(void)
{
    show("denials", ST->ndenials > 0);
    volatile struct sb_local_denial *d = &ST->denials[0];
    d->count = 0xFFFFFFF0u; /* billions since the last look */
    ST->denied_local += 1;
    char buf[64];
    show("getcwd", CALL(SYS_getcwd, buf, sizeof buf) > 0); /* a request: the broker looks */
    d->nr = SYS_getcwd;
    show("getcwd_renamed", CALL(SYS_getcwd, buf, sizeof buf));
    show("socket", CALL(SYS_socket, 2, 1, 0));
    show("sysinfo", CALL(SYS_sysinfo, (char[128]){0}));
    return 0;
}
