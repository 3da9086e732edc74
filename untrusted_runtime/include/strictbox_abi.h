/* The arena's layout: the one contract between the broker and the runtime.
 *
 * The broker reads this file with cffi (so it must stay plain: integer
 * #defines and structs of fixed-size fields), writes the boot block before
 * the stub starts, and reads counters back after the run.  Everything here
 * lives in sandbox memory and is therefore untrusted once strict mode is on:
 * the broker never takes a security decision from it. */
#ifndef STRICTBOX_ABI_H
#define STRICTBOX_ABI_H
#ifndef SB_CFFI
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s32 int32_t;
typedef __s64 int64_t;
#endif

#define SB_MAGIC 0x7862746369727473
#define SB_ABI_VERSION 37
#define SB_ARENA_BASE 0x10000
#define SB_STATE_SIZE 0x3F0000 /* sb_state, then the prefetch slots, up to the image */
#define SB_IMAGE_BASE 0x400000
#define SB_THREAD_BLOCK 0x10000
#define SB_MAX_VMAS 4096
#define SB_MAX_STALE 16
#define SB_MAX_FDS 1024
#define SB_NSIG 65
#define SB_NSTDIO 3
#define SB_MAX_PINS 64
/* Small read-only files are copied into a slot when opened, so the runtime
 * serves their read, pread, lseek and fstat without a round trip. */
#define SB_PREFETCH_BASE 0xB0000 /* SB_ARENA_BASE + 0xA0000 */
#define SB_PREFETCH_SLOTS 53
#define SB_PREFETCH_SLOT 0x10000
#define SB_PREFETCH_HEAD 0x1000 /* a larger file's slot starts with this much of it */
#define SB_PREFETCH_MOST 0x40000 /* a file up to this size may be held whole, in the
                                  * slots on from `slot` (CPython's larger .pyc files) */
/* sb_fdcache.flags */
#define SB_FD_STAT 1  /* stat holds fstat of the fd (a read-only mount) */
#define SB_FD_NOTTY 2 /* a file or directory: terminal ioctls answer ENOTTY */
#define SB_FD_DATA 4  /* the file's bytes [win, win + held) are in prefetch slot `slot` (and on)
                       * (at open its first ones); pos is ours: a small read past
                       * them moves the window, a large one is a pread */
#define SB_FD_DIREND 8 /* a read-only directory read to its end: getdents64 gives 0 */
#define SB_FD_FDKNOWN 16 /* F_GETFD answers from SB_FD_CLOEXEC */
#define SB_FD_CLOEXEC 32
#define SB_FD_NOSEEK 64  /* a pipe or stdio: lseek answers ESPIPE */
#define SB_FD_LISTING 128 /* a read-only directory's whole listing, [0, size) of prefetch
                           * slot `slot` (linux_dirent64 records); pos is ours: the
                           * offset of the next record there */
#define SB_FD_OPEN 256 /* the fd is open: set by the broker when it places an fd and
                        * by a warm open, cleared only with the whole entry when
                        * it closes (the runtime opens a held file at the lowest
                        * fd without it) */
/* stat results by absolute path for read-only mounts (the broker says which
 * answers may be kept, broker/lookups.py): CPython stats the same directories
 * on every import.  An entry sits at the first free of 8 slots from FNV-1a
 * of its path seeded with its flags (fd_io.c; the broker fills the table the
 * same way at start, from a warm start). */
#define SB_STAT_CACHE 256
#define SB_STAT_PATH 120
/* sb_statcache.used */
#define SB_STAT_FOUND 1        /* stat holds the answer */
#define SB_STAT_MISSING 2      /* no such file (ENOENT) */
#define SB_STAT_MISSING_OPEN 3 /* ... and a read-only openat of it may say so too */
#define SB_STAT_COMING 4       /* the broker fills it right after its answer: wait for that */
#define SB_STAT_NOTLINK 5      /* a readlink answer: no symbolic link there (EINVAL) */
/* sb_statcache.flags of a readlink answer: stat holds the link's target,
 * held_size bytes of it (SB_STAT_FOUND) */
#define SB_STAT_READLINK 0x80000000u
/* Directories whose names the runtime knows (struct sb_listing): a lookup
 * of a path through one of them whose next name is not among them fails
 * with ENOENT, without a round trip, for the calls the listing allows.  The
 * broker lists the deepest directory on the way to a path it found missing
 * (broker/listings.py decides which, and for which calls). */
#define SB_LISTINGS 32
#define SB_LISTING_NAMES 16384
#define SB_LISTED_STAT 1   /* newfstatat */
#define SB_LISTED_OPEN 2   /* a read-only openat (OPEN_LOOKUP_ONLY flags) */
#define SB_LISTED_ACCESS 4 /* access, faccessat, faccessat2 */
/* fd changes the runtime made that the broker applies before it serves
 * anything else (struct sb_fdevent) */
#define SB_MAX_FDEVENTS 64
/* The clock page: one read-only page shared by every sandbox of a broker and
 * kept fresh by a broker thread every SB_CLOCK_TICK_NS (strict mode disables
 * the TSC, which the kernel's vDSO reads; strictbox's vDSO reads this). */
#define SB_CLOCK_PAGE 0x7e0000000000
#define SB_CLOCK_TICK_NS 200000

/* Channel ops that are not system calls (system calls use their number). */
/* The spawner could not start a new thread or hand the broker its pidfd:
 * it ends the sandbox with this status rather than let a thread run
 * unwatched. */
#define SB_EXIT_UNWATCHED 124

#define SB_OP_EXIT -1
#define SB_OP_FAULT -2
#define SB_OP_TIME -3
#define SB_OP_CANCEL -4 /* [seq of the waiting request]: a signal interrupted it */
#define SB_OP_WAKE_WAIT -5 /* [ns]: sleep until this thread's wake pipe has a byte, or ns pass */
#define SB_OP_READY -6 /* the stub, first on slot 0's channel: the main thread stands */
#define SB_OP_POKE -7  /* [slot]: nudge that thread to look at the process's pending signals */
#define SB_OP_SPREAD -8 /* the program has a second thread: its main one may leave the broker's CPU */
#define SB_OP_YIELD -9 /* a runtime lock stays taken: a round trip gives the CPU to its holder */
#define SB_OP_UNPIN -10 /* [start, len, discard]: the program changes pinned pages: make them arena
                         * memory first (with their bytes, unless discard: it zeroes them all) */
#define SB_OP_HAND_BACK -11 /* [fd, position]: the runtime stops keeping a prefetched file's offset
                             * or a listing's place (a dup, a thread, a seek it does not answer):
                             * the broker moves the fd's host file there.  Not a call of the
                             * program's, so no policy judges it. */
/* The poke: a real signal with si_code SI_QUEUE and this si_value. */
#define SB_POKE_VALUE 0x656b6f705b

/* Threads: a pool of up to boot.max_threads slots, one block each at
 * boot.threads_base + i * SB_THREAD_BLOCK, whose threads the stub starts
 * confined: slot 0's before strict mode, the others as they are needed
 * (trusted_stub/spawner.c).  Slot i
 * has its own broker channel and a wake pipe that siblings write to (futex
 * wakes, thread start).  The block holds struct sb_thread, then the idle
 * stack the pooled thread waits on, then its alternate signal stack. */
#define SB_THREAD_NOTREADY 0
#define SB_THREAD_IDLE 1
#define SB_THREAD_STARTING 2
#define SB_THREAD_LIVE 3
#define SB_IDLE_STACK 0x2000 /* struct sb_thread, then the idle stack up to here */
#define SB_FUTEX_BUCKETS 64
#define SB_TID_RANGE 4000000

/* Trace mode (boot.trace != 0, set for `strictbox trace` and `learn`): the
 * runtime appends a record for each call it serves itself to the ring in
 * sb_state.trace, and the broker drains it at every request and at exit.
 * Like all of sb_state it is untrusted: the broker reads it defensively and
 * decides nothing on it. */
#define SB_TRACE_SLOTS 1024

/* Seqlock: odd seq means an update is in progress. */
struct sb_clock {
    uint32_t seq;
    uint32_t tick_ns;
    int64_t realtime_ns;
    int64_t monotonic_ns;
    int64_t boottime_ns;
};

/* What the broker told the runtime about a broker-held fd when it opened it. */
struct sb_fdcache {
    uint32_t flags;
    uint32_t slot;
    uint64_t size; /* the file's size at open (a read-only mount) */
    uint64_t pos;
    uint64_t win;  /* SB_FD_DATA: the file offset of the slot's first byte ... */
    uint64_t held; /* ... and how many bytes it holds */
    uint8_t stat[144];
};

/* Where the stat cache keeps a path (its n bytes, no NUL): FNV-1a seeded
 * with the flags, probing 8 entries on from it modulo SB_STAT_CACHE.  The
 * runtime (stat_slot) and the broker (a warm start) must agree. */
static inline uint64_t sb_hash_more(uint64_t h, const char *p, unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211UL;
    return h;
}

static inline uint64_t sb_stat_hash(const char *p, unsigned long n, uint64_t flags)
{
    return sb_hash_more(1469598103934665603UL ^ flags, p, n);
}

/* A listed directory: its absolute path ("/", or no trailing slash and no
 * "." or ".." in it), and its names as sb_stat_hash(name, len, 0) cut to 32
 * bits, sorted, in sb_state.listed_names[first, first + count). */
struct sb_listing {
    uint64_t hash; /* sb_stat_hash(path, len, 0) */
    uint32_t first;
    uint32_t count;
    uint32_t calls; /* SB_LISTED_* */
    uint32_t len;
    uint8_t path[120];
};

struct sb_statcache {
    uint32_t used; /* 0: free, else SB_STAT_*; the broker writes it last */
    uint32_t flags; /* the newfstatat flags the answer is for */
    uint8_t path[120];
    uint8_t stat[144];
    /* SB_STAT_FOUND, from a warm start: the broker holds this regular file
     * or directory open for the program, its first held_size bytes (a
     * directory: its whole listing) in prefetch slot held - 1 and on; a
     * single-threaded program's first open of the path with held_flags (and
     * O_CLOEXEC or not) takes it, at the lowest free fd, told in an
     * sb_fdevent, and sets held to 0. */
    uint32_t held;
    uint32_t held_flags;
    uint64_t held_size;
};

/* Done by the runtime, for the broker to apply before it serves the next
 * request: fd was closed (entry -1), or now is the file the broker held for
 * stat cache entry `entry`, opened with `flags` (its held_flags, O_CLOEXEC).
 * Untrusted: the broker closes only the sandbox's fds, and places a held
 * file only at a free fd, once. */
struct sb_fdevent {
    int32_t fd;
    int32_t entry;
    uint32_t flags;
};

/* Read-only file pages the sandbox sees straight from the file instead of a
 * copy in the arena: [start, start + len) shows the file from off, readable
 * and executable (protections are bookkeeping, as in the arena: only a
 * write needs the pages unpinned).  The first image's read-only segments
 * are pinned at start (the stub maps each from fd, then closes it); large
 * read-only file mappings at run time by the spawner (fd -1 here). */
struct sb_pin {
    uint64_t start;
    uint64_t len;
    uint64_t off;
    int32_t fd;
    uint32_t pad;
};

/* File bytes the stub copies into the arena at start, beside the broker's
 * own start work: the image's segments it does not pin and the premaps'
 * unpinned parts.  From fd at off, len bytes to start, or to the file's
 * end (the arena is zeros past it); the stub closes fd after, unless a pin
 * needs it.  SB_COPY_DONE: a standby copied it already (struct sb_standby);
 * SB_COPY_WHOLE: a segment of the program's, which a file cut short since
 * the broker checked it fails (the stub exits as for any failure). */
#define SB_MAX_COPIES 32
#define SB_COPY_DONE 1
#define SB_COPY_WHOLE 2
struct sb_copy {
    uint64_t start;
    uint64_t len;
    uint64_t off;
    int32_t fd;
    uint32_t flags;
};

/* What a stub started ahead of its sandbox (`strictbox-stub --standby
 * SOCKET_FD BROKER_PID`, broker/standby.py) receives on that socket, in
 * messages until the last: each with nfds fds (SCM_RIGHTS), the i-th to go
 * to number at[i], where the broker's pass_fds would have put it, and
 * ncopies spans to copy in at once (the image's, while the broker lays out
 * the rest: its boot block is whole only with the last message).  Then it
 * closes the socket, runs on the CPUs in cpus, and goes on as
 * `strictbox-stub ARENA_FD CLOCK_FD BROKER_PID SPAWN_FD` would. */
#define SB_STANDBY_FDS 64
struct sb_standby {
    uint64_t magic;
    uint64_t version;
    uint32_t last;
    uint32_t nfds;
    int32_t at[SB_STANDBY_FDS];
    int32_t arena_fd;
    int32_t clock_fd;
    int32_t spawn_fd;
    uint32_t ncopies;
    struct sb_copy copies[SB_MAX_COPIES];
    uint64_t cpus[16];
};

struct sb_stdio {
    uint32_t isatty;
    uint32_t has_stat;
    uint8_t termios[60];
    uint16_t winsize[4];
    uint8_t stat[144];
};

/* A resource limit as getrlimit gives it (struct rlimit64). */
struct sb_rlimit {
    uint64_t cur;
    uint64_t max;
};
#define SB_RLIMITS 16 /* RLIM_NLIMITS */

struct sb_boot {
    uint64_t magic;
    uint64_t version;
    uint64_t arena_base;
    uint64_t arena_size;
    uint64_t entry;
    uint64_t sp;
    uint64_t brk_start;
    uint64_t mmap_top;
    uint64_t threads_base;
    uint32_t max_threads;
    /* The pinned pages, as the broker last wrote them (it keeps the list
     * that counts): the runtime asks SB_OP_UNPIN before changing any.
     * pins_seq is odd while the broker rewrites the list (a seqlock: other
     * threads may be reading it). */
    uint32_t npins;
    struct sb_pin pins[SB_MAX_PINS];
    uint32_t pins_seq;
    uint32_t pid;
    uint32_t ppid;
    uint32_t uid;
    uint32_t gid;
    uint8_t utsname[390];
    uint8_t pad0[2];
    uint8_t random_seed[32];
    struct sb_stdio stdio[3];
    uint32_t trace;
    /* The main thread's CPU + 1, next to the broker's own (paired: each
     * side polls for the other instead of sleeping, so a round trip wakes
     * nobody, loop.py); 0: any CPU. */
    uint32_t cpu;
    /* fds are below this (RLIMIT_NOFILE): the runtime opens none past it */
    uint32_t fd_limit;
    /* the policy lets every mmap by: the runtime copies a mapping of a file
     * a prefetch slot holds whole (memory.c's map_from_slot) */
    uint32_t maps_from_slots;
    /* the policy lets every prlimit64 and getrlimit by: the runtime reads
     * the limits from rlimits, which the broker rewrites when they change */
    uint32_t local_rlimits;
    struct sb_rlimit rlimits[SB_RLIMITS];
    /* the policy lets every sysinfo by: the runtime answers it, the uptime
     * counted on the clock page from started_ns (the sandbox's start there) */
    uint32_t local_sysinfo;
    uint32_t pad6;
    int64_t started_ns;
    uint32_t ncopies;
    uint32_t pad7;
    struct sb_copy copies[SB_MAX_COPIES]; /* for the stub alone: untrusted once it is done */
};

/* Where the spawner receives the broker's requests (trusted_stub/spawner.c):
 * the header it builds, the byte, up to four numbers, and the fds (for a new
 * slot: channel, wake pipe's read and write ends, which it copies into the
 * slot's block and acts on in no other way; for a mapping: the file). */
struct sb_spawn_box {
    uint64_t msg[7];  /* struct msghdr */
    uint64_t iov[4];  /* two struct iovec: the byte, the numbers */
    uint64_t byte;
    uint64_t args[4]; /* 'x': start, len; 'm': start, len, prot, file offset */
    uint64_t cmsg[2]; /* SCM_RIGHTS header ... */
    int32_t fds[4];   /* ... then the fds (and room to align) */
};

/* A call the runtime served, for the tracer.  Its path argument (the
 * first, if the call has one) is copied in, as the program's buffer may
 * hold something else by the time the broker reads the record: flags says
 * which argument (from bit SB_TRACE_ARG_SHIFT) and whether it was cut short. */
#define SB_TRACE_PATH 96
#define SB_TRACE_COPIED 1 /* path holds the argument flags names, NUL-terminated */
#define SB_TRACE_CUT 2    /* ... its first SB_TRACE_PATH - 1 bytes only */
#define SB_TRACE_ARG_SHIFT 8
struct sb_trace_rec {
    int64_t nr;
    uint64_t args[6];
    int64_t result;
    int32_t tid;
    uint32_t flags;
    uint8_t path[SB_TRACE_PATH];
};

/* head counts the records ever written; record i is rec[i % SB_TRACE_SLOTS]. */
struct sb_trace_ring {
    uint64_t head;
    uint64_t pad;
    struct sb_trace_rec rec[1024]; /* SB_TRACE_SLOTS */
};

/* A pending signal: how it was sent (si_code and the 16 bytes of siginfo
 * after it: sender or timer, and the value) and, for a real-time signal, how
 * many are queued. */
struct sb_sigq {
    int32_t code;
    uint32_t count;
    uint8_t fields[16];
};

struct sb_sigaction {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
};

struct sb_vma {
    uint64_t start;
    uint64_t end;
    uint64_t prot;
};

/* A library's first mapping, made by the broker as the sandbox starts
 * (broker/premaps.py), above boot.mmap_top: what a private read-only
 * mapping of the whole file from offset 0 would hold (its read-only pages
 * pinned, the rest copied, zeros past its end).  ld.so's mmap of that file
 * (the fd's fstat: these fields), of that length, takes it once while it
 * is intact.  Mapping, unmapping or advising over one first spoils it, and
 * its memory is zeroed then, as memory no mapping holds is.  Only the
 * sandbox's own memory depends on it. */
#define SB_MAX_PREMAPS 16
struct sb_premap {
    uint64_t start;
    uint64_t len;
    uint64_t dev;  /* struct stat's st_dev, st_ino, st_size, st_mtim, st_ctim */
    uint64_t ino;
    uint64_t size;
    int64_t mtim[2];
    int64_t ctim[2];
    uint32_t intact;
    uint32_t pad;
};

/* A call the broker would only deny and log, whatever its arguments (a
 * DENIED row of its table that the policy lets by): the runtime answers
 * -err itself and counts it here and in the state's denied_local; the
 * broker logs the new ones before each request it serves and at the end.
 * Only the sandbox's own log depends on these counts. */
#define SB_LOCAL_DENIALS 16
struct sb_local_denial {
    uint32_t nr;
    int32_t err;
    uint32_t count;
    uint32_t pad;
};

/* Runtime state at SB_ARENA_BASE. */
struct sb_state {
    struct sb_boot boot;
    uint8_t selector;
    uint8_t pad1[7];
    uint64_t brk_cur;
    uint64_t calls_local;
    uint64_t calls_forwarded;
    uint64_t rng_counter;
    struct sb_sigaction sig[65];
    /* fd_host[vfd] >= 0: the program's vfd is that real fd of this process
     * (inherited stdio), read and written directly; -1: held by the broker. */
    int32_t fd_host[1024];
    struct sb_fdcache fdc[1024];
    struct sb_statcache statc[256];
    /* Broker fds the program closed, and held files it opened, since the
     * last request (a close, and a warm open, cost no round trip). */
    uint32_t nfdevents;
    struct sb_fdevent fdevents[64];
    uint32_t nvmas;
    uint32_t pad2;
    struct sb_vma vmas[4096];
    /* Large ranges the program unmapped, or its heap gave back, whose bytes
     * are still there: what a mapping or the heap takes of one is zeroed
     * then (memory.c's stale_take), the rest by the broker once the sandbox
     * has ended (its arena is freed or zeroed for the next: recycle.py):
     * CPython frees its arenas as it exits.  prot unused.  The sandbox's
     * own memory only. */
    uint32_t nstale;
    uint32_t pad_stale;
    struct sb_vma stale[16];
    struct sb_trace_ring trace;
    /* threads and signals (see struct sb_thread) */
    uint32_t live_threads;
    uint32_t pool_ready; /* pooled threads that reached strict mode */
    /* threads that left live_threads but still run the runtime (their exit):
     * until they are gone, the thread left may not queue fd events */
    uint32_t threads_exiting;
    uint32_t pad3;
    struct sb_spawn_box spawn; /* where the spawner's messages land */
    uint64_t sigpending; /* process-directed signals no thread has taken yet */
    uint64_t sigpoked;   /* ... of those, the ones a thread was poked to take (SB_OP_POKE) */
    struct sb_sigq sigq[65];
    uint32_t futex_lock[64]; /* SB_FUTEX_BUCKETS spinlocks, by futex address */
    uint32_t mem_lock; /* the memory map, brk */
    uint32_t next_tid; /* thread ids go pid+1, pid+2, ... (SB_TID_RANGE, then again) */
    /* the last monotonic time this process was given (clock_read.h): its
     * clocks never stand still, nor go back from one thread to another */
    uint64_t clock_last;
    /* The last read-only file mapping the broker filled, and calls_forwarded
     * just after it: while no other request has gone out since, a MAP_FIXED
     * mapping of the same fd at the matching offset inside it finds its bytes
     * already in place (ld.so maps a library whole, then each segment over
     * it).  Only the sandbox's own memory depends on it. */
    uint64_t fmap_start;
    uint64_t fmap_end;
    uint64_t fmap_off;
    uint64_t fmap_fd;
    uint64_t fmap_gen;
    uint32_t npremaps;
    uint32_t pad5;
    struct sb_premap premaps[SB_MAX_PREMAPS];
    uint32_t ndenials;
    uint32_t denied_local; /* all of their counts together */
    struct sb_local_denial denials[SB_LOCAL_DENIALS];
    /* Listings the broker wrote: entries [0, nlistings), each whole before
     * the count that shows it grows (none changes after). */
    uint32_t nlistings;
    uint32_t pad4;
    struct sb_listing listings[32];  /* SB_LISTINGS */
    uint32_t listed_names[16384];    /* SB_LISTING_NAMES */
};

/* Per-thread block at boot.threads_base + i * SB_THREAD_BLOCK; the rest of
 * the block is that thread's alternate signal stack, so the handler finds
 * its thread by rounding its stack pointer down. */
struct sb_thread {
    uint64_t magic;
    int32_t chan_fd;
    int32_t tid;
    uint64_t seq;
    uint64_t sigmask;
    uint64_t alt_sp;
    uint64_t alt_size;
    uint64_t alt_flags;
    uint64_t clear_tid;
    uint64_t robust_list;
    uint64_t robust_len;
    int32_t wake_rfd; /* this thread's wake pipe: it blocks reading here ... */
    int32_t wake_wfd; /* ... and siblings write a byte here (non-blocking) */
    int32_t host_tid; /* the kernel's id of this thread, set by the stub */
    uint32_t state;   /* SB_THREAD_* */
    uint64_t sigpending;   /* signals pending for this thread (bit sig-1) */
    uint64_t futex_uaddr;  /* the futex word this thread waits on, while futex_queued */
    uint32_t futex_bitset;
    uint32_t futex_queued;
    uint64_t start_frame;  /* STARTING: the rt_sigreturn frame the thread starts from */
    uint64_t start_fs;
    uint64_t outer_uc;     /* the ucontext our handler will return to */
    uint64_t restart_rip;  /* an interrupted call was rewound to here ... */
    uint32_t restart_kind; /* ... as ERESTARTSYS (512), ERESTARTNOINTR (513) or ERESTARTNOHAND (514) */
    uint32_t in_exit;      /* our handler is past its last look at pending signals */
    uint64_t suspend_mask; /* rt_sigsuspend: the mask to restore after the handler */
    uint32_t suspended;
    uint32_t pad5;
    uint64_t sigwait_set;  /* rt_sigtimedwait: the signals it waits for */
    uint64_t awaiting;     /* the seq of the request whose answer this thread reads */
    uint64_t cancel;       /* the seq of the cancel sent for it, if one was */
    uint32_t cancel_claimed;
    uint32_t pad6;
    uint64_t answered;     /* while paired (boot.cpu): the seq of the last answer the broker sent */
    struct sb_sigq sigq[65];
    uint8_t req[256];
    uint8_t rep[256];
};

#endif
