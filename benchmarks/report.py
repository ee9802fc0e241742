"""Write one benchmark's section of BENCHMARKS.md, leaving the others alone."""

from __future__ import annotations

import re
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(key: str, body: str) -> None:
    """Replace (or append) the text between `<!-- key -->` markers."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    text = PATH.read_text() if PATH.exists() else "# Benchmarks\n\nFigures written by the scripts in `benchmarks/`.\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    PATH.write_text(text)
