"""The README runs as written: every shell and Python block of README.md and
examples/README.md is pasted, as a user would, into a shell (or Python) in a
folder laid out like a checkout after `make up` (`.venv`, `examples/`,
`.gradatlas/token`), against a real `gradatlas up`, with the two variables the
README tells a user to set: GRADATLAS_URL and GRADATLAS_TOKEN. A ```text
block right after a command block is the output it must print (`…` stands for
anything). The only blocks not run are marked in the Markdown with
`<!-- readme-test: skip (why) -->`, and they are exactly the ones listed here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import Service
from tests.e2e.readme_blocks import COMMAND_LANGUAGES, Block, marker_lines, matches, read_blocks
from tests.support import ROOT

FILES = ("README.md", "examples/README.md")
BLOCKS = [block for name in FILES for block in read_blocks(ROOT, name)]
COMMANDS = [block for block in BLOCKS if block.is_command]

# What cannot run inside the suite, by file and first command: each is marked
# in the Markdown with the reason. A new skip marker fails until it is listed.
SKIPPED = {
    ("README.md", "make test"),
    ("README.md", "GRADATLAS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/gradatlas \\"),
    ("README.md", "umask 077"),
    ("README.md", "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"),
    ("README.md", "GRADATLAS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\"),
}
BLOCK_TIMEOUT_S = 300


def command_of(block: Block) -> str:
    return block.first_line.split("#")[0].strip()


def up_default_url() -> str:
    """Where a plain `gradatlas up` (so `make up`) serves."""
    from gradatlas.service.cli.main import main

    defaults = {param.name: param.default for param in main.commands["up"].params}
    return f"http://{defaults['host']}:{defaults['port']}"


@pytest.fixture
def checkout(tmp_path: Path, service: Service) -> Path:
    """A folder as a user's checkout looks after `make up`: the commands run here."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (folder / "examples").symlink_to(ROOT / "examples")
    (folder / ".gradatlas").symlink_to(service.home)
    return folder


def user_env(service: Service, home: Path) -> dict[str, str]:
    """A new user's shell: their own empty home (blocks may write start-up
    files there, never into this machine's), `gradatlas` on the PATH as an
    installed package puts it, and the two variables the quick start sets."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GRADATLAS_")}
    home.mkdir(exist_ok=True)
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "HOME": str(home), "PATH": path, "GRADATLAS_URL": service.url, "GRADATLAS_TOKEN": service.token}


def params() -> list[object]:
    return [pytest.param(block, id=block.id, marks=[pytest.mark.skip(reason=block.skip_reason)]
                         if block.skip_reason is not None else []) for block in COMMANDS]


@pytest.mark.parametrize("block", params())
def test_block(block: Block, service: Service, checkout: Path) -> None:
    if command_of(block) == "make up" and block.code.count("\n") == 1:
        check_make_up_is_what_the_fixture_runs(service)
        return
    result, after = run(block, checkout, user_env(service, checkout / "home"))
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}\n{service.output()[-2000:]}"
    if block.output is not None:
        assert matches(block.output.code, result.stdout), (
            f"{block.id} printed\n{result.stdout}\nnot what {block.output.id} shows:\n{block.output.code}")
    assert after.get("GRADATLAS_TOKEN", service.token) == service.token, "the block set another token"
    assert after.get("GRADATLAS_URL", service.url) in (service.url, up_default_url()), "the block set another URL"


def run(block: Block, cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """The block as a file in `cwd`: a shell sources it with -e and pipefail
    (a failing command fails the test) and then writes the variables it left."""
    if block.language == "python":
        (cwd / "block.py").write_text(block.code)
        command = [sys.executable, "block.py"]
    else:
        (cwd / "block.sh").write_text(_without_prompts(block) if block.language == "console" else block.code)
        command = ["bash", "-c", 'set -eo pipefail; . ./block.sh; env -0 > "$1"', "bash", str(cwd / "env.after")]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    dump = cwd / "env.after"
    after = dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item) if dump.exists() else {}
    return result, after


def _without_prompts(block: Block) -> str:
    return "".join(line[2:] if line.startswith("$ ") else line for line in block.code.splitlines(keepends=True))


def check_make_up_is_what_the_fixture_runs(service: Service) -> None:
    """`make up` serves forever, so the quick start's `make up` is the
    command the `service` fixture started, on a free port instead of 8000."""
    # Run from inside `make test` (as CI does), make passes its own flags down: drop them.
    env = {name: value for name, value in os.environ.items() if name not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    recipe = subprocess.run(["make", "--no-print-directory", "-n", "up"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True).stdout
    program, *arguments = recipe.strip().splitlines()[-1].split()
    port = str(urlparse(service.url).port)
    assert list(service.process.args) == [str(ROOT / program), *arguments, "--port", port]
    assert urlparse(up_default_url()).port == 8000  # what the quick start says `make up` listens on


def test_every_block_is_a_command_or_the_output_of_the_one_before() -> None:
    assert COMMANDS, "no command blocks found"
    shown = {id(block.output) for block in COMMANDS if block.output is not None}
    for block in BLOCKS:
        assert block.is_command or id(block) in shown, (
            f"{block.id}: ```{block.language} is neither a command ({sorted(COMMAND_LANGUAGES)}) "
            "nor a ```text output right after one")


def test_only_the_marked_blocks_are_skipped_each_with_a_reason() -> None:
    marked = {(block.file, command_of(block)): block.skip_reason for block in COMMANDS if block.skip_reason is not None}
    assert set(marked) == SKIPPED
    assert all(marked.values()), f"a skip marker without a reason: {marked}"
    for name in FILES:  # a marker that sits anywhere but right before a command block skips nothing
        placed = [number for number, block in _markers_before_commands(name)]
        assert marker_lines(ROOT, name) == placed, f"{name}: a skip marker not right before a command block"


def _markers_before_commands(name: str) -> list[tuple[int, Block]]:
    lines = (ROOT / name).read_text().splitlines()
    found = []
    for block in COMMANDS:
        if block.file == name and block.skip_reason is not None:
            before = [number for number in range(block.line - 1, 0, -1) if lines[number - 1].strip()]
            found.append((before[0], block))
    return found


def test_the_readme_tells_a_user_to_set_what_the_blocks_read() -> None:
    setup = [block for block in COMMANDS if block.file == "README.md" and "export GRADATLAS_URL" in block.code]
    assert setup, "README.md never tells a user to set GRADATLAS_URL and GRADATLAS_TOKEN"
    assert f"GRADATLAS_URL={up_default_url()}" in setup[0].code
    assert "GRADATLAS_TOKEN=$(cat .gradatlas/token)" in setup[0].code
