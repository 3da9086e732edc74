/* The calls the runtime denies itself are counted in the state, which the
 * program can write: it forges counts of billions, rewrites the table (a
 * call the broker serves, named as one to deny), then makes one denied
 * call and one the broker serves.  The broker logs what the counts say,
 * bounded, and goes on; every call it serves is still served. */
#include "hostile.h"
#include <sys/utsname.h>

int main(void)
{
    show("denials", ST->ndenials > 0);
    volatile struct sb_local_denial *d = &ST->denials[0];
    d->count = 0xFFFFFFF0u; /* billions since the last look */
    ST->denied_local += 1;
    struct utsname u;
    show("uname", CALL(SYS_uname, &u)); /* a request: the broker looks */
    d->nr = SYS_uname; /* uname "denied" here now: only this sandbox's own answers change */
    show("socket", CALL(SYS_socket, 2, 1, 0));
    show("getcwd", CALL(SYS_getcwd, (char[64]){0}, 64) > 0);
    return 0;
}
