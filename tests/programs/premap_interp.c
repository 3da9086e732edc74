/* An ELF interpreter that claims glibc's name (DT_SONAME ld-linux-x86-64.so.2)
 * but loads nothing: the broker foretells the program's libraries and makes
 * their first mappings just below it (broker/premaps.py), and none is taken.
 * It reports whether memory there holds bytes before it maps anything, then
 * maps anonymous memory over it, which must read back as zeros.  Built
 * freestanding, as a static PIE. */
#define AT_BASE 7
#define SPAN (16UL << 20)

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

static void say(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    sys6(1, 1, (long)s, (long)n, 0, 0, 0); /* write */
}

static int any_bytes(const unsigned char *p, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        if (p[i])
            return 1;
    return 0;
}

__attribute__((used)) void interp_main(long *sp)
{
    long argc = sp[0];
    long *p = sp + 1 + argc + 1; /* past argv and its NULL */
    while (*p)
        p++;
    unsigned long base = 0;
    for (p++; p[0]; p += 2)
        if (p[0] == AT_BASE)
            base = (unsigned long)p[1];
    unsigned long lo = (base - SPAN) & ~4095UL;
    say(any_bytes((const unsigned char *)lo, base - lo) ? "bytes below\n" : "nothing below\n");
    long r = sys6(9, (long)lo, (long)(base - lo), 3, 0x32, -1, 0); /* mmap RW, MAP_PRIVATE|ANON|FIXED */
    if (r != (long)lo)
        say("mmap failed\n");
    else
        say(any_bytes((const unsigned char *)lo, base - lo) ? "mapped: not zero\n" : "mapped: zero\n");
    sys6(231, 0, 0, 0, 0, 0, 0); /* exit_group */
}

__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call interp_main\n hlt\n");
