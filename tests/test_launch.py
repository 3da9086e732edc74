"""The sandbox process as seen from outside: strict mode, its fds, its life."""

import os
import resource
import signal
import subprocess
import threading
import time

import pytest

import strictbox
from strictbox import afterwards, standby
from conftest import BUSYBOX, Fleet, requires_busybox

pytestmark = requires_busybox


def _children(pid: int) -> list[int]:
    """pid's child processes (this process's standby stub aside: no sandbox)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return [c for c in out if c != standby.pid()]


def _wait_for_child(pid: int) -> int:
    for _ in range(500):
        kids = _children(pid)
        if kids:
            return kids[0]
        time.sleep(0.01)
    raise AssertionError("the sandbox process never appeared")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _is_stub(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe").endswith("strictbox-stub")
    except OSError:
        return False


def _tasks(pid: int) -> list[str]:
    """The sandbox's threads but its first one (the spawner)."""
    return [t for t in os.listdir(f"/proc/{pid}/task") if t != str(pid)]


ALL_SIGNALS = (1 << 64) - 1 & ~(1 << (signal.SIGKILL - 1)) & ~(1 << (signal.SIGSTOP - 1))


def test_running_sandbox_is_in_strict_mode_with_only_its_fds():
    # cat blocks reading our pipe, so the sandbox stays up while we look at it.
    p = subprocess.Popen(["strictbox", "run", "--max-threads", "3", "--", BUSYBOX, "cat"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        child = _wait_for_child(p.pid)
        for _ in range(500):  # until the spawner has blocked every signal: the program runs
            if int(_status(child).get("SigBlk", "0"), 16) == ALL_SIGNALS:
                break
            time.sleep(0.01)
        tasks = _tasks(child)
        assert len(tasks) == 1  # the program's one thread: the pool grows only when it asks
        with open(f"/proc/{child}/task/{tasks[0]}/status") as f:
            assert "Seccomp:\t1\n" in f.read()
        # The spawner, the one thread outside strict mode, takes no signal.
        spawner = _status(child)
        assert spawner["Seccomp"] == "0" and int(spawner["SigBlk"], 16) == ALL_SIGNALS
        fd_dir = f"/proc/{child}/fd"
        fds = sorted(int(fd) for fd in os.listdir(fd_dir))
        # stdio; the main thread's channel and wake pipe; the spawn socket;
        # the arena, kept for the spawner at a number far above the rest
        assert fds[:3] == [0, 1, 2] and len(fds) == 3 + 3 + 1 + 1
        targets = [os.readlink(f"{fd_dir}/{fd}") for fd in fds]
        assert [t for t in targets if "memfd" in t] == [targets[-1]] and fds[-1] > 1000
        assert "strictbox-arena" in targets[-1]
        assert sum(t.startswith("socket:") for t in targets[3:]) == 2
        assert sum(t.startswith("pipe:") for t in targets[3:]) == 2
        # busybox's read-only segments are the file's own pages (pinned), its
        # writable one a copy in the arena
        with open(f"/proc/{child}/maps") as f:
            maps = [line.split() for line in f]
        pinned = [m for m in maps if len(m) == 6 and m[5] == os.path.realpath(BUSYBOX)]
        assert pinned and all("w" not in m[1] for m in pinned)
        out, _ = p.communicate(b"through the sandbox\n", timeout=30)
        assert out == b"through the sandbox\n"
        assert p.returncode == 0
    finally:
        p.kill()


def _python_started(code: str, *options: str) -> tuple[subprocess.Popen, int]:
    """strictbox run of python3 code that prints "started" once its threads
    stand: the CLI process and the sandbox's pid, after that line."""
    p = subprocess.Popen(["strictbox", "run", *options, "--", "/usr/bin/python3", "-I", "-c", code],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"started\n"
        return p, _children(p.pid)[0]
    except BaseException:
        p.kill()
        raise


def test_the_pool_grows_as_the_program_starts_threads():
    """Each thread the program has at once is a pool thread, started when
    the program first needs it, confined like the first."""
    code = ("import sys, threading; ts = [threading.Thread(target=sys.stdin.readline) for _ in range(5)]; "
            "[t.start() for t in ts]; print('started', flush=True); [t.join() for t in ts]")
    p, child = _python_started(code)
    try:
        tasks = _tasks(child)
        assert len(tasks) == 6
        for tid in tasks:
            with open(f"/proc/{child}/task/{tid}/status") as f:
                assert "Seccomp:\t1\n" in f.read()
        out, _ = p.communicate(b"\n" * 5, timeout=30)
        assert p.returncode == 0
    finally:
        p.kill()


def _cpus(where) -> set[int]:
    """The CPUs a task may run on (/proc/PID/status, Cpus_allowed_list: "0-3,6")."""
    cpus = set()
    for part in _status(where)["Cpus_allowed_list"].strip().split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to place threads on")
def test_main_thread_and_broker_are_paired_and_the_others_run_anywhere():
    """strictbox run: the program's main thread (slot 0) and the broker each
    keep a CPU of their own, so neither wakes the other's CPU for a round
    trip (both poll), and the broker's clock thread ticks on the broker's;
    the spawner, and so every other thread of the pool, keeps all the CPUs,
    so threads still run in parallel."""
    everywhere = os.sched_getaffinity(0)  # the CLI and its sandbox inherit it
    p = subprocess.Popen(["strictbox", "run", "--max-threads", "3", "--", BUSYBOX, "cat"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        child = _wait_for_child(p.pid)
        for _ in range(500):  # until the main thread is placed and the broker's threads moved
            placed = [_cpus(f"{child}/task/{t}") for t in _tasks(child)]
            brokers = [_cpus(f"{p.pid}/task/{t}") for t in os.listdir(f"/proc/{p.pid}/task")]
            if all(b != everywhere for b in brokers) and any(c != everywhere for c in placed):
                break
            time.sleep(0.01)
        assert len(placed) == 1 and len(placed[0]) == 1, placed
        broker = _cpus(p.pid)
        assert len(broker) == 1 and broker != placed[0] and broker | placed[0] <= everywhere
        assert len(brokers) == 2 and all(b == broker for b in brokers), brokers  # (and the clock's)
        assert _cpus(child) == everywhere  # the spawner, whose threads run anywhere
        out, _ = p.communicate(b"on CPUs of their own\n", timeout=30)
        assert (out, p.returncode) == (b"on CPUs of their own\n", 0)
    finally:
        p.kill()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to place threads on")
def test_a_second_thread_ends_the_pairing():
    """Once the program starts a second thread, its main thread and the
    broker may run on any CPU again: threads handing work to each other
    must not wait for one CPU."""
    everywhere = os.sched_getaffinity(0)
    code = ("import sys, threading; t = threading.Thread(target=sys.stdin.read); t.start(); "
            "print('started', flush=True); t.join()")
    # (after "started": pthread_create has returned, and with it the runtime's word to the broker)
    p, child = _python_started(code, "--max-threads", "3")
    try:
        tasks = _tasks(child)
        assert len(tasks) == 2
        assert _cpus(p.pid) == everywhere  # the broker's thread
        assert all(_cpus(f"{child}/task/{t}") == everywhere for t in tasks)
        out, _ = p.communicate(b"", timeout=30)
        assert p.returncode == 0
    finally:
        p.kill()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to place threads on")
def test_only_one_broker_of_a_process_is_paired():
    """Two runs at once from one process (threads of a job runner): the
    second is not paired too (its broker would poll on the first one's
    CPU)."""
    everywhere = os.sched_getaffinity(0)
    pipes = [os.pipe() for _ in range(2)]
    runs = [threading.Thread(target=strictbox.run, args=([BUSYBOX, "cat"],),
                             kwargs={"stdin": r, "stdout": subprocess.DEVNULL}) for r, _ in pipes]
    try:
        for t in runs:
            t.start()
        for _ in range(500):
            kids = [k for k in _children(os.getpid()) if _is_stub(k)]
            if len(kids) == 2 and all(_tasks(k) for k in kids):
                break
            time.sleep(0.01)
        time.sleep(0.2)  # both main threads stand; the stub placed them before reporting ready
        pinned = [k for k in kids
                  if any(_cpus(f"{k}/task/{t}") != everywhere for t in os.listdir(f"/proc/{k}/task"))]
        assert len(pinned) == 1, (kids, pinned)
    finally:
        for r, w in pipes:
            os.close(w)
        for t in runs:
            t.join(timeout=30)
        for r, _ in pipes:
            os.close(r)


def test_a_program_that_exits_alone_has_its_output_and_is_reaped(monkeypatch):
    """Its only thread asked to exit: the result does not wait for the
    process's teardown (Sandbox.let_go), yet holds all it wrote (more than a
    pipe holds), and a thread reaps the process."""
    from strictbox.sandbox import Sandbox
    let_go = []
    real = Sandbox.let_go
    monkeypatch.setattr(Sandbox, "let_go", lambda sb: (let_go.append(sb.pid), real(sb)))
    code = "import sys; sys.stdout.write('x' * 300000); sys.stderr.write('done'); sys.exit(3)"
    r = strictbox.run(["/usr/bin/python3", "-I", "-c", code], capture_output=True, timeout=60)
    assert (len(r.stdout), r.stderr, r.returncode, r.reason) == (300000, b"done", 3, None)
    assert len(let_go) == 1
    afterwards.wait()
    assert _children(os.getpid()) == []


def test_a_job_afterwards_that_fails_holds_up_nothing(capsys):
    """A broker bug in one job is shown, and the jobs after it still run."""
    done = []
    afterwards.later(lambda: 1 / 0)
    afterwards.later(lambda: done.append(1))
    assert afterwards.wait(10) and done == [1]
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_ended_sandboxes_leave_the_live_set():
    """Each mapping a sandbox pins looks through the live sandboxes' open
    files (sandbox._written): ended ones, which wait for the garbage
    collector in reference cycles, must not be among them."""
    from strictbox import sandbox
    for _ in range(3):
        assert strictbox.run([BUSYBOX, "true"]).returncode == 0
    assert not [sb for sb in sandbox.LIVE if sb.done]


def test_the_api_gives_the_callers_thread_its_cpus_back():
    before = os.sched_getaffinity(0)
    r = strictbox.run([BUSYBOX, "true"])
    assert r.returncode == 0 and os.sched_getaffinity(0) == before


def test_sandbox_dies_with_its_broker():
    p = subprocess.Popen(["strictbox", "run", "--", BUSYBOX, "cat"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    child = _wait_for_child(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    for _ in range(500):
        try:
            state = _status(child)["State"]
        except FileNotFoundError:
            break
        if state.startswith("Z"):
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the sandbox outlived its broker")
    p.stdin.close()


SEVERAL = """
import os, sys
from strictbox import api
from strictbox.loop import Broker
broker = Broker()
for i in range(int(sys.argv[1])):
    r, w = os.pipe()  # stdin nobody writes: cat waits on it for ever
    broker.add(api.prepare([sys.argv[2], "cat"], stdio=(r, 1, 2)))
    os.close(r)
print("started", flush=True)
broker.run()
"""


def _gone_or_zombie(pid: int) -> bool:
    try:
        return _status(pid)["State"].startswith("Z")
    except FileNotFoundError:
        return True


def test_every_sandbox_dies_with_its_broker():
    """One broker process serving several sandboxes, killed with SIGKILL:
    every sandbox dies with it (PR_SET_PDEATHSIG), none is left running."""
    import sys
    n = 4
    p = subprocess.Popen([sys.executable, "-c", SEVERAL, str(n), BUSYBOX], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    try:
        assert p.stdout.readline() == b"started\n"
        for _ in range(500):
            kids = _children(p.pid)
            if len(kids) == n and all(_status(k).get("Seccomp") == "1" for k in kids):
                break
            time.sleep(0.01)
        assert len(kids) == n, kids
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        for _ in range(500):
            if all(_gone_or_zombie(k) for k in kids):
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"sandboxes outlived their broker: {[k for k in kids if not _gone_or_zombie(k)]}")
    finally:
        p.kill()
        p.wait()


def test_syscalls_command_prints_the_table():
    out = subprocess.run(["strictbox", "syscalls"], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert any(l.split()[1:3] == ["getpid", "sandbox"] for l in lines if len(l.split()) > 2)
    assert any(l.split()[1:3] == ["unlinkat", "broker"] for l in lines if len(l.split()) > 2)


def test_a_broker_holding_thousands_of_fds_starts_sandboxes(compile_c):
    """The stub's inherited fds keep the broker's numbers, here the very ones
    it keeps the arena and each new thread's pidfd at (4094, 4095) and above:
    it moves them down first, so threads start and the pinned image is
    mapped back as ever."""
    prog = str(compile_c("pinned_image.c", "-static", "-pthread"))
    want = subprocess.run([prog, "threads"], capture_output=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # (raising the hard limit needs CAP_SYS_RESOURCE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, max(hard, 8192)))
    except (OSError, ValueError):
        pytest.skip(f"holding 4300 fds needs RLIMIT_NOFILE >= 8192; the hard limit is {hard} "
                    "and this process may not raise it")
    afterwards.wait()  # (earlier runs' arenas: their fds are closed by a thread)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    held, got = {}, []
    try:
        while not held or max(held) < 4300:  # every number up to 4300 taken ...
            fd = os.dup(null)
            held[fd] = fd
        full = len(held)
        for k in range(1, 25):  # ... but the last k below 4096: the sandbox's first fds go there
            for fd in range(4096 - k, 4096):
                os.close(held.pop(fd))
            got.append(strictbox.run([prog, "threads"], capture_output=True, timeout=60))
            afterwards.wait()
            while len(held) < full:  # (lowest first: the same holes)
                fd = os.dup(null)
                held[fd] = fd
    finally:
        for fd in list(held) + [null]:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for g in got:
        assert g.reason is None, g.reason
        assert (g.stdout, g.returncode) == (want.stdout, 0)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pair")
def test_a_paired_broker_says_when_each_answer_is_sent(compile_c):
    """Paired (api.run), the broker marks each answer in the thread's block,
    which the thread watches instead of sleeping; once the program has a
    second thread it is unpaired, and the marks stop.  A broker that runs
    several sandboxes pairs with none."""
    prog = compile_c("paired.c", "-pthread")
    r = strictbox.run([str(prog)], capture_output=True, timeout=60)
    assert (r.stdout, r.returncode) == (b"alone: paired 1, answered this call\n"
                                        b"after a thread: paired 0, answered an earlier call\n", 0)
    fleet = Fleet()
    _, out, _ = fleet.add([prog], timeout=60)
    fleet.run()
    assert bytes(out) == b"alone: paired 0, answered none\nafter a thread: paired 0, answered none\n"
