/* Entry points that must be plain assembly. */
    .text
    .globl _start
_start:
    xor %ebp, %ebp
    mov %rsp, %rdi
    and $-16, %rsp
    call sb_stub_main
    hlt

/* sb_sigreturn_to(sp): load the rt_sigreturn frame whose ucontext is at sp
 * (a thread starting, or going back to the pool). */
    .globl sb_sigreturn_to
sb_sigreturn_to:
    mov %rdi, %rsp
    mov $15, %eax
    syscall
    hlt

/* Where a thread that exited, or a new one, resumes: sb_pool_idle(rdi, rsi)
 * on its idle stack. */
    .globl sb_pool_entry
sb_pool_entry:
    xor %ebp, %ebp
    call sb_pool_idle
    hlt

/* sb_spawn_thread(flags, stack, ptid, fn, arg): a raw clone whose child
 * calls fn(arg) on `stack` and never returns. */
    .globl sb_spawn_thread
sb_spawn_thread:
    sub $16, %rsi
    mov %rcx, 8(%rsi)
    mov %r8, (%rsi)
    xor %r10d, %r10d
    xor %r8d, %r8d
    mov $56, %eax
    syscall
    test %rax, %rax
    jnz 1f
    pop %rdi
    pop %rax
    xor %ebp, %ebp
    call *%rax
    hlt
1:  ret

    .section .note.GNU-stack,"",@progbits
