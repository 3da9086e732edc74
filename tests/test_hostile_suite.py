"""The hostile-program suite: tests/programs/hostile_*.c, each run in a
sandbox with a read-only mount (/ro), a writable one (/data) and, beside
them on the host, a directory no mount shows (the canary).  For each program
the expected outcome: killed with reason X, or run to its end with each
escape attempt answered with errno Y.  After each run: the canary and the
read-only tree are exactly as they were, the broker holds no more fds than
before, no internal broker error was logged, and a healthy sandbox runs in
the same process.

Some programs race the broker with a partner on the host (tests/programs/
racer.c): flipping a path buffer in the arena (threads are not served yet,
so it plays the second thread), or swapping a directory and a symlink in the
writable mount."""

from __future__ import annotations

import gc
import hashlib
import os
import re
import resource
import subprocess
from dataclasses import dataclass

import pytest

from conftest import open_fds
from strictbox import api
from strictbox.arena import BASE
from strictbox.loop import Broker
from strictbox.policy import Policy

KILLED_STRICT = r"forbidden direct system call: killed by seccomp strict mode"
TIMEOUT = r"wall-clock timeout after 1 s"
EFAULT = "-EFAULT"


@dataclass
class Case:
    source: str
    args: tuple = ()  # "{canary}": the canary's host path; "{host_pid}": a host process to spare
    reason: str | None = None  # regex for the reason strictbox gives; None: ran to its end
    returncode: int | None = 0
    out: tuple = ()  # regexes, one per stdout line, in order
    partial: bool = False  # stdout only starts with `out`
    log: tuple = ()  # substrings that must be in the log
    timeout: float = 20
    policy: Policy | None = None
    memory: int | None = None
    racer: tuple | None = None  # ("mem", symbol, A, B) or ("swap", A, B)
    check: str | None = None  # extra check by name, below
    setup: str | None = None  # "symlink_absolute", "symlink_relative": /data/s -> the canary dir
    stdin: str | None = None  # "pointer_rows": what hostile_every_pointer reads


def lines(*pairs) -> tuple:
    """("label", "value regex") pairs -> line regexes"""
    return tuple(f"{re.escape(label)} {value}" for label, value in pairs)


def efault_lines(calls, ptrs) -> tuple:
    return tuple(f"{c}_{p} -EFAULT" for p in ptrs for c in calls)


PATH_CALLS = ["open", "openat", "creat", "stat", "lstat", "newfstatat", "statx", "access",
              "faccessat2", "readlink", "chdir", "mkdir", "rmdir", "unlink", "rename_from",
              "rename_to", "link_to", "symlink_target", "symlink_name", "chmod", "chown",
              "truncate", "utimes", "statfs", "getxattr", "getxattr_name", "listxattr", "execve"]
BUFFER_CALLS = ["stat", "fstat", "statx", "read", "pread", "getdents64", "getcwd", "statfs",
                "fstatfs", "pipe2", "poll", "select", "nanosleep", "clock_getres", "getrlimit",
                "prlimit_new", "prlimit_old", "sysinfo", "getgroups", "getresuid",
                "sched_getaffinity", "readlink_buf", "pwrite", "utimensat_times", "readv_iov",
                "writev_iov"]
# What a write-only pointer check cannot reach: pwrite and writev on a
# read-only fd fail with EBADF first, on Linux too.
BUFFER_EXPECT = {c: ("-EBADF" if c in ("pwrite", "writev_iov") else EFAULT) for c in BUFFER_CALLS}
# What Linux answers: run natively (from /), the program prints the same
# lines, but for mkdir_mode_all, which there finds the host's /tmp/m, and
# openat_flags_all (None: not checked), where Linux opens "/" with every flag
# set and the broker answers EISDIR -- not a security matter.
COUNT_LINES = [
    ("open", "ok"), ("read_count_max", "-EFAULT"), ("read_count_past_user_end", "-EFAULT"),
    ("pread_count_max", "-EFAULT"), ("pread_count_past_user_end", "-EFAULT"),
    ("pos_after_efault", "0"), ("pread_count_to_user_end", "1"), ("read_null_0", "0"),
    ("pread_offset_negative", "-EINVAL"), ("lseek_huge", "0"),
    ("lseek_negative", "-EINVAL"), ("lseek_whence", "-EINVAL"),
    ("getdents64_count_max", "-EINVAL"), ("getdents64_count_0", "-EINVAL"),
    ("getdents64_count_4G", "-EINVAL"), ("getdents64_count_2G", "-EINVAL"),
    ("getdents64_count_10", "-EINVAL"), ("getdents64_host_count_0", "-EINVAL"),
    ("getdents64_host_count_4G", "-EINVAL"), ("getdents64_host_read", "1"),
    ("getdents64_count_0_at_end", "0"), ("getdents64_host_count_0_at_end", "0"),
    ("getcwd_size_0", "-ERANGE"), ("getcwd_size_huge", "2"),
    ("readlink_size_0", "-EINVAL"), ("readlink_size_negative", "-EINVAL"),
    ("poll_nfds_huge", "0"), ("poll_nfds_2G", "-EINVAL"), ("select_nfds_huge", "-EBADF"),
    ("select_nfds_negative", "-EINVAL"), ("readv_iovcnt_huge", "0"),
    ("readv_iovcnt_1025", "-EINVAL"), ("readv_iovcnt_4G", "0"), ("readv_len_negative", "-EINVAL"),
    ("readv_one_huge", "1"), ("readv_total_overflow", "-EFAULT"), ("readv_1024", "65536"),
    ("getxattr_size_huge", "-ENODATA"), ("listxattr_size_huge", "1"),
    ("getgroups_negative", "-EINVAL"), ("sched_getaffinity_len_small", "-EINVAL"),
    ("sched_getaffinity_len_huge", "-EINVAL"), ("pipe2_flags", "-EINVAL"),
    ("openat_flags_all", None), ("mkdir_mode_all", "0"), ("ftruncate_negative", "-EINVAL"),
    ("fadvise_len_negative", "-EINVAL"), ("nanosleep_nsec_big", "-EINVAL"),
    ("nanosleep_sec_negative", "-EINVAL"), ("pread_still_works", "4")]
SECRET = Policy.permissive().path("/data/secret", "errno(EACCES)")
DENIED_ENOSYS = "not in strictbox's syscall table (ENOSYS)"

CASES = {
    # -- 1. direct system calls and Syscall User Dispatch ------------------------
    "selector_flip_getpid": Case("hostile_escape.c", reason=KILLED_STRICT, returncode=-9,
                                 out=("marker: before the escape",)),
    "selector_flip_open_host_file": Case("hostile_flip_open.c", ("{canary}",), reason=KILLED_STRICT,
                                         returncode=-9, out=("before",)),
    "selector_flip_execve": Case("hostile_flip_exec.c", reason=KILLED_STRICT, returncode=-9,
                                 out=("before",)),
    "selector_flip_dispatch_off": Case("hostile_flip_sud_off.c", reason=KILLED_STRICT,
                                       returncode=-9, out=("before",)),
    "selector_garbage_value": Case("hostile_selector_bad.c", reason=r"killed by SIGSYS",
                                   returncode=-31, out=("before",)),
    "stub_restorer_syscall": Case("hostile_stub_restorer.c", ("{canary}",), reason=KILLED_STRICT,
                                  returncode=-9, out=("restorer found",)),
    "stub_text_syscall_scan": Case("hostile_stub_scan.c", ("{canary}",), reason=KILLED_STRICT,
                                   returncode=-9, out=("syscall instructions several",)),
    "sigreturn_blocks_sigsys": Case("hostile_sigreturn_mask.c", reason=r"killed by SIGSYS",
                                    returncode=-31, out=("restorer found",)),
    # -- 2. the broker channel ------------------------------------------------
    "channel_garbage": Case("hostile_channel.c", ("garbage",), reason=r"protocol violation: undecodable message \(\w+\)",
                            returncode=-9, out=(r"mode garbage: .*",)),
    "channel_flood_unread_replies": Case("hostile_chan_flood.c", reason=r"protocol violation: .*left unread",
                                         returncode=-9, out=("flooding",)),
    "channel_forged_exit_status": Case("hostile_chan_forged_exit.c",
                                       reason=r"protocol violation: exit status 300 outside 0\.\.255",
                                       returncode=-9, out=("before",)),
    "channel_forged_fault": Case("hostile_chan_forged_fault.c",
                                 reason=r"protocol violation: fault with signal number 0 outside 1\.\.64",
                                 returncode=-9, out=("before",)),
    "channel_replayed_request": Case("hostile_chan_replay.c",
                                     reason=r"protocol violation: sequence number \d+, expected \d+",
                                     returncode=-9, out=("getcwd 0", r"replayed bytes \d+"),
                                     check="replayed"),
    "channel_64k_message": Case("hostile_chan_huge.c",
                                reason=r"protocol violation: message of 257 bytes exceeds 256",
                                returncode=-9, out=("before",)),
    "channel_read_unasked": Case("hostile_chan_steal.c", reason=TIMEOUT, returncode=-9,
                                 out=("reading the channel",), timeout=1),
    "runtime_fd_table_to_channel": Case("hostile_fdhost.c", reason=r"protocol violation: undecodable message \(\w+\)",
                                        returncode=-9, out=("before",)),
    "thread_block_channel_to_stdout": Case("hostile_threadblock.c",
                                           reason=r"the runtime lost its broker channel",
                                           returncode=125, out=("before",), partial=True),
    # -- 3. pointers, lengths and counts -------------------------------------------
    "pointers_outside_arena": Case("hostile_pointers.c", out=(
        "open_1 -EFAULT", "open_null -EFAULT", "open_wild -EFAULT", "open_top -EFAULT",
        "stat_path_wild -EFAULT", "open_unterminated -ENAMETOOLONG", "open_self ok",
        "read_1 -EFAULT", "read_wild -EFAULT", "read_wrap -EFAULT", "pread_wrap -EFAULT",
        "read_maxlen_wild -EFAULT", "fstat_1 -EFAULT", "fstat_wild -EFAULT", "getcwd_1 -EFAULT",
        "readv_iov_wild -EFAULT", "readv_iov_wrap -EFAULT", "readv_iovcnt_huge -EINVAL",
        "pos_after_efault 0", "pread_ok 4", "magic ELF", "close 0")),
    "path_pointers_every_call": Case("hostile_ptr_paths.c", out=efault_lines(
        PATH_CALLS, ["null", "one", "wild", "kernel", "top"])),
    "output_buffers_every_call": Case("hostile_ptr_buffers.c", out=(
        "open ok", "open_dir ok",
        *(f"{c}_{p} {BUFFER_EXPECT[c]}" for p in ("wild", "wrap") for c in BUFFER_CALLS),
        "pread_ok 4", "magic ELF")),
    "huge_counts_and_lengths": Case("hostile_ptr_counts.c", out=tuple(
        rf"{label} \S+" if value is None else f"{label} {value}" for label, value in COUNT_LINES),
        check="broker_stays_small"),
    "pointers_to_clock_page_and_stub": Case("hostile_ptr_outside.c", out=(
        "open ok", "stub_found 1",
        *(f"{c}_{w}{h} -EFAULT" for w in ("clock", "stub", "vsyscall")
          for c, h in (("read_into", ""), ("stat_into", ""), ("getcwd_into", ""),
                       ("path_from", ""), ("getdents_into", ""), ("getdents_into", "_host"))),
        "read_into_arena_end 16", "stat_into_arena_end -EFAULT", "getcwd_into_arena_end 2",
        "path_from_arena_end -EFAULT", "getdents_into_arena_end -EFAULT",
        "getdents_into_arena_end_host -EFAULT", "getdents_after_efault 1", "first_entry .",
        "getdents_host_after_efault 1", "getdents_host_fresh 1", "first_host_entry_kept 1")),
    "every_pointer_of_every_broker_call": Case("hostile_every_pointer.c", stdin="pointer_rows",
                                               check="every_pointer"),
    "writev_huge_total": Case("hostile_writev.c", ("/data/big", "8", "16"),
                              out=("writev 1048576",), check="broker_stays_small"),
    # -- 4. TOCTOU: a path buffer rewritten while the broker serves it ----------------
    **{f"toctou_{mode}": Case("hostile_toctou.c", (mode, "2000"), policy=SECRET,
                              out=(r"race_path 0x[0-9a-f]+", r"ok \d+ denied \d+ other \d+"),
                              racer=("mem", "race_path", "/data/aaaaaa", "/data/secret"),
                              check=f"toctou_{mode}", timeout=60)
       for mode in ("open", "chmod", "utime", "truncate", "rename", "rename_from", "link",
                    "unlink", "xattr")},
    # -- 5. symlinks and .. in the writable mount ---------------------------------
    "symlink_swap_racer_absolute": Case("hostile_symlink_race.c", ("racer", "1500"),
                                        racer=("swap", "d", "s"), setup="symlink_absolute",
                                        out=("racing", r"done ok \w+ refused \w+"), timeout=60),
    "symlink_swap_racer_relative": Case("hostile_symlink_race.c", ("racer", "1500"),
                                        racer=("swap", "d", "s"), setup="symlink_relative",
                                        out=("racing", r"done ok \w+ refused \w+"), timeout=60),
    "dotdot_under_symlink_swap_racer": Case("hostile_symlink_race.c", ("dotdot", "200"),
                                            racer=("swap", "d", "s"), setup="symlink_absolute",
                                            out=("racing", "done ok some refused some"),
                                            timeout=60),
    "symlink_swap_self": Case("hostile_symlink_race.c", ("self", "300"), setup="symlink_absolute",
                              out=("racing", "done ok some refused some")),
    "dotdot_everywhere": Case("hostile_dotdot.c", ("{canary}",), out=lines(
        ("open_data", "ok"), ("open_root", "ok"), ("abs_dotdot", "-ENOENT"),
        ("abs_dotdot_creat", "-ENOENT"), ("chdir_data", "0"), ("cwd_dotdot", "-ENOENT"),
        ("dirfd_data_dotdot", "-ENOENT"), ("dirfd_root_dotdot", "-ENOENT"),
        ("dirfd_data_parent_is_root", "1"), ("fchdir_up", "0"), ("getcwd_after_up", "2"),
        ("cwd", "/"), ("mkdir_dotdot", "-EROFS"), ("mkdirat_dotdot", "-EROFS"),
        ("rename_out", "-EROFS"), ("symlink_dotdot_name", "-EROFS"), ("link_dotdot", "-EROFS"),
        ("mkdir_sub", "0"), ("sub_dotdot", "-ENOENT"), ("proc_dotdot", "1"),
        ("host_path_direct", "-ENOENT"))),
    "symlinks_planted_outward": Case("hostile_symlink_plant.c", ("{canary}",), out=lines(
        ("symlink_host_path", "0"), ("symlink_dotdot", "0"), ("symlink_root", "0"),
        ("symlink_proc_root", "0"), ("symlink_loop", "0"), ("open_host_trunc", "-ENOENT"),
        ("open_host_creat", "0"), ("open_up_trunc", "-ENOENT"), ("through_root", "-ENOENT"),
        ("through_proc_root", "-ENOENT"), ("open_loop", "-ELOOP"), ("chmod_host", "-ENOENT"),
        ("truncate_host", "-ENOENT"), ("link_follow_host", "-ENOENT"),
        ("passwd_through_root_is_virtual", "1"))),
    # -- 6. /proc, O_PATH, O_TMPFILE, linkat ---------------------------------------
    "proc_magic_links": Case("hostile_proc.c", ("{canary}",), out=lines(
        ("root_canary", "-ENOENT"), ("cwd_canary", "-ENOENT"), ("pid1_root", "-ENOENT"),
        ("self_mem", "-ENOENT"), ("self_exe_write", "-E(ROFS|ACCES)"),
        ("channel_by_fd", "-ENOENT"), ("thread_self", "-ENOENT"), ("self_map_files", "-ENOENT"),
        ("self_maps", "-ENOENT"), ("sys_kernel", "-ENOENT"), ("sysrq", "-ENOENT"),
        ("kcore", "-ENOENT"), ("readlink_root", "-ENOENT"), ("status_is_made_up", "[01]"))),
    "proc_fd_reopen_for_write": Case("hostile_proc_fd_reopen.c", out=lines(
        ("open_ro", "ok"), ("open_path", "ok"), ("reopen_rdwr", "-EROFS"),
        ("reopen_trunc", "-EROFS"), ("reopen_rdonly", "1"),
        ("reopen_opath_wronly", "-E(ROFS|NOENT)"), ("devfd_wronly", "-EROFS"),
        ("fd_dir_dotdot", "1"), ("fd_dir_creat", "-EROFS"), ("write_ro_fd", "-EBADF"),
        ("ftruncate_ro_fd", "-E(INVAL|BADF)"), ("fchmod_ro_fd", "-EROFS"))),
    "o_path_descriptors": Case("hostile_opath.c", out=lines(
        ("opath_file", "ok"), ("opath_dir", "ok"), ("read", "-EBADF"), ("write", "-EBADF"),
        ("pwrite", "-EBADF"), ("ftruncate", "-E(BADF|INVAL)"), ("fchmod", "-E(BADF|ROFS)"),
        ("fchown", "-E(BADF|ROFS|PERM)"), ("fsetxattr", "-E(BADF|ROFS)"),
        ("futimens", "-E(BADF|ROFS)"), ("openat_write_in_ro", "-EROFS"),
        ("openat_creat_in_ro", "-EROFS"), ("openat_dotdot_data", "1"),
        ("unlinkat_in_ro", "-EROFS"), ("fchdir", "0"), ("creat_in_cwd", "-EROFS"),
        ("linkat_empty_path", "-E(XDEV|BADF|NOENT)"))),
    "o_tmpfile_links": Case("hostile_tmpfile.c", out=lines(
        ("tmpfile_in_ro", "-EROFS"), ("tmpfile_no_write", "-EINVAL"), ("tmpfile_in_data", "ok"),
        ("write", "4"), ("link_into_ro", "-EXDEV"), ("link_into_tmp", "-EXDEV"),
        ("link_dotdot", "-EROFS"), ("link_proc_follow_ro", "-E(PERM|XDEV|NOENT|ROFS)"),
        ("link_into_data", "0"), ("tmpfile_excl", "ok"), ("link_excl", "-ENOENT"))),
    "hard_links_and_renames_across_mounts": Case("hostile_linkat.c", out=lines(
        ("link_ro_to_data", "-EXDEV"), ("linkat_dirfds", "-EXDEV"),
        ("linkat_empty_path_ro", "-EXDEV"), ("symlink_to_ro", "0"),
        ("link_follow_symlink_to_ro", "-EXDEV"), ("write_through_symlink", "-EROFS"),
        ("link_data_to_ro", "-EXDEV"), ("rename_ro_to_data", "-EXDEV"),
        ("rename_data_to_ro", "-EXDEV"), ("rename_exchange", "-EXDEV"), ("link_to_tmp", "-EXDEV"),
        ("link_within_data", "0"))),
    "mmap_read_only_file": Case("hostile_mmap_ro.c", out=lines(
        ("open", "ok"), ("shared_write", "-E(NODEV|ACCES)"), ("private_write", "0"),
        ("msync", "-E\\w+"), ("pread", "2"), ("first byte", "r"),
        ("shared_rw_mount", "-ENODEV"))),
    # -- 7. bombs ----------------------------------------------------------------
    "memory_bomb": Case("hostile_membomb.c", memory=64 << 20, returncode=-11,
                        reason=r"program killed by SIGSEGV .*", out=lines(
                            ("mmap_1T", "-ENOMEM"), ("chunks", "up to the limit"),
                            ("mmap_fixed_over_clock_page", "-E\\w+"),
                            ("mmap_fixed_below_arena", "-E\\w+"), ("brk_huge", "-ENOMEM"),
                            ("writing past", "the arena"))),
    "fd_bomb": Case("hostile_fdbomb.c", out=(
        "open stopped by EMFILE after many", "file stopped by EMFILE after many",
        "dup stopped by EMFILE after many", "pipe stopped by EMFILE after many",
        "dup2_high -EBADF", "fcntl_dupfd_high -EINVAL")),
    "output_bomb": Case("hostile_outbomb.c", policy=Policy.permissive().set_limits(output="1M"),
                        reason=r"output limit \(1048576 bytes\) exceeded", returncode=-9,
                        check="output_is_the_pattern"),
    "thread_escapes_while_main_waits": Case("hostile_thread_escape.c", ("{canary}",),
                                            reason=KILLED_STRICT, returncode=-9,
                                            out=("thread: escaping",)),
    "thread_writes_sibling_channel": Case("hostile_thread_chan.c",
                                          reason=r"protocol violation: a request while the thread's call waits",
                                          returncode=-9, out=("found sibling 1", "forged request 9")),
    "thread_block_host_tid_forged": Case("hostile_thread_hosttid.c", ("{host_pid}",), out=lines(
        ("pthread_kill_sibling", "-ESRCH"), ("tgkill_sibling", "-ESRCH"),
        ("tgkill_all_forged", "-ESRCH")) + ("host process spared",), check="host_process_alive"),
    "thread_and_fork_bomb": Case("hostile_threadbomb.c", out=lines(
        ("threads", "63"), ("clone_thread", "-EAGAIN"), ("clone_no_stack", "-EINVAL"),
        ("fork", "-ENOSYS"), ("vfork", "-ENOSYS"), ("clone3", "-ENOSYS")),
        log=("denied clone: thread limit (64) reached", "denied clone: a thread with flags",
             "denied fork:", "denied vfork:")),
    "spawn_box_scribbled": Case("hostile_spawn_socket.c", ("scribble",),
                                out=lines(("threads_started", "4"))),
    "spawn_socket_forged": Case("hostile_spawn_socket.c", ("forge",), returncode=-9,
                                reason=r"protocol violation: a message on the spawn socket that is not the spawner's or a new thread's",
                                out=("forging",)),
    "spawn_socket_forged_remapped": Case("hostile_spawn_socket.c", ("forge_x",), returncode=-9,
                                         reason=r"protocol violation: a message on the spawn socket that is not the spawner's or a new thread's",
                                         out=("forging",)),
    "spawn_socket_forged_mapped": Case("hostile_spawn_socket.c", ("forge_m",), returncode=-9,
                                       reason=r"protocol violation: a message on the spawn socket that is not the spawner's or a new thread's",
                                       out=("forging",)),
    "mmap_raw_outside_the_arena": Case("hostile_mmap_raw.c", ("/usr/lib/x86_64-linux-gnu/libc.so.6",),
                                       out=lines(("outside_efault", "300"), ("across_the_end_efault", "300"))),
    "arena_fd_written_past_its_end": Case("hostile_arena_fd.c", memory=32 << 20, out=lines(
        ("found", "1"), ("rewrote_all", "1"), ("grow", "-EPERM"), ("elf", "1"))),
    "log_bomb": Case("hostile_logbomb.c", out=("socket -EACCES",), timeout=60,
                     log=("denied socket: no network (EACCES)", "more log lines not kept"),
                     check="log_is_bounded"),
    "denial_counts_forged": Case("hostile_denial_counts.c", out=lines(
        ("denials", "1"), ("getcwd", "1"), ("getcwd_renamed", "-ENOSYS"), ("socket", "-EACCES"),
        ("sysinfo", "0")),
        log=("denied fork: one process per sandbox (ENOSYS)", "more log lines not kept"),
        check="denials_counted_bounded"),
    # -- 8. signals and loops -------------------------------------------------------
    "signal_storm_and_kills": Case("hostile_sigstorm.c", ("{host_pid}",), out=lines(
        ("kill_pid1", "-ESRCH"), ("kill_host", "-ESRCH"), ("kill_parent", "-ESRCH"),
        ("kill_all", "-ESRCH"), ("kill_group0", "0"), ("kill_host_group", "-ESRCH"),
        ("tkill_host", "-ESRCH"), ("tgkill_host", "-ESRCH"), ("rt_sigqueueinfo_host", "-ENOSYS"),
        ("pidfd_open_host", "-ENOSYS"), ("raise_loop", "0"), ("kill_self_loop", "0"),
        ("tgkill_self", "0"), ("handled", "some")),
        log=(f"denied rt_sigqueueinfo: {DENIED_ENOSYS}", f"denied pidfd_open: {DENIED_ENOSYS}"),
        check="host_process_alive"),
    "signal_mask_and_handlers": Case("hostile_sigmask.c", out=lines(
        ("sigprocmask_all", "0"), ("sigaction_sigsys", "0"), ("sigaltstack_wild", "0"),
        ("getcwd_still_served", "0"), ("getppid_still_served", "1"),
        ("own SIGSEGV handler", "ran"), ("sigsys handler", "never ran"))),
    "infinite_loop": Case("hostile_spin.c", reason=TIMEOUT, returncode=-9, out=("spinning",),
                          timeout=1),
    "infinite_broker_calls": Case("hostile_spin_calls.c", reason=TIMEOUT, returncode=-9,
                                  out=("calling",), timeout=1),
    "sleep_forever": Case("hostile_sleep.c", reason=TIMEOUT, returncode=-9, out=("sleeping",),
                          timeout=1),
    "read_that_never_finishes": Case("hostile_pipe_block.c", reason=TIMEOUT, returncode=-9,
                                     out=("pipe 0", "reading"), timeout=1),
    # -- 9. devices, forbidden calls, exec, runtime state --------------------------
    "devices_and_tiocsti": Case("hostile_devices.c", out=(
        *(f"{d} -ENOENT" for d in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda",
                                   "/dev/kmsg", "/dev/console", "/dev/ptmx", "/dev/shm",
                                   "/dev/fuse", "/dev/net/tun", "/sys/kernel/notes")),
        "/dev/tty -ENXIO", "ioctl_tiocsti -ENOTTY", "ioctl_tiocsti_dev_null -ENOTTY",
        "mknod_char -ENOSYS", "mknod_fifo -ENOSYS", "read_dev_zero 0"),
        log=(f"denied mknod: {DENIED_ENOSYS}",)),
    "calls_beyond_the_process": Case("hostile_forbidden_calls.c", out=lines(
        *((c, "-ENOSYS") for c in ("mount", "umount2", "chroot", "pivot_root", "unshare", "setns")),
        ("ptrace", "-EPERM"),
        *((c, "-ENOSYS") for c in ("process_vm_writev", "init_module", "reboot", "bpf",
                                   "perf_event_open", "io_uring_setup", "keyctl")),
        ("socket", "-EACCES"), ("seccomp", "-EPERM"), ("prctl", "-EPERM"),
        *((c, "-ENOSYS") for c in ("iopl", "ioperm", "userfaultfd", "memfd_create", "personality")),
        ("setuid_root", "-EPERM"), ("setresuid_root", "-EPERM"), ("syscall_1000", "-ENOSYS")),
        log=(f"denied mount: {DENIED_ENOSYS}", "denied ptrace: never (EPERM)",
             f"denied bpf: {DENIED_ENOSYS}", "denied socket: no network (EACCES)",
             f"denied syscall 1000: {DENIED_ENOSYS}")),
    "execve_hostile_arguments": Case("hostile_exec_tricks.c", out=lines(
        ("path_wild", "-EFAULT"), ("argv_wild", "-EFAULT"), ("envp_wrap", "-EFAULT"),
        ("argv_entry_wild", "-EFAULT"), ("argv_e2big", "-E2BIG"), ("not_a_program", "-EACCES"),
        ("directory", "-EACCES"), ("script_missing_interp", "-ENOENT"),
        ("script_long_line", "1"), ("dev_null", "-EACCES")) + ("still here",),
        check="broker_stays_small"),
    "runtime_state_scribbled_then_execve": Case("hostile_state_corrupt.c", out=(
        "scribbling", "after execve: fresh")),
}

THREADED = ("-DSB_CFFI", "-static", "-pthread")
COMPILE_FLAGS = {"hostile_writev.c": ("-static",), "hostile_pointers.c": ("-static",),
                 "hostile_thread_escape.c": THREADED, "hostile_thread_chan.c": THREADED,
                 "hostile_thread_hosttid.c": THREADED, "hostile_spawn_socket.c": THREADED}


# -- the environment ----------------------------------------------------------

def snapshot(top) -> list:
    out = []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in [root] + sorted(os.path.join(root, f) for f in files + dirs):
            st = os.lstat(name)
            digest = ""
            if os.path.isfile(name) and not os.path.islink(name):
                with open(name, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out.append((name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_nlink, digest))
    return out


@pytest.fixture
def world(tmp_path):
    outside, ro, rw = tmp_path / "outside", tmp_path / "ro", tmp_path / "rw"
    for d in (outside, ro / "dir", rw / "d"):
        d.mkdir(parents=True)
    (outside / "canary").write_text("canary\n")
    (outside / "dir").mkdir()
    (ro / "file").write_text("ro\n")
    (ro / "dir" / "inner").write_text("inner\n")
    os.symlink(outside, ro / "link_out")
    (rw / "own").write_text("mine\n")
    (rw / "aaaaaa").write_bytes(b"")
    (rw / "secret").write_text("secret\n")
    os.chmod(rw / "secret", 0o600)
    os.utime(rw / "secret", ns=(10**18, 10**18))
    secret_ctime = os.lstat(rw / "secret").st_ctime_ns
    return {"secret_ctime": secret_ctime, "outside": outside, "ro": ro, "rw": rw, "canary": outside / "canary", "top": tmp_path}


def run_case(prog, case: Case, world, args):
    """Like strictbox.run with capture_output, through the loop itself so
    that a racer can be pointed at this sandbox's arena."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r, feed = 0, None
    if case.stdin:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        feed = (in_w, "".join(f"{r}\n" for r in pointer_rows()).encode())
    stdout, stderr = bytearray(), bytearray()
    sb = api.prepare([str(prog), *args], ro=[f"{world['ro']}:/ro"], rw=[f"{world['rw']}:/data"],
                     stdio=(in_r, out_w, err_w), timeout=case.timeout, memory=case.memory,
                     policy=case.policy)
    racer = None
    try:
        broker = Broker()
        try:
            broker.add(sb, capture={out_r: stdout, err_r: stderr}, feed=feed)
        finally:
            os.close(out_w)
            os.close(err_w)
            if case.stdin:
                os.close(in_r)
        if case.racer and case.racer[0] == "mem":
            _, symbol, a, b = case.racer
            addr = symbol_address(prog, symbol)
            racer = start_racer(["mem", f"/proc/{os.getpid()}/fd/{sb.arena.fd}",
                                 hex(addr - BASE), a, b])
        elif case.racer:
            _, a, b = case.racer
            racer = start_racer(["swap", str(world["rw"]), a, b])
        broker.run()
    finally:
        broker.close()
        if racer is not None:
            racer.kill()
            racer.wait()
        api.release(sb)
    return sb, bytes(stdout), bytes(stderr)


RACER = None

# hostile_every_pointer: one row per pointer argument of every call the
# broker serves (from the syscall table), made wild (W) or wrapping (T).
NOT_DEREFERENCED = {"mmap", "munmap"}  # the address says where to map
ROW_ARGS = {"ioctl": {"request": 0x541B}, "futex": {"op": 0}, "prlimit64": {"pid": 0},
            "sched_getaffinity": {"pid": 0}, "getdents64": {"fd": "D"},
            "ppoll": {"sigsetsize": 8}, "clock_nanosleep": {"clock": 1},
            "clock_getres": {"clock": 1}, "getrlimit": {"resource": 7}}
# Rows that may succeed: Linux does not touch these pointers here either
# (a zero sleep leaves rem alone; an empty xattr list writes nothing), or the
# broker ignores them (the sigmask of ppoll and pselect6: signal masks are the
# runtime's business) -- nothing is read or written through them.
MAY_SUCCEED = {"nanosleep.rem", "clock_nanosleep.rem", "ppoll.sigmask", "pselect6.sigmask",
               "listxattr.list", "llistxattr.list", "flistxattr.list"}


def pointer_rows() -> list[str]:
    from strictbox import calls
    from strictbox.kernel import SYSCALL_NR
    from strictbox.syscall_table import TABLE
    out = []
    for c in TABLE:
        if c.name not in calls.HANDLERS or c.name in NOT_DEREFERENCED or c.name not in SYSCALL_NR:
            continue
        kinds = [a.split(":") for a in c.args]
        for i, (kind, name) in enumerate(kinds):
            if kind not in ("ptr", "path"):
                continue
            for bad in ("W", "T"):
                args, paths = [], 0
                for j, (k, n) in enumerate(kinds):
                    given = ROW_ARGS.get(c.name, {})
                    if j == i:
                        v = bad
                    elif n in given:
                        v = str(given[n])
                    elif k == "path":
                        v = "Q" if paths else "P"
                    else:
                        v = {"ptr": "B", "fd": "-100" if "dir" in n else "F", "size": "64",
                             "flags": "0"}.get(k, "1")
                    paths += k == "path"
                    args.append(v)
                args += ["0"] * (6 - len(args))
                out.append(f"{c.name}.{name}.{bad} {SYSCALL_NR[c.name]} {' '.join(args)}")
    return out


def start_racer(args):
    p = subprocess.Popen([str(RACER), *args], stdout=subprocess.PIPE)
    assert p.stdout.readline() == b"racing\n"
    p.stdout.close()
    return p


def symbol_address(prog, symbol: str) -> int:
    out = subprocess.run(["nm", str(prog)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == symbol:
            return int(parts[0], 16)
    raise AssertionError(f"{symbol} not in {prog}")


HEALTHY = re.compile(rb"hello from \S+ with 1 args\nheap ok\nclock ok\nrandom ok\npid 2 uid 1000\n")


@pytest.fixture(scope="module")
def programs(compile_c):
    global RACER
    import shutil
    if not shutil.which("nm"):
        pytest.skip("nm (binutils) is needed to find the racer's target")
    out = {"hello": compile_c("hello.c", "-static")}
    for case in CASES.values():
        flags = COMPILE_FLAGS.get(case.source, ("-DSB_CFFI", "-static"))
        out[case.source] = compile_c(case.source, *flags)
    RACER = compile_c("racer.c")
    import strictbox
    strictbox.run([str(out["hello"])], capture_output=True, timeout=20)  # the clock page: made once
    return out


def test_at_least_thirty_hostile_programs():
    from conftest import PROGRAMS
    sources = {c.source for c in CASES.values()}
    assert len(sources) >= 30, len(sources)
    assert sources <= {p.name for p in PROGRAMS.glob("hostile_*.c")}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_program(name, programs, world):
    case = CASES[name]
    if case.setup == "symlink_absolute":
        os.symlink(world["outside"], world["rw"] / "s")
    elif case.setup == "symlink_relative":
        os.symlink("../outside", world["rw"] / "s")
    host = subprocess.Popen(["sleep", "600"]) if case.check == "host_process_alive" else None
    subs = {"canary": str(world["canary"]), "host_pid": str(host.pid if host else 1)}
    args = [a.format(**subs) for a in case.args]
    watched = {k: snapshot(world[k]) for k in ("outside", "ro")}
    top = sorted(os.listdir(world["top"]))
    gc.collect()  # (what earlier tests left for the collector would close its fds mid-count)
    fds = open_fds()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        sb, stdout, stderr = run_case(programs[case.source], case, world, args)
    finally:
        if host is not None:
            alive = host.poll() is None
            host.kill()
            host.wait()
    o = sb.outcome
    what = f"{name}: returncode {o.returncode}, reason {o.reason!r}, stdout {stdout[:2000]!r}, " \
           f"stderr {stderr[:500]!r}, log {sb.log[:5]}"

    # how it ended
    if case.reason is None:
        assert o.reason is None, what
    else:
        assert o.reason is not None and re.fullmatch(case.reason, o.reason), what
    assert o.returncode == case.returncode, what
    # what it printed, line by line
    got = stdout.decode(errors="replace").split("\n")
    if got and got[-1] == "":
        got.pop()
    if case.out:
        if case.partial:
            got = got[:len(case.out)]
        assert len(got) == len(case.out), what
        for pattern, line in zip(case.out, got):
            assert re.fullmatch(pattern, line), f"{line!r} !~ {pattern!r}\n{what}"
    for entry in case.log:
        assert any(entry in line for line in sb.log), f"{entry!r} not logged\n{what}"
    assert not any("internal broker error" in line for line in sb.log), what

    # nothing outside the writable mount changed; the broker gave back its fds
    for k, snap in watched.items():
        assert snapshot(world[k]) == snap, f"{name}: {k} changed"
    assert sorted(os.listdir(world["top"])) == top, f"{name}: something appeared beside the mounts"
    assert world["canary"].read_text() == "canary\n"
    gc.collect()
    assert open_fds() == fds, f"{name}: the broker holds {open_fds() - fds} more fds"
    if case.check:
        if case.check != "host_process_alive":  # that one is checked just below
            CHECKS[case.check](sb, stdout, world, peak)
    if host is not None:
        assert alive, "a host process was killed"

    # and a healthy sandbox runs in the same process
    import strictbox
    r = strictbox.run([str(programs["hello"])], capture_output=True, timeout=20)
    assert (r.returncode, r.reason, r.stderr) == (0, None, b""), r
    assert HEALTHY.fullmatch(r.stdout), r.stdout


# -- the extra checks -----------------------------------------------------------

def _counts(stdout: bytes) -> tuple[int, int, int]:
    m = re.search(rb"ok (\d+) denied (\d+) other (\d+)", stdout)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _secret_untouched(world) -> None:
    st = os.lstat(world["rw"] / "secret")
    assert (world["rw"] / "secret").read_text() == "secret\n"
    assert (st.st_mode & 0o7777, st.st_mtime_ns, st.st_nlink) == (0o600, 10**18, 1)
    assert st.st_ctime_ns == world["secret_ctime"]  # no chmod, link, rename or utime reached it


def _raced(sb, stdout, world) -> tuple[int, int, int]:
    ok, denied, other = _counts(stdout)
    _secret_untouched(world)
    assert ok > 0 and denied > 0, "the racer never won a flip either way: no race took place"
    judged = [l for l in sb.log if l.startswith("denied ")]
    assert judged and all('"/data/secret"' in l for l in judged), judged[:3]
    assert min(denied, 1000) == len(judged)  # the log keeps 1000 lines
    return ok, denied, other


def check_toctou_open(sb, stdout, world, peak):
    ok, _, _ = _raced(sb, stdout, world)
    assert (world["rw"] / "aaaaaa").stat().st_size == ok  # every open that worked opened aaaaaa


def check_toctou_generic(sb, stdout, world, peak):
    _raced(sb, stdout, world)


def check_broker_stays_small(sb, stdout, world, peak):
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown < 64 << 10, f"the broker's peak RSS grew by {grown >> 10} MiB"


def check_output_is_the_pattern(sb, stdout, world, peak):
    pattern = bytes(ord("a") + i % 26 for i in range(65536))
    assert len(stdout) == 1 << 20
    assert stdout == (pattern * 16)[: 1 << 20]  # every byte up to the limit, in order


def check_log_is_bounded(sb, stdout, world, peak):
    assert len(sb.log) == 1001
    assert sb.log[-1] == "... and 19000 more log lines not kept"
    assert sb.stats["denied"] == 20000


def check_every_pointer(sb, stdout, world, peak):
    rows = pointer_rows()
    got = stdout.decode().splitlines()
    assert len(rows) > 200 and len(got) == len(rows) + 1, (len(rows), len(got))
    for row, line in zip(rows, got):
        label, result = line.split(" ")
        assert label == row.split(" ")[0]
        if label.rsplit(".", 1)[0] in MAY_SUCCEED:
            assert result.isdigit() or result == EFAULT, line
        else:
            assert result.startswith("-E"), f"{line}: a wild pointer and no error"
    assert sum(l.endswith(EFAULT) for l in got) > len(rows) * 3 // 4
    assert got[-1] == "next_fd 5"  # no failed call kept an fd (3 and 4 are the program's)
    assert (world["rw"] / "own").read_text() == "mine\n"


def check_replayed(sb, stdout, world, peak):
    """The request refused was the one before the expected: a replay."""
    got, want = map(int, re.findall(r"\d+", sb.outcome.reason))
    assert want == got + 1, sb.outcome.reason


def check_denials_counted_bounded(sb, stdout, world, peak):
    """A forged count of billions is logged as far as the log goes, and counted."""
    assert len(sb.log) == 1001 and sb.stats["denied"] >= 0xFFFFFFF0, (len(sb.log), sb.stats)


CHECKS = {"replayed": check_replayed, "toctou_open": check_toctou_open, "every_pointer": check_every_pointer, "broker_stays_small": check_broker_stays_small,
          "output_is_the_pattern": check_output_is_the_pattern,
          "log_is_bounded": check_log_is_bounded, "denials_counted_bounded": check_denials_counted_bounded}
CHECKS.update({f"toctou_{m}": check_toctou_generic
               for m in ("chmod", "utime", "truncate", "rename", "rename_from", "link", "unlink",
                         "xattr")})
