#!/usr/bin/env python3
"""The samples shown in README.md and docs/*.md, checked against real output.

A sample is the fenced block that follows a line `<!-- sample: NAME -->`.
  samples.py names FILE...             the sample names in the files
  samples.py show FILE NAME            the block as written
  samples.py commands FILE NAME        its lines that start with "$ ", without the "$ "
  samples.py check FILE NAME ACTUAL    compares the block (its "$ " lines left out)
                                       with the file ACTUAL, both masked; prints a
                                       diff and exits 1 if they differ
Masked: ephemeral ports (5 digits after ':', ', ' or a space), pids, times (a decimal
number), rates (N connections/s), the count of distinct source ports, the kernel's version; runs of blanks are one blank,
and the rows of a socket table are sorted (the kernel lists them in its hash order).
Descriptor numbers are compared, except under valgrind (PORTSCOPE_VALGRIND set)."""
import difflib
import os
import re
import sys

# Under valgrind, whose log file takes a descriptor, descriptor numbers are masked too.
MASK_FDS = os.environ.get("PORTSCOPE_VALGRIND", "") != ""
MARK = re.compile(r"^<!-- sample: (\S+) -->\s*$")
ROW = re.compile(r"^\s*(tcp|udp)\s|^\s+(LISTEN|ESTABLISHED|TIME_WAIT|SYN_SENT|SYN_RECV|CLOSE_WAIT|"
                 r"FIN_WAIT\d|LAST_ACK|CLOSING|UNCONN)\s")


def blocks(path):
    """{name: [lines of the block]} for every sample in PATH."""
    lines = open(path).read().split("\n")
    found = {}
    for i, line in enumerate(lines):
        m = MARK.match(line)
        if not m:
            continue
        j = i + 1
        if j >= len(lines) or not lines[j].startswith("```"):
            sys.exit(f"{path}:{i + 1}: sample {m.group(1)}: no fenced block on the next line")
        k = j + 1
        while k < len(lines) and lines[k] != "```":
            k += 1
        if k == len(lines):
            sys.exit(f"{path}:{j + 1}: sample {m.group(1)}: the block does not end")
        found[m.group(1)] = lines[j + 1:k]
    return found


def mask(lines):
    out = []
    for line in lines:
        line = re.sub(r"\(Linux [^)]*\)", "(Linux K)", line)
        line = re.sub(r"\bpid \d+", "pid P", line)
        line = re.sub(r"\b\d+/([^/\s]+)/fd=", r"P/\1/fd=", line)
        line = re.sub(r"\b\d+ connections/s", "R connections/s", line)
        # Two source addresses may each use a port: how many distinct ones is the kernel's.
        line = re.sub(r"\bdistinct\s+\d+ source ports", "distinct N source ports", line)
        line = re.sub(r"(?<![\d.])\d+\.\d+(?![\d.])", "T", line)
        line = re.sub(r"(?<=[:, ])\d{5}\b", "PORT", line)
        if MASK_FDS:
            line = re.sub(r"(fd[=\s\":]+)\d+", r"\1N", line)
        line = re.sub(r"\s+", " ", line).rstrip()
        out.append(line)
    # Sort each run of table rows.
    res, run = [], []
    for line in out + [None]:
        if line is not None and ROW.match(line):
            run.append(line)
            continue
        res += sorted(run)
        run = []
        if line is not None:
            res.append(line)
    while res and res[-1] == "":
        res.pop()
    return res


def get(path, name):
    b = blocks(path)
    if name not in b:
        sys.exit(f"{path}: no sample named {name}")
    return b[name]


def main():
    cmd = sys.argv[1]
    if cmd == "names":
        for path in sys.argv[2:]:
            for name in blocks(path):
                print(name)
    elif cmd == "show":
        print("\n".join(get(sys.argv[2], sys.argv[3])))
    elif cmd == "commands":
        for line in get(sys.argv[2], sys.argv[3]):
            if line.startswith("$ "):
                print(line[2:])
    elif cmd == "check":
        path, name, actual = sys.argv[2:5]
        want = mask([l for l in get(path, name) if not l.startswith("$ ")])
        have = mask(open(actual).read().split("\n"))
        if want != have:
            sys.stdout.writelines(difflib.unified_diff(
                [l + "\n" for l in want], [l + "\n" for l in have],
                f"{path} (sample {name}, masked)", f"real output (masked)"))
            sys.exit(1)
    else:
        sys.exit(__doc__)


main()
