"""`strictbox policy ...`: check, groups, show, import-docker."""

from __future__ import annotations

import sys

from . import docker, groups, profiles, tomlio
from .errors import PolicyError
from .tomlio import _Lines


def cmd_check(args) -> int:
    bad = 0
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            print(f"{path}: {e.strerror}", file=sys.stderr)
            bad += 1
            continue
        policy, errors = tomlio.check_text(text, path)
        for e in errors:
            print(e, file=sys.stderr)
        if policy is not None:
            lines = _Lines(text)
            shown = [("warning", w) for w in policy.warnings()]
            shown += [("note", n) for n in policy.notes()] if args.verbose else []
            for kind, (key, msg) in shown:
                line = lines.find(key)
                print(f"{path}:{line}: {kind}: {msg}" if line else f"{path}: {kind}: {msg}",
                      file=sys.stderr)
        if errors:
            bad += 1
            print(f"{path}: {len(errors)} error{'s' if len(errors) > 1 else ''}", file=sys.stderr)
        else:
            print(f"{path}: ok ({len(policy.rules)} rules, default {policy.default})")
    return 1 if bad else 0


def cmd_groups(args) -> int:
    names = args.names or list(groups.GROUPS)
    for n in names:
        n = n.lstrip("@")
        if n not in groups.GROUPS:
            print(f"strictbox: no group @{n} (groups: {' '.join(groups.GROUPS)})", file=sys.stderr)
            return 1
        print(f"@{n}: {groups.DESCRIPTIONS[n]}")
        print("    " + " ".join(groups.GROUPS[n]))
    return 0


def cmd_show(args) -> int:
    try:
        sys.stdout.write(profiles.profile_text(args.profile))
    except PolicyError as e:
        print(f"strictbox: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_import_docker(args) -> int:
    try:
        policy, notes = docker.load(args.file)
    except (OSError, PolicyError) as e:
        print(f"strictbox: {e}", file=sys.stderr)
        return 1
    head = [f"# Imported from the Docker seccomp profile {args.file} by strictbox policy import-docker."]
    head += [f"# note: {n}" for n in notes]
    text = "\n".join(head) + "\n" + tomlio.dumps(policy)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        for n in notes:
            print(f"strictbox: note: {n}", file=sys.stderr)
        print(f"{args.output}: {len(policy.rules)} rules, default {policy.default}")
    else:
        sys.stdout.write(text)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("policy", help="check, list and import policies")
    psub = p.add_subparsers(dest="policy_command", required=True)
    c = psub.add_parser("check", help="report every error in policy files, with line and hint")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("-v", "--verbose", action="store_true",
                   help="also note rules on calls served inside the sandbox")
    c.set_defaults(func=cmd_check)
    g = psub.add_parser("groups", help="list the @groups of system calls and their members")
    g.add_argument("names", nargs="*", metavar="GROUP")
    g.set_defaults(func=cmd_groups)
    s = psub.add_parser("show", help="print a built-in profile: " + ", ".join(profiles.PROFILES))
    s.add_argument("profile", metavar="PROFILE")
    s.set_defaults(func=cmd_show)
    d = psub.add_parser("import-docker", help="convert a Docker/OCI seccomp JSON profile")
    d.add_argument("file", metavar="FILE")
    d.add_argument("-o", "--output", metavar="OUT.toml", help="write here (default: stdout)")
    d.set_defaults(func=cmd_import_docker)
