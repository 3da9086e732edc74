/* Tries to get the runtime's own signals out of the way: blocks every
 * signal, installs handlers for SIGSYS and SIGSEGV and an alternate stack in
 * the wild, then makes ordinary calls and takes a fault it handles itself.
 * The runtime's SIGSYS is never really blocked or replaced: every call is
 * still served, and the fault reaches the program's handler. */
#include "hostile.h"
#include <setjmp.h>
#include <signal.h>

static sigjmp_buf jb;
static volatile int sys_handler_ran;

static void on_sys(int sig) { (void)sig; sys_handler_ran = 1; }
static void on_segv(int sig) { (void)sig; siglongjmp(jb, 1); }

int main(void)
{
    sigset_t all;
    sigfillset(&all);
    show("sigprocmask_all", sigprocmask(SIG_BLOCK, &all, NULL) ? -errno : 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_sys;
    show("sigaction_sigsys", sigaction(SIGSYS, &sa, NULL) ? -errno : 0);
    stack_t ss = {(void *)WILD, 0, 1 << 16};
    show("sigaltstack_wild", sigaltstack(&ss, NULL) ? -errno : 0);
    char cwd[64];
    show("getcwd_still_served", getcwd(cwd, sizeof cwd) ? 0 : -errno);
    show("getppid_still_served", getppid() > 0);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    if (!sigsetjmp(jb, 1)) {
        *(volatile int *)8 = 1;
        say("fault not raised");
    } else {
        say("own SIGSEGV handler ran");
    }
    printf("sigsys handler %s\n", sys_handler_ran ? "ran" : "never ran");
    return 0;
}
