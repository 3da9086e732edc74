/* Sends a well-formed request to the broker and exits at once, directly (the
 * runtime never hears of it): the broker finds a request from a process that
 * is gone, and a channel nobody reads. */
#define SB_CFFI
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "strictbox_abi.h"

static char cwd[64];

int main(void)
{
    volatile struct sb_state *st = (volatile struct sb_state *)SB_ARENA_BASE;
    struct sb_thread *t = (struct sb_thread *)st->boot.threads_base;
    unsigned char msg[64], *p = msg;
    *p++ = 0x98;
    *p++ = (unsigned char)(t->seq + 1); /* a small seq: fixint */
    *p++ = 79;                          /* getcwd */
    *p++ = 0xcf;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)((uintptr_t)cwd >> (8 * i));
    *p++ = 64;
    for (int i = 0; i < 4; i++)
        *p++ = 0;
    printf("sending\n");
    fflush(stdout);
    long r;
    st->selector = 0;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"((long)t->chan_fd), "S"(msg), "d"((long)(p - msg))
                     : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : : "a"(60L), "D"(7L) : "rcx", "r11", "memory"); /* exit(7) */
    return 0;
}
