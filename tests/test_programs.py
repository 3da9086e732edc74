"""Acceptance: ordinary programs from the distribution (coreutils, gzip, the
sqlite3 shell, Debian's CPython) give byte-identical output sandboxed and
native, on real files mounted into the view.

Every test runs the same argv twice: natively with subprocess and in a
sandbox, with the same environment (TZ=UTC, LC_ALL=C), working directory and
umask, and compares stdout, stderr and the exit status.  Read-only data is
mounted at its own host path, so paths in output and error messages agree.
Commands that write get two identical copies of a directory: the native run
works in one, the sandbox gets the other mounted read-write *at the first
one's path*, and afterwards both trees must be equal too.

Ids: the sandbox runs as uid/gid 1000 while the tests run as root.  Files the
tests list are chowned to 1000:1000 and listed with numeric ids (`ls -n`,
`stat -c %u`), and `id` is compared with a native run under uid/gid 1000
(no supplementary groups): the user *names* differ by design (the sandbox's
own /etc/passwd says "sandbox") and are not compared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import strictbox
from conftest import walk_tree

PATH = "/usr/local/bin:/usr/bin:/bin"
ENV = {"PATH": PATH, "TZ": "UTC", "LC_ALL": "C"}
PY = "/usr/bin/python3"  # Debian's CPython, not whatever python3 runs pytest
GPL = "/usr/share/common-licenses/GPL-3"
T0 = 1_700_000_000  # a fixed clock for every file the tests list
UMASK = 0o022  # what a sandbox starts with
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="compares with a native run as uid 1000")


def need(*programs: str):
    """Skip when a program is not installed (CI installs them all: .ci/run)."""
    missing = [p for p in programs if not (shutil.which(p) if "/" not in p else os.path.exists(p))]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


def native(argv, *, cwd, env=ENV, input=None, **kw):
    return subprocess.run(argv, capture_output=True, env=env, cwd=cwd, input=input,
                          umask=UMASK, timeout=120, **kw)


def boxed(argv, *, cwd, env=ENV, input=None, ro=(), rw=()):
    return strictbox.run(argv, capture_output=True, env=env, cwd=str(cwd), input=input,
                         ro=list(ro), rw=list(rw), timeout=120)


def same(got, want, *, stderr=True) -> None:
    """got (sandboxed) equals want (native); on failure show what was denied."""
    assert got.reason is None, (got.reason, got.stderr, got.log)
    g = (got.stdout, got.stderr if stderr else b"", got.returncode)
    w = (want.stdout, want.stderr if stderr else b"", want.returncode)
    assert g == w, f"denied/logged in the sandbox: {got.log}"


def fix_times(root: Path, t: int = T0) -> None:
    """Fixed owner 1000:1000 (when we may chown) and mtime/atime for root and
    everything below (children first, so setting a directory's time is the
    last change to it)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            if ROOT:
                os.chown(p, 1000, 1000, follow_symlinks=False)
            os.utime(p, (t, t), follow_symlinks=False)
    if ROOT:
        os.chown(root, 1000, 1000)
    os.utime(root, (t, t))


def tree(root: Path) -> list[tuple]:
    """What a write could change under root: names, types, modes, contents
    or link targets and link counts.  Not owners (native runs are root), nor
    times: the steps compare the times they set with `stat -c %Y`."""
    out = []
    for rel, p, st in walk_tree(root):
        if stat.S_ISLNK(st.st_mode):
            out.append((rel, "link", os.readlink(p)))
        elif stat.S_ISDIR(st.st_mode):
            out.append((rel, "dir", oct(st.st_mode)))
        else:
            out.append((rel, "file", oct(st.st_mode), p.read_bytes(), st.st_nlink))
    return out


def populate(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "words.txt").write_text("pear\napple\nfig\napple\nbanana\nFig\n\nkiwi\n")
    (d / "numbers.txt").write_text("10\n9\n100\n-3\n2.5\n0x10\n")
    (d / "table.txt").write_text("root:x:0:0:root:/root:/bin/sh\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
                                 "user:x:1000:1000:A User,,,:/home/user:/bin/bash\n")
    (d / "text.txt").write_bytes(b"".join(b"line %d: %s\n" % (i, b"xyz" * (i % 7)) for i in range(200)))
    (d / "bytes.bin").write_bytes(bytes(range(256)) * 40)
    (d / "big.txt").write_bytes(b"".join(b"%d\n" % ((i * 7919) % 50021) for i in range(120_000)))
    (d / "sorted.txt").write_text("a\nc\nc\nd\n")
    (d / "sums.txt").write_text(hashlib.sha256((d / "words.txt").read_bytes()).hexdigest()
                                + "  words.txt\n" + "0" * 64 + "  numbers.txt\n")
    sub = d / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "a").write_text("a\n")
    (sub / "b").write_text("bb\n")
    (sub / "b").chmod(0o600)
    (sub / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (sub / "run.sh").chmod(0o755)
    (sub / "deeper").mkdir(exist_ok=True)
    (sub / "deeper" / "c").write_text("c\n" * 1000)
    if not (sub / "link").is_symlink():
        (sub / "link").symlink_to("a")
    fix_times(d)
    return d


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Read-only inputs, owned by 1000:1000 with fixed times."""
    return populate(tmp_path_factory.mktemp("data") / "in")


def read_only(argv, data, *, input=None, env=ENV, **native_kw):
    """Runs argv in data (mounted read-only at its own path) both ways."""
    got = boxed(argv, cwd=data, env=env, input=input, ro=[str(data)])
    want = native(argv, cwd=data, env=env, input=input, **native_kw)
    return got, want


# --- coreutils reading files ----------------------------------------------------

READ_CASES = {
    "ls -la": ["ls", "-la", "--numeric-uid-gid", "sub"],
    "ls -lan full-time": ["ls", "-lan", "--full-time", "sub", "sub/deeper"],
    "ls -lnR": ["ls", "-lnR", "."],
    "ls -1 sorted by size": ["ls", "-1S", "sub", "/usr/share/common-licenses"],
    "ls missing": ["ls", "-l", "no-such-file"],
    "cat": ["cat", "words.txt", "sub/a", "sub/deeper/c"],
    "cat -n": ["cat", "-n", "text.txt"],
    "cat missing": ["cat", "words.txt", "missing.txt"],
    "sort": ["sort", "words.txt"],
    "sort -ru": ["sort", "-r", "-u", "words.txt"],
    "sort -n": ["sort", "-n", "numbers.txt"],
    "sort -t: -k3n": ["sort", "-t:", "-k3,3n", "table.txt"],
    "sort big": ["sort", GPL],
    "uniq": ["uniq", "text.txt"],
    "uniq -c": ["uniq", "-c", "-i"],
    "sha256sum": ["sha256sum", "words.txt", "bytes.bin", GPL],
    "sha256sum -c": ["sha256sum", "-c", "sums.txt"],
    "wc": ["wc", "words.txt", "text.txt", "bytes.bin", GPL],
    "wc -l": ["wc", "-l", "text.txt"],
    "head": ["head", "-n", "3", "text.txt"],
    "head -c": ["head", "-c", "100", GPL],
    "tail": ["tail", "-n", "4", "text.txt"],
    "tail -c": ["tail", "-c", "50", GPL],
    "tail +N": ["tail", "-n", "+195", "text.txt"],
    "tr upper": ["tr", "a-z", "A-Z"],
    "tr -d": ["tr", "-d", "aeiou\\n"],
    "cut -d: -f": ["cut", "-d:", "-f1,3,6", "table.txt"],
    "cut -c": ["cut", "-c1-4", "words.txt"],
    "env": ["env"],
    "env -i prog": ["env", "-i", "A=1", "B=two", "/usr/bin/env"],
    "date": ["date", "-d", "@1700000000"],
    "date -u format": ["date", "-u", "-d", "@1700000000", "+%Y-%m-%d %H:%M:%S %s %A %j"],
    "date TZ": ["date", "-d", "TZ=\"America/New_York\" 2023-11-14 17:13:20", "+%F %T %Z %z"],
    "date -r file": ["date", "-r", "words.txt", "+%s"],
    "stat -c": ["stat", "-c", "%n %s %a %A %u %g %F %h %Y", "words.txt", "sub", "sub/b",
                "sub/link", "sub/run.sh"],
    "stat -L -c": ["stat", "-L", "-c", "%n %s %F %i", "sub/link", GPL],
    "stat --printf": ["stat", "--printf", "%n:%s:%b:%B\\n", "bytes.bin", "sub/deeper/c"],
    "stat missing": ["stat", "-c", "%n", "missing"],
    "true": ["true"],
    "false": ["false"],
    "printf": ["printf", "%s=%05d %x %q\\n", "a", "42", "255", "it's"],
    "basename": ["basename", "/a/b/c.txt", ".txt"],
    "dirname": ["dirname", "/a/b/c.txt", "rel", "/"],
    "seq": ["seq", "-s,", "1", "3", "40"],
    "md5sum": ["md5sum", "bytes.bin", "words.txt"],
    "b2sum": ["b2sum", "-l", "128", "bytes.bin"],
    "od": ["od", "-A", "x", "-t", "x1z", "-N", "64", "bytes.bin"],
    "comm": ["comm", "sorted.txt", "sub/deeper/c"],
    "readlink -f": ["readlink", "-f", "sub/link"],
    "realpath": ["realpath", "sub/deeper/../a", "sub/link"],
    "du": ["du", "-a", "--apparent-size", "-b", "sub"],
    "find": ["find", "sub", "-name", "*", "-printf", "%p %y %m %s\\n"],
    "sort -S tiny (temporary files)": ["sort", "-S", "1k", "--parallel=1", GPL, "text.txt"],
    "sort big -u": ["sort", "-u", "--parallel=2", "big.txt"],
    "paste": ["paste", "-d|", "words.txt", "numbers.txt"],
    "tac": ["tac", "words.txt"],
    "nl": ["nl", "-ba", "words.txt"],
    "fold": ["fold", "-w", "7", "table.txt"],
    "dd": ["dd", "if=bytes.bin", "bs=100", "skip=3", "count=7", "status=none"],
    "nproc": ["nproc"],
    "stat -f": ["stat", "-f", "-c", "%T %s %l", "."],
    "test -f": ["test", "-f", "words.txt"],
    "test -e missing": ["test", "-e", "nope"],
}
STDIN_FOR = {"tr upper": b"Hello, World!\n" * 50, "tr -d": b"the quick brown fox\njumps\n",
             "uniq -c": b"a\na\nA\nb\nc\nc\nc\n"}


@pytest.mark.parametrize("case", READ_CASES)
def test_coreutils_read(case, data):
    got, want = read_only(READ_CASES[case], data, input=STDIN_FOR.get(case))
    same(got, want)


@needs_root
@pytest.mark.parametrize("args", [["id", "-u"], ["id", "-g"], ["id", "-G"], ["id", "-ru"],
                                  ["id", "-rg"]], ids=" ".join)
def test_id_matches_a_native_run_as_1000(args, data):
    """Natively under uid/gid 1000 with no supplementary groups, like the sandbox."""
    got, want = read_only(args, data, user=1000, group=1000, extra_groups=[])
    same(got, want)


def test_id_names_come_from_the_sandbox_passwd(data):
    """Not comparable to native (the host may name uid 1000 otherwise), but fixed."""
    got = boxed(["id"], cwd=data)
    assert (got.stdout, got.returncode) == (b"uid=1000(sandbox) gid=1000(sandbox) "
                                            b"groups=1000(sandbox)\n", 0), got.log


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "Europe/Paris", "UTC0",
                                "<+0330>-3:30"])
def test_date_in_time_zones(tz, data):
    """The zone files come from /usr/share/zoneinfo in the default view."""
    got, want = read_only(["date", "-d", "@1700000000", "+%F %T %Z %z %c"], data,
                          env={**ENV, "TZ": tz})
    same(got, want)


# --- coreutils writing files ----------------------------------------------------


@pytest.fixture
def pair(tmp_path):
    """(native dir, sandbox dir): two identical copies of the test data."""
    nat, box = populate(tmp_path / "native"), populate(tmp_path / "box")
    return nat, box


def write_steps(steps, pair, *, input=None):
    """Runs each argv in order, natively in nat and sandboxed in box mounted
    read-write at nat's path; outputs must agree at every step and the
    trees at the end."""
    nat, box = pair
    for argv in steps:
        got = boxed(argv, cwd=nat, rw=[f"{box}:{nat}"], input=input)
        want = native(argv, cwd=nat, input=input)
        same(got, want)
    assert tree(box) == tree(nat)


WRITE_CASES = {
    "cp": [["cp", "words.txt", "copy.txt"], ["cp", "sub/a", "sub/b", "sub/deeper"],
           ["cat", "copy.txt", "sub/deeper/b"]],
    "cp -p": [["cp", "-p", "sub/run.sh", "kept.sh"], ["stat", "-c", "%n %a %Y", "kept.sh"]],
    "cp -r": [["cp", "-r", "sub", "sub2"], ["ls", "-lnR", "sub2"]],
    "cp onto itself": [["cp", "words.txt", "words.txt"]],
    "cp missing": [["cp", "missing.txt", "x"]],
    "cp big": [["cp", GPL, "gpl"], ["cmp", GPL, "gpl"]],
    "mv": [["mv", "words.txt", "moved.txt"], ["mv", "sub/a", "."], ["mv", "sub/deeper", "deep"],
           ["ls", "-1", ".", "sub"]],
    "mv -n": [["mv", "-n", "sub/a", "sub/b"], ["cat", "sub/a", "sub/b"]],
    "mv missing": [["mv", "nope", "x"]],
    "rm": [["rm", "words.txt", "sub/link"], ["ls", "-1", "sub"]],
    "rm -r": [["rm", "-r", "sub"], ["ls", "-1"]],
    "rm dir without -r": [["rm", "sub"]],
    "rm missing": [["rm", "missing"]],
    "rm -f missing": [["rm", "-f", "missing"]],
    "mkdir": [["mkdir", "new"], ["mkdir", "-p", "x/y/z"], ["mkdir", "-m", "700", "private"],
              ["stat", "-c", "%n %a %F", "new", "x/y/z", "private"]],
    "mkdir exists": [["mkdir", "sub"]],
    "rmdir": [["rmdir", "sub/deeper"], ["mkdir", "e"], ["rmdir", "e"]],
    "touch -d": [["touch", "-d", "@1600000000", "new", "words.txt"],
                 ["stat", "-c", "%n %s %Y", "new", "words.txt"]],
    "touch -r": [["touch", "-r", "sub/a", "ref"], ["touch", "-m", "-d", "2001-02-03 04:05:06", "sub/b"],
                 ["stat", "-c", "%n %Y", "ref", "sub/b"]],
    "ln -s": [["ln", "-s", "words.txt", "w"], ["cat", "w"], ["readlink", "w"]],
    "ln": [["ln", "words.txt", "hard"], ["stat", "-c", "%h", "words.txt"]],
    "chmod": [["chmod", "640", "words.txt"], ["chmod", "-R", "go-rwx", "sub"],
              ["stat", "-c", "%n %a", "words.txt", "sub", "sub/a"]],
    "sort -o in place": [["sort", "-o", "words.txt", "words.txt"], ["cat", "words.txt"]],
    "dd of=": [["dd", "if=bytes.bin", "of=part.bin", "bs=512", "skip=2", "count=3", "status=none"],
               ["dd", "if=words.txt", "of=part.bin", "bs=1", "seek=10", "conv=notrunc",
                "status=none"]],
    "install": [["install", "-m", "640", "-D", "words.txt", "inst/a/b/w"],
                ["stat", "-c", "%n %a", "inst/a/b/w"]],
    # `exec` redirects in the shell and replaces it: no fork (unsupported)
    "sh exec redirect": [["sh", "-c", "exec sort words.txt > sorted"],
                         ["sh", "-c", "exec tr a-z A-Z < sorted >> sorted.up"],
                         ["sh", "-c", "exec cat sorted 2>&1 >> sorted.up"], ["cat", "sorted.up"]],
    "tee": [["tee", "out1", "out2"]],
    "truncate": [["truncate", "-s", "10", "text.txt"], ["truncate", "-s", "+5", "words.txt"]],
    "split": [["split", "-l", "50", "text.txt", "part-"], ["ls", "-1"]],
}
STDIN_FOR_WRITE = {"tee": b"to two files\n" * 100}


@pytest.mark.parametrize("case", WRITE_CASES)
def test_coreutils_write(case, pair):
    write_steps(WRITE_CASES[case], pair, input=STDIN_FOR_WRITE.get(case))


# Once gaps, now fixed: umask, trailing slash with O_CREAT, readlink ENOENT.
GAPS = [
    pytest.param([["sh", "-c", "umask 000; exec touch f"], ["sh", "-c", "umask 002; exec mkdir d"],
                  ["stat", "-c", "%n %a", "f", "d"]], id="umask 000 and 002"),
    pytest.param([["sh", "-c", "exec echo x > nodir/"], ["ls", "-1"]],
                 id="create with a trailing slash"),
    pytest.param([["readlink", "-v", "missing"]], id="readlink of a missing name"),
]


@pytest.mark.parametrize("steps", GAPS)
def test_coreutils_gaps(steps, pair):
    write_steps(steps, pair)


# --- gzip -----------------------------------------------------------------------


@need("gzip", "gunzip")
def test_gzip_to_stdout_and_back(data):
    got, want = read_only(["gzip", "-9", "-c", "text.txt", GPL], data)
    same(got, want)
    got, want = read_only(["gunzip", "-c"], data, input=want.stdout)
    same(got, want)
    assert got.stdout == (data / "text.txt").read_bytes() + Path(GPL).read_bytes()


@need("gzip", "gunzip")
def test_gzip_pipe(data):
    got, want = read_only(["gzip", "-n"], data, input=(data / "bytes.bin").read_bytes())
    same(got, want)


@need("gzip", "gunzip")
def test_gzip_round_trip_in_place(pair):
    # ls -og: no owners (gzip as root natively gives its output the input's owner)
    write_steps([["gzip", "words.txt", "text.txt"], ["ls", "-og"], ["gzip", "-l", "text.txt.gz"],
                 ["gunzip", "words.txt.gz", "text.txt.gz"], ["ls", "-og"]], pair)


@need("gzip", "gunzip")
def test_gzip_errors(pair):
    write_steps([["gzip", "missing"], ["gunzip", "words.txt"]], pair)


# --- the sqlite3 shell ----------------------------------------------------------

SQL = b"""
create table fruit(id integer primary key, name text not null, price real);
insert into fruit(name, price) values ('apple', 1.25), ('pear', 0.5), ('fig', 3);
create index by_name on fruit(name);
begin; update fruit set price = price * 2 where name = 'fig'; commit;
select id, name, price from fruit order by name;
select count(*), sum(price), group_concat(name, '+') from fruit;
.mode csv
select * from fruit where price > 1;
"""


@need("sqlite3")
def test_sqlite3_shell_creates_and_queries_a_database(tmp_path):
    nat, box = tmp_path / "native", tmp_path / "box"
    nat.mkdir()
    box.mkdir()
    got = boxed(["sqlite3", "/work/shop.db"], cwd="/work", rw=[f"{box}:/work"], input=SQL)
    want = native(["sqlite3", str(nat / "shop.db")], cwd=nat, input=SQL)
    same(got, want)
    assert (box / "shop.db").exists()
    assert os.listdir(box) == ["shop.db"]  # the journal is gone after commit
    # the file the sandbox wrote is a sound database, equal to the native one
    dump = native(["sqlite3", str(box / "shop.db"), "pragma integrity_check; .dump"], cwd=box)
    assert dump.stdout == native(["sqlite3", str(nat / "shop.db"),
                                  "pragma integrity_check; .dump"], cwd=nat).stdout
    assert dump.stdout.startswith(b"ok\n")
    # and the sandbox reads it back
    query = ["sqlite3", "-header", "/work/shop.db", "select name from fruit order by price desc"]
    got = boxed(query, cwd="/work", rw=[f"{box}:/work"])
    same(got, native(query[:2] + [str(nat / "shop.db")] + query[3:], cwd=nat))


@needs_root
@need("sqlite3")
def test_sqlite3_read_only_mount_reports_the_error():
    """A database in a read-only mount reads, and a write fails as it does
    natively for a user who may not write the file (uid 1000, mode 0444).
    Not under tmp_path: sqlite resolves the full path, and uid 1000 cannot
    search pytest's 0700 base directory."""
    with tempfile.TemporaryDirectory(prefix="strictbox-sqlite-") as d:
        db = Path(d)
        subprocess.run(["sqlite3", str(db / "x.db"), "create table t(a); insert into t values (7)"],
                       check=True)
        (db / "x.db").chmod(0o444)
        db.chmod(0o555)
        argv = ["sqlite3", str(db / "x.db"), "select a from t; insert into t values (8)"]
        got = boxed(argv, cwd=db, ro=[str(db)])
        want = native(argv, cwd=db, user=1000, group=1000, extra_groups=[])
        db.chmod(0o755)
    same(got, want)
    assert b"attempt to write a readonly database" in got.stderr


# --- CPython --------------------------------------------------------------------

SCRIPTS = {
    "hello.py": """
import sys
print("hello", sys.argv[1:], sys.flags.isolated, sys.executable)
print("unicode: h\\u00e9llo \\u2713", sys.stdout.encoding)
print(sorted(m for m in ("sys", "builtins") if m in sys.modules))
sys.stdout.write("no newline")
""",
    "stdlib.py": """
import base64, collections, datetime, decimal, fractions, hashlib, itertools, json, math
import random, re, statistics, struct, zlib
data = b"strictbox " * 1000
print(json.dumps({"b": [1, 2.5, None, True], "a": "\\u00e9"}, sort_keys=True))
print(json.loads('{"x": [1, {"y": "z"}]}'))
print(re.findall(r"(\\w+)@(\\w+)\\.org", "a@b.org, c@d.org"), re.sub(r"\\d+", "#", "a1b22c333"))
print(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
print(hashlib.blake2b(data, digest_size=16).hexdigest(), hashlib.sha3_256(data).hexdigest())
z = zlib.compress(data, 9)
print(len(z), zlib.crc32(data), zlib.adler32(data), zlib.decompress(z) == data)
decimal.getcontext().prec = 60
print(decimal.Decimal(2).sqrt(), decimal.Decimal("1.1") + decimal.Decimal("2.2"))
print(math.pi, math.sqrt(2), math.lgamma(10.5), math.factorial(30), math.isqrt(10**40 + 1))
print(fractions.Fraction(355, 113) - fractions.Fraction(22, 7), statistics.median([3, 1, 4, 1, 5]))
print(struct.pack("<iqd", -1, 2**40, 0.1).hex(), base64.b85encode(b"sandbox"))
print(datetime.datetime.fromtimestamp(1700000000, datetime.timezone.utc).isoformat())
print(collections.Counter("mississippi").most_common(3), list(itertools.permutations("abc", 2))[:4])
r = random.Random(42)
print(r.random(), r.randint(1, 10**9), r.sample(range(100), 5))
print(f"{1e100:.3e} {12345678901234567890:,} {0.1 + 0.2!r}")
""",
    "sqlite_mem.py": """
import sqlite3
db = sqlite3.connect(":memory:")
db.execute("create table t(k text primary key, v integer)")
db.executemany("insert into t values (?, ?)", [(f"key{i}", i * i) for i in range(500)])
print(db.execute("select count(*), sum(v), max(k) from t").fetchone())
print(db.execute("select k, v from t where v between 100 and 200 order by v").fetchall())
print(sqlite3.sqlite_version_info >= (3, 0, 0), db.execute("pragma journal_mode").fetchone())
""",
    "sqlite_file.py": """
import os, sqlite3, sys
path = os.path.join(sys.argv[1], "py.db")
with sqlite3.connect(path) as db:
    db.execute("create table t(a integer, b text)")
    db.executemany("insert into t values (?, ?)", [(i, str(i) * 3) for i in range(1000)])
db.close()
db = sqlite3.connect(path)
print(db.execute("select count(*), sum(a), min(b), max(b) from t").fetchone())
db.execute("delete from t where a % 2 = 0")
db.commit()
print(db.execute("select count(*) from t").fetchone(), db.execute("pragma integrity_check").fetchone())
db.close()
print(sorted(os.listdir(sys.argv[1])))
""",
    "files.py": """
import os, pathlib, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
words = (src / "words.txt").read_text().split()
print(len(words), sorted(set(words)))
print(sorted(p.name for p in src.iterdir()), (src / "bytes.bin").stat().st_size)
with open(src / "text.txt", "rb") as f:
    f.seek(1000)
    print(f.read(40), f.tell())
(out / "result.txt").write_text("\\n".join(sorted(words)) + "\\n")
with open(out / "result.txt", "a") as f:
    print("appended", file=f)
os.makedirs(out / "d1" / "d2", exist_ok=True)
(out / "d1" / "d2" / "f").write_bytes(b"\\0" * 5000)
os.rename(out / "d1" / "d2" / "f", out / "d1" / "g")
print((out / "result.txt").read_text().splitlines()[-2:], os.path.getsize(out / "d1" / "g"))
print(sorted(str(p.relative_to(out)) for p in out.rglob("*")))
try:
    open(src / "nope.txt")
except FileNotFoundError as e:
    print("error:", e)
""",
    "raises.py": """
import json

def parse(text):
    return json.loads(text)

def main():
    print("before")
    parse('{"unterminated": ')

main()
""",
    "exits.py": """
import sys
print("out")
print("err", file=sys.stderr)
sys.exit(3)
""",
    "dlopen.py": """
import ctypes, datetime, zoneinfo
import _ctypes, _decimal, _hashlib, _json, _sqlite3, _zoneinfo  # lib-dynload: dlopen
for m in (_ctypes, _decimal, _hashlib, _json, _sqlite3, _zoneinfo):
    print(m.__name__, m.__file__)
libc = ctypes.CDLL("libc.so.6")
print(libc.strlen(b"strictbox"), ctypes.sizeof(ctypes.c_long))
double = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x * 2)  # a libffi closure
print(double(21))
arr = (ctypes.c_int * 6)(5, 3, 9, 1, 7, 2)
cmp = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))(
    lambda a, b: a[0] - b[0])
libc.qsort(arr, len(arr), ctypes.sizeof(ctypes.c_int), cmp)
print(list(arr))
paris = zoneinfo.ZoneInfo("Europe/Paris")
print(datetime.datetime.fromtimestamp(1700000000, paris).isoformat())
""",
    "tmp.py": """
import os, tempfile
with tempfile.TemporaryDirectory() as d:
    print(os.path.dirname(d), os.listdir(d))
    with open(os.path.join(d, "f"), "w+b") as f:
        f.write(b"x" * 100000)
        f.seek(50)
        print(len(f.read()))
    os.mkdir(os.path.join(d, "sub"))
    print(sorted(os.listdir(d)), os.path.getsize(os.path.join(d, "f")))
with tempfile.TemporaryFile() as f:
    f.write(b"spooled")
    f.seek(0)
    print(f.read())
print(os.path.exists(d))
""",
    "devices.py": """
import os, sys
with open("/dev/null", "w") as f:
    print(f.write("gone"))
with open("/dev/null", "rb") as f:
    print(f.read())
with open("/dev/zero", "rb") as f:
    print(f.read(8))
print(len(os.urandom(64)), len(open("/dev/urandom", "rb").read(16)))
print(sys.stdin.isatty(), sys.stdout.isatty(), os.isatty(2))
r, w = os.pipe()
os.write(w, b"through a pipe")
os.close(w)
print(os.read(r, 100), os.read(r, 100))
fd = os.dup(1)
os.write(fd, b"via a dup of stdout\n")
os.close(fd)
""",
    "fsops.py": """
import mmap, os, shutil, stat, sys
src, out = sys.argv[1], sys.argv[2]
shutil.copytree(os.path.join(src, "sub"), os.path.join(out, "tree"), symlinks=True)
shutil.copy2(os.path.join(src, "words.txt"), os.path.join(out, "w2"))
st = os.stat(os.path.join(out, "w2"))
print(oct(st.st_mode), st.st_size, int(st.st_mtime))
os.link(os.path.join(out, "w2"), os.path.join(out, "w3"))
os.symlink("w2", os.path.join(out, "w4"))
os.chmod(os.path.join(out, "w3"), 0o600)
os.utime(os.path.join(out, "w4"), (1234567890, 1234567890))
print(os.stat(os.path.join(out, "w2")).st_nlink, oct(os.lstat(os.path.join(out, "w2")).st_mode),
      os.readlink(os.path.join(out, "w4")), int(os.stat(os.path.join(out, "w4")).st_mtime))
with open(os.path.join(src, "bytes.bin"), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
    print(len(m), m[250:260].hex(), m.find(bytes([7, 8, 9])))
for e in sorted(os.scandir(os.path.join(out, "tree")), key=lambda e: e.name):
    print(e.name, e.is_dir(), e.is_symlink(), e.stat(follow_symlinks=False).st_size)
os.replace(os.path.join(out, "w3"), os.path.join(out, "w5"))
shutil.move(os.path.join(out, "tree", "deeper"), os.path.join(out, "moved"))
shutil.rmtree(os.path.join(out, "tree"))
with open(os.path.join(out, "x"), "x") as f:
    f.write("exclusive")
try:
    open(os.path.join(out, "x"), "x")
except FileExistsError as e:
    print("error:", e.errno)
print(sorted(os.listdir(out)))
""",
    "in.json": '{"z": [3, 2, {"b": 1, "a": null}], "a": "\\u00e9"}\n',
    "stdin.py": """
import sys
data = sys.stdin.buffer.read()
print(len(data), data.count(b"\\n"), data.upper()[:30])
""",
}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scripts")
    for name, text in SCRIPTS.items():
        (d / name).write_text(text.lstrip())
    return d


def python_both(script_argv, scripts, data, tmp_path, input=None):
    """python3 -I SCRIPT ARGS: scripts and data read-only, an output dir per run
    (the sandbox's mounted at the native one's path)."""
    nat, box = tmp_path / "out", tmp_path / "out-box"
    nat.mkdir()
    box.mkdir()
    argv = [PY, "-I", *[a.format(data=data, out=nat, s=scripts) for a in script_argv]]
    got = boxed(argv, cwd=scripts, input=input, ro=[str(scripts), str(data)], rw=[f"{box}:{nat}"])
    want = native(argv, cwd=scripts, input=input)
    return got, want, nat, box


PY_CASES = {
    "print": ["{s}/hello.py", "a", "é"],
    "stdlib": ["{s}/stdlib.py"],
    "sqlite3 in memory": ["{s}/sqlite_mem.py"],
    "sqlite3 on a file": ["{s}/sqlite_file.py", "{out}"],
    "files": ["{s}/files.py", "{data}", "{out}"],
    "raises": ["{s}/raises.py"],
    "exits": ["{s}/exits.py"],
    "stdin": ["{s}/stdin.py"],
    "dlopen ctypes zoneinfo": ["{s}/dlopen.py"],
    "shutil os mmap": ["{s}/fsops.py", "{data}", "{out}"],
    "private /tmp": ["{s}/tmp.py"],
    "devices pipe dup": ["{s}/devices.py"],
    "-c": ["-c", "import sys, math; print(math.tau, sys.argv)", "x"],
    "-m json.tool": ["-m", "json.tool", "--sort-keys", "{s}/in.json"],
    "syntax error": ["-c", "print(1 +"],
    "-m missing": ["-m", "no_such_module"],
    "help": ["-c", "import this"],
}


@need(PY)
@pytest.mark.parametrize("case", PY_CASES)
def test_python(case, scripts, data, tmp_path):
    args = PY_CASES[case]
    got, want, nat, box = python_both(args, scripts, data, tmp_path,
                                      input=b"some input\n" * 100 if case == "stdin" else None)
    same(got, want)
    assert tree(box) == tree(nat)
    if case == "raises":
        assert want.returncode == 1 and b"json.decoder.JSONDecodeError" in want.stderr
    if case == "files":
        assert (box / "result.txt").read_text().endswith("appended\n")


def _gap(code: str, id: str, what: str):
    """A case that was once a gap (`what` says how it failed)."""
    return pytest.param(["-c", code, "{out}"], id=id)


PY_GAPS = [
    _gap("import os, sys; os.chdir(sys.argv[1]); os.mkdir(b'caf\\xe9'); os.chdir(b'caf\\xe9'); "
         "print(os.getcwdb())", "getcwd of a non-UTF-8 name",
         "getcwd answers EINVAL when the cwd's name is not UTF-8 (the broker encodes it strictly)"),
    _gap("import os, sys; f = os.path.join(sys.argv[1], 'f'); open(f, 'w').close(); "
         "os.chown(f, -1, -1); print('ok')", "chown -1 -1",
         "chown(path, -1, -1) (no change) answers EPERM; the kernel answers 0"),
    _gap("import os, sys; f = os.path.join(sys.argv[1], 'f'); open(f, 'w').close(); "
         "print(os.stat(f).st_uid == os.getuid(), os.stat(f).st_gid == os.getgid())",
         "a new file is the sandbox user's",
         "files the sandbox creates show the broker's host uid/gid (0), not the sandbox's 1000"),
    _gap("import os; r, w = os.pipe(); os.set_blocking(r, False); print(os.get_blocking(r))",
         "set_blocking on a pipe",
         "ioctl(FIONBIO) on a broker-held pipe answers ENOTTY (CPython's os.set_blocking uses it)"),
]


@need(PY)
@pytest.mark.parametrize("args", PY_GAPS)
def test_python_gaps(args, scripts, data, tmp_path):
    got, want, nat, box = python_both(args, scripts, data, tmp_path)
    same(got, want)
    assert tree(box) == tree(nat)
