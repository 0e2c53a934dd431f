#!/usr/bin/env python3
"""No path through the built CPU kernels leaves the upper halves of ymm0-15 / zmm0-15 dirty at a return, a call
or a tail jump (GCC 12 has left out vzeroupper after target_clones code; every legacy-SSE instruction after it
then runs up to ~20x slower: bench/PROFILE.md). Reads the disassembly of libebgan.a and libebgan_f64.a.

A forward dataflow per function over objdump's listing: an instruction naming ymm0-15 or zmm0-15 makes the
state dirty, vzeroupper / vzeroall clean; each exit (ret, call, jump out of the function) met dirty on some
path is reported. Exit 77 (skipped) without objdump and as, or off x86-64."""
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

UPPER = re.compile(r"%[yz]mm([0-9]|1[0-5])\b")
JUMP = re.compile(r"(j\w+)\s+([0-9a-f]+)\s*<([^>]*)>")


def functions(path):
    """{name: [(address, instruction text)]} from objdump -d."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if m:
            cur = m.group(2)
            funcs[cur] = []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if m and cur is not None:
            funcs[cur].append((int(m.group(1), 16), m.group(2).strip()))
    return funcs


def dirty_exits(path):
    """[(function, address, exit)] for every exit reachable with the upper state dirty."""
    bad = []
    for name, ins in functions(path).items():
        if not any(UPPER.search(t) for _, t in ins):
            continue
        index = {a: i for i, (a, _) in enumerate(ins)}
        seen = [None] * len(ins)  # dirty at entry of instruction i, on some path (None: not reached)
        work = [(0, False)]
        while work:
            i, dirty = work.pop()
            if i >= len(ins) or seen[i] is True or seen[i] == dirty:
                continue
            seen[i] = dirty
            addr, text = ins[i]
            op = text.split()[0] if text else ""
            if "vzeroupper" in text or "vzeroall" in text:
                dirty = False
            elif UPPER.search(text):
                dirty = True
            if op.startswith("ret"):
                if dirty:
                    bad.append((name, hex(addr), "ret"))
                continue
            if op.startswith("call") and dirty:
                bad.append((name, hex(addr), text))
            m = JUMP.match(text)
            if m:
                target = int(m.group(2), 16)
                if target in index:
                    work.append((index[target], dirty))
                elif dirty:
                    bad.append((name, hex(addr), "tail jump to " + m.group(3)))
                if m.group(1) != "jmp":
                    work.append((i + 1, dirty))
                continue
            if op.startswith("jmp"):  # indirect
                if dirty:
                    bad.append((name, hex(addr), text))
                continue
            work.append((i + 1, dirty))
    return bad


SELF_CHECK = """
    .text
    .globl good, bad_ret, bad_call, bad_branch, bad_tail
good:       vpcmpeqd %ymm1, %ymm1, %ymm1
            vzeroupper
            ret
bad_ret:    vpcmpeqd %ymm1, %ymm1, %ymm1
            ret
bad_call:   vpternlogd $0xff, %zmm3, %zmm3, %zmm3
            call good
            vzeroupper
            ret
bad_branch: test %edi, %edi
            je 1f
            vpcmpeqd %ymm1, %ymm1, %ymm1
1:          ret
bad_tail:   vpcmpeqd %ymm1, %ymm1, %ymm1
            jmp good
"""


def main():
    if platform.machine() not in ("x86_64", "AMD64") or not shutil.which("objdump") or not shutil.which("as"):
        print("skipped: needs x86-64 with binutils (objdump, as)")
        return 77
    build = os.environ.get("EBGAN_BINARY_DIR", ".")
    # the check itself: it must see each dirty exit of a hand-written object, and pass the clean one
    with tempfile.TemporaryDirectory() as tmp:
        src, obj = os.path.join(tmp, "self.s"), os.path.join(tmp, "self.o")
        with open(src, "w") as f:
            f.write(SELF_CHECK)
        subprocess.run(["as", "-o", obj, src], check=True)
        flagged = {name for name, _, _ in dirty_exits(obj)}
        if flagged != {"bad_ret", "bad_call", "bad_branch", "bad_tail"}:
            print(f"FAIL: the check flagged {sorted(flagged)} of the hand-written object, "
                  "expected bad_ret, bad_call, bad_branch, bad_tail")
            return 1
    failed = 0
    for lib in ("libebgan.a", "libebgan_f64.a"):
        path = os.path.join(build, lib)
        if not os.path.exists(path):
            print(f"FAIL: {path} not built")
            return 1
        bad = dirty_exits(path)
        for name, addr, what in bad:
            print(f"FAIL: {lib}: {name} at {addr}: upper vector state dirty at {what}")
        failed += len(bad)
        print(f"{lib}: {'no' if not bad else len(bad)} exit(s) with the upper state dirty")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
