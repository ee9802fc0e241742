"""Writes one benchmark's section of BENCHMARKS.md, between markers, so each
script owns its section and re-running it replaces only that."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEvery figure here is written by a script in `benchmarks/`, with the command that produced it.\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = cpu
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def write_section(name: str, body: str) -> None:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(BENCHMARKS.parent) if script.is_relative_to(BENCHMARKS.parent) else script
    command = " ".join(["python", str(shown), *(shlex.quote(arg) for arg in sys.argv[1:])])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (f"<!-- {name}:start -->\n{body.rstrip()}\n\n"
               f"Command: `{command}` · machine: {machine()} · {stamp}\n<!-- {name}:end -->")
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)
