"""strictbox policies: which calls a sandbox may make, with which arguments,
what it sees of the filesystem, and its limits, identity and clock.

    from strictbox.policy import Policy, load, profile
    p = Policy(default="errno(EPERM)").allow("@basic-io").allow("read", "fd == 0")
    p.decide("read", {"fd": 3})   # Decision(action='errno', errno=1, rule='default = ...')

See model.py for how a call is decided, expr.py for the filter language and
tomlio.py for the file format."""

from . import expr
from .errors import PolicyError
from .groups import GROUPS
from .model import Action, Decision, Identity, Limits, Mount, PathRule, Policy, Rule
from .profiles import PROFILES, profile, profile_text, resolve
from .tomlio import check_text, dump, dumps, load, loads

__all__ = ["Action", "Decision", "GROUPS", "Identity", "Limits", "Mount", "PROFILES", "PathRule",
           "Policy", "PolicyError", "Rule", "check_text", "dump", "dumps", "expr", "load",
           "loads", "profile", "profile_text", "resolve"]
