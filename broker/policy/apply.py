"""What a policy sets up before a sandbox starts: its view, limits and identity."""

from __future__ import annotations

import os
import tempfile

from .model import Policy

# The sandbox's Limits fields a policy fills.
SANDBOX_LIMITS = ("memory", "cpu", "wall", "threads", "open_files", "output", "file_size",
                  "disk")


def mount_specs(policy: Policy) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """(host, virtual path, writable) for each of the policy's mounts, and the
    fresh host directories made for its tmp mounts (the caller removes them)."""
    specs, made = [], []
    try:
        for m in policy.mounts:
            if m.mode == "tmp":
                host = tempfile.mkdtemp(prefix="strictbox-mount-")
                made.append(host)
                specs.append((host, m.path, True))
            else:
                specs.append((os.path.abspath(m.host), m.path, m.mode == "rw"))
    except OSError:
        for d in made:
            os.rmdir(d)
        raise
    return specs, made


def fill_limits(policy: Policy, limits) -> None:
    for k in SANDBOX_LIMITS:
        v = getattr(policy.limits, k)
        if v is not None:
            setattr(limits, k, v)


def fill_identity(policy: Policy, identity) -> None:
    for k in ("uid", "gid", "hostname"):
        v = getattr(policy.identity, k)
        if v is not None:
            setattr(identity, k, v)
