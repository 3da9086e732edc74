/* Synchronous faults delivered to the program's own handlers:
 *   segv   - SIGSEGV handler recovers with siglongjmp (sigprocmask emulation)
 *   trap   - SIGTRAP handler returns normally (rt_sigreturn emulation), twice
 *   fpe    - SIGFPE handler on an alternate stack, reports si_code, exits
 *   nohandler - no handler: the run ends with SIGSEGV
 *   rdtsc  - rdtsc must work (emulated) and be monotonic */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile int traps;
static volatile double fp_check = 1.5;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    printf("caught %d at %p\n", sig, si->si_addr);
    siglongjmp(env, 1);
}

static void on_trap(int sig)
{
    (void)sig;
    traps++;
    fp_check *= 2; /* FPU state must be restored after we return */
}

static void on_fpe(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char here;
    stack_t ss;
    sigaltstack(NULL, &ss);
    int on = (char *)&here >= (char *)ss.ss_sp && (char *)&here < (char *)ss.ss_sp + ss.ss_size;
    printf("fpe %d code %d on altstack %d\n", sig, si->si_code, on);
    fflush(stdout);
    _exit(3);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(what, "segv")) {
        struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
        sigaction(SIGSEGV, &sa, NULL);
        for (int i = 0; i < 3; i++) {
            if (sigsetjmp(env, 1) == 0)
                *(volatile int *)(uintptr_t)(16 + i * 8) = 1;
            else
                printf("recovered %d\n", i);
        }
        return 0;
    }
    if (!strcmp(what, "trap")) {
        signal(SIGTRAP, on_trap);
        double before = fp_check;
        __asm__ volatile("int3");
        __asm__ volatile("int3");
        printf("traps %d fp %.1f -> %.1f\n", traps, before, fp_check);
        return 0;
    }
    if (!strcmp(what, "fpe")) {
        static char stack[65536];
        stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack};
        sigaltstack(&ss, NULL);
        struct sigaction sa = {.sa_sigaction = on_fpe, .sa_flags = SA_SIGINFO | SA_ONSTACK};
        sigaction(SIGFPE, &sa, NULL);
        volatile int zero = 0, seven = 7; /* gcc turns 1/x into a compare: use 7 */
        printf("%d\n", seven / zero);
        return 1;
    }
    if (!strcmp(what, "nohandler")) {
        puts("before the fault");
        *(volatile int *)16 = 1;
        return 0;
    }
    if (!strcmp(what, "rdtsc")) {
        uint64_t a = __builtin_ia32_rdtsc(), b = __builtin_ia32_rdtsc();
        printf("rdtsc %s\n", b >= a ? "monotonic" : "BACKWARDS");
        return 0;
    }
    return 2;
}
