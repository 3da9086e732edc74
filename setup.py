"""Build: the cffi module (kernel constants, ABI structs), the freestanding
static-pie stub and the program's vDSO, which ship inside the package as
strictbox/strictbox-stub and strictbox/strictbox-vdso."""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-nostdlib", "-static-pie", "-ffreestanding",
          "-fno-stack-protector", "-fPIE", "-mgeneral-regs-only", "-fcf-protection=none",
          "-fno-asynchronous-unwind-tables", "-Wl,-z,noexecstack", "-Wl,--build-id=none"]


def check_host():
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        sys.exit("strictbox needs Linux on x86_64")
    release = tuple(int(x) for x in os.uname().release.split(".")[:2])
    if release < (5, 11):
        sys.exit(f"strictbox needs Syscall User Dispatch (Linux >= 5.11); this is {os.uname().release}")
    if " fsgsbase" not in open("/proc/cpuinfo").read():
        sys.exit("strictbox needs a CPU and kernel with FSGSBASE")
    if not shutil.which("cc"):
        sys.exit("strictbox needs a C compiler: install gcc (apt-get install gcc libc6-dev)")


def routes_header():
    spec = importlib.util.spec_from_file_location(
        "syscall_table", os.path.join(HERE, "broker", "syscall_table.py"))
    table = importlib.util.module_from_spec(spec)
    sys.modules["syscall_table"] = table
    spec.loader.exec_module(table)
    return table.routes_header()


def build_stub(out):
    gen = os.path.join(HERE, "untrusted_runtime", "gen")
    os.makedirs(gen, exist_ok=True)
    with open(os.path.join(gen, "routes.h"), "w") as f:
        f.write(routes_header())
    sources = sorted(glob.glob(os.path.join(HERE, "trusted_stub", "*.[cS]"))
                     + glob.glob(os.path.join(HERE, "untrusted_runtime", "*.c")))
    cmd = ["cc", *CFLAGS, "-I", os.path.join(HERE, "untrusted_runtime", "include"),
           "-I", gen, "-o", out, *sources]
    subprocess.run(cmd, check=True)
    relocs = subprocess.run(["readelf", "-r", out], capture_output=True, text=True).stdout
    if "R_X86_64_" in relocs and "R_X86_64_RELATIVE" not in relocs:
        sys.exit("the stub has relocations other than R_X86_64_RELATIVE")


def build_vdso(out):
    """One read-and-execute PT_LOAD linked at 0, with no relocations: the
    broker copies its bytes in as they are (broker/loader.py)."""
    vdso = os.path.join(HERE, "untrusted_runtime", "vdso")
    cmd = ["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-nostdlib", "-shared", "-fPIC",
           "-ffreestanding", "-fno-stack-protector", "-mgeneral-regs-only", "-fcf-protection=none",
           "-fno-asynchronous-unwind-tables", "-I", os.path.join(HERE, "untrusted_runtime", "include"),
           "-Wl,-T," + os.path.join(vdso, "vdso.lds"), "-Wl,--hash-style=both",
           "-Wl,-soname=linux-vdso.so.1", "-Wl,--build-id=none", "-Wl,-z,noexecstack",
           "-o", out, os.path.join(vdso, "vdso.c")]
    subprocess.run(cmd, check=True)
    headers = subprocess.run(["readelf", "-lrW", out], capture_output=True, text=True).stdout
    if headers.count(" LOAD ") != 1 or "R_X86_64_" in headers:
        sys.exit("the vDSO must be one PT_LOAD with no relocations")


class BuildWithStub(build_py):
    def run(self):
        super().run()
        check_host()
        target = os.path.join(self.build_lib, "strictbox", "strictbox-stub")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        build_stub(target)
        build_vdso(os.path.join(self.build_lib, "strictbox", "strictbox-vdso"))


setup(cmdclass={"build_py": BuildWithStub}, cffi_modules=["broker/_build_native.py:ffibuilder"])
