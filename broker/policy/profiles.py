"""Built-in profiles, shipped as TOML beside this module (profiles/*.toml)."""

from __future__ import annotations

import os
from importlib import resources

from .errors import PolicyError
from .model import Policy
from .tomlio import load, loads

PROFILES = ("minimal", "python", "compute")


def profile_text(name: str) -> str:
    if name not in PROFILES:
        raise PolicyError(f"no built-in profile {name!r}", hint=f"profiles: {', '.join(PROFILES)}")
    return resources.files(__package__).joinpath("profiles", f"{name}.toml").read_text("utf-8")


def profile(name: str) -> Policy:
    return loads(profile_text(name), f"<profile {name}>")


def resolve(spec) -> Policy:
    """A Policy from a Policy, a built-in profile's name or a TOML file's path."""
    if isinstance(spec, Policy):
        return spec
    text = os.fspath(spec)
    if text in PROFILES and not os.path.exists(text):
        return profile(text)
    if not os.path.exists(text):
        raise PolicyError(f"{text}: no such policy file or built-in profile",
                          hint=f"built-in profiles: {', '.join(PROFILES)}")
    return load(text)
