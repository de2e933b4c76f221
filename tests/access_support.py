"""Helpers for the access tests (CORS, ``allowed_hosts``, rate limits).

An app that records what reached it, one in-process request through
``wsgiref.validate.validator`` on both sides of the middleware, a clock the
tests move by hand, and a throwaway ``redis-server`` on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from wsgiref.validate import validator

import webob

WSGIApp = Callable[..., Iterable[bytes]]
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PASSED = b"passed through"


# -- In-process requests ----------------------------------------------------


@dataclass
class Answer:
    """What the middleware answered: status code, headers in order, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        """The one value of header ``name``; ``None`` when absent."""
        values = self.all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def tokens(self, name: str) -> set[str]:
        """The comma-separated tokens of every ``name`` header, lowercased."""
        return {
            token.strip().lower()
            for value in self.all(name)
            for token in value.split(",")
            if token.strip()
        }

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of an error answer."""
        error = self.json["error"]
        assert set(error) == {"type", "message", "data"}, error
        return error  # type: ignore[no-any-return]


def request(
    app: WSGIApp,
    path: str = "/",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    body: bytes | str | list[Any] | dict[str, Any] = b"",
    remote_addr: str = "192.0.2.10",
    script_name: str = "",
) -> Answer:
    """One request to ``app`` in-process, checked by ``wsgiref``'s validator.

    A ``list``/``dict`` body is sent as JSON; a ``str`` body as UTF-8 text.
    Without a ``Host`` header the host is ``api.example.net``.
    """
    headers = dict(headers or {})
    if isinstance(body, (list, dict)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    headers.setdefault("Host", "api.example.net")
    environ = webob.Request.blank(
        path, method=method, headers=headers, POST=None
    ).environ
    environ["REMOTE_ADDR"] = remote_addr
    environ["SCRIPT_NAME"] = script_name
    environ["wsgi.input"] = io.BytesIO(body)
    if body or method == "POST":
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        environ.pop("CONTENT_LENGTH", None)
    if "Content-Type" not in headers:
        environ.pop("CONTENT_TYPE", None)
    got: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        got["status"] = int(status.split(" ", 1)[0])
        got["headers"] = list(response_headers)
        return lambda data: None

    chunks = validator(app)(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Answer(got["status"], got["headers"], data)


def form_body(**fields: str) -> str:
    """A urlencoded form body, fields in the order given (``dollar_`` → ``$``)."""
    return urlencode([(k.replace("dollar_", "$"), v) for k, v in fields.items()])


@dataclass(frozen=True)
class Seen:
    """One request as the wrapped app received it."""

    method: str
    path: str
    script_name: str
    headers: dict[str, str]
    body: bytes
    environ: dict[str, Any]


@dataclass
class Recorder:
    """A wrapped app that remembers every request it got (thread-safe) and
    answers ``200 passed through`` as plain text, or what ``answer`` gives."""

    seen: list[Seen] = field(default_factory=list)
    answer_headers: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        with self._lock:
            self.seen.append(
                Seen(
                    environ["REQUEST_METHOD"],
                    environ.get("PATH_INFO", ""),
                    environ.get("SCRIPT_NAME", ""),
                    headers,
                    body,
                    dict(environ),
                )
            )
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(PASSED))),
                *self.answer_headers,
            ],
        )
        return [PASSED]

    def wrapped(self) -> WSGIApp:
        """This app behind ``wsgiref``'s validator: what the middleware calls."""
        return validator(self)  # type: ignore[no-any-return]


class Counter:
    """Counts calls from any number of threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self) -> int:
        with self._lock:
            self.count += 1
            return self.count


# -- A clock the test drives ------------------------------------------------


class Clock:
    """A monotonic clock moved by hand: ``serveract.MemoryLimiter(clock=clock)``.

    Calling it returns the current reading in seconds, as ``time.monotonic``.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds

    def at(self, start: float, offset: float) -> None:
        """Set the reading to ``start + offset`` (never backwards)."""
        assert start + offset >= self.now
        self.now = start + offset


# -- A throwaway redis-server -----------------------------------------------

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """A ``redis-server`` subprocess on 127.0.0.1, persistence off."""

    popen: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server and wait until it has exited."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start Debian's ``redis-server`` on a free loopback port with ``--save ''``
    and ``--appendonly no``; yield once it answers PING; stop it at the end."""
    import redis

    with tempfile.TemporaryDirectory(prefix="serveract-redis-") as directory:
        port = free_port()
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port)]
        args += ["--save", "", "--appendonly", "no", "--dir", directory]
        args += ["--daemonize", "no", "--loglevel", "warning"]
        popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = RedisServer(popen, port)
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
            deadline = time.monotonic() + 15
            while True:
                try:
                    if client.ping():
                        break
                except redis.ConnectionError:
                    if popen.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            client.close()
            yield server
        finally:
            server.stop()
