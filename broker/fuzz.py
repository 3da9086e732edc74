"""Coverage-guided fuzzing of the broker's request parser and dispatcher.

    python -m strictbox.fuzz [--runs N] [--no-atheris] [--seed S] [CORPUS_DIR ...]
    python -m strictbox.fuzz --write-seeds DIR

Each input is a little program in a byte language (see `Harness.one_input`):
write bytes or a path into sandbox memory, hand raw bytes to
`protocol.parse`, or serve a system call with chosen registers through
`calls.serve` -- the broker's own parser and dispatcher, against a real
sandbox: a live stub process whose arena (a memfd) and view (temporary
directories, one mounted read-only and one read-write, and a canary
directory beside them that no mount shows) are the real thing.  The process
itself sits blocked on its channel; the harness plays its part.

A finding is: any exception other than the protocol's own ProtocolError or
a call's Wait; a result that does not fit a reply; a canary or a read-only
file that changed; an fd the broker did not give back once the sandbox's fd
table is emptied; the writable mounts holding more than the disk limit lets
the sandbox add (the harness's sandbox has a file_size and a disk limit).

A call that waits (Wait) is served once more as the loop would when its fd
is ready or its deadline passes, so the second-attempt paths run too.

With atheris installed (`pip install 'strictbox[fuzz]'`) inputs are
coverage-guided and crashes are saved as crash-* files; without it (or with
--no-atheris) the same harness runs over the corpus and N deterministic
mutations of it.  Without a corpus directory the seed corpus shipped in the
package is used (copied to a temporary directory: atheris adds to it)."""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import stat
import sys
import tempfile
from importlib import resources

import msgpack

from . import afterwards, api, calls, loader, protocol
from .calls import fdtable
from .arena import BASE
from .kernel import SYSCALL_NR
from .syscall_table import BROKER, TABLE

MEMORY = 64 << 20
U64 = 1 << 64
FILE_SIZE_LIMIT = 64 << 20  # RLIMIT_FSIZE for the fuzzing process: no fallocate fills the disk
RESTART_EVERY = 2000  # inputs per sandbox (the rw mount fills up with what they make)
DISK_LIMIT = 32 << 20  # the sandbox's own limits, so that their paths are fuzzed too
FILE_SIZE = 16 << 20

# The calls a request may name: everything the broker serves, then calls it
# must refuse (the runtime serves them, or nobody does).
SERVED = sorted(SYSCALL_NR[n] for n in calls.HANDLERS if n in SYSCALL_NR)
REFUSED = [SYSCALL_NR[c.name] for c in TABLE if c.where != BROKER and c.name in SYSCALL_NR
           and c.name not in calls.HANDLERS] + [39, 56, 57, 59, 101, 157, 317, 1000, 0x40000000]
PATHS = [b"/", b".", b"..", b"", b"/rw", b"/rw/a", b"/rw/d", b"/rw/d/f", b"/rw/ln", b"/rw/../..",
         b"/ro", b"/ro/file", b"/ro/dir", b"/ro/dir/inner", b"/ro/up", b"/ro/out", b"/ro/../../..",
         b"../../../etc/shadow", b"/proc/self/fd/0", b"/proc/self/fd/3", b"/proc/self/exe",
         b"/proc/self/root", b"/proc/self/cwd/..", b"/proc/self/mem", b"/proc/1/root",
         b"/proc/self/status", b"/dev/null", b"/dev/zero", b"/dev/fd/3", b"/dev/stdin",
         b"/etc/passwd", b"/tmp", b"/tmp/x", b"a", b"d/../a", b"x" * 300, b"/" * 5000]
CONSTS = [0, 1, 2, 3, 4, 0x100, 0x400, 0x800, 0x1000, 0x10000, 0o777, 0o4755,
          0xFFFFFF9C, (1 << 64) - 100, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 1 << 32, 0xFFFFFFFF,
          0x80000000, 0x7FFFFFFF, os.O_CREAT | os.O_WRONLY, os.O_TMPFILE | os.O_RDWR,
          os.O_PATH, os.O_DIRECTORY, os.O_CREAT | os.O_EXCL | os.O_RDWR, os.O_APPEND | os.O_WRONLY]


class Finding(AssertionError):
    """Something the broker must never do."""


class Reader:
    """Reads numbers and bytes off a fuzz input; past its end, zeros."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out.ljust(n, b"\0")

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "little")


def _scratch(threads: int = 1) -> int:
    """Sandbox memory the harness writes its inputs' bytes to: 1 MiB below
    the initial stack, unused by the (never running) program."""
    return loader.layout(MEMORY, threads).stack_top - (1 << 20)


def _snapshot(path: str) -> list:
    """What the harness checks is never touched: names, types, sizes, modes, times."""
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in [root] + sorted(os.path.join(root, f) for f in files):
            st = os.lstat(name)
            out.append((name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_nlink))
    return out


class Harness:
    """A real sandbox for the broker's side; one_input(data) runs one input."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.sb = None
        self.start()

    # -- the sandbox ---------------------------------------------------------

    def start(self) -> None:
        self.root = tempfile.mkdtemp(prefix="sandbox-", dir=self.workdir)
        self.inputs, self.stale = 0, False
        ro, rw, canary = (os.path.join(self.root, d) for d in ("ro", "rw", "canary"))
        for d in (ro, rw, canary, os.path.join(ro, "dir")):
            os.mkdir(d)
        for path, data in ((os.path.join(ro, "file"), b"read-only\n"),
                           (os.path.join(ro, "dir", "inner"), b"inner\n"),
                           (os.path.join(canary, "secret"), b"canary\n")):
            with open(path, "wb") as f:
                f.write(data)
        os.symlink("..", os.path.join(ro, "up"))
        os.symlink(canary, os.path.join(ro, "out"))
        os.symlink(canary, os.path.join(rw, "ln"))
        os.mkdir(os.path.join(rw, "d"))
        self.watched = {d: _snapshot(d) for d in (ro, canary)}
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            # Any program will do: the harness never answers its first request,
            # so the process stays blocked on its channel with its arena mapped.
            self.sb = api.prepare([os.path.realpath(sys.executable)], ro=[f"{ro}:/ro"],
                                  rw=[f"{rw}:/rw"], memory=MEMORY, stdio=(devnull,) * 3)
            self.sb.pin_image = False  # an execve would wait for a spawner that never runs
            self.sb.spawner_patience = 0  # (a clone would wait for it in place)
            self.sb.start()
        finally:
            os.close(devnull)
        self.sb.limits.disk, self.sb.limits.file_size = DISK_LIMIT, FILE_SIZE
        self.rw_dirs = [m.host for m in self.sb.view.mounts if m.writable and m.dirfd >= 0]
        self.rw_start = self._rw_bytes()
        self.scratch = _scratch(self.sb.limits.threads)
        self.arena_end = BASE + MEMORY
        self.base_fds = dict(self.sb.fds)
        self.base_rlimits = dict(self.sb.rlimits)
        self.base_open = self._open_fds()
        self.seq = self.sb.seq

    def stop(self) -> None:
        sb, self.sb = self.sb, None
        if sb is None:
            return
        if sb.proc is not None:  # started
            sb._signal(signal.SIGKILL)
            if not sb.done:
                sb.reap()  # waits for the process, closes its fds
        api.release(sb)
        api.remove_private_tmp(self.root)

    def _open_fds(self) -> int:
        afterwards.wait()
        return len(os.listdir("/proc/self/fd"))

    def _rw_bytes(self) -> int:
        """The apparent size of the files in the writable mounts (each inode once)."""
        seen = {}
        for top in self.rw_dirs:
            for root, dirs, files in os.walk(top):
                for name in files:
                    try:
                        st = os.lstat(os.path.join(root, name))
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        seen[(st.st_dev, st.st_ino)] = st.st_size
        return sum(seen.values())

    def _reset(self) -> bool:
        """Between inputs: the fd table as at start (the broker's own release
        closes what the input opened), cwd, umask, limits.  False if the
        input closed or replaced a starting fd: then a fresh sandbox."""
        sb = self.sb
        for vfd in [v for v, f in sb.fds.items() if self.base_fds.get(v) is not f]:
            fdtable.release(sb, vfd)
        sb.cwd, sb.umask, sb.pending, sb.checked_paths = "/", 0o022, None, None
        lowered_cpu = 0 in sb.rlimits  # (RLIMIT_CPU: the stub process's real limit too)
        sb.rlimits = dict(self.base_rlimits)
        del sb.log[:]
        if lowered_cpu:
            return False  # (a fresh sandbox: the kernel may be about to end this one)
        return sb.fds.keys() == self.base_fds.keys()

    # -- one input -----------------------------------------------------------

    def one_input(self, data: bytes) -> None:
        if self.sb is None or self.stale or self.inputs >= RESTART_EVERY:
            self.stop()
            self.start()
        self.inputs += 1
        r = Reader(data)
        try:
            for _ in range(64):
                if not r.more() or self.sb.outcome.reason is not None:
                    break
                self._action(r)
        finally:
            self.stale = self.sb.outcome.reason is not None or not self._reset()
            self._check()

    def _action(self, r: Reader) -> None:
        kind = r.u8() % 6
        if kind == 0:  # bytes into sandbox memory
            addr = self.scratch + r.u16()
            n = r.u8()
            self.sb.arena.write(addr, r.take(n))
        elif kind == 1:  # a path (and maybe a suffix) into sandbox memory
            addr = self.scratch + (r.u16() & ~7)
            path = PATHS[r.u8() % len(PATHS)] + r.take(r.u8() % 4)
            self.sb.arena.write(addr, path + b"\0")
        elif kind == 2:  # a system call with chosen registers
            sel = r.u8()
            nr = SERVED[sel % len(SERVED)] if sel < 224 else REFUSED[sel % len(REFUSED)]
            self._serve(nr, tuple(self._arg(r) for _ in range(6)))
        elif kind == 3:  # raw bytes through the parser, and served if well formed
            self._message(r.take(r.u8() % 260))
        elif kind == 4:  # a well-formed message with chosen items
            items = [self.seq + 1 if r.u8() else r.u64()]
            items += [self._item(r) for _ in range(r.u8() % 9)]
            try:
                msg = msgpack.packb(items)
            except (OverflowError, ValueError):
                return
            self._message(msg)
        else:  # a struct of pointers and lengths (iovec, pollfd, timespec) in memory
            addr = self.scratch + (r.u16() & ~7)
            words = [self._arg(r) for _ in range(r.u8() % 8)]
            self.sb.arena.write(addr, b"".join(w.to_bytes(8, "little") for w in words))

    def _item(self, r: Reader) -> int:
        v = self._arg(r)
        return v if r.u8() & 3 else v - U64  # sometimes negative

    def _arg(self, r: Reader) -> int:
        return self._value(r) & (U64 - 1)

    def _value(self, r: Reader) -> int:
        kind = r.u8() % 8
        if kind == 0:
            return r.u8()
        if kind == 1:  # an fd, -1 or AT_FDCWD
            v = r.u8() % 14 - 2
            return v if v >= -1 else -100
        if kind == 2:
            return self.scratch + r.u16()
        if kind == 3:
            return r.u64()
        if kind == 4:  # near the arena's ends
            v = r.u16()
            return self.arena_end - v if r.u8() & 1 else BASE + v - 0x100
        if kind == 5:
            return r.u32()
        if kind == 6:
            return CONSTS[r.u8() % len(CONSTS)]
        return -r.u8()

    def _message(self, data: bytes) -> None:
        try:
            req = protocol.parse(data, self.seq + 1)
        except protocol.ProtocolError:
            return
        self.seq = req.seq
        if req.op >= 0:
            self._serve(req.op, req.args)

    def _serve(self, nr: int, args: tuple[int, ...]) -> None:
        try:
            out = calls.serve(self.sb, nr, args)
        except calls.Wait as w:
            # The loop serves a waiting call again once an fd is ready or the
            # deadline passes, with sb.pending set: once here, whatever it waits for.
            self.sb.pending = (None, w)
            try:
                out = calls.serve(self.sb, nr, args)
            except calls.Wait:
                return
            finally:
                self.sb.pending = None
        if not isinstance(out, tuple) or not out or not all(type(v) is int for v in out):
            raise Finding(f"syscall {nr}{args}: result {out!r} is not a tuple of integers")
        protocol.reply(self.seq, *out)  # raises if it could not be sent back

    def _check(self) -> None:
        for d, snap in self.watched.items():
            if _snapshot(d) != snap:
                raise Finding(f"{d} changed: something outside the rw mount was written")
        if not self.stale and self._open_fds() > self.base_open:
            raise Finding(f"the broker holds {self._open_fds() - self.base_open} fds more "
                          "than at start after the sandbox's fd table was emptied")
        added = getattr(self.sb, "disk_added", 0)
        if added > DISK_LIMIT:
            raise Finding(f"the disk limit counts {added} bytes added, over {DISK_LIMIT}")
        grown = self._rw_bytes() - self.rw_start
        if grown > added:
            raise Finding(f"the writable mounts grew by {grown} bytes; the disk limit "
                          f"counted {added}")


# -- seeds ---------------------------------------------------------------------

def _path(slot: int, path: bytes) -> bytes:
    return bytes([1]) + slot.to_bytes(2, "little") + bytes([PATHS.index(path), 0])


def _call(name_or_nr, *args) -> bytes:
    nr = SYSCALL_NR[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    sel = SERVED.index(nr)
    out = bytes([2, sel])
    for kind, v in args:
        if kind == "u8":
            out += bytes([0, v])
        elif kind == "fd":
            out += bytes([1, (v + 2) % 14])
        elif kind == "scratch":
            out += bytes([2]) + v.to_bytes(2, "little")
        elif kind == "const":
            out += bytes([6, CONSTS.index(v)])
        elif kind == "u64":
            out += bytes([3]) + v.to_bytes(8, "little")
    out += b"\0\0" * (6 - len(args))
    return out


def _raw(message: bytes) -> bytes:
    """Bytes handed to the parser as they are (and served if well formed)."""
    return bytes([3, len(message)]) + message


def _item(v: int) -> bytes:
    """A small non-negative item of a chosen message."""
    return bytes([0, v, 1])


def seed_inputs() -> dict[str, bytes]:
    """The seed corpus: one input per family of calls, written by the harness's
    own language so they stay valid when it changes (--write-seeds)."""
    cwd = ("fd", -100)
    P, B = ("scratch", 0), ("scratch", 0x1000)
    seeds = {
        "open_read_ro": _path(0, b"/ro/file") + _call("openat", cwd, P, ("const", 0), ("u8", 0))
        + _call("read", ("fd", 3), B, ("u8", 100)) + _call("lseek", ("fd", 3), ("u8", 0), ("u8", 0))
        + _call("pread64", ("fd", 3), B, ("u8", 4), ("u8", 1)) + _call("close", ("fd", 3)),
        "create_write_rw": _path(0, b"/rw/a") + _call("openat", cwd, P, ("const", os.O_CREAT | os.O_WRONLY),
                                                      ("const", 0o777))
        + _call("write", ("fd", 3), P, ("u8", 5)) + _call("ftruncate", ("fd", 3), ("u8", 2))
        + _call("fsync", ("fd", 3)) + _call("fstat", ("fd", 3), B),
        "stat_paths": _path(0, b"/ro/dir") + _call("stat", P, B) + _call("lstat", P, B)
        + _call("statx", cwd, P, ("u8", 0), ("u64", 0xFFF), B) + _call("access", P, ("u8", 4))
        + _call("faccessat2", cwd, P, ("u8", 2), ("u8", 0)),
        "dirs": _path(0, b"/ro/dir") + _call("openat", cwd, P, ("const", os.O_DIRECTORY), ("u8", 0))
        + _call("getdents64", ("fd", 3), B, ("u64", 4096)) + _call("fchdir", ("fd", 3))
        + _call("getcwd", B, ("u8", 200)) + _path(0, b"..") + _call("chdir", P),
        "mkdir_rename_unlink": _path(0, b"/rw/d/f") + _path(0x100, b"/rw/a")
        + _call("mkdir", P, ("const", 0o777)) + _call("rename", P, ("scratch", 0x100))
        + _call("unlink", ("scratch", 0x100)) + _call("rmdir", P),
        "links": _path(0, b"/ro/file") + _path(0x100, b"/rw/a") + _call("link", P, ("scratch", 0x100))
        + _call("symlink", P, ("scratch", 0x100)) + _call("readlink", ("scratch", 0x100), B, ("u8", 64))
        + _path(0x200, b"/rw/ln") + _call("readlinkat", cwd, ("scratch", 0x200), B, ("u8", 100)),
        "tmpfile_linkat": _path(0, b"/rw") + _path(0x100, b"/rw/a")
        + _call("openat", cwd, P, ("const", os.O_TMPFILE | os.O_RDWR), ("const", 0o777))
        + _call("linkat", ("fd", 3), ("scratch", 0x300), cwd, ("scratch", 0x100), ("const", 0x1000)),
        "escapes": _path(0, b"/ro/out") + _path(0x100, b"/ro/../../..") + _path(0x200, b"/proc/self/root")
        + _call("openat", cwd, P, ("const", os.O_CREAT | os.O_WRONLY), ("u8", 0))
        + _call("openat", cwd, ("scratch", 0x100), ("u8", 0), ("u8", 0))
        + _call("openat", cwd, ("scratch", 0x200), ("const", os.O_PATH), ("u8", 0)),
        "virtual": _path(0, b"/proc/self/status") + _path(0x100, b"/dev/zero")
        + _call("openat", cwd, P, ("u8", 0), ("u8", 0)) + _call("read", ("fd", 3), B, ("u8", 200))
        + _call("openat", cwd, ("scratch", 0x100), ("u8", 2), ("u8", 0))
        + _call("read", ("fd", 4), B, ("u8", 16)),
        "pipes_poll": _call("pipe2", B, ("u8", 0)) + _call("write", ("fd", 4), P, ("u8", 3))
        + _call("poll", B, ("u8", 1), ("u8", 0)) + _call("read", ("fd", 3), B, ("u8", 3)),
        "metadata": _path(0, b"/rw/a") + _call("chmod", P, ("const", 0o4755))
        + _call("utimensat", cwd, P, ("u8", 0), ("u8", 0)) + _call("truncate", P, ("u8", 10))
        + _call("statfs", P, B) + _call("getxattr", P, P, B, ("u8", 10)),
        "wild_pointers": _call("stat", ("u64", 1), B) + _call("stat", ("u64", (1 << 64) - 16), B)
        + _call("getcwd", ("u64", (1 << 64) - 8), ("u64", 1 << 63))
        + _call("readv", ("fd", 0), ("u64", 0x10000), ("u64", 1 << 40)),
        "identity_limits": _call("getrlimit", ("u8", 7), B) + _call("prlimit64", ("u8", 0), ("u8", 7), B, B)
        + _call("sysinfo", B) + _call("getgroups", ("u8", 4), B) + _call("sched_getaffinity",
                                                                          ("u8", 0), ("u8", 128), B),
        # getcwd as raw bytes, the same cut short (a violation), then as chosen items
        "raw_message": _raw(msgpack.packb([1, 79, _scratch() + 0x1000, 64, 0, 0, 0, 0]))
        + _raw(msgpack.packb([2, 79, _scratch() + 0x1000, 64, 0, 0, 0, 0])[:8])
        + bytes([4, 1, 7]) + _item(79) + bytes([2, 0, 0x10, 1]) + _item(64) + _item(0) * 4,
        "time_and_sleep": bytes([4, 1, 1, 7, 253, 1]) + _call("nanosleep", B, ("u8", 0))
        + _call("clock_getres", ("u8", 1), B),
    }
    return seeds


# -- running -------------------------------------------------------------------

def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b[rng.randint(0, len(b)):rng.randint(0, len(b))] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2 and b:
            del b[rng.randrange(len(b)):rng.randrange(len(b)) + 1]
        elif op == 3 and pool:
            other = rng.choice(pool)
            b += other[rng.randrange(len(other) + 1):]
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(b[:4096])


def _corpus_files(dirs: list[str]) -> list[bytes]:
    out = []
    for d in dirs:
        names = [d] if os.path.isfile(d) else [os.path.join(d, n) for n in sorted(os.listdir(d))]
        for name in names:
            with open(name, "rb") as f:
                out.append(f.read())
    return out


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    new = FILE_SIZE_LIMIT if hard == resource.RLIM_INFINITY else min(FILE_SIZE_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_FSIZE, (new, hard))


def run_plain(harness: Harness, corpus: list[bytes], runs: int, seed: int) -> int:
    """Without atheris: the corpus, then `runs` mutations of it."""
    rng = random.Random(seed)
    pool = list(corpus) or [b""]
    for data in corpus:
        _one(harness, data)
    for _ in range(runs):
        data = _mutate(rng, rng.choice(pool), pool)
        _one(harness, data)
        if rng.random() < 0.05:
            pool.append(data)
    return len(corpus) + runs


def _one(harness: Harness, data: bytes) -> None:
    try:
        harness.one_input(data)
    except BaseException:
        sys.stderr.write(f"strictbox.fuzz: finding on input {data.hex()}\n")
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m strictbox.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", nargs="*", help="corpus directories, or inputs to replay "
                    "(default: the seed corpus)")
    ap.add_argument("--runs", type=int, default=-1, help="inputs to run (default: until stopped)")
    ap.add_argument("--no-atheris", action="store_true", help="plain mutation, no coverage")
    ap.add_argument("--seed", type=int, default=1, help="random seed for --no-atheris")
    ap.add_argument("--write-seeds", metavar="DIR", help="write the seed corpus to DIR and exit")
    args, extra = ap.parse_known_args(argv)
    if args.write_seeds:
        os.makedirs(args.write_seeds, exist_ok=True)
        for name, data in seed_inputs().items():
            with open(os.path.join(args.write_seeds, name), "wb") as f:
                f.write(data)
        return 0
    atheris = None
    if not args.no_atheris:
        try:
            import atheris
        except ImportError:
            print("strictbox.fuzz: atheris is not installed (pip install 'strictbox[fuzz]'); "
                  "running plain mutations without coverage guidance", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="strictbox-fuzz-")
    try:
        corpus_dirs = args.corpus
        if not corpus_dirs:  # a copy of the seed corpus: atheris adds to it
            corpus_dirs = [os.path.join(work, "corpus")]
            os.mkdir(corpus_dirs[0])
            for entry in resources.files("strictbox").joinpath("fuzz_corpus").iterdir():
                shutil.copyfile(str(entry), os.path.join(corpus_dirs[0], entry.name))
        # atheris ends the process when it is done; a child keeps the clean-up here.
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = _fuzz(atheris, args, extra, corpus_dirs, work)
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _instrument(atheris) -> None:
    """Coverage for strictbox's own code (instrumenting all of Python's
    library too would make each input a hundred times slower)."""
    import inspect

    def functions(ns, module):
        for v in list(vars(ns).values()):
            if isinstance(v, (staticmethod, classmethod)):
                v = v.__func__
            if isinstance(v, property):
                yield from (f for f in (v.fget, v.fset, v.fdel) if f is not None)
            elif inspect.isfunction(v) and v.__module__ == module:
                yield v
            elif inspect.isclass(v) and v.__module__ == module and v is not ns:
                yield from functions(v, module)

    for name, mod in list(sys.modules.items()):
        if (name == "strictbox" or name.startswith("strictbox.")) and name != __name__:
            for fn in functions(mod, name):
                try:
                    atheris.instrument_func(fn)
                except Exception:  # noqa: BLE001 - a function atheris cannot patch stays as it is
                    pass


def _fuzz(atheris, args, extra: list[str], corpus_dirs: list[str], work: str) -> int:
    _limit_file_size()
    tempfile.tempdir = work  # the sandboxes' private /tmp directories too
    harness = Harness(work)
    try:
        if atheris is None:
            runs = args.runs if args.runs >= 0 else 100000
            n = run_plain(harness, _corpus_files(corpus_dirs), runs, args.seed)
            print(f"strictbox.fuzz: {n} inputs, no finding", file=sys.stderr)
            return 0
        _instrument(atheris)
        opts = ["-handle_xfsz=0"]  # RLIMIT_FSIZE: EFBIG, not a finding
        opts += [f"-runs={args.runs}"] if args.runs >= 0 else []
        atheris.Setup([sys.argv[0], *opts, *extra, *corpus_dirs], harness.one_input)
        atheris.Fuzz()  # ends the process: 0 when done, non-zero on a finding
        return 0
    finally:
        harness.stop()


if __name__ == "__main__":
    sys.exit(main())
