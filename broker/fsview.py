"""The sandbox's filesystem: virtual paths mapped onto host directories.

A virtual path is resolved one component at a time in the virtual namespace
(so `..` and symlinks, absolute or relative, are followed inside the view,
never on the host), and the final open is openat2 from the mount's directory
fd with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: a
rename or symlink race can make it fail, never leave the mount."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from . import kernel
from ._native import ffi, lib

MAX_SYMLINKS = 40
PRIVATE_PREFIX = "strictbox-tmp-"
O_PATH = kernel.const("O_PATH")
STRICT = kernel.RESOLVE | kernel.const("RESOLVE_NO_SYMLINKS")


class MountError(ValueError):
    """A mount given on the command line or in a policy is unusable."""


def split(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _overlap(a: str, b: str) -> bool:
    """One host path is the other or lies beneath it."""
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


@dataclass
class Mount:
    vparts: tuple[str, ...]
    host: str
    writable: bool
    fd: int = -1  # the directory, or for a file mount its parent (dirfd)
    name: str = ""  # for a file mount: the file's name in dirfd
    # Read-only, and no writable mount shows any of its host files (the
    # sandbox cannot change it at all): the runtime may keep what it holds.
    frozen: bool = False
    # A private, empty directory, made in the host's temporary directory the
    # first time anything looks beneath the mount: most runs never do, and
    # making and removing it costs ~0.3 ms.  Until then host is a pattern
    # for its name (which overlaps what the directory will).
    private: bool = False
    made: bool = False

    @property
    def dirfd(self) -> int:
        if self.fd < 0 and self.private:
            if not self.made:
                parent = os.path.dirname(self.host)
                self.host, self.made = tempfile.mkdtemp(prefix=PRIVATE_PREFIX, dir=parent), True
            self.open_root()  # (again next time, if it failed: out of fds, say)
        return self.fd

    def open_root(self) -> None:
        st = os.stat(self.host)
        target = self.host
        if not stat.S_ISDIR(st.st_mode):
            target, self.name = os.path.split(self.host)
        self.fd = os.open(target, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _look(m: Mount, rel: str, flags: int) -> int:
    """Whether rel is there beneath m with no symlink on the way (an O_PATH
    openat2, closed at once): 0, or the negative errno."""
    r = lib.sb_openat2(m.dirfd, os.fsencode(rel), O_PATH | os.O_CLOEXEC | flags, 0, STRICT)
    if r >= 0:
        os.close(r)
        return 0
    return r


@dataclass
class Node:
    """A resolved virtual path: inside a mount (rel may be '.'), a
    synthetic directory that only exists as a parent of mount points, or a
    file the broker makes up (`virtual`, see broker/virtual.py)."""

    vparts: tuple[str, ...]
    mount: Mount | None
    rel: str
    virtual: object = None  # a virtual.VNode (then mount is None)

    @property
    def vpath(self) -> str:
        return "/" + "/".join(self.vparts)


LINK_CACHE_MAX = 1 << 14


@dataclass
class View:
    mounts: list[Mount] = field(default_factory=list)
    # (mount, rel) -> symlink target or None, for read-only mounts only.  A
    # stale entry can only misdirect resolution inside the view: the final
    # open is still confined by openat2.  It saves two host calls per path
    # component (CPython stats ~100 paths while starting).
    _links: dict = field(default_factory=dict, repr=False)
    # The sandbox's made-up /dev, /proc and /etc (virtual.Files), set by the
    # Sandbox.  They act like mounts at those points: a longer mount wins.
    virtual: object = field(default=None, repr=False)
    # `..` after a name the walk reached checks that the name is a directory,
    # as Linux does, only if this says so (the Sandbox's: a function, asked
    # once): not while any rule judges paths, as the check's errno tells what
    # the name is and a rule judges only where the path ends
    # (/data/secret.txt/.. is /data).
    linux_dots: Callable[[], bool] | bool = False

    def __post_init__(self):
        # For the lookups every path makes: the mounts by virtual path, the
        # depths they sit at (deepest first), and every directory on the way
        # to a mount point.
        self._by_vparts = {m.vparts: m for m in self.mounts}
        self._depths = sorted({len(m.vparts) for m in self.mounts}, reverse=True)
        self._parents = {m.vparts[:i] for m in self.mounts for i in range(len(m.vparts))}
        writable = [w.host for w in self.mounts if w.writable]
        for m in self.mounts:
            m.frozen = not m.writable and not any(_overlap(m.host, w) for w in writable)

    @classmethod
    def build(cls, specs: list[tuple[str, str, bool]], private: str | None = None) -> "View":
        """specs: (host path, virtual path, writable).  Later specs win.
        private: a virtual path for a private, empty, writable directory
        (Mount.private); close() says whether it was made."""
        by_vpath: dict[tuple[str, ...], Mount] = {}
        for host, vpath, writable in specs:
            if not os.path.isabs(vpath):
                raise MountError(f"mount point {vpath!r} must be an absolute path")
            real = os.path.realpath(host)
            if not os.path.exists(real):
                raise MountError(f"cannot mount {host!r}: no such file or directory")
            by_vpath[tuple(split(os.path.normpath(vpath)))] = Mount(
                tuple(split(os.path.normpath(vpath))), real, writable)
        if private is not None:
            parts = tuple(split(os.path.normpath(private)))
            pattern = os.path.join(os.path.realpath(tempfile.gettempdir()), PRIVATE_PREFIX + "*")
            by_vpath[parts] = Mount(parts, pattern, True, private=True)
        view = cls(sorted(by_vpath.values(), key=lambda m: -len(m.vparts)))
        for m in view.mounts:
            if not m.private:
                m.open_root()
        return view

    def close(self) -> list[str]:
        """Closes the mounts' fds; returns the private directories that were
        made, for the caller to remove (no longer held open here)."""
        made = []
        for m in self.mounts:
            if m.fd >= 0:
                os.close(m.fd)
                m.fd = -1
            if m.private:
                m.private = False  # (none is made from now on)
                if m.made:
                    made.append(m.host)
        return made

    def _mount_of(self, parts: tuple[str, ...]) -> Mount | None:
        for depth in self._depths:  # the deepest mount point on the way wins
            if depth <= len(parts):
                m = self._by_vparts.get(parts[:depth])
                if m is not None:
                    return m
        return None

    def _is_mount_parent(self, parts: tuple[str, ...]) -> bool:
        return parts in self._parents

    def _made_up(self, parts: tuple[str, ...], m: Mount | None) -> bool:
        """The made-up trees decide parts (m: its mount): it lies under /dev,
        /etc or /proc, and no mount but one at / is on the way."""
        return (self.virtual is not None and bool(parts) and parts[0] in self.virtual.roots
                and (m is None or not m.vparts))

    def _node(self, parts: tuple[str, ...]) -> Node:
        m = self._mount_of(parts)
        if self._made_up(parts, m):
            v = self.virtual.lookup(parts)
            if v is not None:
                return Node(parts, None, "", v)
            if not self._is_mount_parent(parts):
                raise OSError(errno.ENOENT, "not in the sandbox's view", "/" + "/".join(parts))
            return Node(parts, None, "")
        if m is None:
            if parts and not self._is_mount_parent(parts):
                raise OSError(errno.ENOENT, "not in the sandbox's view", "/" + "/".join(parts))
            return Node(parts, None, "")
        rest = parts[len(m.vparts):]
        if m.name:  # a file mount has no children
            if rest:
                raise OSError(errno.ENOTDIR, "not a directory", "/".join(parts))
            return Node(parts, m, m.name)
        return Node(parts, m, "/".join(rest) or ".")

    def _readlink(self, node: Node) -> str | None:
        """The symlink target at node, or None if it is not a symlink (or absent)."""
        if node.virtual is not None:
            return node.virtual.follow
        if node.mount is None or node.rel == ".":
            return None
        if self._is_mount_parent(node.vparts):  # on the way to a mount point: a directory
            return None
        if node.mount.writable:
            return self._readlink_host(node)
        key = (id(node.mount), node.rel)
        try:
            return self._links[key]
        except KeyError:
            pass
        target = self._readlink_host(node)
        if len(self._links) >= LINK_CACHE_MAX:
            self._links.clear()
        self._links[key] = target
        return target

    def _readlink_host(self, node: Node) -> str | None:
        parent, _, name = node.rel.rpartition("/")
        try:
            pfd = kernel.openat2(node.mount.dirfd, parent or ".", O_PATH | os.O_DIRECTORY,
                                 resolve=STRICT)
        except OSError as e:
            if e.errno == errno.ELOOP:  # a component turned into a symlink under us
                raise OSError(errno.ENOENT, "path changed during resolution") from None
            raise
        try:
            return os.readlink(name, dir_fd=pfd)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOENT):
                return None
            raise
        finally:
            os.close(pfd)

    def resolve(self, path: str, cwd: str = "/", follow: bool = True,
                links: list[tuple[Node, str]] | None = None) -> Node:
        """Walks `path` (relative to the virtual `cwd`) to a Node; each
        symlink it followed on the way is added to `links`, if given, with
        its target.  "name/" names a directory: ENOTDIR if name is another
        file (a missing one is the caller's to judge)."""
        node = self.walk(path, cwd, follow, links)
        if path.endswith(("/", "/.")) and self._not_dir(node):
            raise OSError(errno.ENOTDIR, "not a directory", path)
        return node

    def missing(self, node: Node) -> bool:
        """Nothing is at node (which the walk reaches for a missing last name)."""
        if node.virtual is not None or node.mount is None:
            return False
        return _look(node.mount, node.rel, os.O_NOFOLLOW) == -errno.ENOENT

    def _not_dir(self, node: Node) -> bool:
        """node is there and is no directory."""
        return self._as_dir(node) == -errno.ENOTDIR

    def _as_dir(self, node: Node) -> int:
        """0 if node is a directory, -ENOTDIR if it is another file, -ENOENT
        if it is missing (or what else a look at it says).  A mount's root is
        one without a look (the private /tmp is not made for it)."""
        if node.virtual is not None:
            return 0 if node.virtual.kind == "dir" else -errno.ENOTDIR
        if node.mount is None or node.rel == ".":
            return 0
        return _look(node.mount, node.rel, os.O_DIRECTORY)

    def walk(self, path: str, cwd: str = "/", follow: bool = True,
             links: list[tuple[Node, str]] | None = None, partial: list | None = None) -> Node:
        """Where path leads (resolve, less its check of a trailing slash:
        what the policy judges is the file the call would be about).  If it
        fails, `partial` (if given) gets the names it had walked, and the
        names it had left."""
        if not path:
            raise OSError(errno.ENOENT, "empty path")
        ahead = split(path)
        # "link/" and "link/." name what link points to, as on Linux
        follow = follow or path.endswith(("/", "/.")) or path == "."
        cur: list[str] = [] if path.startswith("/") else split(cwd)
        given = len(cur)  # (the working directory's names: there even once removed)
        left = ahead
        try:
            node = self._resolve_direct(cur + ahead, follow)
            if node is not None:
                return node
            if len(ahead) > 2 and self._direct_dir(cur + ahead[:-1]):  # (python3 -> python3.11)
                cur, ahead = cur + ahead[:-1], ahead[-1:]
            hops = 0
            while ahead:
                comp = ahead.pop(0)
                left = [comp, *ahead]
                if comp == "..":
                    if cur and len(cur) > given and self._linux_dots():
                        self._up_from(tuple(cur), path)
                    if cur:
                        cur.pop()
                        given = min(given, len(cur))
                    continue
                node = self._node(tuple(cur + [comp]))
                if ahead or follow:
                    target = self._readlink(node)
                    if target is not None:
                        if links is not None:
                            links.append((node, target))
                        hops += 1
                        if hops > MAX_SYMLINKS:
                            raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                        ahead = split(target) + ahead
                        if target.startswith("/"):  # (/proc's links name what the program
                            cur = []  # holds: there even once removed, as its cwd)
                            given = len(split(target)) if node.vparts[:1] == ("proc",) else 0
                        left = ahead
                        # the rest is often plain again (/lib -> usr/lib): one host call
                        node = self._resolve_direct(cur + ahead, follow) if ahead else None
                        if node is not None:
                            return node
                        continue
                cur.append(comp)
            left = []
            node = self._node(tuple(cur))
            if follow and node.virtual is not None:
                node = self.virtual.followed(node)
            return node
        except OSError:
            if partial is not None:
                partial[:] = [cur, left]
            raise

    def _linux_dots(self) -> bool:
        if callable(self.linux_dots):
            self.linux_dots = bool(self.linux_dots())
        return self.linux_dots

    def _up_from(self, parts: tuple[str, ...], path: str) -> None:
        """`..` after parts: ENOTDIR if parts is a file, ENOENT if it is
        missing (a mount's root and the way to a mount point are directories;
        any other answer, say ELOOP from a name swapped meanwhile, leaves the
        `..` to be taken by name)."""
        if self._is_mount_parent(parts):
            return
        r = self._as_dir(self._node(parts))  # (_node: ENOENT outside every mount and made-up tree)
        if r in (-errno.ENOENT, -errno.ENOTDIR):
            raise OSError(-r, os.strerror(-r), path)

    def _resolve_direct(self, parts: list[str], follow: bool) -> Node | None:
        """The walk below in one host call, for the common path: no `..`,
        inside one ordinary directory mount, away from the made-up roots and
        from other mount points.  One openat2 with RESOLVE_NO_SYMLINKS that
        succeeds shows no component is a symlink, which is what the walk
        would find one readlink at a time (three host calls per component).
        ENOENT with the parent present is a missing last component, which
        the walk leaves to the caller (so, when not following, is a missing
        parent); a missing component further up is the walk's ENOENT.  Anything else (a symlink, ENOTDIR, ...) returns None: the
        walk decides.  Only speed depends on this; every open that follows
        is confined by openat2 from the mount's fd as before."""
        node = self._direct(parts)
        if node is None:
            return None
        m, rel = node.mount, node.rel
        r = _look(m, rel, 0 if follow else os.O_NOFOLLOW)
        if r == 0:
            return node
        if r != -errno.ENOENT:
            return None
        # The walk reads links up to the last component (following) or the
        # one before it: a missing one further up is its ENOENT.
        parent = rel.rpartition("/")[0]
        for depth in (1, 2) if not follow else (1,):
            r = _look(m, parent or ".", os.O_DIRECTORY)
            if r == 0:
                return node
            if r != -errno.ENOENT or not parent:
                return None
            parent = parent.rpartition("/")[0]
        raise OSError(errno.ENOENT, "No such file or directory", "/" + "/".join(parts))

    def _direct_dir(self, parts: list[str]) -> bool:
        """parts is a directory one host call finds with no symlink on the
        way, inside one ordinary mount (what the walk would find, component
        by component)."""
        node = self._direct(parts)
        return node is not None and _look(node.mount, node.rel, os.O_DIRECTORY) == 0

    def _direct(self, parts: list[str]) -> Node | None:
        """The node of parts (from /) inside one ordinary directory mount,
        if one host call beneath it can look it up: no `..`, away from the
        made-up roots and from other mount points (the walk takes those for
        directories); else None."""
        if ".." in parts or (self.virtual is not None and parts and parts[0] in self.virtual.roots):
            return None
        vparts = tuple(parts)
        m = self._mount_of(vparts)
        if m is None or m.name or len(parts) <= len(m.vparts) or self._is_mount_parent(vparts):
            return None
        return Node(vparts, m, "/".join(parts[len(m.vparts):]))

    def direct(self, path: str) -> Node | None:
        """The node of an absolute path inside one ordinary directory mount,
        by its names alone, which is the walk's when no symlink is on the way
        (a host call refusing symlinks finds that out); or None (`..`, a
        trailing slash, another mount or a made-up file near it: the walk
        decides)."""
        if not path.startswith("/") or path.endswith(("/", "/.")):
            return None
        return self._direct(split(path))

    def frozen(self, path: str) -> Node | None:
        """direct(path), on a frozen mount: only its contents decide it."""
        node = self.direct(path)
        return node if node is not None and node.mount.frozen else None

    def _fixed_made_up(self, path: str, roots: tuple[str, ...]) -> tuple[bool, object]:
        """What a made-up tree (one of roots: trees that never change while
        the sandbox lives) has at an absolute path with no `..` and no mount
        on the way: (True, its VNode, or None for nothing), or (False, None)
        when the tree does not decide it."""
        parts = tuple(split(path)) if path.startswith("/") else ()
        if (not parts or parts[0] not in roots or ".." in parts or self._is_mount_parent(parts)
                or not self._made_up(parts, self._mount_of(parts))):  # (else a mount decides)
            return False, None
        try:
            return True, self.virtual.lookup(parts)
        except OSError:  # ENOTDIR: neither missing nor there
            return False, None

    def listable(self, parts: tuple[str, ...]) -> tuple[int, str, list[str]] | None:
        """Where to list directory parts (from /, no `..`) for the runtime's
        listings (listings.list_around): (a frozen mount's dirfd and the
        directory beneath it, listed with no symlink followed; or -1 and ""
        for a directory that only mount points and the made-up /etc and /dev
        make), with the names mounts and made-up files add there.  None when
        its names may change while the sandbox lives (a writable mount,
        /proc) or a listing would not show them all (a file mount, the way to
        a mount point inside a mount); OSError as the walk's _node says it
        (ENOENT: nothing is there)."""
        if parts[:1] == ("proc",):
            return None
        node = self._node(parts)  # (ENOENT: nothing is there)
        extra = self.synthetic_children(Node(parts, None, ""))
        if node.virtual is not None:
            return (-1, "", extra) if node.virtual.kind == "dir" else None
        m = node.mount
        if m is None:
            return -1, "", extra
        if m.name or not m.frozen or (len(parts) > len(m.vparts) and self._is_mount_parent(parts)):
            return None
        return m.dirfd, node.rel, extra

    def made_up_file(self, path: str) -> Node | None:
        """The node of an absolute path naming a regular file of the made-up
        /etc (passwd, ld.so.cache...) of a known size: fixed for as long as
        the sandbox lives.  Else None."""
        decided, v = self._fixed_made_up(path, ("etc",))
        if decided and v is not None and v.kind == "data" and v.sized:
            return Node(tuple(split(path)), None, "", virtual=v)
        return None

    def virtual_missing(self, path: str) -> bool:
        """An absolute path under the made-up /etc or /dev that names nothing
        there (and no mount): missing for as long as the sandbox lives, as
        those trees never change.  (/proc changes with the fds: not it.)"""
        decided, v = self._fixed_made_up(path, ("etc", "dev"))
        return decided and v is None

    def frozen_stat(self, path: str) -> bytes | int | None:
        """The stat of a frozen path in one host call: its bytes, ENOENT when
        no such file is there, or None when this cannot tell (a symlink on
        the way: the walk decides).  Its answers are the walk's: both look
        beneath the same mount, and a missing name with no symlink before it
        is missing whatever follows."""
        node = self.frozen(path)
        if node is None:
            return None
        buf = ffi.new("struct stat *")
        r = lib.sb_stat_beneath(node.mount.dirfd, os.fsencode(node.rel), STRICT, buf)
        if r == 0:
            return bytes(ffi.buffer(buf))
        return errno.ENOENT if r == -errno.ENOENT else None

    def open(self, node: Node, flags: int, mode: int = 0) -> int:
        """A host fd for node, opened beneath its mount with no symlink following."""
        if node.virtual is not None:
            raise OSError(errno.EACCES, "made up by the broker: no host file")
        if node.mount is None:
            raise OSError(errno.EISDIR, "synthetic directory")
        return kernel.openat2(node.mount.dirfd, node.rel, flags, mode, resolve=STRICT)

    def synthetic_children(self, node: Node) -> list[str]:
        n = len(node.vparts)
        names = {m.vparts[n] for m in self.mounts
                 if len(m.vparts) > n and m.vparts[:n] == node.vparts}
        if self.virtual is not None:
            names.update(self.virtual.children(node.vparts))
        return sorted(names)
