/* I/O on the program's inherited stdio goes straight to the real fd (read and
 * write are allowed in strict mode); every other fd is held by the broker.
 * fstat and the terminal ioctls on stdio answer from what the broker recorded
 * at launch, saving a round trip. */
#include "runtime.h"
#include <linux/stat.h>

#define TCGETS 0x5401
#define TIOCGWINSZ 0x5413
#define FIONCLEX 0x5450
#define FIOCLEX 0x5451
#define KERNEL_TERMIOS_SIZE 36
#define GATHER_MAX 4096

struct iov {
    unsigned long base, len;
};

static int direct_fd(unsigned long fd)
{
    return fd < SB_MAX_FDS ? ST->fd_host[fd] : -1;
}

/* The broker's per-fd cache entry, if it has `flag` (see strictbox_abi.h). */
static struct sb_fdcache *cached(unsigned long fd, unsigned flag)
{
    return fd < SB_MAX_FDS && (ST->fdc[fd].flags & flag) ? &ST->fdc[fd] : NULL;
}

/* The kernel reads an fd argument as 32 bits: so do we, before looking it
 * up here (else fd | 1 << 32 would reach the broker past our cache). */
static void fd_args(struct sb_call *c, int n)
{
    for (int i = 0; i < n; i++)
        c->a[i] &= 0xffffffffUL;
}

static const unsigned char *slot_of(const struct sb_fdcache *e)
{
    return (const unsigned char *)(SB_PREFETCH_BASE + (unsigned long)(e->slot % SB_PREFETCH_SLOTS) * SB_PREFETCH_SLOT);
}

static long pread_at(struct sb_call *c, unsigned long fd, unsigned long buf, unsigned long count,
                     unsigned long pos)
{
    unsigned long a[6] = {fd, buf, count, pos, 0, 0};
    return sb_broker(c->t, __NR_pread64, a, 6, NULL, 0);
}

/* Bytes of a prefetched file at `pos`, as pread would give them, from the
 * window the slot holds (the caller checked they are there: in_window). */
static long copy_out(const struct sb_fdcache *e, void *buf, unsigned long count, unsigned long pos)
{
    if (!SB_ARENA_OK(buf, count))
        return -EFAULT;
    unsigned long end = e->win + e->held;
    unsigned long n = pos >= e->win && pos < end ? end - pos : 0;
    if (n > count)
        n = count;
    memcpy(buf, slot_of(e) + (n ? pos - e->win : 0), n);
    return (long)n;
}

/* Whether the window answers count bytes at pos: it holds them all, or all
 * there are up to the file's end (its size at open, as fstat says). */
static int in_window(const struct sb_fdcache *e, unsigned long pos, unsigned long count)
{
    unsigned long end = e->win + e->held;
    if (pos >= e->size)
        return 1; /* at the end: 0 bytes */
    return pos >= e->win && pos <= end && (count <= end - pos || end >= e->size);
}

/* count bytes of a prefetched file at pos: from the window if it holds
 * them.  A small sequential read it does not hold moves the window on to
 * pos: one round trip per slot's worth (busybox reads 4 KiB at a time).
 * Other reads, and buffers the arena does not wholly hold or the program
 * may not write (Linux's short count or EFAULT), go to the broker as a
 * pread. */
static long window_read(struct sb_call *c, struct sb_fdcache *e, unsigned long fd, unsigned char *buf,
                        unsigned long count, unsigned long pos, int sequential)
{
    if (!SB_ARENA_OK(buf, count) || sb_pinned((unsigned long)buf, count))
        return pread_at(c, fd, (unsigned long)buf, count, pos);
    if (in_window(e, pos, count))
        return copy_out(e, buf, count, pos);
    if (!sequential || count > SB_PREFETCH_SLOT / 2)
        return pread_at(c, fd, (unsigned long)buf, count, pos);
    long done = copy_out(e, buf, count, pos); /* the window's part, if it has one */
    pos += (unsigned long)done;
    long n = pread_at(c, fd, (unsigned long)slot_of(e), SB_PREFETCH_SLOT, pos);
    if (n < 0)
        return done ? done : n;
    e->win = pos;
    e->held = (unsigned long)n;
    return done + copy_out(e, buf + done, count - (unsigned long)done, pos);
}

/* The next linux_dirent64 record of a listing at pos: its length, or 0 at
 * the end (or where the slot's bytes, which the program may have changed,
 * make no record). */
static unsigned long next_record(const struct sb_fdcache *e, unsigned long pos)
{
    unsigned short reclen;
    if (e->size > SB_PREFETCH_SLOT || pos + 19 > e->size)
        return 0;
    memcpy(&reclen, slot_of(e) + pos + 16, sizeof reclen);
    return reclen >= 19 && pos + reclen <= e->size ? reclen : 0;
}

/* Where a listing's position is for the kernel: the d_off of the record
 * before pos (0: the start). */
static unsigned long listing_cookie(const struct sb_fdcache *e)
{
    unsigned long at = 0, cookie = 0, n;
    while (at < e->pos && (n = next_record(e, at))) {
        memcpy(&cookie, slot_of(e) + at + 8, sizeof cookie);
        at += n;
    }
    return cookie;
}

/* Hand a prefetched fd back to the broker: tell it our offset first. */
static void uncache(struct sb_thread *t, unsigned long fd)
{
    struct sb_fdcache *e = cached(fd, SB_FD_DATA | SB_FD_LISTING);
    if (!e)
        return;
    unsigned long a[2] = {fd, e->flags & SB_FD_LISTING ? listing_cookie(e) : e->pos};
    sb_broker(t, SB_OP_HAND_BACK, a, 2, NULL, 0);
    e->flags &= ~(SB_FD_DATA | SB_FD_LISTING);
}

/* A second thread is about to start: the broker gets back every position
 * kept here (two threads on one fd would race for it, and their hand-backs
 * too), and while threads run it keeps them itself (fdtable.publish). */
void sb_hand_back_positions(struct sb_thread *t)
{
    for (unsigned long fd = 0; fd < SB_MAX_FDS; fd++)
        if (ST->fdc[fd].flags & (SB_FD_DATA | SB_FD_LISTING))
            uncache(t, fd);
}

/* The fd's cache entry with `flag` whose position the runtime keeps (a
 * prefetched file, a listing): only while one thread runs, as two reading
 * one fd would race for it (Linux serialises them); else the broker gets
 * the position back, and the call. */
static struct sb_fdcache *own_position(struct sb_call *c, unsigned flag)
{
    struct sb_fdcache *e = cached(c->a[0], flag);
    if (e && (__atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) != 1 ||
              __atomic_load_n(&ST->threads_exiting, __ATOMIC_ACQUIRE))) {
        uncache(c->t, c->a[0]);
        return NULL;
    }
    return e;
}

/* read or write on a real fd.  A signal interrupts it as it would natively
 * (our handlers have no SA_RESTART): restarted or EINTR, by the program's
 * SA_RESTART, once its handler runs. */
static long direct_io(long nr, int h, unsigned long buf, unsigned long n)
{
    for (;;) {
        long r = sys3(nr, h, buf, n);
        if (r != -EINTR)
            return r;
        if (sb_must_stop(sb_current_thread()))
            return -ERESTARTSYS;
    }
}

static struct sb_stdio *stdio_of(int host)
{
    return host >= 0 && host < SB_NSTDIO ? &ST->boot.stdio[host] : NULL;
}

long sys_read(struct sb_call *c)
{
    fd_args(c, 1);
    int h = direct_fd(c->a[0]);
    struct sb_fdcache *e = own_position(c, SB_FD_DATA);
    /* Past the slot, or a buffer the arena does not wholly hold (the broker
     * gives Linux's short count or EFAULT): the broker reads at our offset. */
    if (e && !c->a[2])
        return 0; /* read(fd, NULL, 0), as Linux */
    if (e) {
        long n = window_read(c, e, c->a[0], (unsigned char *)c->a[1], c->a[2], e->pos, 1);
        if (n > 0)
            e->pos += (unsigned long)n;
        return n;
    }
    if (h < 0)
        return sb_forward(c);
    if (!SB_ARENA_OK(c->a[1], c->a[2]))
        return -EFAULT;
    return direct_io(__NR_read, h, (unsigned long)c->a[1], c->a[2]);
}

long sys_write(struct sb_call *c)
{
    fd_args(c, 1);
    int h = direct_fd(c->a[0]);
    if (h < 0)
        return sb_forward(c);
    if (!SB_ARENA_OK(c->a[1], c->a[2]))
        return -EFAULT;
    return direct_io(__NR_write, h, (unsigned long)c->a[1], c->a[2]);
}

static long check_iov(const struct iov *v, unsigned long n, unsigned long *total)
{
    if (n > 1024)
        return -EINVAL;
    if (!SB_ARENA_OK(v, n * sizeof *v))
        return -EFAULT;
    *total = 0;
    for (unsigned long i = 0; i < n; i++) {
        if (!SB_ARENA_OK(v[i].base, v[i].len))
            return -EFAULT;
        *total += v[i].len;
    }
    return 0;
}

/* read or write buffer by buffer, stopping at the first short transfer. */
static long each_buffer(long nr, int h, const struct iov *v, unsigned long n)
{
    long done = 0;
    for (unsigned long i = 0; i < n; i++) {
        if (!v[i].len)
            continue;
        long r = direct_io(nr, h, (unsigned long)v[i].base, v[i].len);
        if (r < 0)
            return done ? done : r;
        done += r;
        if ((unsigned long)r < v[i].len)
            break;
    }
    return done;
}

/* Strict mode has no readv/writev: a small gather becomes one write (so pipe
 * writes stay atomic); larger ones go buffer by buffer. */
long sys_writev(struct sb_call *c)
{
    fd_args(c, 1);
    int h = direct_fd(c->a[0]);
    if (h < 0)
        return sb_forward(c);
    const struct iov *v = (const void *)c->a[1];
    unsigned long n = c->a[2], total;
    long err = check_iov(v, n, &total);
    if (err)
        return err;
    if (total <= GATHER_MAX) {
        unsigned char buf[GATHER_MAX];
        unsigned long off = 0;
        for (unsigned long i = 0; i < n; i++, off += v[i - 1].len)
            memcpy(buf + off, (void *)v[i].base, v[i].len);
        return direct_io(__NR_write, h, (unsigned long)buf, total);
    }
    return each_buffer(__NR_write, h, v, n);
}

long sys_readv(struct sb_call *c)
{
    fd_args(c, 1);
    int h = direct_fd(c->a[0]);
    struct sb_fdcache *e = own_position(c, SB_FD_DATA);
    if (e && (e->win || e->held < e->size)) { /* only part of it is here */
        uncache(c->t, c->a[0]);
        e = NULL;
    }
    if (h < 0 && !e)
        return sb_forward(c);
    const struct iov *v = (const void *)c->a[1];
    unsigned long n = c->a[2], total;
    long err = check_iov(v, n, &total);
    if (err)
        return err;
    for (unsigned long i = 0; e && i < n; i++)
        if (sb_pinned(v[i].base, v[i].len)) { /* the broker answers as Linux: EFAULT or short */
            uncache(c->t, c->a[0]);
            return sb_forward(c);
        }
    if (e) {
        long done = 0;
        for (unsigned long i = 0; i < n; i++) {
            long got = copy_out(e, (void *)v[i].base, v[i].len, e->pos);
            e->pos += (unsigned long)got;
            done += got;
            if ((unsigned long)got < v[i].len)
                break;
        }
        return done;
    }
    return each_buffer(__NR_read, h, v, n);
}

long sys_ioctl(struct sb_call *c)
{
    fd_args(c, 1);
    struct sb_stdio *s = stdio_of(direct_fd(c->a[0]));
    unsigned long req = c->a[1] & 0xffffffffUL;
    if (cached(c->a[0], SB_FD_NOTTY) && (req == TCGETS || req == TIOCGWINSZ))
        return -ENOTTY; /* isatty() on every file CPython opens */
    if (req == FIOCLEX || req == FIONCLEX) { /* may change what F_GETFD says */
        if (c->a[0] < SB_MAX_FDS)
            ST->fdc[c->a[0]].flags &= ~SB_FD_FDKNOWN;
        return sb_forward(c);
    }
    if (!s || (req != TCGETS && req != TIOCGWINSZ))
        return sb_forward(c);
    if (!s->isatty)
        return -ENOTTY;
    unsigned long n = req == TCGETS ? KERNEL_TERMIOS_SIZE : sizeof s->winsize;
    if (!SB_ARENA_OK(c->a[2], n))
        return -EFAULT;
    memcpy((void *)c->a[2], req == TCGETS ? (void *)s->termios : (void *)s->winsize, n);
    return 0;
}

static long stat_stdio(struct sb_call *c, unsigned long fd, unsigned long buf)
{
    struct sb_fdcache *e = cached(fd, SB_FD_STAT);
    if (e) {
        if (!SB_ARENA_OK(buf, sizeof e->stat))
            return -EFAULT;
        memcpy((void *)buf, e->stat, sizeof e->stat);
        return 0;
    }
    struct sb_stdio *s = stdio_of(direct_fd(fd));
    if (!s || !s->has_stat)
        return sb_forward(c);
    if (!SB_ARENA_OK(buf, sizeof s->stat))
        return -EFAULT;
    memcpy((void *)buf, s->stat, sizeof s->stat);
    return 0;
}

long sys_fstat(struct sb_call *c)
{
    fd_args(c, 1);
    return stat_stdio(c, c->a[0], c->a[1]);
}

/* The stat cache slot for an absolute path (NUL-terminated, short), or NULL. */
static struct sb_statcache *stat_slot(const char *path, unsigned long flags, int for_insert)
{
    unsigned long len = 0;
    while (len < SB_STAT_PATH && SB_ARENA_OK(path + len, 1) && path[len])
        len++;
    if (len == 0 || len >= SB_STAT_PATH || !SB_ARENA_OK(path + len, 1) || path[len] || path[0] != '/')
        return NULL;
    unsigned long h = sb_stat_hash(path, len, flags);
    for (unsigned i = 0; i < 8; i++) {
        struct sb_statcache *e = &ST->statc[(h + i) % SB_STAT_CACHE];
        if (e->used && e->flags == flags && !memcmp(e->path, path, len + 1))
            return e;
        if (for_insert && !e->used)
            return e;
    }
    /* All 8 taken: the first goes, unless the broker holds a file for it
     * (a warm open must find the file of its own path) or fills it now. */
    struct sb_statcache *victim = &ST->statc[h % SB_STAT_CACHE];
    return for_insert && !victim->held && victim->used != SB_STAT_COMING ? victim : NULL;
}

/* An entry the broker reserved before its last answer (SB_STAT_COMING) is
 * filled right after it, while the program runs on.  Paired (the broker
 * has a CPU of its own), a lookup waits for that: less than the round trip
 * asking would cost, which the broker would serve only once done; up to
 * COMING_WAIT_NS of the clock page's time (or COMING_SPINS pauses when the
 * page does not tick that finely).  1 if it was filled or freed. */
#define COMING_WAIT_NS 2000000
#define COMING_SPINS (1u << 15)

static int coming_settled(const struct sb_statcache *e)
{
    if (!__atomic_load_n(&ST->boot.cpu, __ATOMIC_RELAXED))
        return 0;
    const volatile struct sb_clock *clk = (const volatile struct sb_clock *)SB_CLOCK_PAGE;
    long start = clk->monotonic_ns;
    int ticking = clk->tick_ns && clk->tick_ns <= COMING_WAIT_NS / 4;
    for (unsigned i = 1; __atomic_load_n(&e->used, __ATOMIC_ACQUIRE) == SB_STAT_COMING; i++) {
        __builtin_ia32_pause();
        if ((ticking && !(i & 255) && clk->monotonic_ns - start > COMING_WAIT_NS) ||
            (!ticking && i >= COMING_SPINS))
            return 0;
    }
    return 1;
}

/* The stat cache's answer for path: its entry, or NULL (none yet, or one
 * still coming: the broker is asked). */
static struct sb_statcache *stat_find(const char *path, unsigned long flags)
{
    struct sb_statcache *e = stat_slot(path, flags, 0);
    unsigned used = e ? __atomic_load_n(&e->used, __ATOMIC_ACQUIRE) : 0;
    if (used == SB_STAT_COMING) {
        if (!coming_settled(e))
            return NULL;
        e = stat_slot(path, flags, 0); /* (filled as it is now, or freed: none) */
        used = e ? __atomic_load_n(&e->used, __ATOMIC_ACQUIRE) : 0;
    }
    return used && used != SB_STAT_COMING ? e : NULL;
}

/* Keeps the broker's answer for path when it says so (keep: SB_STAT_*). */
static void stat_keep(const char *path, unsigned long flags, long r, long keep, const void *buf)
{
    struct sb_statcache *e;
    int found = r == 0 && keep == SB_STAT_FOUND && SB_ARENA_OK(buf, sizeof e->stat);
    int missing = r == -ENOENT && (keep == SB_STAT_MISSING || keep == SB_STAT_MISSING_OPEN);
    if (!(found || missing) || !(e = stat_slot(path, flags, 1)))
        return;
    unsigned long len = 0;
    while (path[len])
        len++;
    memcpy(e->path, path, len + 1);
    if (found)
        memcpy(e->stat, buf, sizeof e->stat);
    e->flags = (unsigned)flags;
    e->used = (unsigned)keep;
    e->held = 0; /* (an entry of this path: its held file, if any, stays the broker's) */
}

long sys_newfstatat(struct sb_call *c)
{
    const char *path = (const char *)c->a[1];
    unsigned long flags = c->a[3] & 0xffffffffUL;
    if ((flags & AT_EMPTY_PATH) && SB_ARENA_OK(path, 1) && !path[0])
        return stat_stdio(c, c->a[0], c->a[2]);
    if (flags & ~(unsigned long)AT_SYMLINK_NOFOLLOW)
        return sb_forward(c);
    void *buf = (void *)c->a[2];
    struct sb_statcache *e = stat_find(path, flags);
    if (e && e->used != SB_STAT_FOUND)
        return -ENOENT;
    if (e) {
        if (!SB_ARENA_OK(buf, sizeof e->stat))
            return -EFAULT;
        memcpy(buf, e->stat, sizeof e->stat);
        return 0;
    }
    if (sb_listed_missing(path, SB_LISTED_STAT))
        return -ENOENT;
    long keep = 0;
    c->forwarded = 1;
    long r = sb_broker(c->t, c->nr, c->a, 6, &keep, 1);
    stat_keep(path, flags, r, keep, buf);
    return r;
}

/* readlink of a path the stat cache has the answer for (the broker
 * foretold those along the program's own path: CPython reads where its
 * binary links to); else the broker's. */
static long readlink_call(struct sb_call *c, const char *path, unsigned long buf, unsigned long size)
{
    struct sb_statcache *e = (int)size > 0 ? stat_find(path, SB_STAT_READLINK) : NULL;
    if (!e)
        return sb_forward(c);
    if (e->used == SB_STAT_NOTLINK)
        return -EINVAL;
    if (e->used != SB_STAT_FOUND)
        return -ENOENT;
    unsigned long n = e->held_size < sizeof e->stat ? e->held_size : sizeof e->stat;
    if (n > (unsigned)(int)size)
        n = (unsigned)(int)size;
    if (!SB_ARENA_OK(buf, n) || sb_pinned(buf, n)) /* (the broker says what Linux does) */
        return sb_forward(c);
    memcpy((void *)buf, e->stat, n);
    return (long)n;
}

long sys_readlink(struct sb_call *c) { return readlink_call(c, (const char *)c->a[0], c->a[1], c->a[2]); }
long sys_readlinkat(struct sb_call *c) { return readlink_call(c, (const char *)c->a[1], c->a[2], c->a[3]); }

/* Queues an fd change for the broker's next request (struct sb_fdevent).
 * With threads the queue would race the broker reading it: then ask at once. */
static int fd_event(int fd, long entry, unsigned long flags)
{
    if (ST->nfdevents >= SB_MAX_FDEVENTS || __atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) != 1 ||
        __atomic_load_n(&ST->threads_exiting, __ATOMIC_ACQUIRE))
        return 0;
    ST->fdevents[ST->nfdevents++] = (struct sb_fdevent){fd, (int)entry, (unsigned)flags};
    return 1;
}

/* Opens the file or directory the broker holds for stat cache entry e (a
 * warm start's) at the lowest free fd, as the broker would have; -1 when
 * it cannot, or the open is not the one it is held for. */
static long open_held(struct sb_statcache *e, unsigned long flags)
{
    unsigned long limit = ST->boot.fd_limit < SB_MAX_FDS ? ST->boot.fd_limit : SB_MAX_FDS, fd = 0;
    while (fd < limit && ((ST->fdc[fd].flags & SB_FD_OPEN) || ST->fd_host[fd] >= 0))
        fd++;
    if (fd >= limit || (flags & ~(unsigned long)O_CLOEXEC) != e->held_flags ||
        !fd_event((int)fd, e - ST->statc, flags))
        return -1;
    struct sb_fdcache *f = &ST->fdc[fd];
    unsigned mode;
    memcpy(&mode, e->stat + 24, sizeof mode); /* st_mode */
    int dir = (mode & S_IFMT) == S_IFDIR;
    unsigned long size;
    memcpy(&size, e->stat + 48, sizeof size); /* st_size */
    f->slot = e->held - 1;
    f->size = dir ? e->held_size : size;
    f->pos = f->win = 0;
    f->held = dir ? 0 : e->held_size <= SB_PREFETCH_MOST ? e->held_size : 0;
    memcpy(f->stat, e->stat, sizeof f->stat);
    f->flags = SB_FD_OPEN | SB_FD_FDKNOWN | SB_FD_NOTTY | SB_FD_STAT | (dir ? SB_FD_LISTING : SB_FD_DATA) |
               (flags & O_CLOEXEC ? SB_FD_CLOEXEC : 0);
    e->held = 0;
    return (long)fd;
}

/* The flags of an open that a missing file fails with ENOENT whatever they
 * are: reading, creating nothing. */
#define OPEN_LOOKUP_ONLY (O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_DIRECTORY | O_NOFOLLOW)

/* A read-only open of a path the stat cache knows missing fails here; one of
 * a file the broker holds for it is made here. */
long sys_openat(struct sb_call *c)
{
    const char *path = (const char *)c->a[1];
    unsigned long flags = c->a[2] & 0xffffffffUL;
    if (flags & ~(unsigned long)OPEN_LOOKUP_ONLY)
        return sb_forward(c);
    struct sb_statcache *e = stat_find(path, 0);
    if (e && e->used == SB_STAT_MISSING_OPEN)
        return -ENOENT;
    long fd = e && e->used == SB_STAT_FOUND && e->held ? open_held(e, flags) : -1;
    if (fd >= 0)
        return fd;
    if (!e && sb_listed_missing(path, SB_LISTED_OPEN))
        return -ENOENT;
    long keep = 0;
    c->forwarded = 1;
    long r = sb_broker(c->t, c->nr, c->a, 6, &keep, 1);
    if (keep == SB_STAT_MISSING_OPEN)
        stat_keep(path, 0, r, keep, 0);
    return r;
}

long sys_close(struct sb_call *c)
{
    fd_args(c, 1);
    unsigned long fd = c->a[0];
    if (fd == ST->fmap_fd) /* its mapping's bytes are no answer for a new file */
        ST->fmap_end = 0;
    /* A file the broker opened (it left an fdc entry) is known to be open:
     * queue its close for the broker's next request instead of asking now.
     * Any later use of the number reaches the broker after the queue. */
    if (cached(fd, SB_FD_NOTTY) && direct_fd(fd) < 0 && fd_event((int)fd, -1, 0)) {
        ST->fdc[fd].flags = 0;
        return 0;
    }
    long r = sb_forward(c); /* the broker keeps the authoritative fd table */
    if (r == 0 && fd < SB_MAX_FDS) {
        ST->fd_host[fd] = -1;
        ST->fdc[fd].flags = 0;
    }
    return r;
}

long sys_pread64(struct sb_call *c)
{
    fd_args(c, 1);
    struct sb_fdcache *e = cached(c->a[0], SB_FD_DATA);
    if (!e)
        return sb_forward(c);
    if ((long)c->a[3] < 0)
        return -EINVAL;
    if (!c->a[2])
        return 0;
    unsigned long pos = c->a[3]; /* sequential: it goes on from the window */
    return window_read(c, e, c->a[0], (unsigned char *)c->a[1], c->a[2], pos,
                       pos >= e->win && pos <= e->win + e->held);
}

/* A listing that returned the last entries costs a second round trip only
 * to learn that it ended: the broker says so with the entries (read-only
 * mounts), and the next call answers 0 here until a seek or a close. */
long sys_getdents64(struct sb_call *c)
{
    fd_args(c, 1);
    unsigned long fd = c->a[0], count = c->a[2] & 0xffffffffUL, n = 0, len;
    unsigned char *buf = (unsigned char *)c->a[1];
    struct sb_fdcache *e = own_position(c, SB_FD_LISTING);
    if (e && direct_fd(fd) < 0) { /* the whole listing is here: as many records as fit */
        if (count > 0x7fffffff)
            count = 0; /* an int to the kernel: no room for any */
        while ((len = next_record(e, e->pos + n)) && n + len <= count)
            n += len;
        if (!n)
            return next_record(e, e->pos) ? -EINVAL : 0;
        if (SB_ARENA_OK(buf, n) && !sb_pinned((unsigned long)buf, n)) {
            memcpy(buf, slot_of(e) + e->pos, n);
            e->pos += n;
            return (long)n;
        }
        uncache(c->t, fd); /* the broker says what Linux does with that buffer */
    }
    if (cached(fd, SB_FD_DIREND) && direct_fd(fd) < 0)
        return 0;
    long end = 0;
    c->forwarded = 1;
    long r = sb_broker(c->t, c->nr, c->a, 6, &end, 1);
    if (r > 0 && end == 1 && fd < SB_MAX_FDS && (ST->fdc[fd].flags & SB_FD_NOTTY))
        ST->fdc[fd].flags |= SB_FD_DIREND;
    return r;
}

/* A seek forwarded on any fd may move a directory's position (dups share
 * it): every end-of-directory mark goes. */
static void forget_dir_ends(void)
{
    for (unsigned i = 0; i < SB_MAX_FDS; i++)
        ST->fdc[i].flags &= ~SB_FD_DIREND;
}

long sys_lseek(struct sb_call *c)
{
    fd_args(c, 1);
    c->a[2] &= 0xffffffffUL; /* whence: an unsigned int to the kernel too */
    if (cached(c->a[0], SB_FD_NOSEEK) && c->a[2] <= 4 /* SEEK_MAX */)
        return -ESPIPE; /* CPython's tell() on each stdio stream */
    struct sb_fdcache *l = own_position(c, SB_FD_LISTING);
    if (l && c->a[1] == 0 && c->a[2] == 0) { /* rewinddir */
        l->pos = 0;
        return 0;
    }
    if (l)
        uncache(c->t, c->a[0]); /* any other seek in a listing: the broker's */
    struct sb_fdcache *e = own_position(c, SB_FD_DATA);
    if (!e) {
        forget_dir_ends();
        return sb_forward(c);
    }
    long off = (long)c->a[1], base;
    switch (c->a[2]) {
    case 0: base = 0; break;                     /* SEEK_SET */
    case 1: base = (long)e->pos; break;          /* SEEK_CUR */
    case 2: base = (long)e->size; break;         /* SEEK_END */
    default: /* SEEK_DATA, SEEK_HOLE: the broker knows */
        uncache(c->t, c->a[0]);
        return sb_forward(c);
    }
    if ((off > 0 && base > 0x7fffffffffffffffL - off) || base + off < 0)
        return -EINVAL;
    if ((unsigned long)(base + off) > e->size) {
        /* Past the end: how far a file may go is the file system's to say
         * (EINVAL past it). The broker seeks there; the offset stays ours. */
        unsigned long a[6] = {c->a[0], (unsigned long)(base + off), 0 /* SEEK_SET */, 0, 0, 0};
        long r = sb_broker(c->t, __NR_lseek, a, 6, NULL, 0);
        if (r >= 0)
            e->pos = (unsigned long)r;
        return r;
    }
    e->pos = (unsigned long)(base + off);
    return (long)e->pos;
}

/* The broker keeps the fd table; we only mirror which fds are inherited
 * stdio, so a dup of stdout keeps writing straight to it and a dup2 over it
 * sends writes to the broker. */
static long mirror_dup(long newfd, unsigned long oldfd)
{
    if (newfd >= 0 && newfd < SB_MAX_FDS && newfd != (long)oldfd) {
        ST->fd_host[newfd] = direct_fd(oldfd);
        struct sb_fdcache *e = cached(oldfd, SB_FD_STAT | SB_FD_NOTTY);
        if (e) { /* same file: same answers, but the offset is the broker's again */
            unsigned own = ST->fdc[newfd].flags & (SB_FD_OPEN | SB_FD_FDKNOWN | SB_FD_CLOEXEC); /* the broker's, for newfd */
            ST->fdc[newfd] = *e;
            ST->fdc[newfd].flags &= ~(SB_FD_OPEN | SB_FD_DATA | SB_FD_LISTING | SB_FD_DIREND | SB_FD_FDKNOWN |
                                      SB_FD_CLOEXEC);
            ST->fdc[newfd].flags |= own;
        }
    }
    return newfd;
}

/* A dup shares the file offset: a prefetched fd goes back to the broker first. */
static long dup_call(struct sb_call *c)
{
    uncache(c->t, c->a[0]);
    return mirror_dup(sb_forward(c), c->a[0]);
}

long sys_dup(struct sb_call *c) { fd_args(c, 1); return dup_call(c); }
long sys_dup2(struct sb_call *c) { fd_args(c, 2); return dup_call(c); }
long sys_dup3(struct sb_call *c) { fd_args(c, 2); return dup_call(c); }

long sys_fcntl(struct sb_call *c)
{
    fd_args(c, 1);
    unsigned long cmd = c->a[1] & 0xffffffffUL;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return dup_call(c);
    struct sb_fdcache *e = cached(c->a[0], SB_FD_FDKNOWN);
    if (e && cmd == F_GETFD) /* CPython asks of each stdio stream */
        return (e->flags & SB_FD_CLOEXEC) ? FD_CLOEXEC : 0;
    long r = sb_forward(c);
    if (e && cmd == F_SETFD && r == 0)
        e->flags = (e->flags & ~SB_FD_CLOEXEC) | ((c->a[2] & FD_CLOEXEC) ? SB_FD_CLOEXEC : 0);
    return r;
}
