/* Signal storms: kill aimed at other processes -- pid 1, the broker (its
 * parent on the host), every process (-1) and process groups -- then raise
 * and kill against itself in a loop.  The sandbox sees and may signal only
 * itself: the rest is ESRCH (or refused and logged), and no host process
 * is touched.
 *   hostile_sigstorm HOST_PID (a host process the test watches) */
#include "hostile.h"
#include <signal.h>

static volatile long handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

int main(int argc, char **argv)
{
    long host = argc > 1 ? atol(argv[1]) : 1;
    signal(SIGUSR1, on_usr1);
    show("kill_pid1", CALL(SYS_kill, 1, SIGKILL));
    show("kill_host", CALL(SYS_kill, host, SIGKILL));
    show("kill_parent", CALL(SYS_kill, getppid(), SIGKILL));
    show("kill_all", CALL(SYS_kill, -1, SIGKILL));
    show("kill_group0", CALL(SYS_kill, 0, 0)); /* its own group: itself (SIGKILL would end it) */
    show("kill_host_group", CALL(SYS_kill, -host, SIGKILL));
    show("tkill_host", CALL(SYS_tkill, host, SIGKILL));
    show("tgkill_host", CALL(SYS_tgkill, host, host, SIGKILL));
    show("rt_sigqueueinfo_host", ({ siginfo_t si = {0}; CALL(SYS_rt_sigqueueinfo, host, SIGKILL, &si); }));
    show("pidfd_open_host", CALL(SYS_pidfd_open, host, 0));
    long r = 0;
    for (int i = 0; i < 5000; i++)
        r = raise(SIGUSR1) ? -errno : 0;
    show("raise_loop", r);
    for (int i = 0; i < 5000; i++)
        r = CALL(SYS_kill, getpid(), SIGUSR1);
    show("kill_self_loop", r);
    show("tgkill_self", CALL(SYS_tgkill, getpid(), gettid(), SIGUSR1));
    printf("handled %s\n", handled ? "some" : "none");
    return 0;
}
