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
 *     the request: its own memory, or lose it), and copies the three fd
 *     numbers it received into the new slot's block unread (wrong ones
 *     only break the program's own thread);
 *   - a request whose byte is 'x' maps the arena back over a range at its
 *     own offset, and answers 'X' from the note with the arena's fd; one
 *     whose byte is 'm' maps the file it carries (moved to the note's fd
 *     number) over a range, private, readable and executable at most, and
 *     answers 'M' from the note with that fd.  No strict-mode thread can
 *     send an fd, so neither answer can be forged.  The program can turn
 *     any request into any other and change its numbers: each kind is safe
 *     with any numbers, as the range is checked, in registers, to lie in
 *     the arena (which holds nothing of the stub's): the program can only
 *     show itself its own arena or the broker's file where it chose;
 *   - its calls: recvmsg, sendmsg and close on the spawn socket and the
 *     fds it carries, mmap of the arena's fd and of a received file,
 *     clone with fixed flags, pidfd_open and dup3, and in
 *     the new thread, before anything else, the same confinement as slot
 *     0's (parent-death signal, signal stack, Syscall User Dispatch, strict
 *     mode).  Only then does the new thread run C, as an ordinary pool
 *     thread (sb_pool_join).
 * Each new thread's pidfd goes to the broker at once as 'p', a message no
 * strict-mode thread can send, from a page the stub made read-only before
 * the program ran (struct spawn_note): its header, its byte and its fd
 * number (the pidfd is dup3'd there) are out of the program's reach.  The
 * broker watches the thread from then on.  If there is no pidfd or it
 * cannot go, the spawner ends the sandbox (SB_EXIT_UNWATCHED) rather than
 * let a thread run unwatched. */
#include "runtime.h"
#include <asm/socket.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define OFF(type, field) __builtin_offsetof(struct type, field)
/* Offsets the assembly uses, checked against the structs. */
#define T_CHAN 8
#define T_WAKE_R 80
#define T_WAKE_W 84
#define T_HOST_TID 88
#define BOX_IOV 56
#define BOX_BYTE 88
#define BOX_ARGS 96
#define BOX_CMSG 128
#define BOX_FDS 144
#define CMSG_ROOM 32 /* CMSG_SPACE(3 * sizeof(int)) */
#define NOTE_FD 144 /* offsetof(struct spawn_note, fd) */
#define NOTE_ARENA_FD 148
#define NOTE_XMSG 152
#define NOTE_MMSG 248
#define NOTE_MFD 336
#define NOTE_ARENA_END 344
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9's <linux/pidfd.h>, which older headers lack */
#endif
_Static_assert(OFF(sb_thread, chan_fd) == T_CHAN && OFF(sb_thread, wake_rfd) == T_WAKE_R &&
               OFF(sb_thread, wake_wfd) == T_WAKE_W && OFF(sb_thread, host_tid) == T_HOST_TID,
               "struct sb_thread moved");
_Static_assert(OFF(sb_spawn_box, iov) == BOX_IOV && OFF(sb_spawn_box, byte) == BOX_BYTE &&
               OFF(sb_spawn_box, args) == BOX_ARGS && OFF(sb_spawn_box, cmsg) == BOX_CMSG && OFF(sb_spawn_box, fds) == BOX_FDS &&
               sizeof(struct sb_spawn_box) == BOX_CMSG + CMSG_ROOM, "struct sb_spawn_box moved");
_Static_assert(sizeof(stack_t) == 24, "stack_t");

/* The spawner's messages, and the arena's end, on a page read-only once
 * the program runs. */
struct spawn_note {
    struct msghdr_raw {
        void *name;
        unsigned long namelen, iov, iovlen, control, controllen, flags;
    } msg;
    unsigned long iov[2]; /* the byte 'p' (in the stub's text) */
    unsigned char pad[128 - 56 - 16];
    unsigned long cmsg_len; /* one SCM_RIGHTS header ... */
    int level, type;
    int fd; /* ... and the fd number the pidfd is put at */
    int arena_fd; /* where the arena stays open, to map it back over the pins */
    struct msghdr_raw xmsg; /* 'X': the pins are arena memory again ... */
    unsigned long xiov[2];
    unsigned long xcmsg_len; /* ... with the arena's fd, which no strict-mode thread can send */
    int xlevel, xtype, xfd, xpad;
    struct msghdr_raw mmsg; /* 'M': the file is mapped ... */
    unsigned long miov[2];
    unsigned long mcmsg_len; /* ... and here it is back: the broker checks it is the one it sent */
    int mlevel, mtype, mfd, mpad;
    unsigned long arena_end; /* what 'x' and 'm' may map lies in [SB_ARENA_BASE, arena_end) */
};
_Static_assert(OFF(spawn_note, fd) == NOTE_FD && OFF(spawn_note, arena_fd) == NOTE_ARENA_FD &&
               OFF(spawn_note, xmsg) == NOTE_XMSG && OFF(spawn_note, mmsg) == NOTE_MMSG &&
               OFF(spawn_note, mfd) == NOTE_MFD && OFF(spawn_note, arena_end) == NOTE_ARENA_END &&
               sizeof(struct spawn_note) <= 4096, "struct spawn_note moved");

extern const char sb_spawner_p[], sb_spawner_x[], sb_spawner_m[];

static void rights_message(struct msghdr_raw *m, unsigned long *iov, const char *byte,
                           unsigned long *cmsg)
{
    m->iov = (unsigned long)iov;
    m->iovlen = 1;
    m->control = (unsigned long)cmsg;
    m->controllen = 24; /* CMSG_SPACE(sizeof(int)) */
    iov[0] = (unsigned long)byte;
    iov[1] = 1;
    cmsg[0] = 20; /* CMSG_LEN(sizeof(int)) */
    cmsg[1] = SOL_SOCKET | (unsigned long)SCM_RIGHTS << 32;
}

/* Fills the note at page (fd: where each pidfd goes; arena_fd: the arena,
 * kept open; map_fd: where a file to map goes; arena_size: the arena's) and
 * makes it read-only; 0 or -errno.  The stub calls it before the program
 * runs. */
long sb_spawner_note(void *page, int fd, int arena_fd, int map_fd, unsigned long arena_size)
{
    struct spawn_note *n = page;
    rights_message(&n->msg, n->iov, sb_spawner_p, &n->cmsg_len);
    n->fd = fd;
    rights_message(&n->xmsg, n->xiov, sb_spawner_x, &n->xcmsg_len);
    n->xfd = n->arena_fd = arena_fd;
    rights_message(&n->mmsg, n->miov, sb_spawner_m, &n->mcmsg_len);
    n->mfd = map_fd;
    n->arena_end = SB_ARENA_BASE + arena_size;
    return sys3(__NR_mprotect, (unsigned long)page, 4096, PROT_READ);
}

/* sb_spawner(rdi = slot 0's wake fd, rsi = spawn socket, rdx = the next
 * slot's block, rcx = the end of the thread blocks, r8 = &ST->selector,
 * r9 = &ST->spawn, 8(%rsp) = the read-only note).  Starts the program (a
 * byte to slot 0's wake pipe), then serves spawn requests until the broker
 * closes its end.  (It reads its seventh argument before the program can
 * run: until then the stack is still ours.) */
__asm__(
    "    .text\n"
    "    .globl sb_spawner\n"
    "sb_spawner:\n"
    "    mov 8(%rsp), %rbp\n" /* struct spawn_note, read-only */
    "    mov %rsi, %r12\n" /* spawn socket */
    "    mov %rdx, %r13\n" /* the next slot's block */
    "    mov %rcx, %r14\n" /* end of the blocks */
    "    mov %r8, %r15\n"  /* the dispatch selector */
    "    mov %r9, %rbx\n"  /* struct sb_spawn_box */
    "    mov $" STR(__NR_write) ", %eax\n"
    "    lea sb_spawner(%rip), %rsi\n" /* any byte will do */
    "    mov $1, %edx\n"
    "    syscall\n"
    "1:  xor %eax, %eax\n" /* struct msghdr: the byte, the numbers and the fds */
    "    mov %rax, 0(%rbx)\n"
    "    mov %rax, 8(%rbx)\n"
    "    lea " STR(BOX_IOV) "(%rbx), %rax\n"
    "    mov %rax, 16(%rbx)\n"
    "    movq $2, 24(%rbx)\n"
    "    lea " STR(BOX_CMSG) "(%rbx), %rax\n"
    "    mov %rax, 32(%rbx)\n"
    "    movq $" STR(CMSG_ROOM) ", 40(%rbx)\n"
    "    movq $0, 48(%rbx)\n"
    "    lea " STR(BOX_BYTE) "(%rbx), %rax\n"
    "    mov %rax, " STR(BOX_IOV) "(%rbx)\n"
    "    movq $1, " STR(BOX_IOV) "+8(%rbx)\n"
    "    lea " STR(BOX_ARGS) "(%rbx), %rax\n"
    "    mov %rax, " STR(BOX_IOV) "+16(%rbx)\n"
    "    movq $32, " STR(BOX_IOV) "+24(%rbx)\n"
    "    movq $-1, " STR(BOX_FDS) "(%rbx)\n" /* no fds came: -1 */
    "    movl $-1, " STR(BOX_FDS) "+8(%rbx)\n"
    "    mov $" STR(__NR_recvmsg) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    mov %rbx, %rsi\n"
    "    xor %edx, %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jz 9f\n"  /* the broker closed its end */
    "    cmp $-" STR(EFAULT) ", %rax\n"
    "    je 1b\n"  /* (the program spoilt the message header: again) */
    "    test %rax, %rax\n"
    "    js 6f\n"
    "    movzbl " STR(BOX_BYTE) "(%rbx), %eax\n" /* (the program may change it: each kind is safe) */
    "    cmp $'x', %al\n"
    "    je 7f\n"
    "    cmp $'m', %al\n"
    "    je 10f\n"
    "    cmp %r14, %r13\n"
    "    jae 6f\n" /* past the last slot: the broker never asks that */
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
    "    js 6f\n"
    "    add $" STR(SB_THREAD_BLOCK) ", %r13\n" /* each request takes a block, as the broker counts */
    /* Its pidfd, at the note's fd number, to the broker as 'p'. */
    "    mov %rax, %rdi\n"
    "    mov $" STR(__NR_pidfd_open) ", %eax\n"
    "    mov $" STR(PIDFD_THREAD) ", %esi\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    js 6f\n"
    "    mov %rax, %rdi\n"
    "    mov $" STR(__NR_dup3) ", %eax\n"
    "    movslq " STR(NOTE_FD) "(%rbp), %rsi\n"
    "    mov $" STR(O_CLOEXEC) ", %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    js 6f\n"
    "    mov $" STR(__NR_close) ", %eax\n" /* rdi: the pidfd where pidfd_open put it */
    "    syscall\n"
    "    mov $" STR(__NR_sendmsg) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    mov %rbp, %rsi\n"
    "    xor %edx, %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jle 6f\n"
    "    mov $" STR(__NR_close) ", %eax\n"
    "    movslq " STR(NOTE_FD) "(%rbp), %rdi\n"
    "    syscall\n"
    "    jmp 1b\n"
    /* 'x': map the arena back over [start, start + len) at its own offset
     * (its bytes are there already), then answer 'X' from the note. */
    "7:  lea 11f(%rip), %r11\n"
    "    jmp 20f\n"
    "11: mov $" STR(__NR_mmap) ", %eax\n"
    "    mov $" STR(PROT_READ | PROT_WRITE | PROT_EXEC) ", %edx\n"
    "    mov $" STR(MAP_SHARED | MAP_FIXED) ", %r10d\n"
    "    movslq " STR(NOTE_ARENA_FD) "(%rbp), %r8\n"
    "    lea -" STR(SB_ARENA_BASE) "(%rdi), %r9\n"
    "    syscall\n"
    "    cmp %rax, %rdi\n"
    "    jne 6f\n"
    "    mov $" STR(__NR_sendmsg) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    lea " STR(NOTE_XMSG) "(%rbp), %rsi\n"
    "    xor %edx, %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jle 6f\n"
    "    jmp 1b\n"
    /* 'm': the file it carries, moved to the note's fd number, mapped
     * private over [start, start + len) from offset, readable and
     * executable at most, then 'M' from the note with that fd. */
    "10: movslq " STR(BOX_FDS) "(%rbx), %rdi\n" /* (any fd: only a file maps) */
    "    mov $" STR(__NR_dup3) ", %eax\n"
    "    movslq " STR(NOTE_MFD) "(%rbp), %rsi\n"
    "    mov $" STR(O_CLOEXEC) ", %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    js 6f\n"
    "    mov $" STR(__NR_close) ", %eax\n" /* rdi: where it came */
    "    syscall\n"
    "    lea 13f(%rip), %r11\n"
    "    jmp 20f\n"
    "13: mov " STR(BOX_ARGS) "+16(%rbx), %rdx\n"
    "    and $" STR(PROT_READ | PROT_EXEC) ", %edx\n"
    "    mov $" STR(MAP_PRIVATE | MAP_FIXED) ", %r10d\n"
    "    movslq " STR(NOTE_MFD) "(%rbp), %r8\n"
    "    mov " STR(BOX_ARGS) "+24(%rbx), %r9\n"
    "    mov $" STR(__NR_mmap) ", %eax\n"
    "    syscall\n"
    "    cmp %rax, %rdi\n"
    "    jne 6f\n"
    "    mov $" STR(__NR_sendmsg) ", %eax\n"
    "    mov %r12, %rdi\n"
    "    lea " STR(NOTE_MMSG) "(%rbp), %rsi\n"
    "    xor %edx, %edx\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jle 6f\n"
    "    mov $" STR(__NR_close) ", %eax\n"
    "    movslq " STR(NOTE_MFD) "(%rbp), %rdi\n"
    "    syscall\n"
    "    jmp 1b\n"
    /* The range of an 'x' or 'm' (r11: where each goes on), each number
     * read once and checked in registers: rdi = start, rsi = len, and
     * [start, start + len) must lie in the arena, which holds nothing of
     * the stub's. */
    "20: mov " STR(BOX_ARGS) "(%rbx), %rdi\n"
    "    mov " STR(BOX_ARGS) "+8(%rbx), %rsi\n"
    "    cmp $" STR(SB_ARENA_BASE) ", %rdi\n"
    "    jb 6f\n"
    "    test %rsi, %rsi\n"
    "    jz 6f\n"
    "    mov %rdi, %rax\n"
    "    add %rsi, %rax\n"
    "    jc 6f\n"
    "    cmp " STR(NOTE_ARENA_END) "(%rbp), %rax\n"
    "    ja 6f\n"
    "    jmp *%r11\n"
    "6:  mov $" STR(__NR_exit_group) ", %eax\n" /* no thread, or none the broker can watch */
    "    mov $" STR(SB_EXIT_UNWATCHED) ", %edi\n"
    "    syscall\n"
    "    hlt\n"
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
    "4:  mov $" STR(__NR_exit_group) ", %eax\n" /* it cannot confine itself: the sandbox ends */
    "    mov $" STR(SB_EXIT_UNWATCHED) ", %edi\n"
    "    syscall\n"
    "    hlt\n"
    "    .globl sb_spawner_p\n"
    "sb_spawner_p:\n"
    "    .byte 'p'\n"
    "    .globl sb_spawner_x\n"
    "sb_spawner_x:\n"
    "    .byte 'X'\n"
    "    .globl sb_spawner_m\n"
    "sb_spawner_m:\n"
    "    .byte 'M'\n");
