"""Built-in profiles, shipped as TOML beside this module (profiles/*.toml)."""

from __future__ import annotations

import os

from .errors import PolicyError
from .model import Policy
from .tomlio import load, loads

PROFILES = ("minimal", "python", "compute")


def profile_text(name: str) -> str:
    if name not in PROFILES:
        raise PolicyError(f"no built-in profile {name!r}", hint=f"profiles: {', '.join(PROFILES)}")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles", f"{name}.toml"),
              encoding="utf-8") as f:
        return f.read()


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
