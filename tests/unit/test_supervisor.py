"""`gradatlas up`'s supervisor: its children's command lines, and how it
stops them, with real processes."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

from gradatlas.service.cli import supervisor
from gradatlas.service.cli.supervisor import Supervisor, child_commands
from gradatlas.service.contracts.settings import Settings

from tests.support import wait_for


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_each_home_gets_its_own_gunicorn_control_socket(tmp_path):
    sockets = [_option(child_commands(Settings(home=tmp_path / name), "127.0.0.1", 8000, 2)["api"], "--control-socket")
               for name in ("one", "two")]
    assert sockets == [str(tmp_path / "one" / "gunicorn.ctl"), str(tmp_path / "two" / "gunicorn.ctl")]


def test_a_home_too_deep_for_a_unix_socket_gets_none_rather_than_the_shared_one(tmp_path):
    command = child_commands(Settings(home=tmp_path / ("x" * 120)), "127.0.0.1", 8000, 2)["api"]
    assert "--no-control-socket" in command and "--control-socket" not in command


# A child that, like gunicorn's arbiter or Celery's main process, stops its own
# process (here: one grandchild) when it receives SIGTERM. The grandchild
# records a SIGTERM that reached it directly.
LEADER = textwrap.dedent("""
    import signal, subprocess, sys, time
    folder = sys.argv[1]
    grandchild = subprocess.Popen([sys.executable, "-c", '''
    import os, signal, sys, time, pathlib
    folder = pathlib.Path(sys.argv[1])
    def on_term(*_):
        (folder / "grandchild-got-sigterm").write_text("yes")
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_term)
    (folder / "grandchild-pid").write_text(str(os.getpid()))
    (folder / "grandchild-pid").rename(folder / "grandchild-ready")  # whole, never half-written
    while True:
        time.sleep(0.1)
    ''', folder])
    def on_term(*_):
        time.sleep(1)  # a graceful stop takes a while
        grandchild.kill()
        grandchild.wait()
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term if sys.argv[2] == "stops" else signal.SIG_IGN)
    while True:
        time.sleep(0.1)
""")


def _started(tmp_path: Path, behaviour: str) -> Supervisor:
    running = Supervisor({"leader": [sys.executable, "-c", LEADER, str(tmp_path), behaviour]}, dict(os.environ))
    running.start("leader")
    wait_for(lambda: (tmp_path / "grandchild-ready").exists(), timeout=20, what="the grandchild")
    return running


def test_stopping_signals_the_child_alone_which_stops_its_own_processes(tmp_path):
    """A SIGTERM sent to the whole group reaches Celery's pool processes
    directly, and Celery logs each as an ERROR."""
    running = _started(tmp_path, "stops")
    running.stop_all()
    assert running.children["leader"].returncode == 0
    assert not (tmp_path / "grandchild-got-sigterm").exists()


def test_a_child_that_ignores_sigterm_is_killed_with_its_group_after_the_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "STOP_GRACE_S", 1.0)
    running = _started(tmp_path, "ignores")
    grandchild = int((tmp_path / "grandchild-ready").read_text())
    running.stop_all()
    assert running.children["leader"].returncode == -signal.SIGKILL
    wait_for(lambda: not _alive(grandchild), timeout=10, what="the grandchild's end")


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie not yet reaped by init."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

