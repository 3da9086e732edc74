/* The client end of a thread's broker channel.  A request is one
 * SOCK_SEQPACKET message holding a msgpack array [seq, op, args...] (op is a
 * syscall number or a negative SB_OP_*); the reply is [seq, result, extra...].
 * The broker trusts none of it: this is convenience, not a boundary. */
#include "runtime.h"

static unsigned char *put_uint(unsigned char *p, unsigned long v)
{
    if (v < 0x80) {
        *p++ = (unsigned char)v;
        return p;
    }
    *p++ = 0xcf;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_int(unsigned char *p, long v)
{
    if (v >= 0)
        return put_uint(p, (unsigned long)v);
    if (v >= -32) {
        *p++ = (unsigned char)v;
        return p;
    }
    *p++ = 0xd3;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)((unsigned long)v >> (8 * i));
    return p;
}

/* Decodes one msgpack integer; returns the bytes used, 0 if malformed. */
static int get_int(const unsigned char *p, const unsigned char *end, long *out)
{
    if (p >= end)
        return 0;
    unsigned char b = *p;
    if (b < 0x80 || b >= 0xe0) { /* positive or negative fixint */
        *out = b < 0x80 ? (long)b : (long)(signed char)b;
        return 1;
    }
    int n;
    int sign = 0;
    switch (b) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: n = 1; sign = 1; break;
    case 0xd1: n = 2; sign = 1; break;
    case 0xd2: n = 4; sign = 1; break;
    case 0xd3: n = 8; sign = 1; break;
    default: return 0;
    }
    if (end - p < n + 1)
        return 0;
    unsigned long v = 0;
    for (int i = 1; i <= n; i++)
        v = (v << 8) | p[i];
    if (sign && n < 8 && (v >> (8 * n - 1)))
        v |= ~0UL << (8 * n);
    *out = (long)v;
    return n + 1;
}

/* This thread cannot go on (its channel is gone or garbled): it exits, and
 * the broker, told by its pidfd, ends the sandbox saying why. */
__attribute__((noreturn)) static void sb_give_up(unsigned code)
{
    for (;;)
        sys1(__NR_exit, code);
}

static void send_request(struct sb_thread *t, unsigned long seq, long op, const unsigned long *args,
                         int nargs)
{
    unsigned char *p = t->req;
    *p++ = (unsigned char)(0x90 | (2 + nargs));
    p = put_uint(p, seq);
    p = put_int(p, op);
    for (int i = 0; i < nargs; i++)
        p = put_uint(p, args[i]);
    long n;
    do
        n = sys3(__NR_write, t->chan_fd, t->req, p - t->req);
    while (n == -EINTR);
    if (n != p - t->req)
        sb_give_up(125); /* the broker is gone */
}

/* A thread's first message, the ready op, and the broker's answer: sent
 * plainly, not by sb_broker, as no program signal may cancel it (the
 * thread has none yet).  0, or -1 if the channel failed. */
int sb_send_ready(struct sb_thread *t)
{
    static const unsigned char ready[] = {0x92, 0x01, 0x100 + SB_OP_READY};
    if (sys3(__NR_write, t->chan_fd, ready, sizeof ready) != sizeof ready ||
        sys3(__NR_read, t->chan_fd, t->rep, sizeof t->rep) <= 0)
        return -1;
    t->seq = 1;
    return 0;
}

/* A signal for this thread while its request waits for an answer: ask the
 * broker to end the call now, once.  Called from the reading loop and from
 * sb_async, so a signal that lands just before the read still cancels. */
void sb_cancel_if_signalled(struct sb_thread *t)
{
    unsigned long target = __atomic_load_n(&t->awaiting, __ATOMIC_ACQUIRE);
    if (!target || !sb_must_stop(t) || __atomic_exchange_n(&t->cancel_claimed, 1, __ATOMIC_ACQ_REL))
        return;
    unsigned long seq = ++t->seq;
    send_request(t, seq, SB_OP_CANCEL, &target, 1);
    __atomic_store_n(&t->cancel, seq, __ATOMIC_RELEASE);
}

/* While the main thread is paired with the broker (boot.cpu: each on a CPU
 * of its own), the broker polls for requests instead of sleeping, and sets
 * t->answered to the request's seq once its answer is in the channel, or
 * once it will be a while (the call waits: a sleep, a poll).  Watching that
 * word for a while, instead of sleeping in read at once, spares the broker
 * a wakeup of this thread's CPU, the dearest part of a round trip here
 * (DESIGN.md); the watch ends after ANSWER_WATCH_NS of the clock page's
 * time, or ANSWER_SPINS pauses when the page does not tick that finely
 * (coarse or deterministic time; ANSWER_SPINS_TICKING if the broker
 * stops ticking it).  Only a hint: the read that follows takes the answer
 * either way. */
#define ANSWER_WATCH_NS 400000
#define ANSWER_SPINS 20000
#define ANSWER_SPINS_TICKING (1u << 22)

static void watch_for_answer(struct sb_thread *t, unsigned long seq)
{
    const volatile struct sb_clock *clk = (const volatile struct sb_clock *)SB_CLOCK_PAGE;
    if (!__atomic_load_n(&ST->boot.cpu, __ATOMIC_RELAXED))
        return;
    long start = clk->monotonic_ns;
    int ticking = clk->tick_ns && clk->tick_ns <= ANSWER_WATCH_NS / 2; /* (coarse time: 100 ms) */
    for (unsigned i = 1; __atomic_load_n(&t->answered, __ATOMIC_ACQUIRE) < seq; i++) {
        __builtin_ia32_pause();
        if ((ticking && !(i & 255) && clk->monotonic_ns - start > ANSWER_WATCH_NS) ||
            i >= (ticking ? ANSWER_SPINS_TICKING : ANSWER_SPINS))
            return;
    }
}

/* Reads the reply to `seq`; returns its result and fills extra.  After a
 * cancel the broker answers the call at once (ERESTART*), then the cancel. */
static long await_reply(struct sb_thread *t, unsigned long seq, long *extra, int nextra)
{
    long result = 0;
    int have_result = 0, have_cancel_reply = 0;
    t->cancel = 0;
    t->cancel_claimed = 0;
    __atomic_store_n(&t->awaiting, seq, __ATOMIC_SEQ_CST);
    sb_cancel_if_signalled(t); /* one that came before we got here */
    watch_for_answer(t, seq);
    for (;;) {
        long n = sys3(__NR_read, t->chan_fd, t->rep, sizeof t->rep);
        if (n == -EINTR) {
            sb_cancel_if_signalled(t);
            continue;
        }
        if (n <= 0)
            sb_give_up(125);
        const unsigned char *q = t->rep, *end = t->rep + n;
        int count = *q & 0x0f;
        long rseq, ret;
        int used;
        if ((*q++ & 0xf0) != 0x90 || count < 2)
            sb_give_up(126);
        if (!(used = get_int(q, end, &rseq)))
            sb_give_up(126);
        q += used;
        if (!(used = get_int(q, end, &ret)))
            sb_give_up(126);
        q += used;
        unsigned long cancel = __atomic_load_n(&t->cancel, __ATOMIC_ACQUIRE);
        if ((unsigned long)rseq == seq && !have_result) {
            if (count - 2 > nextra)
                sb_give_up(126);
            for (int i = 0; i < count - 2; i++) {
                if (!(used = get_int(q, end, &extra[i])))
                    sb_give_up(126);
                q += used;
            }
            result = ret;
            have_result = 1;
            __atomic_store_n(&t->awaiting, 0, __ATOMIC_SEQ_CST); /* no cancel from here on */
        } else if (cancel && (unsigned long)rseq == cancel && have_result) {
            have_cancel_reply = 1; /* the cancel's own answer: nothing to keep */
        } else {
            sb_give_up(126);
        }
        if (have_result && (!__atomic_load_n(&t->cancel_claimed, __ATOMIC_ACQUIRE) || have_cancel_reply))
            return result;
    }
}

long sb_broker(struct sb_thread *t, long op, const unsigned long *args, int nargs,
               long *extra, int nextra)
{
    unsigned long seq = ++t->seq;
    __atomic_add_fetch(&ST->calls_forwarded, 1, __ATOMIC_RELAXED);
    send_request(t, seq, op, args, nargs);
    return await_reply(t, seq, extra, nextra);
}

/* A call that had to wait (sleep, poll, futex) comes back with the broker's
 * monotonic clock: catch up with it, so the wait is never shorter to the
 * program than it was (the clock page may be one tick old). */
static long waited(struct sb_thread *t, long op, const unsigned long *args, int nargs)
{
    long clock = 0;
    long r = sb_broker(t, op, args, nargs, &clock, 1);
    uint64_t last = __atomic_load_n(&ST->clock_last, __ATOMIC_RELAXED);
    while (clock > 0 && (uint64_t)clock > last &&
           !__atomic_compare_exchange_n(&ST->clock_last, &last, (uint64_t)clock, 1,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    return r;
}

long sb_forward(struct sb_call *c)
{
    c->forwarded = 1;
    return waited(c->t, c->nr, c->a, 6);
}

/* Sleeps until a byte is in this thread's wake pipe (0) or ns pass (-ETIMEDOUT). */
long sb_wake_wait(struct sb_thread *t, unsigned long ns)
{
    return waited(t, SB_OP_WAKE_WAIT, &ns, 1);
}

void sb_exit_process(struct sb_thread *t, long status)
{
    unsigned long a = (unsigned long)status & 0xff;
    t->sigpending = 0;
    __atomic_store_n(&ST->sigpending, 0, __ATOMIC_RELEASE); /* nothing may cancel this */
    sb_broker(t, SB_OP_EXIT, &a, 1, NULL, 0);
    for (;;) /* the broker ends the process; wait for it */
        sys3(__NR_read, t->chan_fd, t->rep, sizeof t->rep);
}

void sb_die(struct sb_thread *t, int sig, k_siginfo *si, unsigned long rip)
{
    unsigned long a[4] = {(unsigned long)sig, (unsigned long)(si ? si->si_code : 0),
                          si ? si->fault.addr : 0, rip};
    sb_broker(t, SB_OP_FAULT, a, 4, NULL, 0);
    for (;;)
        sys3(__NR_read, t->chan_fd, t->rep, sizeof t->rep);
}
