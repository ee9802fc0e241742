"""How tests/e2e/test_readme.py reads Markdown: fences (indented ones in list
items too), skip markers, the output shown after a block, and `…`."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.readme_blocks import marker_lines, matches, read_blocks

MARKDOWN = """# Title

```sh
echo one
```

```text
one
```

- a list item:

  ```python
  print("two")
  ```

<!-- readme-test: skip (serves forever) -->
```sh
make up
```

Some prose.

```text
not the output of `make up`: prose sits between
```

<!-- readme-test: skip -->
```bash
true
```
"""


def blocks(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "README.md").write_text(MARKDOWN)
    return read_blocks(tmp_path, "README.md")


def test_blocks_their_lines_languages_and_code(tmp_path: Path) -> None:
    found = blocks(tmp_path)
    assert [(b.id, b.language, b.code) for b in found] == [
        ("README.md:L3", "sh", "echo one\n"),
        ("README.md:L7", "text", "one\n"),
        ("README.md:L13", "python", 'print("two")\n'),
        ("README.md:L18", "sh", "make up\n"),
        ("README.md:L24", "text", "not the output of `make up`: prose sits between\n"),
        ("README.md:L29", "bash", "true\n"),
    ]


def test_output_belongs_to_the_block_right_before_it(tmp_path: Path) -> None:
    first, shown, python, make_up, orphan, _ = blocks(tmp_path)
    assert first.output is shown
    assert python.output is None and make_up.output is None
    assert orphan.output is None and not orphan.is_command


def test_skip_markers_and_their_reasons(tmp_path: Path) -> None:
    found = blocks(tmp_path)
    assert [b.skip_reason for b in found if b.is_command] == [None, None, "serves forever", ""]
    assert marker_lines(tmp_path, "README.md") == [17, 28]


def test_the_wildcard_stands_for_anything_and_nothing_else_is_loose() -> None:
    assert matches("succeeded vanishing 1.06…e-12\n", "succeeded vanishing 1.0680943711275187e-12  \n\n")
    assert not matches("succeeded vanishing 1.07…e-12", "succeeded vanishing 1.0680943711275187e-12")
    assert matches("…\nvanishing (11, 21)\n…", "queued\nrunning\nvanishing (11, 21)\nid name\n")
    assert not matches("vanishing", "vanishing\nand more")
    assert not matches("a.b", "aXb")  # only `…` is special
