"""Files the broker makes up (/dev, /proc/self, /etc/passwd), seen by real
programs: busybox and a static C program, compared with what Linux answers."""

import errno
import os

import pytest

from conftest import BUSYBOX, requires_busybox, sandboxed
from strictbox.sandbox import Identity

pytestmark = requires_busybox

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/:/bin/sh\n"
GROUP = b"root:x:0:\nsandbox:x:1000:\n"
ENOENT = b"No such file or directory"


def bb(*args, **kw):
    return sandboxed([BUSYBOX, *args], **kw)


def sh(script, **kw):
    return bb("sh", "-c", script, **kw)


def host_user_names() -> set[bytes]:
    with open("/etc/passwd", "rb") as f:
        return {line.split(b":")[0] for line in f if b":" in line} - {b"root", b"sandbox"}


# -- /etc ------------------------------------------------------------------------

def test_passwd_and_group_name_root_and_the_sandbox_user():
    got = bb("cat", "/etc/passwd", "/etc/group")
    assert (got.stdout, got.returncode) == (PASSWD + GROUP, 0)


def test_the_hosts_passwd_is_not_read_even_with_the_host_root_mounted():
    got = bb("cat", "/etc/passwd", ro=["/:/"])
    assert got.stdout == PASSWD
    names = {line.split(b":")[0] for line in got.stdout.splitlines()}
    assert not names & host_user_names()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown a file to another user")
def test_ls_does_not_name_host_only_users(tmp_path):
    f = tmp_path / "owned"
    f.write_text("x")
    os.chown(f, 1, 1)  # "daemon" on most hosts: a name only the host's passwd has
    got = bb("ls", "-l", str(f), ro=[str(tmp_path)])
    owner, group = got.stdout.split()[2:4]
    assert (owner, group) == (b"1", b"1")


@pytest.mark.parametrize("ident, want", [
    (Identity(), b"uid=1000(sandbox) gid=1000(sandbox) groups=1000(sandbox)\n"),
    (Identity(uid=0, gid=0), b"uid=0(root) gid=0(root) groups=0(root)\n"),
])
def test_id_prints_names(ident, want):
    got = bb("id", identity=ident)
    assert (got.stdout, got.stderr, got.returncode) == (want, b"", 0)


def test_ls_l_shows_owner_names(tmp_path):
    f = tmp_path / "mine"
    f.write_text("x")
    uid = os.geteuid()
    if uid == 0:
        os.chown(f, 1000, 1000)
        uid = 1000
    got = bb("ls", "-l", str(f), ro=[str(tmp_path)], identity=Identity(uid=uid, gid=os.stat(f).st_gid))
    assert got.stdout.split()[2:4] == [b"sandbox", b"sandbox"]
    got = bb("ls", "-l", BUSYBOX)
    owner = os.stat(BUSYBOX).st_uid
    assert got.stdout.split()[2] == (b"root" if owner == 0 else str(owner).encode())


def test_a_mount_at_etc_replaces_the_made_up_etc(tmp_path):
    (tmp_path / "passwd").write_text("mine:x:7:7::/:/bin/sh\n")
    got = bb("cat", "/etc/passwd", ro=[f"{tmp_path}:/etc"])
    assert got.stdout == b"mine:x:7:7::/:/bin/sh\n"
    got = bb("cat", "/etc/group", ro=[f"{tmp_path}:/etc"])
    assert got.returncode == 1 and ENOENT in got.stderr
    assert bb("cat", "/dev/null", ro=[f"{tmp_path}:/etc"]).returncode == 0


def test_the_made_up_files_are_read_only():
    got = sh("echo x > /etc/passwd")
    assert got.returncode != 0 and b"Permission denied" in got.stderr
    got = sh("echo x > /proc/self/status")
    assert got.returncode != 0 and b"Permission denied" in got.stderr


# -- /dev ------------------------------------------------------------------------

def test_ls_dev_and_root_list_the_made_up_trees():
    got = bb("ls", "/dev")
    assert got.stdout.split() == [b"fd", b"null", b"random", b"stderr", b"stdin", b"stdout",
                                  b"tty", b"urandom", b"zero"]
    assert {b"dev", b"etc", b"proc"} <= set(bb("ls", "/").stdout.split())


def test_urandom_gives_fresh_bytes():
    one, two = bb("head", "-c", "16", "/dev/urandom"), bb("head", "-c", "16", "/dev/random")
    assert len(one.stdout) == len(two.stdout) == 16
    assert one.stdout != two.stdout


def test_dev_null_and_zero():
    got = bb("cat", "/dev/null")
    assert (got.stdout, got.returncode) == (b"", 0)
    got = sh("echo hi > /dev/null && echo done")
    assert (got.stdout, got.stderr, got.returncode) == (b"done\n", b"", 0)
    assert bb("head", "-c", "5", "/dev/zero").stdout == b"\0" * 5
    got = bb("dd", "if=/dev/zero", "of=/dev/null", "bs=1k", "count=3")
    assert got.returncode == 0 and b"3+0 records out" in got.stderr


def test_stat_shows_character_devices():
    got = bb("stat", "-c", "%F %t,%T %a %U", "/dev/null", "/dev/urandom")
    assert got.stdout == (b"character special file 1,3 666 root\n"
                          b"character special file 1,9 666 root\n")


def test_dev_tty_is_no_such_device():
    got = bb("cat", "/dev/tty")
    assert got.returncode == 1 and b"No such device or address" in got.stderr


def test_dev_stdio_links_reach_the_programs_stdio():
    got = sh("echo out > /dev/stdout; echo err > /dev/stderr")
    assert (got.stdout, got.stderr) == (b"out\n", b"err\n")
    assert bb("cat", "/dev/stdin", input=b"from stdin").stdout == b"from stdin"
    assert bb("readlink", "/dev/stdout").stdout == b"/proc/self/fd/1\n"


# -- /proc -------------------------------------------------------------------------

def test_readlink_proc_self_exe():
    got = bb("readlink", "/proc/self/exe")
    assert (got.stdout, got.returncode) == (BUSYBOX.encode() + b"\n", 0)


def test_ls_proc_self_fd_lists_the_open_fds():
    got = bb("ls", "/proc/self/fd", input=b"")
    assert got.stdout.split() == [b"0", b"1", b"2", b"3"]  # 3: the directory being listed
    got = sh("exec 5</etc/passwd; exec ls -l /proc/self/fd/5 /proc/self/fd/1", input=b"")
    lines = got.stdout.splitlines()
    assert lines[0].startswith(b"l-wx------") and b"-> pipe:[" in lines[0]
    assert lines[1].startswith(b"lr-x------") and lines[1].endswith(b"5 -> /etc/passwd")


def test_proc_self_status_shows_the_sandboxs_own_view():
    got = bb("cat", "/proc/self/status")
    status = dict(line.split(b":\t", 1) for line in got.stdout.splitlines())
    assert status[b"Seccomp"] == b"1"
    assert status[b"Uid"] == status[b"Gid"] == b"1000\t1000\t1000\t1000"
    assert (status[b"Pid"], status[b"Name"]) == (b"2", b"busybox")


def test_proc_follows_the_identity():
    ident = Identity(uid=4242, gid=4343, pid=7)
    got = bb("cat", "/proc/self/status", identity=ident)
    assert b"\nUid:\t4242\t4242\t4242\t4242\n" in got.stdout
    assert b"\nPid:\t7\n" in got.stdout
    assert bb("readlink", "/proc/self", identity=ident).stdout == b"7\n"
    assert bb("readlink", "/proc/7/exe", identity=ident).stdout == BUSYBOX.encode() + b"\n"
    assert bb("cat", "/etc/passwd", identity=ident).stdout.endswith(
        b"\nsandbox:x:4242:4343:sandbox:/:/bin/sh\n")


def test_proc_self_cmdline_and_cwd(tmp_path):
    got = bb("cat", "/proc/self/cmdline")
    assert got.stdout == BUSYBOX.encode() + b"\0cat\0/proc/self/cmdline\0"
    got = bb("readlink", "/proc/self/cwd", ro=[str(tmp_path)], cwd=str(tmp_path))
    assert got.stdout == str(tmp_path).encode() + b"\n"


@pytest.mark.parametrize("path", [
    "/proc/1/environ", "/proc/1", "/proc/sys/kernel/hostname", "/proc/self/root",
    "/proc/self/maps", "/proc/self/mem", "/proc/cpuinfo", "/dev/sda", "/etc/shadow",
])
def test_everything_else_is_absent(path):
    got = bb("cat", path)
    assert got.returncode == 1 and ENOENT in got.stderr


# -- the system calls underneath -----------------------------------------------------

def test_system_calls_on_made_up_files(compile_c):
    prog = str(compile_c("virtual_files.c", "-static"))
    got = sandboxed([prog])
    assert got.returncode == 0, got.stderr
    lines = got.stdout.decode().splitlines()
    assert "via-dev-stdout" in lines  # written through an fd opened on /dev/stdout
    res = dict(line.split(" ", 1) for line in lines if " " in line)
    want = {
        "tty_open": f"-{errno.ENXIO}",
        "null_read": "0", "null_write": "5", "null_fstat": "0", "null_dev": "1,3 20666",
        "null_creat": "1",
        "zero_read": "4096", "zero_all_zero": "1", "zero_write_rdonly": f"-{errno.EBADF}",
        "zero_stat": "0", "zero_dev": "1,5",
        "zero_statx": "0", "zero_statx_dev": "1,5 20666", "zero_statx_empty_path": "0",
        "zero_statx_fd_dev": "1,5",
        "urandom_read": "32", "urandom_pread": "32", "urandom_differs": "1",
        "status_has_seccomp": "1", "status_read_at_end": "0", "status_seek": "2",
        "status_after_seek": "me:\t", "status_pread": "Name:",
        "status_write": f"-{errno.EBADF}", "status_open_write": f"-{errno.EACCES}",
        "status_fstat_reg": "1", "passwd_open_rdwr": f"-{errno.EACCES}",
        "exe_nofollow": f"-{errno.ELOOP}", "exe_link": prog,
        "self_lstat_link": "1", "self_is_pid": "1",
        "dtype_null_is_chr": "1", "dtype_stdin_is_lnk": "1", "dtype_passwd_is_reg": "1",
        "pipe_link_is_pipe": "1", "pipe_reopen": "1", "pipe_reopen_read": "3",
        "stdout_open": "1",
        "access_passwd_w": f"-{errno.EACCES}", "access_null_w": "0",
        "access_status_x": f"-{errno.EACCES}",
        "proc_1": f"-{errno.ENOENT}", "proc_sys": f"-{errno.ENOENT}",
        "etc_shadow": f"-{errno.ENOENT}",
        "chdir_null": f"-{errno.ENOTDIR}", "chdir_fd": "0", "cwd": "/proc/2/fd",
    }
    assert {k: res.get(k) for k in want} == want
