/* Clocks from the broker's time source for trapped calls (strict mode has no
 * TSC; the program's vDSO serves the common ones untrapped), and getrandom
 * from a ChaCha20 stream keyed by the broker's seed. */
#include "runtime.h"
#include "clock_read.h"

#define NSEC 1000000000L
/* 1 us: even gettimeofday() moves on every read (libuuid relies on it).  A
 * trapped call takes longer than that (about 2.5 us here), so the nudged
 * clock does not run ahead of the real one.  (The vDSO's untrapped reads
 * nudge by 1 ns.) */
#define NUDGE_NS 1000

void sb_clock_now(long *realtime_ns, long *monotonic_ns)
{
    sb_read_clock(NUDGE_NS, realtime_ns, monotonic_ns);
}

/* A struct timespec of the program's as nanoseconds (saturating); -EFAULT
 * or -EINVAL as the kernel answers a bad one. */
long sb_timespec_ns(unsigned long p, long *ns)
{
    if (!SB_ARENA_OK(p, 16))
        return -EFAULT;
    const long *ts = (const long *)p;
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= NSEC)
        return -EINVAL;
    *ns = ts[0] > (0x7fffffffffffffffL - ts[1]) / NSEC ? 0x7fffffffffffffffL : ts[0] * NSEC + ts[1];
    return 0;
}

/* CPU time is the kernel's to count: a round trip to the broker. */
static long cpu_time(struct sb_thread *t)
{
    long extra[3] = {0, 0, 0};
    sb_broker(t, SB_OP_TIME, NULL, 0, extra, 3);
    return extra[2];
}

long sys_clock_gettime(struct sb_call *c)
{
    unsigned long clk = c->a[0];
    long *tp = (long *)c->a[1];
    long real, mono, ns;
    if (clk > 11 || clk == 10)
        return -EINVAL;
    if (!SB_ARENA_OK(tp, 16))
        return -EFAULT;
    if (clk == CLOCK_PROCESS_CPUTIME_ID || clk == CLOCK_THREAD_CPUTIME_ID) {
        ns = cpu_time(c->t);
    } else {
        sb_clock_now(&real, &mono);
        switch (clk) {
        case CLOCK_REALTIME: case CLOCK_REALTIME_COARSE: case CLOCK_REALTIME_ALARM: case CLOCK_TAI:
            ns = real;
            break;
        default: /* MONOTONIC, _RAW, _COARSE, BOOTTIME, BOOTTIME_ALARM */
            ns = mono;
            break;
        }
    }
    tp[0] = ns / NSEC;
    tp[1] = ns % NSEC;
    return 0;
}

long sys_gettimeofday(struct sb_call *c)
{
    long *tv = (long *)c->a[0];
    int *tz = (int *)c->a[1];
    long real, mono;
    if ((tv && !SB_ARENA_OK(tv, 16)) || (tz && !SB_ARENA_OK(tz, 8)))
        return -EFAULT;
    sb_clock_now(&real, &mono);
    if (tv) {
        tv[0] = real / NSEC;
        tv[1] = real % NSEC / 1000;
    }
    if (tz)
        tz[0] = tz[1] = 0;
    return 0;
}

long sys_time(struct sb_call *c)
{
    long *out = (long *)c->a[0];
    long real, mono;
    if (out && !SB_ARENA_OK(out, 8))
        return -EFAULT;
    sb_clock_now(&real, &mono);
    if (out)
        *out = real / NSEC;
    return real / NSEC;
}

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                                                       \
    (a += b, d ^= a, d = ROTL(d, 16), c += d, b ^= c, b = ROTL(b, 12), a += b, d ^= a,       \
     d = ROTL(d, 8), c += d, b ^= c, b = ROTL(b, 7))

static void chacha20_block(const unsigned char key[32], unsigned long counter,
                           unsigned char out[64])
{
    unsigned in[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
    memcpy(&in[4], key, 32);
    in[12] = (unsigned)counter;
    in[13] = (unsigned)(counter >> 32);
    in[14] = in[15] = 0;
    unsigned x[16];
    memcpy(x, in, sizeof x);
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        x[i] += in[i];
    memcpy(out, x, 64);
}

long sys_getrandom(struct sb_call *c)
{
    unsigned char *buf = (unsigned char *)c->a[0];
    unsigned long len = c->a[1];
    if (c->a[2] & ~7UL) /* GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE */
        return -EINVAL;
    if (len > 0x1ffffff)
        len = 0x1ffffff; /* the kernel's cap on one call */
    if (!SB_ARENA_OK(buf, len))
        return -EFAULT;
    unsigned char block[64];
    for (unsigned long done = 0; done < len; done += 64) {
        chacha20_block(ST->boot.random_seed, ST->rng_counter++, block);
        memcpy(buf + done, block, len - done < 64 ? len - done : 64);
    }
    return (long)len;
}
