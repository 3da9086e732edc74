/* Entry points that must be plain assembly. */
    .text
    .globl _start
_start:
    xor %ebp, %ebp
    mov %rsp, %rdi
    and $-16, %rsp
    call sb_stub_main
    hlt

/* SA_RESTORER for our handlers: rt_sigreturn must come from the allowed region. */
    .globl sb_restorer
sb_restorer:
    mov $15, %eax
    syscall
    hlt

/* sb_enter_program(entry, sp): start the program with the ELF ABI's clean slate. */
    .globl sb_enter_program
sb_enter_program:
    mov %rsi, %rsp
    mov %rdi, %r11
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    jmp *%r11
    .section .note.GNU-stack,"",@progbits
