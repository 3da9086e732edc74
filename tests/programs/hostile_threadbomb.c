/* Thread and process bombs: raw clone of threads (each parks in pause) until
 * the pool is used up, a thread clone with no stack, clone3, fork and vfork.
 * The pool bounds the threads (EAGAIN, logged with the limit); the rest is
 * refused and logged; no process is created. */
#include "hostile.h"
#include <sched.h>
#include <sys/mman.h>

#define STACK 16384

int main(void)
{
    const long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    char *stacks = mmap(NULL, 200 * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long r = 0;
    int made = 0;
    for (int i = 0; i < 200; i++) {
        /* raw clone: the child starts on its empty stack and parks in pause(2) */
        register long r10 __asm__("r10") = 0;
        register long r8 __asm__("r8") = 0;
        __asm__ volatile("syscall\n\t"
                         "test %%rax, %%rax\n\t"
                         "jnz 1f\n\t"
                         "2: mov %[pause], %%eax\n\t"
                         "syscall\n\t"
                         "jmp 2b\n\t"
                         "1:"
                         : "=a"(r)
                         : "a"(SYS_clone), "D"(flags), "S"(stacks + (i + 1) * STACK), "d"(0), "r"(r10),
                           "r"(r8), [pause] "i"(SYS_pause)
                         : "rcx", "r11", "memory");
        if (r < 0)
            break;
        made++;
    }
    show("threads", made);
    show("clone_thread", r);
    show("clone_no_stack", CALL(SYS_clone, flags, 0, 0, 0, 0));
    for (int i = 0; i < 200; i++) {
        r = CALL(SYS_fork);
        if (r == 0)
            for (;;)
                ;
    }
    show("fork", r);
    show("vfork", CALL(SYS_vfork) == 0 ? 0 : -errno);
    unsigned long args[11] = {0};
    show("clone3", CALL(SYS_clone3, args, sizeof args));
    fflush(stdout);
    _exit(0); /* exit_group: the parked threads end with the process */
}
