/* The spawner: the stub's first thread, once the program runs.  It starts a
 * pool thread each time the broker asks (a message on the spawn socket
 * carrying the new slot's channel and wake pipe), so a program pays only
 * for the threads it uses.
 *
 * It is the one thread of the sandbox not in strict mode, in an address
 * space the program controls, so it trusts nothing the program can touch:
 *   - it is written in assembly and keeps its state in registers (the
 *     stack is the program's to overwrite: no call, push or return);
 *   - every signal is blocked (a handler would be the program's code);
 *   - memory the program can write decides nothing it does: it builds its
 *     recvmsg in the arena (the program may redirect where the kernel puts
 *     the message: its own memory), and copies the three fd numbers it
 *     received into the new slot's block unread (wrong ones only break the
 *     program's own thread);
 *   - its calls: recvmsg, sendmsg, write and close on the spawn socket and
 *     the fds it carries, clone with fixed flags, and in the new thread,
 *     before anything else, the same confinement as slot 0's (parent-death
 *     signal, signal stack, Syscall User Dispatch, strict mode).  Only then
 *     does the new thread run C, as an ordinary pool thread (sb_pool_join).
 * Each thread's pidfd (pidfd_open, kept in a register) goes to the broker at
 * once, which no strict-mode thread can send: the broker watches the thread
 * from then on, and checks that the fd is a pidfd of a thread of this
 * sandbox it does not watch yet before it trusts it (Sandbox.spawn_news).
 * What the program can do to the message (it is built in the arena) ends
 * the sandbox with a reason: a wrong fd or none, or a send that fails. */
#include "runtime.h"
#include <asm/socket.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define OFF(type, field) __builtin_offsetof(struct type, field)
/* Offsets the assembly uses, checked against the structs. */
#define T_CHAN 8
#define T_WAKE_R 88
#define T_WAKE_W 92
#define T_HOST_TID 96
#define BOX_IOV 56
#define BOX_BYTE 72
#define BOX_CMSG 80
#define BOX_FDS 96
#define CMSG_ROOM 32 /* CMSG_SPACE(3 * sizeof(int)) */
#define CMSG_ONE 24 /* CMSG_SPACE(sizeof(int)) */
#define CMSG_ONE_LEN 20 /* CMSG_LEN(sizeof(int)) */
#define SCM_RIGHTS 1 /* (not in the kernel's uapi headers; the cffi build checks it) */
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9's <linux/pidfd.h>, which older headers lack */
#endif
_Static_assert(OFF(sb_thread, chan_fd) == T_CHAN && OFF(sb_thread, wake_rfd) == T_WAKE_R &&
               OFF(sb_thread, wake_wfd) == T_WAKE_W && OFF(sb_thread, host_tid) == T_HOST_TID,
               "struct sb_thread moved");
_Static_assert(OFF(sb_spawn_box, iov) == BOX_IOV && OFF(sb_spawn_box, byte) == BOX_BYTE &&
               OFF(sb_spawn_box, cmsg) == BOX_CMSG && OFF(sb_spawn_box, fds) == BOX_FDS &&
               sizeof(struct sb_spawn_box) == BOX_CMSG + CMSG_ROOM, "struct sb_spawn_box moved");
_Static_assert(sizeof(stack_t) == 24, "stack_t");

/* sb_spawner(rdi = slot 0's wake fd, rsi = spawn socket, rdx = the next
 * slot's block, rcx = the end of the thread blocks, r8 = &ST->selector,
 * r9 = &ST->spawn).  Starts the program (a byte to slot 0's wake pipe), then
 * serves spawn requests until the broker closes its end. */
__asm__(
    "    .text\n"
    "    .globl sb_spawner\n"
    "sb_spawner:\n"
    "    mov %rsi, %r12\n" /* spawn socket */
    "    mov %rdx, %r13\n" /* the next slot's block */
    "    mov %rcx, %r14\n" /* end of the blocks */
    "    mov %r8, %r15\n"  /* the dispatch selector */
    "    mov %r9, %rbx\n"  /* struct sb_spawn_box */
    "    mov $" STR(__NR_write) ", %eax\n"
    "    lea sb_spawner(%rip), %rsi\n" /* any byte will do */
    "    mov $1, %edx\n"
    "    syscall\n"
    "1:  xor %eax, %eax\n" /* struct msghdr: one byte and the fds */
    "    mov %rax, 0(%rbx)\n"
    "    mov %rax, 8(%rbx)\n"
    "    lea " STR(BOX_IOV) "(%rbx), %rax\n"
    "    mov %rax, 16(%rbx)\n"
    "    movq $1, 24(%rbx)\n"
    "    lea " STR(BOX_CMSG) "(%rbx), %rax\n"
    "    mov %rax, 32(%rbx)\n"
    "    movq $" STR(CMSG_ROOM) ", 40(%rbx)\n"
    "    movq $0, 48(%rbx)\n"
    "    lea " STR(BOX_BYTE) "(%rbx), %rax\n"
    "    mov %rax, " STR(BOX_IOV) "(%rbx)\n"
    "    movq $1, " STR(BOX_IOV) "+8(%rbx)\n"
    "    movq $-1, " STR(BOX_FDS) "(%rbx)\n" /* no fds came: -1 */
    "    movl $-1, " STR(BOX_FDS) "+8(%rbx)\n"
    "    mov $" STR(__NR_recvmsg) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    mov %rbx, %rsi\n"
    "    xor %edx, %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jz 9f\n"  /* the broker closed its end */
    "    js 1b\n"  /* (the program spoilt the message header: again) */
    "    cmp %r14, %r13\n"
    "    jae 2f\n" /* every slot is started */
    "    mov " STR(BOX_FDS) "(%rbx), %eax\n" /* the slot's fds, copied unread */
    "    mov %eax, " STR(T_CHAN) "(%r13)\n"
    "    mov " STR(BOX_FDS) "+4(%rbx), %eax\n"
    "    mov %eax, " STR(T_WAKE_R) "(%r13)\n"
    "    mov " STR(BOX_FDS) "+8(%rbx), %eax\n"
    "    mov %eax, " STR(T_WAKE_W) "(%r13)\n"
    "    mov $" STR(__NR_clone) ", %eax\n"
    "    mov $" STR(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)
    ", %edi\n"
    "    lea " STR(SB_THREAD_BLOCK) "-64(%r13), %rsi\n"
    "    xor %edx, %edx\n"
    "    xor %r10d, %r10d\n"
    "    xor %r8d, %r8d\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jz 3f\n"
    "    add $" STR(SB_THREAD_BLOCK) ", %r13\n" /* each request takes a block, as the broker counts */
    "    test %rax, %rax\n"
    "    js 2f\n"
    /* Its pidfd, kept in a register (rbp), to the broker as 'p': the
     * broker watches the thread from then on, whatever the program does to
     * it meanwhile (a thread that died already is reported from it).  If
     * there is none, or it cannot go, no thread may run unwatched: the
     * whole sandbox ends (SB_EXIT_UNWATCHED). */
    "    mov %rax, %rdi\n"
    "    mov $" STR(__NR_pidfd_open) ", %eax\n"
    "    mov $" STR(PIDFD_THREAD) ", %esi\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    js 6f\n"
    "    mov %rax, %rbp\n"
    "    xor %eax, %eax\n"
    "    mov %rax, 0(%rbx)\n"
    "    mov %rax, 8(%rbx)\n"
    "    lea " STR(BOX_IOV) "(%rbx), %rax\n"
    "    mov %rax, 16(%rbx)\n"
    "    movq $1, 24(%rbx)\n"
    "    lea " STR(BOX_CMSG) "(%rbx), %rax\n"
    "    mov %rax, 32(%rbx)\n"
    "    movq $" STR(CMSG_ONE) ", 40(%rbx)\n"
    "    movq $0, 48(%rbx)\n"
    "    lea 7f(%rip), %rax\n"
    "    mov %rax, " STR(BOX_IOV) "(%rbx)\n"
    "    movq $1, " STR(BOX_IOV) "+8(%rbx)\n"
    "    movq $" STR(CMSG_ONE_LEN) ", " STR(BOX_CMSG) "(%rbx)\n"
    "    movl $" STR(SOL_SOCKET) ", " STR(BOX_CMSG) "+8(%rbx)\n"
    "    movl $" STR(SCM_RIGHTS) ", " STR(BOX_CMSG) "+12(%rbx)\n"
    "    mov %ebp, " STR(BOX_FDS) "(%rbx)\n"
    "    mov $" STR(__NR_sendmsg) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    mov %rbx, %rsi\n"
    "    xor %edx, %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    js 6f\n"
    "    mov $" STR(__NR_close) ", %eax\n"
    "    mov %rbp, %rdi\n"
    "    syscall\n"
    "    jmp 1b\n"
    "6:  mov $" STR(__NR_exit_group) ", %eax\n"
    "    mov $" STR(SB_EXIT_UNWATCHED) ", %edi\n"
    "    syscall\n"
    "    hlt\n"
    "2:  mov $" STR(__NR_write) ", %eax\n" /* no thread: 'f' tells the broker */
    "    mov %r12, %rdi\n"
    "    lea 8f(%rip), %rsi\n"
    "    mov $1, %edx\n"
    "    syscall\n"
    "    jmp 1b\n"
    "9:  mov $" STR(__NR_exit) ", %eax\n"
    "    xor %edi, %edi\n"
    "    syscall\n"
    "    hlt\n"

    /* The new thread, r13 its block: confine it, registers only. */
    "3:  mov $" STR(__NR_gettid) ", %eax\n" /* the runtime's record of its host id */
    "    syscall\n"
    "    mov %eax, " STR(T_HOST_TID) "(%r13)\n"
    "    mov $" STR(__NR_prctl) ", %eax\n"
    "    mov $" STR(PR_SET_PDEATHSIG) ", %edi\n"
    "    mov $" STR(SIGKILL) ", %esi\n"
    "    syscall\n"
    "    lea " STR(SB_IDLE_STACK) "(%r13), %rax\n" /* its signal stack: the rest of the block */
    "    mov %rax, " STR(SB_IDLE_STACK) "-24(%r13)\n"
    "    movq $0, " STR(SB_IDLE_STACK) "-16(%r13)\n"
    "    movq $" STR(SB_THREAD_BLOCK) "-" STR(SB_IDLE_STACK) ", " STR(SB_IDLE_STACK) "-8(%r13)\n"
    "    mov $" STR(__NR_sigaltstack) ", %eax\n"
    "    lea " STR(SB_IDLE_STACK) "-24(%r13), %rdi\n"
    "    xor %esi, %esi\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 4f\n"
    "    mov $" STR(__NR_prctl) ", %eax\n" /* Syscall User Dispatch over the stub's text */
    "    mov $" STR(PR_SET_SYSCALL_USER_DISPATCH) ", %edi\n"
    "    mov $" STR(PR_SYS_DISPATCH_ON) ", %esi\n"
    "    lea __executable_start(%rip), %rdx\n"
    "    lea __etext+1(%rip), %r10\n"
    "    sub %rdx, %r10\n"
    "    mov %r15, %r8\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 4f\n"
    "    mov $" STR(__NR_prctl) ", %eax\n"
    "    mov $" STR(PR_SET_SECCOMP) ", %edi\n"
    "    mov $" STR(SECCOMP_MODE_STRICT) ", %esi\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 4f\n"
    /* Confined: C from here, on the (unused) signal stack. */
    "    lea " STR(SB_THREAD_BLOCK) "-64(%r13), %rsp\n"
    "    mov %r13, %rdi\n"
    "    mov %r12, %rsi\n"
    "    xor %ebp, %ebp\n"
    "    call sb_pool_join\n"
    "    hlt\n"
    "4:  mov $" STR(__NR_write) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    lea 8f(%rip), %rsi\n"
    "    mov $1, %edx\n"
    "    syscall\n"
    "    mov $" STR(__NR_exit) ", %eax\n"
    "    mov $127, %edi\n"
    "    syscall\n"
    "    hlt\n"
    "7:  .byte 'p'\n"
    "8:  .byte 'f'\n");
