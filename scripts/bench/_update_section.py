#!/usr/bin/env python3
"""Replaces one section of docs/BENCHMARKS.md, between
<!-- bench:NAME:begin --> and <!-- bench:NAME:end -->, with the text on stdin
(appending the section when it is not there yet). Each bench-compare script owns one."""
import pathlib
import sys

name = sys.argv[1]
path = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else \
    pathlib.Path(__file__).resolve().parents[2] / "docs" / "BENCHMARKS.md"
body = sys.stdin.read().rstrip("\n")
begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
block = f"{begin}\n{body}\n{end}"
text = path.read_text() if path.exists() else "# Benchmarks\n"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = head + block + tail
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
path.write_text(text)
