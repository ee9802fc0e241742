"""The fenced code blocks of a Markdown file, as tests/e2e/test_readme.py runs
them: their language, where they start, the output the text shows right after
them, and the skip marker (an HTML comment just before the fence) that says
why a block cannot run inside the suite."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

COMMAND_LANGUAGES = frozenset({"sh", "bash", "console", "shell", "python"})
OUTPUT_LANGUAGES = frozenset({"text"})
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\s*(?:\((?P<reason>[^)]*)\))?\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w-]*)\s*$")
WILDCARD = "…"


@dataclass
class Block:
    file: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    end: int  # 0-based index of the closing fence
    skip_reason: str | None = None  # None: not marked; "": marked without a reason
    output: Block | None = None  # the text block shown right after this one

    @property
    def id(self) -> str:
        return f"{self.file}:L{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.strip().splitlines()[0].strip()

    @property
    def is_command(self) -> bool:
        return self.language in COMMAND_LANGUAGES


def read_blocks(root: Path, name: str) -> list[Block]:
    """Every fenced block of `root/name`, each output block attached to the
    command block it directly follows (only blank lines between)."""
    lines = (root / name).read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = _closing_fence(lines, index, opening["indent"])
        code = "\n".join(_dedent(line, opening["indent"]) for line in lines[index + 1:end])
        block = Block(name, index + 1, opening["language"], code + "\n", end, _skip_reason(lines, index))
        if block.language in OUTPUT_LANGUAGES and blocks and _only_blank_between(lines, blocks[-1], index):
            blocks[-1].output = block
        blocks.append(block)
        index = end + 1
    return blocks


def _closing_fence(lines: list[str], opening: int, indent: str) -> int:
    for index in range(opening + 1, len(lines)):
        if lines[index].strip() == "```" and lines[index].startswith(indent):
            return index
    raise AssertionError(f"the fence on line {opening + 1} is never closed")


def _dedent(line: str, indent: str) -> str:
    """A block inside a list item is indented: its code is not."""
    return line[len(indent):] if line.startswith(indent) else line.lstrip()


def _skip_reason(lines: list[str], fence: int) -> str | None:
    """The reason of a skip marker on the last non-blank line before the fence."""
    for line in reversed(lines[:fence]):
        if line.strip():
            marker = SKIP_MARKER.search(line)
            return None if marker is None else (marker["reason"] or "").strip()
    return None


def _only_blank_between(lines: list[str], previous: Block, fence: int) -> bool:
    return all(not line.strip() for line in lines[previous.end + 1:fence])


def marker_lines(root: Path, name: str) -> list[int]:
    """Every line that holds a skip marker, wherever it is."""
    return [number for number, line in enumerate((root / name).read_text().splitlines(), 1) if SKIP_MARKER.search(line)]


def matches(expected: str, actual: str) -> bool:
    """The output shown in the README, where `…` stands for anything (ids,
    times, digits past the ones shown), against what the block printed.
    Trailing spaces and blank lines at either end do not count."""
    def tidy(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")

    pattern = ".*?".join(re.escape(part) for part in tidy(expected).split(WILDCARD))
    return re.fullmatch(pattern, tidy(actual), flags=re.DOTALL) is not None
