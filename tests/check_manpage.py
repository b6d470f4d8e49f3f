#!/usr/bin/env python3
"""Checks docs/wijkradar.1 against the binary: groff renders it without warnings, and it
describes every command (first two words of each line under "Commands:" of --help).

Usage: check_manpage.py WIJKRADAR_BINARY MANPAGE
"""
import re
import subprocess
import sys


def main():
    binary, page = sys.argv[1], sys.argv[2]
    problems = []
    groff = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True, text=True)
    if groff.returncode != 0 or groff.stderr.strip():
        problems.append(f"groff warns: {groff.stderr.strip() or groff.returncode}")
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True,
                              check=True).stdout
    section = helptext.split("Commands:", 1)[1].split("\nOptions:", 1)[0]
    commands = set()
    for line in section.splitlines():
        m = re.match(r"  ([a-z][a-z-]*)(?: ([a-z][a-z|-]*))?", line)
        if m:
            words = [m.group(1)] + ([m.group(2)] if m.group(2) and "|" not in m.group(2)
                                    and m.group(1) in SUBCOMMAND_GROUPS else [])
            commands.add(" ".join(words))
    text = open(page, encoding="utf-8").read().replace("\\-", "-")
    text = re.sub(r"\\f[BIRP]", "", text)
    for c in sorted(commands):
        if not re.search(r"^" + re.escape(c) + r"\b", text, re.M):
            problems.append(f"the manual page does not describe \"{c}\"")
    if not commands:
        problems.append("found no commands in --help")
    for p in problems:
        print(f"check_manpage: {p}", file=sys.stderr)
    print(f"check_manpage: {len(commands)} commands checked")
    return 1 if problems else 0


SUBCOMMAND_GROUPS = {"areas", "token", "initiatives", "subscriptions", "deliveries"}

if __name__ == "__main__":
    sys.exit(main())
