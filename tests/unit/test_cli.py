"""The `gradatlas` command without a service: help on every command and
option, and the one-line errors (never a traceback) for what a user gets
wrong before a request is answered. The commands against a real service
are in tests/e2e/test_client_cli.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from gradatlas.service.cli.main import main
from gradatlas.service.cli.output import cut, ls_lines


def walk(command: click.Command, path: str = "gradatlas") -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += walk(sub, f"{path} {name}")
    return found


def test_every_command_and_option_has_help():
    missing = [f"{path}: command" for path, command in walk(main) if not (command.help or "").strip()]
    missing += [f"{path}: {param.opts[0]}" for path, command in walk(main) for param in command.params
                if isinstance(param, click.Option) and not (param.help or "").strip()]
    assert missing == []
    assert len(walk(main)) == 15  # the group, up, migrate, token (+3), and the eight remote commands


def test_compare_help_speaks_of_the_command_not_an_issue():
    text = CliRunner().invoke(main, ["compare", "--help"]).output
    assert "issue" not in text and "name, notes" in text and "Compare 2 to 10 experiments" in text


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Invoke the CLI in an empty folder with no GRADATLAS_* settings and a
    URL where nothing listens."""
    for name in ("GRADATLAS_HOME", "GRADATLAS_TOKEN", "GRADATLAS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with socket.socket() as probe:  # a port that was free a moment ago: nothing answers there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def invoke(*args: str, token: str | None = "ga_test") -> Result:
        env = {"GRADATLAS_URL": f"http://127.0.0.1:{port}", **({"GRADATLAS_TOKEN": token} if token else {})}
        return CliRunner().invoke(main, list(args), env=env)

    invoke.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return invoke


def one_line_error(result: Result) -> str:
    """The error text, after checking it is exactly one line and exit status 1."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: ")
    return result.output.removeprefix("Error: ").strip()


@pytest.mark.parametrize("command", ["submit", "sweep"])
def test_malformed_json_and_yaml_name_file_line_and_column(run, tmp_path: Path, command: str):
    (tmp_path / "bad.json").write_text('{"model": {"arch": "mlp",\n  "depth": 3,, }}')
    assert one_line_error(run(command, "bad.json")) == (
        "bad.json, line 2, column 14: not valid JSON: Expecting property name enclosed in double quotes; "
        "fix the file and run the command again")
    (tmp_path / "bad.yaml").write_text("model:\n  arch: mlp\n  depth: [3\n")
    assert one_line_error(run(command, "bad.yaml")) == (
        "bad.yaml, line 4, column 1: not valid YAML: expected ',' or ']', but got '<stream end>'; "
        "fix the file and run the command again")
    (tmp_path / "list.yaml").write_text("- model\n")
    assert one_line_error(run(command, "list.yaml")) == (
        'list.yaml: the spec must be an object (a mapping of fields), not ["model"]; see examples/ for the shape')


def test_an_unreachable_server_says_how_to_point_at_one(run):
    assert one_line_error(run("ls")) == (
        f"cannot reach {run.url}: is `gradatlas up` running? Set --url or GRADATLAS_URL")


def test_a_missing_token_says_every_place_it_looked(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    default = tmp_path / ".gradatlas" / "token"
    assert one_line_error(run("ls", token=None)) == (
        f"no API token: --token is not given, GRADATLAS_TOKEN is not set and {default} does not exist; pass --token, "
        "set GRADATLAS_TOKEN, or set GRADATLAS_HOME to the folder where `gradatlas up` wrote its token")
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "token").write_text("\n")
    monkeypatch.setenv("GRADATLAS_HOME", str(home))
    assert f"{home / 'token'} is empty;" in one_line_error(run("ls", token=None))


def test_plot_refuses_a_format_it_cannot_write(run, tmp_path: Path):
    assert one_line_error(run("plot", "abc", "-o", "figure.jpg")) == (
        "cannot tell the figure format of figure.jpg: name a .png, .svg or .pdf file with -o")
    assert not (tmp_path / "figure.jpg").exists()


def test_long_cells_end_in_an_ellipsis():
    assert cut("short", 8) == "short" and cut("exactly8", 8) == "exactly8" and cut("ninechars", 8) == "ninecha…"
    header, = ls_lines([])
    assert header.split() == ["ID", "NAME", "STATUS", "VERDICT", "MODEL", "SIGNAL", "RATIO"]



def test_control_and_bidi_characters_of_old_names_print_as_escapes():
    """Rows stored before the service refused such names must not move the cursor or reorder a line."""
    shown = cut("evil\x1b[2J\u202egnp.exe\x00", 40)
    assert shown == "evil\\x1b[2J\\u202egnp.exe\\x00"
    assert not any(ord(ch) < 32 or 0x202A <= ord(ch) <= 0x202E for ch in shown)
    assert cut("naïve ünïcode", 40) == "naïve ünïcode"

@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_the_readme_documents_it(shell: str):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"_GRADATLAS_COMPLETE={shell}_source gradatlas" in readme
    script = subprocess.run([str(Path(sys.executable).parent / "gradatlas")], env={**os.environ, "_GRADATLAS_COMPLETE": f"{shell}_source"},
                            capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "_GRADATLAS_COMPLETE" in script.stdout and "gradatlas" in script.stdout
    words = subprocess.run([str(Path(sys.executable).parent / "gradatlas")], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "_GRADATLAS_COMPLETE": "bash_complete", "COMP_WORDS": "gradatlas ls --pa",
                                "COMP_CWORD": "2"})
    assert words.stdout.split() == ["plain,--page-token"]
