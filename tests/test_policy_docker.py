"""Importing a Docker/OCI seccomp profile."""

import errno
import json

import pytest

from strictbox import cli
from strictbox.policy import PolicyError, docker, load

SAMPLE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["read", "write", "close", "openat", "_llseek", "socketcall"],
         "action": "SCMP_ACT_ALLOW", "args": []},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 4294967295, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["mount", "umount2"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["s390x"]}},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"},
                  {"index": 1, "value": 3, "op": "SCMP_CMP_LT"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["uname"], "action": "SCMP_ACT_LOG"},
    ],
}


def test_names_actions_and_argument_rules_carry_over():
    p, notes = docker.from_json(SAMPLE, "sample.json")
    assert str(p.default) == "errno(EPERM)"
    for call in ("read", "write", "close", "openat"):
        assert p.decide(call, {}).action == "allow"
    # argument rules: personality(0) or personality(0xffffffff), by raw register
    assert p.decide("personality", {"arg0": 0}).allowed
    assert p.decide("personality", {"arg0": 0xFFFFFFFF}).allowed
    assert not p.decide("personality", {"arg0": 8}).allowed
    # masked equality, written on the named argument: (flags & mask) == 0
    assert p.decide("clone", {"flags": 0x11, "arg0": 0x11}).allowed
    assert not p.decide("clone", {"flags": 0x10000000, "arg0": 0x10000000}).allowed
    # several comparisons in one entry all have to hold
    # (an ordered comparison of a signed argument stays on the raw register, as seccomp reads it)
    assert p.decide("socket", {"domain": 1, "arg0": 1, "arg1": 1}).allowed
    assert not p.decide("socket", {"domain": 40, "arg0": 40, "arg1": 1}).allowed
    assert not p.decide("socket", {"domain": 1, "arg0": 1, "arg1": 5}).allowed
    assert p.decide("clone3", {}).errno == errno.ENOSYS
    assert p.decide("ptrace", {}).action == "kill"
    assert p.decide("uname", {}).action == "log"
    # capability-only and other-architecture entries are left out, and said so
    assert not p.decide("mount", {}).allowed
    assert any("CAP_SYS_ADMIN" in n for n in notes)
    assert any("_llseek" in n and "socketcall" in n for n in notes)
    assert not any(r.target == "s390_pci_mmio_read" for r in p.rules)


def test_cli_import_writes_a_policy_that_loads_back(tmp_path, capsys):
    src, out = tmp_path / "seccomp.json", tmp_path / "out.toml"
    src.write_text(json.dumps(SAMPLE))
    assert cli.main(["policy", "import-docker", str(src), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Imported from the Docker seccomp profile")
    assert "flags & 0x7e020000 == 0" in text and "domain != 40 && arg1 < 3" in text
    p = load(out)
    again, _ = docker.from_json(SAMPLE)
    assert p.rules and sorted(r.text for r in p.rules) == sorted(r.text for r in again.rules)
    assert cli.main(["policy", "check", str(out)]) == 0


@pytest.mark.parametrize("bad, needle", [
    ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_WHATEVER"}]}, "unknown seccomp action"),
    ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}, "index"),
    ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_LIKE"}]}]}, "comparison"),
    ({"syscalls": "nope"}, "not a Docker seccomp profile"),
])
def test_bad_profiles_give_policy_errors(bad, needle):
    with pytest.raises(PolicyError, match=needle):
        docker.from_json(bad)


def test_bad_json_names_its_line(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{\n  "syscalls": [,]\n}\n')
    with pytest.raises(PolicyError) as e:
        docker.load(str(f))
    assert e.value.line == 2
