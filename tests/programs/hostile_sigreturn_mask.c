/* Calls rt_sigreturn -- one of strict mode's four allowed calls -- from the
 * stub's restorer with a forged frame that blocks every signal, SIGSYS
 * included, and resumes at a plain system call.  A SIGSYS that is blocked
 * kills: the program ends, nothing escapes. */
#include "hostile.h"
#include "stub_find.h"
#include <ucontext.h>

static void after(void)
{
    say("resumed with every signal blocked");
    getppid(); /* trapped: SIGSYS while blocked */
    say("escaped: the call went through");
    for (;;)
        ;
}

static unsigned long frame[512] __attribute__((aligned(64)));

int main(void)
{
    unsigned long r = find_restorer();
    if (!r) {
        say("restorer not found");
        return 1;
    }
    say("restorer found");
    /* struct rt_sigframe without pretcode: ucontext then siginfo */
    ucontext_t *uc = (ucontext_t *)&frame[0];
    memset(frame, 0, sizeof frame);
    uc->uc_mcontext.gregs[REG_RIP] = (long)after;
    uc->uc_mcontext.gregs[REG_RSP] = (long)&frame[500] - 8;
    uc->uc_mcontext.gregs[REG_CSGSFS] = 0x33; /* cs = __USER_CS */
    uc->uc_mcontext.gregs[REG_EFL] = 0x202;
    memset(&uc->uc_sigmask, 0xff, sizeof uc->uc_sigmask);
    __asm__ volatile("mov %0, %%rsp\n\tjmp *%1" : : "r"(uc), "r"(r) : "memory");
    __builtin_unreachable();
}
