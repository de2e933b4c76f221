"""Helpers for the framework, command line and scale-out tests.

Puts ``examples/frameworks`` (the README's recipes) on ``sys.path``, and runs
real servers as subprocesses on 127.0.0.1 with bounded waits, always killed.
"""

from __future__ import annotations

import html
import http.client
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "examples" / "frameworks"
TESTS = ROOT / "tests"
for _path in (RECIPES, ROOT):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

import serveract  # noqa: E402

#: Where the serveract under test lives, first on the subprocesses' path.
SERVERACT_DIR = Path(serveract.__file__).resolve().parent
START_TIMEOUT = 15.0
#: How ``python -m serveract`` and waitress (``Serving on``), gunicorn
#: (``Listening at:``) and ``flask run`` (``Running on``) say where they listen.
SERVING = re.compile(r"(?:Serving on|Listening at:|Running on) (http://[^\s/]+)")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a server subprocess: serveract, the recipes and
    the test fixtures importable, output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVERACT_")}
    paths = [str(SERVERACT_DIR), str(RECIPES), str(TESTS)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Process:
    """A server subprocess and everything it printed so far."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)
    url: str = ""

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``, waiting at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; output so far: {self.text()!r}")
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    raise AssertionError(
                        f"exited {self.popen.returncode}: {self.text()!r}"
                    ) from None
                continue
            found = pattern.search(line)
            if found:
                return found

    def text(self) -> str:
        return "".join(self.output)


def _pump(process: Process) -> None:
    assert process.popen.stdout is not None
    for line in process.popen.stdout:
        process.output.append(line)
        process.lines.put(line)


@contextmanager
def running(
    args: Sequence[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> Iterator[Process]:
    """Run ``args`` (stdout and stderr merged, read in the background);
    terminate it, then kill it, on the way out."""
    popen = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=subprocess_env() if env is None else env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    process = Process(popen)
    threading.Thread(target=_pump, args=(process,), daemon=True).start()
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=5)
        if popen.stdout is not None:
            popen.stdout.close()


@contextmanager
def serving(
    args: Sequence[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> Iterator[Process]:
    """Like :func:`running`, once the server printed the URL it listens on
    (:data:`SERVING`), which is then in ``process.url``."""
    with running(args, cwd=cwd, env=env) as process:
        yield started(process)


def started(process: Process) -> Process:
    """``process`` once it printed the URL it serves, now in ``process.url``."""
    process.url = process.wait_for(SERVING, START_TIMEOUT).group(1)
    return process


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_cli(
    target: str, *extra: str, cwd: Path = RECIPES, **env: str
) -> AbstractContextManager[Process]:
    """``python -m serveract --port 0 target`` (the port picked by the system),
    once serving."""
    return serving(cli_args(target, *extra), cwd=cwd, env=subprocess_env(**env))


def cli_args(target: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "serveract", "--port", "0", *extra, target]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def fetch(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One HTTP request over a fresh connection; any status is returned."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(page: str) -> list[tuple[str, str]]:
    """The hidden inputs of a rendered page, values unescaped once."""
    return [(name, html.unescape(value)) for name, value in HIDDEN.findall(page)]
