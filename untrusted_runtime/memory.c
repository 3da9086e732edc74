/* Anonymous memory inside the arena: brk, mmap, munmap, mremap, mprotect,
 * madvise.  The arena is mapped RWX once; protections are bookkeeping only.
 * Mappings grow down from boot.mmap_top, the heap up from boot.brk_start. */
#include "runtime.h"

#define PAGE 4096UL
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))
/* Regions this large are zeroed by the broker punching a hole in the arena
 * memfd, which also hands the memory back; smaller ones are cleared here. */
#define PUNCH_MIN (256 * 1024UL)
/* What a mapping or the heap takes of an unmapped range, up to this large,
 * is cleared here: its pages are most likely still there, and a memfd page
 * punched and faulted in again costs ~2.6 us where clearing it costs
 * ~0.1 us (CPython unmaps and maps its 1 MiB arenas, glibc trims and
 * regrows its heap, over and over). */
#define CLEAR_MAX (2UL << 20)

/* Pinned pages are the files' own, mapped by the stub or the spawner
 * (struct sb_pin).  Whether [start, start + len) holds any, by the broker's
 * copy of the list (read under its seqlock). */
int sb_pinned(unsigned long start, unsigned long len)
{
    if (!len)
        return 0;
    for (;;) {
        unsigned seq = __atomic_load_n(&ST->boot.pins_seq, __ATOMIC_ACQUIRE), hit = 0;
        unsigned n = __atomic_load_n(&ST->boot.npins, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < n && i < SB_MAX_PINS && !hit; i++)
            hit = ST->boot.pins[i].start < start + len && start < ST->boot.pins[i].start + ST->boot.pins[i].len;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(seq & 1) && __atomic_load_n(&ST->boot.pins_seq, __ATOMIC_RELAXED) == seq)
            return hit;
    }
}

enum { KEEP, DISCARD };

/* Before anything here may write, zero, move or unmap pinned pages, the
 * broker makes the range's pinned pages arena memory again (a round trip),
 * bytes and all (a copy) unless the caller discards them: it zeroes or
 * overwrites the whole range next.  0, or -errno.  (The answer comes with
 * the broker's clock, as for any call that waited: ignored.) */
static long unpin(unsigned long start, unsigned long len, int discard)
{
    if (!sb_pinned(start, len))
        return 0;
    unsigned long a[3] = {start, len, discard};
    return sb_broker(sb_current_thread(), SB_OP_UNPIN, a, 3, (long[1]){0}, 1);
}

void sb_zero(unsigned long start, unsigned long len)
{
    if (unpin(start, len, DISCARD)) /* (each call that zeroes has unpinned already: */
        return;            /* this fails only in a sandbox being ended) */
    if (len >= PUNCH_MIN) {
        unsigned long a[6] = {start, len, 0, 0, 0, 0};
        if (sb_broker(sb_current_thread(), __NR_munmap, a, 6, NULL, 0) == 0)
            return;
    }
    memset((void *)start, 0, len);
}

/* A large range unmapped whole, or the heap's top given back, keeps its
 * bytes (ST->stale) until a mapping or the heap takes any of it: it is
 * zeroed then (stale_take), or never (CPython frees its arenas as it exits;
 * the broker zeroes or frees the whole arena after the sandbox).  A punch
 * is made under the memory map's lock, unlike an unmap's: rare, and the
 * program's own threads wait.  1 if kept. */
static int stale_keep(unsigned long start, unsigned long len)
{
    if (ST->nstale >= SB_MAX_STALE)
        return 0;
    ST->stale[ST->nstale++] = (struct sb_vma){start, start + len, 0};
    return 1;
}

/* Zeroes [start, start + n), taken from a kept range: cleared here if small
 * enough (CLEAR_MAX), else as sb_zero does (a punch). */
static void zero_taken(unsigned long start, unsigned long n)
{
    if (!sb_arena_ok(start, n))
        return;
    if (n > CLEAR_MAX)
        sb_zero(start, n);
    else if (!unpin(start, n, DISCARD)) /* (fails only in a sandbox being ended) */
        memset((void *)start, 0, n);
}

/* [start, start + len) is about to be handed out: what it takes of each
 * kept range is zeroed; the rest of that range stays kept (or is zeroed
 * now, if the table has no room for it). */
static void stale_take(unsigned long start, unsigned long len)
{
    unsigned long end = start + len;
    for (unsigned i = 0; i < ST->nstale && i < SB_MAX_STALE;) {
        struct sb_vma r = ST->stale[i];
        if (!(r.start < end && start < r.end)) {
            i++;
            continue;
        }
        ST->stale[i] = ST->stale[--ST->nstale]; /* (index i is looked at again) */
        unsigned long lo = r.start > start ? r.start : start, hi = r.end < end ? r.end : end;
        zero_taken(lo, hi - lo);
        if (r.start < lo && !stale_keep(r.start, lo - r.start))
            zero_taken(r.start, lo - r.start);
        if (hi < r.end && !stale_keep(hi, r.end - hi))
            zero_taken(hi, r.end - hi);
    }
}

/* Forget the file mapping remembered for sys_mmap: its bytes may change. */
static void fmap_forget(void)
{
    ST->fmap_end = 0;
}

/* Remember [addr, addr + len), read-only, as holding fd from off, as the
 * broker filled it (or made it before the start: a premap). */
static void fmap_remember(unsigned long addr, unsigned long len, unsigned long fd, unsigned long off)
{
    ST->fmap_start = addr;
    ST->fmap_end = addr + len;
    ST->fmap_off = off;
    ST->fmap_fd = fd;
    ST->fmap_gen = __atomic_load_n(&ST->calls_forwarded, __ATOMIC_RELAXED);
}

/* [addr, addr + len) of fd at off already holds exactly what a fresh mapping
 * would: it lies in the last file mapping the broker filled, at the same file
 * offset, and nothing has been asked of the broker since (no close, no open,
 * no read into it) nor changed here (fmap_forget). */
static int fmap_in_place(unsigned long addr, unsigned long len, unsigned long fd, unsigned long off)
{
    return ST->fmap_end && fd == ST->fmap_fd && addr >= ST->fmap_start &&
           len <= ST->fmap_end - addr && addr <= ST->fmap_end &&
           addr - ST->fmap_start == off - ST->fmap_off && off >= ST->fmap_off &&
           __atomic_load_n(&ST->calls_forwarded, __ATOMIC_RELAXED) == ST->fmap_gen;
}

/* A private mapping of bytes the last file mapping the broker filled holds
 * too, at another address (ld.so maps a library's data segment a page off
 * from where its first mapping put those bytes): copied from there, as the
 * broker would copy them from the file (and zeros past its end, which the
 * fill has too), with no round trip.  As for map_from_slot, only when the
 * policy lets every mmap by and with one thread (a sibling's madvise may
 * zero the window without a round trip); and not over pinned pages (whose
 * unpin could drop source bytes; pinned source pages are the file's own).
 * 1 if done.  (sys_mmap has refused an offset off a page boundary.) */
static int fmap_copy(unsigned long addr, unsigned long len, unsigned long flags, unsigned long fd,
                     unsigned long off)
{
    if (!ST->boot.maps_from_slots || (flags & 0x0f) != MAP_PRIVATE || !ST->fmap_end ||
        fd != ST->fmap_fd || off < ST->fmap_off ||
        __atomic_load_n(&ST->calls_forwarded, __ATOMIC_RELAXED) != ST->fmap_gen ||
        __atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) != 1)
        return 0;
    unsigned long window = ST->fmap_end - ST->fmap_start, skip = off - ST->fmap_off;
    if (skip > window || len > window - skip || sb_pinned(addr, len))
        return 0;
    memmove((void *)addr, (const void *)(ST->fmap_start + skip), len);
    return 1;
}

/* A mapping of a file whose every byte is in a prefetch slot, when the
 * policy lets every mmap by (boot.maps_from_slots): copied here from the
 * slot, as the broker would copy it from the file, with no round trip
 * (ld.so maps /etc/ld.so.cache, glibc its gconv cache).  Only with one
 * thread (a sibling's close could hand the slot to another file
 * meanwhile), and only what the broker would answer with a plain copy;
 * 1 if done.  (sys_mmap has refused an offset off a page boundary.) */
static int map_from_slot(unsigned long addr, unsigned long len, unsigned long prot,
                         unsigned long flags, unsigned long fd, unsigned long off)
{
    const unsigned need = SB_FD_OPEN | SB_FD_DATA;
    fd &= 0xffffffffUL; /* (the kernel reads an int) */
    if (!ST->boot.maps_from_slots || fd >= SB_MAX_FDS ||
        __atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) != 1)
        return 0;
    struct sb_fdcache *e = &ST->fdc[fd];
    if ((e->flags & need) != need || e->win || e->held != e->size || e->held > SB_PREFETCH_MOST ||
        e->slot >= SB_PREFETCH_SLOTS || e->slot * SB_PREFETCH_SLOT + e->held > SB_PREFETCH_SLOTS * SB_PREFETCH_SLOT ||
        (long)off < 0 ||
        ((flags & 0x0f) != MAP_PRIVATE && (prot & PROT_WRITE)))
        return 0;
    unsigned long n = off < e->held ? e->held - off : 0;
    if (n > len)
        n = len;
    if (len - n > SB_PREFETCH_SLOT) /* (a long tail of zeros: the broker punches it) */
        return 0;
    memcpy((void *)addr, (const void *)(SB_PREFETCH_BASE + e->slot * SB_PREFETCH_SLOT + off), n);
    memset((void *)(addr + n), 0, len - n);
    return 1;
}

static int overlaps(unsigned long start, unsigned long end)
{
    for (unsigned i = 0; i < ST->nvmas; i++)
        if (ST->vmas[i].start < end && start < ST->vmas[i].end)
            return 1;
    return 0;
}

/* [start, start + len) is about to change hands (mapped over, unmapped,
 * advised away): a premap there that was never taken is spoiled, and its
 * memory zeroed, as memory no mapping holds is. */
static void premaps_spoil(unsigned long start, unsigned long len)
{
    unsigned n = ST->npremaps < SB_MAX_PREMAPS ? ST->npremaps : SB_MAX_PREMAPS;
    for (unsigned i = 0; i < n; i++) {
        struct sb_premap *p = &ST->premaps[i];
        if (p->intact && p->start < start + len && start < p->start + p->len) {
            p->intact = 0;
            if (sb_arena_ok(p->start, p->len))
                sb_zero(p->start, p->len);
        }
    }
}

/* The start of a premap (struct sb_premap) this mapping takes, or 0: a
 * private read-only mapping of len bytes from offset 0 of the file open at
 * fd (the same file, by its fstat), made while the program has one thread
 * (ld.so's start: nothing else changes the fd table meanwhile) and the
 * policy lets every mmap by (the broker would not be asked). */
static unsigned long premapped(unsigned long len, unsigned long prot, unsigned long flags,
                               unsigned long fd, unsigned long off)
{
    const unsigned need = SB_FD_OPEN | SB_FD_STAT;
    fd &= 0xffffffffUL; /* (the kernel reads an int) */
    if (!ST->boot.maps_from_slots || (flags & MAP_ANONYMOUS) || (flags & 0x0f) != MAP_PRIVATE ||
        (prot & PROT_WRITE) || off || fd >= SB_MAX_FDS || (ST->fdc[fd].flags & need) != need ||
        __atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) != 1)
        return 0;
    const uint8_t *st = ST->fdc[fd].stat;
    unsigned n = ST->npremaps < SB_MAX_PREMAPS ? ST->npremaps : SB_MAX_PREMAPS;
    for (unsigned i = 0; i < n; i++) {
        struct sb_premap *p = &ST->premaps[i];
        if (p->intact && p->len == len && !memcmp(st, &p->dev, 16) && !memcmp(st + 48, &p->size, 8) &&
            !memcmp(st + 88, p->mtim, 16) && !memcmp(st + 104, p->ctim, 16) &&
            sb_arena_ok(p->start, len) && !overlaps(p->start, p->start + len)) {
            p->intact = 0;
            return p->start;
        }
    }
    return 0;
}

/* Removes [start, end) from the table, splitting entries as needed. */
static int vma_remove(unsigned long start, unsigned long end)
{
    for (unsigned i = 0; i < ST->nvmas; i++) {
        struct sb_vma *v = &ST->vmas[i];
        if (v->end <= start || end <= v->start)
            continue;
        if (v->start < start && end < v->end) { /* punch a hole: split in two */
            if (ST->nvmas >= SB_MAX_VMAS)
                return -ENOMEM;
            memmove(v + 2, v + 1, (ST->nvmas - i - 1) * sizeof *v);
            v[1] = (struct sb_vma){end, v->end, v->prot};
            v->end = start;
            ST->nvmas++;
            return 0;
        }
        if (v->start < start)
            v->end = start;
        else if (end < v->end)
            v->start = end;
        else {
            memmove(v, v + 1, (ST->nvmas - i - 1) * sizeof *v);
            ST->nvmas--;
            i--;
        }
    }
    return 0;
}

static int vma_insert(unsigned long start, unsigned long end, unsigned long prot)
{
    if (ST->nvmas >= SB_MAX_VMAS)
        return -ENOMEM;
    unsigned i = 0;
    while (i < ST->nvmas && ST->vmas[i].start < start)
        i++;
    memmove(&ST->vmas[i + 1], &ST->vmas[i], (ST->nvmas - i) * sizeof ST->vmas[0]);
    ST->vmas[i] = (struct sb_vma){start, end, prot};
    ST->nvmas++;
    return 0;
}

/* Highest free gap of len bytes below mmap_top and above the heap. */
static unsigned long find_free(unsigned long len)
{
    unsigned long top = ST->boot.mmap_top;
    unsigned long floor = PAGE_UP(ST->brk_cur) + 16 * PAGE;
    for (int i = (int)ST->nvmas - 1; i >= -1; i--) {
        unsigned long below = i >= 0 ? ST->vmas[i].end : floor;
        if (i >= 0 && ST->vmas[i].start >= top)
            continue;
        if (below < floor)
            below = floor;
        if (top >= below && top - below >= len)
            return top - len;
        if (i >= 0 && ST->vmas[i].start < top)
            top = ST->vmas[i].start;
    }
    return 0;
}

long sys_brk(struct sb_call *c)
{
    unsigned long want = c->a[0];
    if (want < ST->boot.brk_start || want > ST->boot.mmap_top)
        return (long)ST->brk_cur;
    unsigned long old_end = PAGE_UP(ST->brk_cur), new_end = PAGE_UP(want);
    if (new_end > old_end && overlaps(old_end, new_end))
        return (long)ST->brk_cur;
    if (new_end < old_end) {
        fmap_forget();
        if (old_end - new_end < PUNCH_MIN || !stale_keep(new_end, old_end - new_end))
            sb_zero(new_end, old_end - new_end);
    } else if (new_end > old_end && unpin(old_end, new_end - old_end, DISCARD)) {
        return (long)ST->brk_cur; /* (a pin an interrupted mmap left there) */
    } else if (new_end > old_end) {
        stale_take(old_end, new_end - old_end);
    }
    ST->brk_cur = want;
    return (long)want;
}

long sys_mmap(struct sb_call *c)
{
    unsigned long addr = c->a[0], len = PAGE_UP(c->a[1]), prot = c->a[2], flags = c->a[3];
    if (!len || len < c->a[1] || (addr & (PAGE - 1)) || (c->a[5] & (PAGE - 1)))
        return -EINVAL; /* (as Linux: before any mapping changes) */
    int fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0, stale = 0;
    if (fixed) {
        if (!sb_arena_ok(addr, len))
            return -ENOMEM;
        int over = overlaps(addr, addr + len);
        if (over && (flags & MAP_FIXED_NOREPLACE))
            return -EEXIST;
        premaps_spoil(addr, len);
        stale_take(addr, len);
        int in_place = over && !(flags & MAP_ANONYMOUS) && fmap_in_place(addr, len, c->a[4], c->a[5]);
        if (!in_place || (prot & PROT_WRITE)) { /* (pinned, the same bytes may stay) */
            long r = unpin(addr, len, in_place ? KEEP : DISCARD); /* (else zeroed or filled whole) */
            if (r)
                return r;
        }
        if (over) {
            if (in_place) {
                if (prot & PROT_WRITE) /* the program may write it from now on */
                    fmap_forget();
                vma_remove(addr, addr + len);
                if (vma_insert(addr, addr + len, prot) < 0)
                    return -ENOMEM;
                return (long)addr;
            }
            int copied = !(flags & MAP_ANONYMOUS) && fmap_copy(addr, len, flags, c->a[4], c->a[5]);
            fmap_forget();
            vma_remove(addr, addr + len);
            if (copied)
                return vma_insert(addr, addr + len, prot) < 0 ? -ENOMEM : (long)addr;
            /* A file mapping is overwritten whole by the broker (file bytes,
             * then zeros past the end of the file): no zeroing round trip
             * first (ld.so maps each segment over its first mapping). */
            if (flags & MAP_ANONYMOUS)
                sb_zero(addr, len);
            else
                stale = 1;
        }
    } else if (!addr && (addr = premapped(len, prot, flags, c->a[4], c->a[5]))) {
        /* made by the broker already, as its fill would have: in place */
        stale_take(addr, len); /* (none: its unmap spoiled it) */
        if (vma_insert(addr, addr + len, prot) < 0)
            return -ENOMEM;
        fmap_remember(addr, len, c->a[4], 0);
        return (long)addr;
    } else {
        if (!(addr && sb_arena_ok(addr, len) && addr >= PAGE_UP(ST->brk_cur) &&
              !overlaps(addr, addr + len)))
            addr = find_free(len);
        if (!addr)
            return -ENOMEM;
        premaps_spoil(addr, len); /* (a hint may lead there) */
        stale_take(addr, len);
        long r = unpin(addr, len, DISCARD); /* (a pin left by an interrupted mmap) */
        if (r)
            return r;
    }
    if (vma_insert(addr, addr + len, prot) < 0)
        return -ENOMEM;
    if (!(flags & MAP_ANONYMOUS) && map_from_slot(addr, len, prot, flags, c->a[4], c->a[5])) {
        fmap_forget(); /* (its bytes came from the slot, not a broker's fill) */
    } else if (!(flags & MAP_ANONYMOUS)) {
        /* The broker checks the fd and fills the range we chose: a copy of
         * the file's bytes, or (read-only, large) the file's own pages. */
        unsigned long a[6] = {addr, len, prot, flags, c->a[4], c->a[5]};
        long r = sb_broker(c->t, __NR_mmap, a, 6, (long[1]){0}, 1); /* (+ the clock, if it waited) */
        if (r >= 0 && !(prot & PROT_WRITE))
            fmap_remember(addr, len, c->a[4], c->a[5]);
        if (r < 0) {
            vma_remove(addr, addr + len);
            if (stale)
                sb_zero(addr, len);
            return r;
        }
    }
    return (long)addr;
}

static struct sb_vma *vma_containing(unsigned long start, unsigned long end)
{
    for (unsigned i = 0; i < ST->nvmas; i++)
        if (ST->vmas[i].start <= start && end <= ST->vmas[i].end)
            return &ST->vmas[i];
    return NULL;
}

long sys_munmap(struct sb_call *c)
{
    unsigned long addr = c->a[0], len = PAGE_UP(c->a[1]);
    if ((addr & (PAGE - 1)) || !len || !sb_arena_ok(addr, len))
        return -EINVAL;
    premaps_spoil(addr, len);
    long r = unpin(addr, len, DISCARD);
    if (r)
        return r;
    fmap_forget();
    if (len >= PUNCH_MIN && vma_containing(addr, addr + len)) {
        if (stale_keep(addr, len))
            return vma_remove(addr, addr + len);
        /* Else zeroed now by a broker round trip: not under the memory
         * map's lock, which every other thread's mmap and munmap would wait
         * for too (a thread's exit frees its stack).  It stays in the table
         * meanwhile, so nothing else is placed there (a MAP_FIXED over it
         * from another thread meanwhile is the program's own race). */
        sb_unlock(&ST->mem_lock);
        sb_zero(addr, len);
        sb_lock(&ST->mem_lock);
        return vma_remove(addr, addr + len);
    }
    for (unsigned i = 0; i < ST->nvmas; i++) { /* zero only what was mapped */
        unsigned long s = ST->vmas[i].start > addr ? ST->vmas[i].start : addr;
        unsigned long e = ST->vmas[i].end < addr + len ? ST->vmas[i].end : addr + len;
        if (s < e)
            sb_zero(s, e - s);
    }
    return vma_remove(addr, addr + len);
}

long sys_mremap(struct sb_call *c)
{
    unsigned long old = c->a[0], old_len = PAGE_UP(c->a[1]), new_len = PAGE_UP(c->a[2]);
    unsigned long flags = c->a[3];
    if ((old & (PAGE - 1)) || !new_len || (flags & ~3UL) || (flags & 2)) /* no MREMAP_FIXED */
        return -EINVAL;
    struct sb_vma *v = vma_containing(old, old + old_len);
    if (!v)
        return -EFAULT;
    premaps_spoil(old, old_len > new_len ? old_len : new_len);
    unsigned long prot = v->prot;
    long r = unpin(old, old_len, KEEP);
    if (r)
        return r;
    fmap_forget();
    if (new_len <= old_len) {
        if (new_len < old_len) {
            sb_zero(old + new_len, old_len - new_len);
            vma_remove(old + new_len, old + old_len);
        }
        return (long)old;
    }
    if (sb_arena_ok(old, new_len) && old + new_len <= ST->boot.mmap_top &&
        !overlaps(old + old_len, old + new_len)) {
        if (unpin(old + old_len, new_len - old_len, DISCARD)) /* (a pin an interrupted mmap left) */
            return -ENOMEM;
        stale_take(old + old_len, new_len - old_len);
        vma_remove(old, old + old_len);
        vma_insert(old, old + new_len, prot);
        return (long)old;
    }
    if (!(flags & 1)) /* MREMAP_MAYMOVE */
        return -ENOMEM;
    unsigned long to = find_free(new_len);
    if (!to || unpin(to, new_len, DISCARD) || vma_insert(to, to + new_len, prot) < 0)
        return -ENOMEM;
    stale_take(to, new_len);
    memcpy((void *)to, (void *)old, old_len);
    sb_zero(old, old_len);
    vma_remove(old, old + old_len);
    return (long)to;
}

long sys_mprotect(struct sb_call *c)
{
    unsigned long addr = c->a[0], len = PAGE_UP(c->a[1]);
    if (addr & (PAGE - 1))
        return -EINVAL;
    if (!len)
        return 0;
    if (!sb_arena_ok(addr, len))
        return -ENOMEM;
    if (c->a[2] & PROT_WRITE) { /* the program may now write what we remember */
        long r = unpin(addr, len, KEEP);
        if (r)
            return r;
        fmap_forget();
    }
    for (unsigned i = 0; i < ST->nvmas; i++)
        if (ST->vmas[i].start < addr + len && addr < ST->vmas[i].end)
            ST->vmas[i].prot = c->a[2];
    return 0;
}

long sys_madvise(struct sb_call *c)
{
    unsigned long addr = c->a[0], len = PAGE_UP(c->a[1]), advice = c->a[2];
    if (addr & (PAGE - 1))
        return -EINVAL;
    if (!sb_arena_ok(addr, len))
        return -ENOMEM;
    if (advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE) {
        premaps_spoil(addr, len);
        long r = unpin(addr, len, DISCARD);
        if (r)
            return r;
        /* Without the memory map's lock while the broker punches (a dying
         * thread's stack must not hold the others up), then the cached file
         * mapping is forgotten under it: whatever order this and a mmap of
         * another thread take, the cache never claims bytes zeroed here. */
        sb_zero(addr, len);
        sb_lock(&ST->mem_lock);
        fmap_forget();
        sb_unlock(&ST->mem_lock);
    } /* private anonymous memory reads back as zeros */
    return 0;
}
