"""Runs the fault tests and the API fuzzing against PostgreSQL + Redis and
writes their last figures into RELIABILITY.md.

    .venv/bin/python benchmarks/reliability.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
DOC = ROOT / "RELIABILITY.md"


def run_tests() -> str:
    for name in ("faults.jsonl", "schemathesis.jsonl"):
        (ARTIFACTS / name).unlink(missing_ok=True)
    env = {**os.environ,
           "GRADATLAS_DATABASE_URL": os.environ.get("GRADATLAS_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
           "GRADATLAS_BROKER_URL": os.environ.get("GRADATLAS_BROKER_URL", "redis://127.0.0.1:6379/15")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/faults", "tests/unit/test_schemathesis.py"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    summary = result.stdout.strip().splitlines()[-1]
    if result.returncode != 0:
        sys.exit(f"the tests failed; nothing written:\n{result.stdout[-4000:]}")
    return summary


def figures(summary: str) -> str:
    faults = [json.loads(line) for line in (ARTIFACTS / "faults.jsonl").read_text().splitlines()]
    fuzz = [json.loads(line) for line in (ARTIFACTS / "schemathesis.jsonl").read_text().splitlines()]
    kinds = Counter(fault for row in faults for fault in row["faults"])
    lines = [f"- pytest: {summary}",
             f"- faults injected: {sum(kinds.values())} ({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items()))})",
             f"- experiments submitted: {sum(r['experiments'] for r in faults)}; experiments lost: {sum(r['lost'] for r in faults)}",
             f"- requests fuzzed by schemathesis: {sum(r['requests'] for r in fuzz)}; of them answered 4xx (bad input): "
             f"{sum(r['4xx'] for r in fuzz)}; 5xx: {sum(r['5xx'] for r in fuzz)}"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(lines) + f"\n\nCommand: `python benchmarks/reliability.py` · {stamp}"


def main() -> None:
    body = figures(run_tests())
    text = DOC.read_text()
    text = re.sub(r"<!-- figures:start -->.*?<!-- figures:end -->", lambda _: f"<!-- figures:start -->\n{body}\n<!-- figures:end -->",
                  text, flags=re.S)
    DOC.write_text(text)
    print(body)


if __name__ == "__main__":
    main()
