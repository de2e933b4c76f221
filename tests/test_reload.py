"""``python -m serveract --reload``: a real monitor, a real worker, a real edit.

Each test writes a small app module into a temporary folder, serves it with
``--reload`` on a free loopback port, and talks to it over HTTP. Every wait is
bounded by a deadline (never asserted on), and every process group started
here is stopped and checked gone on the way out.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from framework_support import free_port

import serveract

#: Where the serveract under test lives: first on the subprocesses' path.
SERVERACT_DIR = Path(serveract.__file__).resolve().parent
DEADLINE = 30.0  # seconds any one wait may take before the test fails
SERVERACT = [sys.executable, "-m", "serveract"]

APP = """
import serveract

@serveract.action
def version() -> str:
    return "{value}"

def app(environ, start_response):
    body = b"plain app"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""

NO_HUPPER = 'raise ImportError("hupper is not installed (a test stand-in)")\n'


# -- Helpers ------------------------------------------------------------------


def write_app(folder: Path, value: str) -> None:
    """(Re)write ``folder/mod.py``, whose action ``version`` returns ``value``."""
    (folder / "mod.py").write_text(APP.format(value=value))


def environment(*first_on_path: Path) -> dict[str, str]:
    """This environment, with ``first_on_path`` then serveract's folder first
    on ``PYTHONPATH``, no ``SERVERACT_*`` settings, output unbuffered and the
    polling file monitor (no watchdog or watchman backend chosen by chance)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVERACT_")}
    paths = [*map(str, first_on_path), str(SERVERACT_DIR)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env["HUPPER_DEFAULT_MONITOR"] = "hupper.polling.PollingFileMonitor"
    return env


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def call(port: int, name: str) -> Any:
    """The value of a path call ``POST /_serveract/NAME`` with no arguments."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", f"/_serveract/{name}", b"{}", {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200, (response.status, body)
    return json.loads(body)


def wait_until(
    check: Callable[[], Any],
    *,
    done: Callable[[Any], bool],
    output: Path,
    nudge: Callable[[], None] | None = None,
) -> Any:
    """Calls ``check`` until ``done`` holds for what it returned (connection
    errors, and answers cut short by a restart, count as not done yet), for
    at most :data:`DEADLINE` seconds.

    :param nudge: called first, then again at doubling intervals while not done.
    """
    deadline = time.monotonic() + DEADLINE
    next_nudge, pause = time.monotonic(), 1.0
    seen: Any = None
    while time.monotonic() < deadline:
        if nudge is not None and time.monotonic() >= next_nudge:
            nudge()
            next_nudge, pause = time.monotonic() + pause, pause * 2
        try:
            seen = check()
        except (OSError, http.client.HTTPException) as error:  # a restart mid-answer
            seen = error
        else:
            if done(seen):
                return seen
        time.sleep(0.2)
    raise AssertionError(f"last seen {seen!r}; output: {output.read_text()!r}")


def edit_until_served(folder: Path, port: int, value: str) -> None:
    """Rewrites the app to return ``value``, again at doubling intervals until
    the restarted worker serves it: the worker tells the monitor which files
    it imported once a second, and an edit made before that is the file's
    first known state, not a change."""
    served = wait_until(
        lambda: call(port, "version"),
        done=lambda v: v == value,
        output=folder / "output.log",
        nudge=lambda: write_app(folder, value),
    )
    assert served == value


def press_ctrl_c(process: subprocess.Popen[bytes]) -> None:
    """Sends SIGINT to the monitor's process group, as Ctrl-C in a terminal
    does, and waits for the monitor to exit (killing the group if it has not
    by the deadline)."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=DEADLINE)
        raise AssertionError("Ctrl-C did not stop the server") from None


def group_is_gone(process: subprocess.Popen[bytes]) -> bool:
    """No process is left in the group the monitor led (its worker included)."""
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return True
    return False


@contextmanager
def reloading(folder: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m serveract --reload --port PORT mod:app`` run in ``folder``,
    in a process group of its own, its output in ``folder/output.log``;
    the whole group is killed on the way out if it is still there."""
    with (folder / "output.log").open("wb") as log:
        process = subprocess.Popen(
            [*SERVERACT, "--reload", f"--port={port}", "mod:app"],
            cwd=folder,
            env=environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if not group_is_gone(process):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=DEADLINE)


@pytest.fixture
def port() -> int:
    return free_port()


# -- Reloading ----------------------------------------------------------------


def test_an_edited_module_is_served_again_and_ctrl_c_stops_monitor_and_worker(
    tmp_path: Path, port: int
) -> None:
    write_app(tmp_path, "first")
    output = tmp_path / "output.log"
    with reloading(tmp_path, port) as process:
        first = wait_until(
            lambda: call(port, "version"), done=lambda v: v == "first", output=output
        )
        assert first == "first"

        edit_until_served(tmp_path, port, "second, after the edit")

        press_ctrl_c(process)
        assert group_is_gone(process), "a worker outlived its monitor"
        assert not is_listening(port)


def test_terminating_the_monitor_alone_stops_its_worker(
    tmp_path: Path, port: int
) -> None:
    write_app(tmp_path, "first")
    output = tmp_path / "output.log"
    with reloading(tmp_path, port) as process:
        wait_until(
            lambda: call(port, "version"), done=lambda v: v == "first", output=output
        )

        process.terminate()  # as a process manager does: the monitor only
        process.wait(timeout=DEADLINE)
        # The monitor waits for its worker before it exits: nothing is left.
        assert group_is_gone(process), "a worker outlived its monitor"
        assert not is_listening(port)


def test_port_0_is_one_free_port_kept_across_restarts(tmp_path: Path) -> None:
    write_app(tmp_path, "first")
    output = tmp_path / "output.log"
    with reloading(tmp_path, 0) as process:
        served = wait_until(
            lambda: re.findall(
                r"Serving on http://127.0.0.1:(\d+)/", output.read_text()
            ),
            done=bool,
            output=output,
        )
        port = int(served[0])
        assert port != 0
        wait_until(
            lambda: call(port, "version"), done=lambda v: v == "first", output=output
        )
        edit_until_served(tmp_path, port, "second")
        ports = re.findall(r"Serving on http://127.0.0.1:(\d+)/", output.read_text())
        assert len(ports) >= 2 and set(ports) == {str(port)}, ports
        press_ctrl_c(process)
        assert group_is_gone(process), "a worker outlived its monitor"


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param("from serveract import no_such_name\n", id="import-error"),
        pytest.param("def version(:\n", id="syntax-error"),
    ],
)
def test_a_module_that_failed_its_first_import_is_served_once_fixed(
    tmp_path: Path, port: int, broken: str
) -> None:
    (tmp_path / "mod.py").write_text(broken)
    output = tmp_path / "output.log"
    with reloading(tmp_path, port) as process:
        # hupper's words once the worker has exited and the monitor waits.
        wait_until(
            output.read_text,
            done=lambda text: "Waiting for a file to change" in text,
            output=output,
        )
        edit_until_served(tmp_path, port, "fixed")
        press_ctrl_c(process)
        assert group_is_gone(process), "a worker outlived its monitor"


# -- Without hupper -----------------------------------------------------------


@pytest.fixture
def without_hupper(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import hupper`` fails: a stand-in module
    raising ImportError comes first on the path."""
    stand_in = tmp_path / "no-hupper"
    stand_in.mkdir()
    (stand_in / "hupper.py").write_text(NO_HUPPER)
    return environment(stand_in)


def run_cli(
    *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVERACT, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_reload_without_hupper_fails_with_one_line_naming_the_dev_extra(
    tmp_path: Path, port: int, without_hupper: dict[str, str]
) -> None:
    write_app(tmp_path, "first")
    done = run_cli(
        "--reload", "--port", str(port), "mod:app", cwd=tmp_path, env=without_hupper
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("python -m serveract: error: ")
    assert "pip install 'serveract[dev]'" in done.stderr
    assert not is_listening(port)


def test_hupper_is_imported_only_with_the_reload_flag(
    tmp_path: Path, without_hupper: dict[str, str]
) -> None:
    write_app(tmp_path, "first")
    done = run_cli("--list", "mod:app", cwd=tmp_path, env=without_hupper)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "version() -> str\n"
