#!/usr/bin/env python3
"""Compares each command's options in `portscope CMD --help` with its lines in
the man page's SYNOPSIS.  Prints each difference; exit 1 if there is one.
  mansynopsis.py PORTSCOPE MANPAGE"""
import re
import subprocess
import sys

COMMANDS = ["serve", "connect", "ls", "watch", "top", "exporter", "bench", "demo", "lab", "proxycheck"]
OPT = re.compile(r"(?<![\w-])(--?[a-zA-Z0-9][a-zA-Z0-9-]*)")


def help_options(prog, cmd):
    """Each option the help lists, as a set of spellings (short and long)."""
    text = subprocess.run([prog, cmd, "--help"], capture_output=True, text=True, check=True).stdout
    opts = []
    for line in text.splitlines():
        if not re.match(r"^ {2,}-", line):
            continue
        # Spellings before each description ("-f, --format FMT   text"); ls has two columns.
        for head in re.split(r"\s{2,}", line.strip()):
            if not head.startswith("-"):
                continue
            toks = [t for t in OPT.findall(head) if t not in ("-h", "--help")]
            if head.startswith("-4, -6"):
                opts += [{"-4"}, {"-6"}]
            elif len(toks) == 2 and len(toks[0]) == 2 and toks[1].startswith("--"):
                opts.append(set(toks))	# "-x, --long" is one option
            else:
                opts += [{t} for t in toks]	# "--a X, --b Y" are two
    return opts


def synopsis(man):
    """Options per command in the SYNOPSIS section."""
    text = open(man).read()
    syn = text.split(".SH SYNOPSIS", 1)[1].split(".SH ", 1)[0]
    per = {}
    for block in syn.split(".br"):
        m = re.search(r"^\.B portscope (\w+)(.*)$", block.strip(), re.M)
        if not m:
            continue
        body = block.replace("\\-", "-")
        found = set()
        for t in OPT.findall(body):
            if re.fullmatch(r"-[a-zA-Z0-9]{2,}", t):	# bundled short options: -tu46
                found |= {"-" + ch for ch in t[1:]}
            else:
                found.add(t)
        per.setdefault(m.group(1), set()).update(found)
    return per


def main():
    prog, man = sys.argv[1], sys.argv[2]
    per = synopsis(man)
    bad = 0
    for cmd in COMMANDS:
        have = per.get(cmd, set())
        listed = set()
        for spellings in help_options(prog, cmd):
            listed |= spellings
            if not spellings & have:
                print(f"{cmd}: {'/'.join(sorted(spellings))} is in --help, not in the man page's synopsis")
                bad = 1
        for t in sorted(have - listed):
            print(f"{cmd}: {t} is in the man page's synopsis, not in --help")
            bad = 1
    sys.exit(bad)


main()
