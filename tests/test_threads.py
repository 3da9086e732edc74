"""Threads, futexes and asynchronous signals inside the sandbox (issue 4).

C programs (tests/programs/threads_*.c, toctou_open.c; dynamic glibc, built
with -pthread) and Debian's CPython run natively and sandboxed; their output
carries no addresses, thread ids or timings, so the two runs must agree byte
for byte, and each must also show the lines that say the behaviour is
right (so a native oddity cannot hide a sandbox bug, or the reverse).

What the sandbox is expected to provide (the implementation contract these
tests assume):
- clone with CLONE_SETTLS, PARENT_SETTID, CHILD_SETTID, CHILD_CLEARTID serves
  pthread_create (clone3 may answer ENOSYS: glibc falls back);
- the pool of threads is the policy's `limits.threads` (Policy.set_limits(
  threads=N), CLI `--max-threads N`), 64 by default; when it is full
  pthread_create fails with EAGAIN, and some line of the run's log mentions
  "thread" (no exact wording is assumed);
- exit_group from any thread ends every thread and reports the status, with
  no `reason` (a normal exit);
- futex WAIT, WAKE, WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE, WAKE_OP,
  private or not, relative and absolute (CLOCK_MONOTONIC, CLOCK_REALTIME)
  timeouts, and the robust list walked when a thread ends in a raw exit;
- kill/tgkill/tkill, alarm, setitimer, timer_create(SIGEV_SIGNAL), masks,
  pending and queued signals, SA_RESTART and EINTR as on Linux;
- SIGINT and SIGTERM sent to `strictbox run` reach the program, and the CLI
  exits as the program did (128 + N when it died of signal N);
- a call that blocks (read, poll, futex, nanosleep) blocks only its thread.

No test asserts a duration: timeouts are generous guards only.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import native, sandboxed
from strictbox.policy import Policy

PY = "/usr/bin/python3"  # Debian's CPython, not whatever python3 runs pytest
need_python = pytest.mark.skipif(not os.path.exists(PY), reason=f"{PY} is not installed")
CLI = [sys.executable, "-m", "strictbox"]
THREADS = re.compile(r"thread", re.I)  # how loosely the thread-limit log line is matched


@pytest.fixture(scope="module")
def basic(compile_c) -> str:
    return str(compile_c("threads_basic.c", "-pthread"))


@pytest.fixture(scope="module")
def stress(compile_c) -> str:
    return str(compile_c("threads_stress.c", "-pthread"))


@pytest.fixture(scope="module")
def toctou(compile_c) -> str:
    return str(compile_c("toctou_open.c", "-pthread"))


def both(argv, *, timeout=60, **sandbox_options):
    """(sandboxed, native) runs of argv; the native one first, so that a
    failure in it is reported as such."""
    want = native([str(a) for a in argv], timeout=timeout)
    got = sandboxed([str(a) for a in argv], timeout=timeout, **sandbox_options)
    return got, want


def explain(got) -> str:
    return (f"returncode {got.returncode}, reason {got.reason!r}, stdout {got.stdout[-2000:]!r}, "
            f"stderr {got.stderr[-2000:]!r}, log {got.log[:10]}")


# -- the C programs ---------------------------------------------------------

# subcommand -> (exit status, lines that must be in the output).  The whole
# output is compared with the native run's as well.
BASIC = {
    "create 8": (0, ["created 8 joined 8 values 1 total 540",
                     "tids distinct 1 main tid is pid 1 threads share pid 1 pthread_self 1"]),
    "create 60": (0, ["created 60 joined 60 values 1 total 1153510"]),
    "churn": (0, ["joined 300 sum ok 1", "detached 100 all ran 1"]),
    "rawclone": (0, ["clone returned tid 1", "parent_settid 1", "child_settid 1",
                     "child_cleartid 1", "settls 1"]),
    "tls": (0, ["threads 8 initial image 1 own values kept 1 errno per thread 1 distinct addresses 1",
                "main value untouched 1 key destructors 8"]),
    "futex": (0, [f"{fl} {line}" for fl in ("private", "shared") for line in (
        "wait_mismatch EAGAIN", "wait_bitset_zero EINVAL", "wait_bad_timeout EINVAL",
        "wait_relative ETIMEDOUT waited_enough 1",
        "wait_bitset_abs_monotonic ETIMEDOUT past_deadline 1",
        "wait_bitset_abs_realtime ETIMEDOUT past_deadline 1",
        "wake woke 2 left 1 then woke 1 returns 0 0 0",
        "wake_bitset 0x4 woke 1 (only the all-bits waiter 1), 0x2 woke 1 (only that waiter 1), "
        "0x1 woke 1, returns 0 0 0",
        "requeue 2 then on a 1 on b 1 woke 1 1",
        "cmp_requeue mismatch EAGAIN then 3 on a 0 on b 2 woke 0 2",
        "wake_op add 3 if ==5: woke 2 b 8",
        "wake_op set 1 if >100: woke 1 b 1 (b waiter left 1, woken later 1)",
        "wake_op sequence: set_0x10=16(0) add_5=21(0) or_0x100=277(0) andn_0x10=261(0) "
        "xor_0xf=266(0) add_-1=265(0) or_1<<20=1048841(0)")]),
    "robust": (0, ["lock_after_owner_died EOWNERDEAD", "trylock_while_owned EBUSY",
                   "waiting_locker EOWNERDEAD", "lock_unrecoverable ENOTRECOVERABLE",
                   "raw_exit_then_lock EOWNERDEAD"]),
    "limit 10": (0, ["created 10 first_error none", "joined 10 create_after_join 0"]),
    "exit_group": (42, ["starting 15 workers", "exiting 42", "atexit ran"]),
    "exit_main": (5, ["started 15"]),
    "pthread_exit": (0, ["main leaving", "worker done"]),
    "sig_self": (0, ["kill_self 0 handled 1 sig USR1 code SI_USER pid_self 1 uid_self 1",
                     "raise 0 handled 1 sig USR2 code SI_TKILL pid_self 1",
                     "tgkill_self 0 handled 1 code SI_TKILL in_this_thread 1",
                     "tkill_self 0 handled 1 code SI_TKILL", "ignored raise 0 handled 0"]),
    "sig_thread": (0, ["tgkill to sleeping sibling: handled 1 in_target 1 sleep EINTR",
                       "tkill to sleeping sibling: handled 1 in_target 1 sleep EINTR",
                       "tgkill to spinning sibling: handled 1 in_target 1",
                       "pthread_kill to blocking sibling: pending 1 handled before unblock 0 "
                       "after 1 in_target 1",
                       "kill to process: went to the unblocked thread 1 handled 1 sigsuspend EINTR"]),
    "sig_mask": (0, ["blocked raise: handled while blocked 0 pending 1 handled after unblock 1 "
                     "code SI_TKILL", "sigtimedwait USR2 code SI_USER handled 0",
                     "sigtimedwait empty EAGAIN", "sigtimedwait 20ms EAGAIN",
                     "queued: USR2(SI_USER) RTMIN+2(SI_USER) RTMIN+2(SI_USER) RTMIN+3(SI_USER) "
                     "RTMIN+3(SI_USER) EAGAIN EAGAIN"]),
    "alarm": (0, ["read without SA_RESTART -1 EINTR handled 1",
                  "read with SA_RESTART 1 byte x handled 2", "alarm cancel left 1"]),
    # A process signal that lands on a thread blocking it reaches the one
    # that takes it, though that one waits in a call with no deadline.
    "blocked_main": (0, ["worker read -1 EINTR handled 1", "main joined handled 1"]),
    "itimer": (0, ["interval 0.020000 armed 1", "ticks at least 5 1 pause EINTR 1 old interval 20000",
                   "disarmed 1 no more ticks 1", "ticks while spinning at least 3 1"]),
    "timer": (0, ["timer_create 0", "interval 10000000 ns armed 1",
                  "ticks at least 3 1 sig 1 code SI_TIMER value 42 sigsuspend EINTR 1",
                  "one-shot absolute fired 1 disarmed 1"]),
    "raise_default": (-signal.SIGTERM, ["before"]),
    "grow_signals": (0, ["grow_signals created 40 failed 0 ticks 1 signalled 40"]),
    "blocking": (0, ["main did 200 opens while 4 threads blocked; none returned early 1",
                     "reader got 5 hello; others still blocked 1",
                     "poller revents POLLIN 1; others still blocked 1",
                     "condvar waiter woke; sleeper still asleep 1", "sleeper interrupted EINTR"]),
}


def check_lines(out: bytes, must: list[str], what: str) -> None:
    lines = out.decode(errors="replace").splitlines()
    for line in must:
        assert line in lines, f"{what}: {line!r} not in {lines}"
    assert not any(l.startswith("FAILED") for l in lines), f"{what}: {lines}"


@pytest.mark.parametrize("case", list(BASIC))
def test_threads_basic(basic, case):
    status, must = BASIC[case]
    got, want = both([basic, *case.split()])
    assert want.returncode == status, (want.returncode, want.stdout, want.stderr)
    check_lines(want.stdout, must, f"native {case}")
    if status >= 0:
        assert got.reason is None, explain(got)
    else:  # died of a signal: strictbox may say so, and nothing else
        assert got.reason is None or signal.Signals(-status).name in got.reason, explain(got)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, want.returncode), \
        explain(got)


def test_stress_32_threads_10000_ops(stress):
    """Mutexes (normal, recursive, error-checking, trylock), rwlocks, a
    producer/consumer ring on condition variables and barriers: every final
    counter has the value it must have."""
    got, want = both([stress], timeout=240)
    assert want.returncode == 0, want.stdout
    lines = want.stdout.decode().splitlines()
    assert lines[0] == "threads 32 ops 10000" and lines[-1] == "all ok", lines
    assert "mutex stripes 80000 80000 80000 80000 total 320000 recursive 32000" in lines
    assert "rwlock writes 40000 40000 reads 280000 violations 0" in lines
    assert "barrier rounds 100 serial 100 bad 0" in lines
    assert got.reason is None, explain(got)
    assert (got.stdout, got.returncode) == (want.stdout, 0), explain(got)


def test_stress_is_repeatable(stress):
    """Small runs, several of them: a race in the sandbox's futexes shows up
    as a wrong counter or a hang, whatever the timing."""
    want = native([stress, "500", "8"], timeout=60)
    assert want.returncode == 0 and want.stdout.endswith(b"all ok\n"), want.stdout
    for _ in range(3):
        got = sandboxed([stress, "500", "8"], timeout=120)
        assert got.reason is None, explain(got)
        assert (got.stdout, got.returncode) == (want.stdout, 0), explain(got)


# -- the thread limit --------------------------------------------------------

LIMIT = re.compile(r"created (\d+) first_error (\S+)")


def _limit_lines(out: bytes) -> tuple[int, str, str]:
    lines = out.decode(errors="replace").splitlines()
    m = LIMIT.fullmatch(lines[0]) if lines else None
    assert m, lines
    return int(m.group(1)), m.group(2), lines[1] if len(lines) > 1 else ""


def test_thread_limit_from_policy(basic):
    """threads = 4: the pool (the main thread counted or not) runs out after
    3 or 4 new threads, pthread_create says EAGAIN, the log names the limit,
    and after a join the slots can be used again."""
    got = sandboxed([basic, "limit", "10"], policy=Policy.permissive().set_limits(threads=4))
    assert got.reason is None and got.returncode == 0, explain(got)
    created, err, after = _limit_lines(got.stdout)
    assert created in (3, 4) and err == "EAGAIN", explain(got)
    assert after == f"joined {created} create_after_join 0", explain(got)
    assert any(THREADS.search(line) for line in got.log), got.log


def test_thread_limit_default_is_64(basic):
    got = sandboxed([basic, "limit", "200"])
    assert got.reason is None and got.returncode == 0, explain(got)
    created, err, after = _limit_lines(got.stdout)
    assert created in (63, 64) and err == "EAGAIN", explain(got)
    assert after == f"joined {created} create_after_join 0"
    assert any(THREADS.search(line) for line in got.log), got.log


def test_thread_limit_cli_option(basic):
    p = subprocess.run([*CLI, "run", "--max-threads", "4", "-v", "--", basic, "limit", "10"],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p
    created, err, _ = _limit_lines(p.stdout)
    assert created in (3, 4) and err == "EAGAIN", p
    assert any(THREADS.search(line) for line in p.stderr.decode().splitlines()
               if line.startswith("strictbox:")), p.stderr


# -- CPython -----------------------------------------------------------------

PY_SCRIPTS = {
    "threading": r"""
        import threading, queue, concurrent.futures as cf, time

        lock = threading.Lock()
        total = 0
        def add(n):
            global total
            for _ in range(n):
                with lock:
                    total += 1
        ts = [threading.Thread(target=add, args=(5000,)) for _ in range(8)]
        for t in ts: t.start()
        for t in ts: t.join()
        print("lock total", total)

        rlock, cond, items = threading.RLock(), threading.Condition(), []
        def cond_producer():
            for i in range(200):
                with cond:
                    items.append(i)
                    cond.notify()
        got = []
        def cond_consumer():
            while len(got) < 200:
                with cond:
                    cond.wait_for(lambda: items)
                    got.append(items.pop(0))
        c = threading.Thread(target=cond_consumer); c.start()
        p = threading.Thread(target=cond_producer); p.start()
        p.join(); c.join()
        print("condition in order", got == list(range(200)))

        sem, inside, peak = threading.BoundedSemaphore(2), [0], [0]
        def limited():
            with sem:
                with rlock:
                    with rlock:  # re-entrant
                        inside[0] += 1
                        peak[0] = max(peak[0], inside[0])
                time.sleep(0.002)
                with rlock:
                    inside[0] -= 1
        ts = [threading.Thread(target=limited) for _ in range(10)]
        for t in ts: t.start()
        for t in ts: t.join()
        print("semaphore peak at most 2", peak[0] <= 2)

        barrier, order = threading.Barrier(5), []
        def phased(i):
            order.append("a")
            barrier.wait()
            order.append("b")
        ts = [threading.Thread(target=phased, args=(i,)) for i in range(5)]
        for t in ts: t.start()
        for t in ts: t.join()
        print("barrier", "".join(order))

        ev = threading.Event()
        waiter = threading.Thread(target=ev.wait); waiter.start()
        print("event timeout", ev.wait(0.05))
        ev.set(); waiter.join()
        print("event set", ev.wait(0.05))

        q, results = queue.Queue(maxsize=16), queue.Queue()
        def produce(base):
            for i in range(500):
                q.put(base + i)
        def consume():
            n = s = 0
            while (item := q.get()) is not None:
                n, s = n + 1, s + item
                q.task_done()
            q.task_done()
            results.put((n, s))
        cons = [threading.Thread(target=consume) for _ in range(3)]
        prods = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
        for t in cons + prods: t.start()
        for t in prods: t.join()
        for _ in cons: q.put(None)
        for t in cons: t.join()
        q.join()
        rs = [results.get() for _ in cons]
        print("queue items", sum(n for n, _ in rs), "sum", sum(s for _, s in rs))
        try:
            q.get(timeout=0.05)
        except queue.Empty:
            print("queue get timeout: Empty")
        held = threading.Lock(); held.acquire()
        r = []
        t = threading.Thread(target=lambda: r.append(held.acquire(timeout=0.05))); t.start(); t.join()
        print("lock acquire timeout", r)

        with cf.ThreadPoolExecutor(max_workers=8) as ex:
            squares = list(ex.map(lambda x: x * x, range(2000)))
            futs = [ex.submit(pow, 2, k) for k in range(64)]
            done = sorted(f.result() for f in cf.as_completed(futs))
            bad = ex.submit(lambda: 1 / 0)
            print("pool map", sum(squares), "as_completed", done == [2 ** k for k in range(64)],
                  "exception", type(bad.exception()).__name__)
        ids = set()
        def ident():
            ids.add(threading.get_native_id())
            time.sleep(0.01)
        ts = [threading.Thread(target=ident) for _ in range(6)]
        for t in ts: t.start()
        for t in ts: t.join()
        print("native ids distinct", len(ids), threading.get_native_id() not in ids)
        print("active after joins", threading.active_count())
    """,
    "threading.local": r"""
        import threading, time
        loc = threading.local()
        loc.v = "main"
        seen, bar = {}, threading.Barrier(6)
        def f(i):
            fresh = not hasattr(loc, "v")
            loc.v = i
            bar.wait()
            time.sleep(0.01)
            bar.wait()
            seen[i] = fresh and loc.v == i
        ts = [threading.Thread(target=f, args=(i,)) for i in range(6)]
        for t in ts: t.start()
        for t in ts: t.join()
        print("local", sorted(seen.items()), loc.v)
        class Sub(threading.local):
            def __init__(self):
                self.n = threading.current_thread().name
        s = Sub()
        out = []
        t = threading.Thread(target=lambda: out.append(s.n), name="worker-x"); t.start(); t.join()
        print("subclass init per thread", out, s.n)
    """,
    "signal.alarm interrupts time.sleep": r"""
        import signal, time
        events = []
        class Alarm(Exception):
            pass
        def on_alarm(signum, frame):
            events.append("handler " + signal.Signals(signum).name)
            raise Alarm
        signal.signal(signal.SIGALRM, on_alarm)
        events.append("sleeping")
        signal.alarm(1)
        try:
            time.sleep(20)
            events.append("slept 20 s")
        except Alarm:
            events.append("sleep cut short")
        print(events)
        ticks = []
        signal.signal(signal.SIGALRM, lambda s, f: ticks.append("tick"))
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        time.sleep(0.3)  # the handler returns: the sleep goes on (PEP 475)
        print("handler returned", ticks, "and the sleep finished")
        print("pending alarm", signal.alarm(0))
        spun = []
        signal.signal(signal.SIGALRM, lambda s, f: spun.append("tick"))
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        n = 0
        while not spun:  # pure Python: no system call until the signal arrives
            n += 1
        print("handler ran in a busy loop", spun)
    """,
    "signals between threads": r"""
        import os, signal, threading, time
        class Poke(Exception):
            pass
        hits = []
        def on_usr1(signum, frame):
            hits.append(threading.current_thread() is threading.main_thread())
            if len(hits) == 1:
                raise Poke
        signal.signal(signal.SIGUSR1, on_usr1)
        done = threading.Event()
        def poker(main_ident):
            while not done.wait(0.05):
                signal.pthread_kill(main_ident, signal.SIGUSR1)
        t = threading.Thread(target=poker, args=(threading.get_ident(),))
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # the worker inherits it
        try:
            t.start()
            time.sleep(20)
            print("slept 20 s")
        except Poke:
            print("main thread's sleep cut short by pthread_kill from a worker")
        done.set()
        t.join()
        print("handlers ran in the main thread", all(hits))
        # Every thread blocks SIGUSR2 (a worker still leaving too): it stays pending.
        os.kill(os.getpid(), signal.SIGUSR2)
        print("pending", sorted(s.name for s in signal.sigpending()))
        print("sigwait", signal.sigwait({signal.SIGUSR2}).name)
        print("pending after", sorted(signal.sigpending()))
    """,
    "exit with threads running": r"""
        import sys, threading, time
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=True).start()
        print("leaving with 2 threads running", threading.active_count())
        sys.exit(3)
    """,
    "os._exit from a worker": r"""
        import os, threading, time
        def bye():
            print("worker exits", flush=True)
            os._exit(4)
        threading.Thread(target=bye).start()
        time.sleep(60)
        print("not reached")
    """,
}
PY_STATUS = {"exit with threads running": 3, "os._exit from a worker": 4}
PY_MUST = {
    "threading": ["lock total 40000", "condition in order True", "semaphore peak at most 2 True",
                  "barrier aaaaabbbbb", "event timeout False", "event set True",
                  "queue items 2000 sum 3499000", "queue get timeout: Empty",
                  "lock acquire timeout [False]",
                  "pool map 2664667000 as_completed True exception ZeroDivisionError",
                  "native ids distinct 6 True", "active after joins 1"],
    "threading.local": ["local [(0, True), (1, True), (2, True), (3, True), (4, True), (5, True)] main",
                        "subclass init per thread ['worker-x'] MainThread"],
    "signal.alarm interrupts time.sleep": [
        "['sleeping', 'handler SIGALRM', 'sleep cut short']",
        "handler returned ['tick'] and the sleep finished", "pending alarm 0",
        "handler ran in a busy loop ['tick']"],
    "signals between threads": ["main thread's sleep cut short by pthread_kill from a worker",
                                "handlers ran in the main thread True", "pending ['SIGUSR2']",
                                "sigwait SIGUSR2", "pending after []"],
    "exit with threads running": ["leaving with 2 threads running 3"],
    "os._exit from a worker": ["worker exits"],
}


@need_python
@pytest.mark.parametrize("name", list(PY_SCRIPTS))
def test_python_threads_and_signals(name):
    argv = [PY, "-I", "-c", textwrap.dedent(PY_SCRIPTS[name])]
    got, want = both(argv, timeout=60)
    assert want.returncode == PY_STATUS.get(name, 0), want
    check_lines(want.stdout, PY_MUST[name], f"native {name}")
    assert got.reason is None, explain(got)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, want.returncode), \
        explain(got)


WAIT_FOR_SIGNAL = "import time; print('ready', flush=True); time.sleep(60); print('slept')"


def _signalled(argv, sig) -> tuple[int, bytes, bytes]:
    """Starts argv, waits for its "ready" line, sends sig to it (only to that
    process: its own session), and returns (status, rest of stdout, stderr)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready, "no 'ready' line within 60 s"
        line = p.stdout.readline()
        assert line == b"ready\n", (line, p.stderr.read() if p.poll() is not None else b"")
        # Into its sleep first: a signal between the print and the sleep is
        # handled there and the sleep goes on (CPython's own race, natively too).
        time.sleep(0.3)
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out, err


def _not_strictbox(err: bytes) -> bytes:
    """stderr without the one `strictbox: ...` line the CLI may add."""
    return b"".join(l for l in err.splitlines(keepends=True) if not l.startswith(b"strictbox:"))


@need_python
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_cli_reaches_python(sig):
    """Ctrl-C (SIGINT) on `strictbox run` raises KeyboardInterrupt in the
    sandboxed Python, which prints its traceback and, as CPython does, dies
    of SIGINT; SIGTERM (default action) ends it.  The CLI exits 128 + N as a
    shell reports a process killed by signal N, and stderr is the same as a
    native run's (but for a `strictbox:` line)."""
    code = ["-I", "-c", WAIT_FOR_SIGNAL]
    n_status, n_out, n_err = _signalled([PY, *code], sig)
    assert n_status == -sig and n_out == b""
    if sig == signal.SIGINT:
        assert n_err.endswith(b"KeyboardInterrupt\n"), n_err
    else:
        assert n_err == b""
    status, out, err = _signalled([*CLI, "run", "--", PY, *code], sig)
    assert (status, out, _not_strictbox(err)) == (128 + sig, n_out, n_err), (status, out, err)


def _on_terminal(argv, keys: bytes) -> tuple[int, bytes]:
    """Runs argv as a shell would in a terminal of its own (a pty, its
    controlling terminal, argv in the foreground), waits for "ready", types
    keys, and returns (status, everything the terminal showed)."""
    import pty
    import termios
    master, slave = pty.openpty()

    def take_terminal():  # in the child: a new session whose terminal this is
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         preexec_fn=take_terminal)
    os.close(slave)
    shown = b""
    try:
        while b"ready" not in shown:
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, ("no 'ready' within 60 s", shown)
            shown += os.read(master, 4096)
        time.sleep(0.2)  # into the sleep
        os.write(master, keys)
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    shown += os.read(master, 4096)
                except OSError:  # EIO: no process has the terminal open any more
                    break
        p.wait(timeout=60)
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return p.returncode, shown


@need_python
def test_ctrl_c_on_a_terminal_reaches_python():
    """Ctrl-C typed at the terminal `strictbox run` runs in: the sandbox has
    the terminal's foreground, so the terminal's SIGINT goes to it (once),
    Python raises KeyboardInterrupt, and the CLI says 130 as the shell would."""
    status, shown = _on_terminal([*CLI, "run", "--", PY, "-I", "-c", WAIT_FOR_SIGNAL], b"\x03")
    assert status == 128 + signal.SIGINT, shown
    assert b"KeyboardInterrupt" in shown and b"slept" not in shown, shown
    assert shown.count(b"Traceback") == 1, shown


@need_python
def test_sandbox_reads_its_terminal():
    """The terminal is the sandbox's while it runs: a read from it gets the
    typed line (from the background it would get EIO)."""
    code = "print('ready', flush=True); print('got', input())"
    status, shown = _on_terminal([*CLI, "run", "--", PY, "-I", "-c", code], b"hello\n")
    assert status == 0, shown
    assert b"got hello" in shown, shown


# -- TOCTOU: a path rewritten by sibling threads -------------------------------

IN_ACCESS, IN_OPEN = 0x1, 0x20
_libc = ctypes.CDLL(None, use_errno=True)


class Inotify:
    """Watches files for IN_OPEN and IN_ACCESS: the canary.  Events say a
    file was opened (or read) by anyone, the broker included; a lookup,
    stat or O_PATH open is no event."""

    def __init__(self):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.names: dict[int, str] = {}

    def watch(self, path: Path) -> None:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.names[wd] = path.name

    def events(self) -> list[tuple[str, int]]:
        out = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                wd, mask, _cookie, length = struct.unpack_from("iIII", buf, i)
                if wd in self.names:
                    out.append((self.names[wd], mask))
                i += 16 + length

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def secret_world(tmp_path):
    """/data (read-only) holds public (allowed) and secret (denied by the
    policy's [[path]] rule); the two names have the same length, so half
    rewritten ones are mixtures that name nothing."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "public").write_text("public file\n")
    (data / "secret").write_text("SECRET, never to be opened\n")
    watcher = Inotify()
    watcher.watch(data / "public")
    watcher.watch(data / "secret")
    yield data, watcher
    watcher.close()


SECRET = Policy.permissive().path("/data/secret", "errno(EACCES)")
COUNTS = re.compile(rb"ok (\d+) denied (\d+) other (\d+) leaked (\d+)\n")


def _opened(events, name) -> bool:
    return any(n == name and mask & (IN_OPEN | IN_ACCESS) for n, mask in events)


def test_canary_sees_the_broker_open_files(secret_world):
    """The proof below rests on inotify seeing the broker's opens: a
    sandboxed cat of both files opens public (an event) and is refused
    secret (no event), and opening secret on the host is seen."""
    data, watcher = secret_world
    r = sandboxed(["/bin/cat", "/data/public", "/data/secret"], ro=[f"{data}:/data"], policy=SECRET)
    assert r.stdout == b"public file\n" and b"Permission denied" in r.stderr, explain(r)
    events = watcher.events()
    assert _opened(events, "public") and not _opened(events, "secret"), events
    (data / "secret").read_bytes()
    assert _opened(watcher.events(), "secret")


def test_toctou_open_racing_threads(toctou, secret_world):
    """The main thread opens a path buffer 100,000 times while two sibling
    threads rewrite it between /data/public and /data/secret in a tight loop.
    The broker copies the path once, judges the copy and opens that: every
    open that works reads public's bytes, the denied ones name secret in the
    log, and inotify never sees secret opened or read.  Natively, without a
    policy, the same race does open secret: the race is real."""
    data, watcher = secret_world
    # control: natively, on the host's own paths, the flippers do win
    want = native([toctou, str(data / "public"), str(data / "secret"), "20000"], timeout=120)
    assert want.returncode == 0, want
    m = COUNTS.search(want.stdout)
    assert m and int(m.group(1)) > 0 and int(m.group(4)) > 0, want.stdout
    assert _opened(watcher.events(), "secret")

    got = sandboxed([toctou, "/data/public", "/data/secret", "100000", "2"],
                    ro=[f"{data}:/data"], policy=SECRET, timeout=120)
    events = watcher.events()
    assert got.reason is None and got.returncode == 0, explain(got)
    assert not _opened(events, "secret"), f"the forbidden file was opened: {events}"
    assert _opened(events, "public"), events  # the canary was watching
    m = COUNTS.search(got.stdout)
    assert m, explain(got)
    ok, denied, other, leaked = map(int, m.groups())
    assert ok + denied + other == 100000
    assert leaked == 0, explain(got)
    assert ok > 0 and denied > 0, f"no race took place: {m.group(0)!r}"
    judged = [line for line in got.log if line.startswith("denied ")]
    assert judged and all('"/data/secret"' in line for line in judged), judged[:3]
    assert (data / "secret").read_text() == "SECRET, never to be opened\n"


def test_a_futex_wake_touches_no_block_of_a_thread_never_started(compile_c, monkeypatch):
    """Scans for waiting threads look at the slots started: each block of
    the pool they read would cost the arena a page (64 of them, 0.2 ms of
    faults in a CPython start)."""
    from strictbox import loader, recycle, sandbox
    from strictbox._native import lib
    prog = str(compile_c("futex_wake_alone.c", "-static"))
    seen = []
    real = sandbox.Sandbox.exit_requested

    def exit_requested(sb, code):  # (the arena as the program leaves it)
        blocks = loader.layout(sb.limits.memory, sb.limits.threads).threads_base - loader.BASE
        try:
            seen.append(os.lseek(sb.arena.fd, blocks + lib.SB_THREAD_BLOCK, os.SEEK_DATA) - blocks)
        except OSError:  # ENXIO: no data past slot 0's block
            seen.append(None)
        return real(sb, code)
    monkeypatch.setattr(sandbox.Sandbox, "exit_requested", exit_requested)
    monkeypatch.setattr(recycle, "take", lambda size, spans: None)  # (a fresh arena: pages only where touched)
    got = sandboxed([prog])
    assert (got.returncode, got.reason) == (0, None)
    assert seen == [None]
