"""The fixtures and the one harness every serveract test shares.

It lives at the top of the project, not in ``tests/``, because the core's
tests (``test_serveract.py``) sit next to ``serveract.py``: a conftest in the
rootdir reaches both without any ``sys.path`` or plugin settings. Test
modules import the harness from here (``from conftest import Client``).

- ``reg``: a fresh :class:`serveract.Registry` for each test.
- :class:`Recorder`: the wrapped app; it records every request that reaches
  it and answers with JSON saying what it saw.
- :class:`Client`: WebTest driving ``ServerActions`` around an app, with
  ``wsgiref.validate.validator`` on both sides of the middleware. Besides
  WebTest's own ``get``/``post``, ``call`` makes a JSON header call and
  ``send`` any request, down to its body stream and its ``Content-Length``,
  and ``serve`` any environ. No request may leave a file open.
- Bodies a server might hand over (:class:`StrictInput`,
  :class:`EndlessInput`, :class:`ServerBody`, :class:`UntouchableInput`),
  multipart bodies (:func:`multipart`, or crafted part by part with
  :func:`part` and :func:`multipart_of`), and :func:`serving`, a real
  waitress server in a thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode
from wsgiref.validate import validator

import pytest
import waitress.server
import webob
import webtest

import serveract

HOST = "example.com"  # the Host of every request, unless a test says otherwise
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BOUNDARY = "serveract-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
#: The ``type`` of the error serveract itself answers with each status.
ERROR_TYPES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_arguments",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


# -- Fixtures -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_secret_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``SERVERACT_SECRET`` of the machine running the tests changes nothing."""
    monkeypatch.delenv("SERVERACT_SECRET", raising=False)


@pytest.fixture
def reg() -> serveract.Registry:
    """A fresh registry: each test declares the actions it calls."""
    return serveract.Registry()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def middleware(reg: serveract.Registry, recorder: Recorder) -> Callable[..., Client]:
    """Builds a :class:`Client` for ``reg``; ``app`` defaults to ``recorder``."""

    def build(app: Any = None, **options: Any) -> Client:
        return Client(reg, recorder if app is None else app, **options)

    return build


@pytest.fixture
def pings(reg: serveract.Registry) -> list[str]:
    """Registers ``ping(note="") -> "pong"``; the list of notes it was called with."""
    notes: list[str] = []

    @reg.action
    def ping(note: str = "") -> str:
        notes.append(note)
        return "pong"

    return notes


# -- Request bodies a server might hand over ----------------------------------


class StrictInput:
    """An honest body of known length that fails any read the server's socket
    file would block on: one asking for more than is left of the body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        data = self._data.read(size)
        if size < 0 or len(data) < size:
            raise AssertionError(f"read({size}) past the end of the body would block")
        self.given += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        line = self._data.readline(size)
        if not line.endswith(b"\n") and (size < 0 or len(line) < size):
            raise AssertionError(f"readline({size}) past the end would block")
        self.given += len(line)
        return line

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise AssertionError("readlines() of a request body")

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("iterating a request body")


class EndlessInput:
    """A chunked body that never ends; counts the bytes handed out."""

    def __init__(self, prefix: bytes = b"") -> None:
        self._prefix = prefix
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise AssertionError("read() of an endless body never returns")
        data = (self._prefix + b"x" * size)[:size]
        self._prefix = self._prefix[size:]
        self.given += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)  # no newline ever: a line as long as allowed

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise AssertionError("readlines() of an endless body")

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("iterating an endless body")


class ServerBody:
    """A server's own body stream (gunicorn's ``Body`` is one): not seekable,
    with attributes of its own that an app may use."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.reader = "the server's reader"

    def server_only(self) -> str:
        return "a method of the server's stream"

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._data.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._data.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._data)

    def seekable(self) -> bool:
        return False


class UntouchableInput:
    """A body that must not be read at all."""

    touched = False

    def read(self, size: int = -1) -> bytes:
        self.touched = True
        raise AssertionError("the body was read")

    readline = read

    def readlines(self, hint: int = -1) -> list[bytes]:
        self.touched = True
        raise AssertionError("the body was read")

    def __iter__(self) -> Iterator[bytes]:
        self.touched = True
        raise AssertionError("the body was read")


def part(
    name: str,
    data: bytes | str = b"",
    *,
    filename: str | None = None,
    content_type: str | None = None,
    headers: bytes = b"",
) -> bytes:
    """One ``multipart/form-data`` part: its header block (``headers`` are
    more raw lines), a blank line, its data."""
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    data = data.encode() if isinstance(data, str) else data
    return head.encode() + headers + b"\r\n" + data


def multipart_of(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    """A multipart body of ``parts``, closed by the final delimiter."""
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + p + b"\r\n" for p in parts)
    return body + delimiter + b"--\r\n"


def multipart(
    fields: Iterable[tuple[str, str]] = (),
    files: Iterable[tuple[str, str, bytes]] = (),
    boundary: str = BOUNDARY,
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body (text fields, then files) and its type."""
    octets = "application/octet-stream"
    body = multipart_of(
        *(part(name, value) for name, value in fields),
        *(part(n, data, filename=f, content_type=octets) for n, f, data in files),
        boundary=boundary,
    )
    return body, f"multipart/form-data; boundary={boundary}"


def environ_for(
    method: str = "POST",
    body: bytes = b"",
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    length: int | str | None = "exact",
    stream: Any = None,
    host: str = HOST,
    scheme: str = "http",
    path: str = "/",
    script_name: str = "",
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """A WSGI environ for one request.

    :param length: ``"exact"`` (the body's length, served by a
        :class:`StrictInput`), ``"chunked"`` (no Content-Length,
        ``wsgi.input_terminated``), ``None`` (neither), or the header's value.
    :param stream: the ``wsgi.input`` to use instead.
    """
    environ = webob.Request.blank(path, method=method).environ
    environ.pop("CONTENT_LENGTH", None)
    environ.pop("CONTENT_TYPE", None)
    environ["HTTP_HOST"] = host
    environ["wsgi.url_scheme"] = scheme
    environ["SCRIPT_NAME"] = script_name
    if remote_addr is not None:
        environ["REMOTE_ADDR"] = remote_addr
    environ["SERVER_NAME"] = host.rpartition(":")[0] or host
    environ["SERVER_PORT"] = host.rpartition(":")[2] if ":" in host else "80"
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if length == "exact":
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = StrictInput(body)
    elif length == "chunked":
        environ["wsgi.input_terminated"] = True
        environ["wsgi.input"] = io.BytesIO(body)
    else:
        if length is not None:
            environ["CONTENT_LENGTH"] = str(length)
        environ["wsgi.input"] = io.BytesIO(body)
    if stream is not None:
        environ["wsgi.input"] = stream
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


# -- The wrapped app ----------------------------------------------------------


@dataclasses.dataclass
class Seen:
    """One request as it reached the wrapped app."""

    method: str | None
    path: str
    query: str
    content_type: str | None
    headers: dict[str, str]  # the environ's HTTP_* keys
    body: bytes
    result: serveract.Result | None  # what serveract.result(environ) held


class Recorder:
    """A WSGI app that records every request reaching it and answers 200 with
    ``X-From: the app`` and JSON: the method, the body's length, and what
    :func:`serveract.result` holds. ``headers`` are added to each answer."""

    def __init__(self) -> None:
        self.calls: list[Seen] = []
        self.headers: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ.get("REQUEST_METHOD")
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH", "")
        if length.isdigit():
            body = stream.read(min(int(length), sys.maxsize))  # a lying one too
        elif environ.get("wsgi.input_terminated"):
            body = b"".join(iter(lambda: stream.read(8192), b""))
        else:
            body = b""
        outcome = serveract.result(environ)
        self.calls.append(
            Seen(
                method=method,
                path=environ.get("PATH_INFO", ""),
                query=environ.get("QUERY_STRING", ""),
                content_type=environ.get("CONTENT_TYPE"),
                headers={k: v for k, v in environ.items() if k.startswith("HTTP_")},
                body=body,
                result=outcome,
            )
        )
        answer = {
            "method": method,
            "body_length": len(body),
            "result": None if outcome is None else summary(outcome),
        }
        data = json.dumps(answer, default=str).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", JSON),
                ("Content-Length", str(len(data))),
                ("X-From", "the app"),
                *self.headers,
            ],
        )
        return [data]


def summary(outcome: serveract.Result) -> dict[str, Any]:
    """What a page rendering ``outcome`` would show."""
    error = outcome.error
    return {
        "name": outcome.name,
        "ok": outcome.ok,
        "value": outcome.value,
        "status": error and error.status,
        "message": error and error.message,
        "fields": error and error.fields,
        "form": dict(outcome.form),
    }


# -- The harness --------------------------------------------------------------


class Response(webtest.TestResponse):
    """WebTest's response, plus the error body serveract answers with."""

    @property
    def error(self) -> dict[str, Any]:
        """The error object, after checking the answer has exactly its shape:
        ``{"error": {"type", "message", "data"}}``, JSON, ``no-store``."""
        assert self.content_type == JSON, self
        assert self.headers["Cache-Control"] == "no-store"
        body = json.loads(self.body)
        assert list(body) == ["error"], body
        error = body["error"]
        assert sorted(error) == ["data", "message", "type"], error
        assert isinstance(error["type"], str)
        assert isinstance(error["message"], str)
        return typing.cast("dict[str, Any]", error)

    def header(self, name: str) -> str | None:
        """The one value of header ``name``; ``None`` when it is not sent."""
        values = self.headers.getall(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def tokens(self, name: str) -> set[str]:
        """The comma-separated tokens of every ``name`` header, lowercased."""
        values = self.headers.getall(name)
        return {t.strip().lower() for v in values for t in v.split(",") if t.strip()}

    @property
    def from_app(self) -> bool:
        """Whether the wrapped :class:`Recorder` wrote this answer."""
        return self.headers.get("X-From") == "the app"


class Request(webtest.TestRequest):
    ResponseClass = Response


class Client(webtest.TestApp):
    """``ServerActions(app, registry, **options)`` driven by WebTest.

    Both sides of the middleware run inside ``wsgiref.validate.validator``
    (whose warnings are errors here) unless ``validate=False``, for the few
    requests the validator itself refuses (a malformed ``Content-Length``).
    After each request, the process holds no more open files than before.

    :param app: the wrapped app, a new :class:`Recorder` by default.
    :param host: the ``Host`` of every request, unless one says otherwise.
    """

    RequestClass = Request

    def __init__(
        self,
        registry: serveract.Registry,
        app: Any = None,
        *,
        validate: bool = True,
        host: str = HOST,
        **options: Any,
    ) -> None:
        self.host = host
        self.recorder = Recorder() if app is None else app
        inner = validator(self.recorder) if validate else self.recorder
        self.actions = serveract.ServerActions(inner, registry, **options)
        outer = validator(self.actions) if validate else self.actions
        # The validator above checks PEP 3333; WebTest's copy of it is off.
        extra = {"HTTP_HOST": host, "SERVER_NAME": host}
        super().__init__(outer, extra_environ=extra, lint=False)

    @property
    def calls(self) -> list[Seen]:
        """The requests that reached the wrapped :class:`Recorder`."""
        return typing.cast("list[Seen]", self.recorder.calls)

    @property
    def rendered(self) -> serveract.Result:
        """The outcome of the form the app last rendered (by a ``GET``)."""
        assert self.calls, "the app rendered nothing"
        seen = self.calls[-1]
        assert seen.method == "GET" and seen.result is not None, seen
        return seen.result

    def call(self, name: str, body: Any = None, **options: Any) -> Response:
        """A header call for ``name`` with ``body`` as JSON (none if ``None``);
        ``options`` as for :meth:`send`."""
        data = b"" if body is None else json.dumps(body).encode()
        return self.send(data, JSON, action=name, **options)

    def form(self, fields: Iterable[tuple[str, str]], **options: Any) -> Response:
        """A form posted without JavaScript: urlencoded, no action header."""
        return self.send(urlencode(list(fields)).encode(), FORM, **options)

    def send(
        self,
        body: bytes = b"",
        content_type: str | None = None,
        *,
        action: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        status: int | str | None = None,
        **environ: Any,
    ) -> Response:
        """Any request, built by :func:`environ_for` (``environ`` are its
        keyword arguments); ``action`` is sent as the ``Serveract-Action``
        header; ``status`` is the one expected, as in WebTest (``None``: any
        2xx or 3xx, ``"*"``: any)."""
        headers = dict(headers or {})
        if action is not None:
            headers["Serveract-Action"] = action
        environ.setdefault("host", self.host)
        request = Request(environ_for(method, body, content_type, headers, **environ))
        return typing.cast("Response", self.do_request(request, status=status))

    def do_request(
        self, req: Any, status: Any = None, expect_errors: Any = None
    ) -> Any:
        with no_file_left_open():
            return super().do_request(req, status, expect_errors)

    def serve(
        self, environ: dict[str, Any], status: int | str | None = None
    ) -> Response:
        """``environ`` exactly as given, straight to the middleware, even one
        WebTest would refuse to send (no host, no scheme)."""
        with no_file_left_open():
            response = Request(environ).get_response(self.app, catch_exc_info=True)
            response.body  # noqa: B018 - reads and closes the answer
        self._check_status(status, response)
        return typing.cast("Response", response)


def open_files() -> int:
    """How many files this process holds open right now: sockets and pipes
    do not count, nor ``/proc/self/fd``, which another thread may be listing."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since
            target = os.readlink(f"/proc/self/fd/{fd}")
            count += target.startswith("/") and not target.endswith("/fd")
    return count


@contextlib.contextmanager
def no_file_left_open() -> Iterator[None]:
    """Fails if the block leaves a file open that it opened."""
    before = open_files()
    yield
    after = open_files()
    assert after <= before, f"{after - before} file(s) left open by the call"


# -- A real server ------------------------------------------------------------


@contextlib.contextmanager
def serving(app: Any, threads: int = 4) -> Iterator[str]:
    """Serve ``app`` with waitress on a free loopback port in a daemon thread;
    yields its base URL (``http://127.0.0.1:PORT``)."""
    server: Any = waitress.server.create_server(
        app, host="127.0.0.1", port=0, threads=threads, channel_timeout=20
    )
    stopping = threading.Event()

    def run() -> None:
        # waitress's own run() loops until its sockets are gone; closing them
        # from this thread while it waits in select() makes it fail (EBADF).
        # This loop stops first, then the sockets are closed.
        while not stopping.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stopping.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server thread did not stop"
        server.close()
        for channel in list(server._map.values()):  # keep-alive connections
            channel.close()
        server.task_dispatcher.shutdown()
