"""Benchmark serveract against hand-written WSGI and the usual frameworks.

Each case runs several implementations of the same work. They are called
round-robin (the starting one rotates every round) and each round yields one
time per request for every implementation and its ratio to the case's
baseline from that same round; the report gives the median of the rounds.
Every answer is checked (status, decoded values, exact bytes for
pass-through) and a wrong answer fails the run whatever the timings.

In process, each request is a fresh environ (as waitress builds one) given
straight to the WSGI callable, timed with ``time.perf_counter_ns`` over
thousands of calls per sample; the garbage collector runs before every
sample and stays on while timing, so each implementation pays for its own
garbage. The cost of the harness alone (fresh environ, call, answer) is timed
in the same rounds and reported as the case's floor. ``--server`` puts the
same apps behind waitress on 127.0.0.1 (one child process, a server and a
port per app) and loads them with ``wrk`` over one keep-alive connection,
each round forward and back.

Usage::

    python bench/bench_serveract.py              # in-process cases 1-5
    python bench/bench_serveract.py --server     # waitress on 127.0.0.1 (case 6)
    python bench/bench_serveract.py --all --json report.json
    python bench/bench_serveract.py --quick --all   # short smoke, answers checked

To compare a changed serveract.py with the working tree's, run the same
command with ``BENCH_SERVERACT_DIR=/dir/holding/the/other/copy`` set.

It needs the ``bench`` extra (``pip install -e '.[bench]'``: Flask, Bottle,
Pyramid, Falcon, waitress; WebOb comes with serveract) and, for the server
mode, ``wrk`` if present (else a bounded Python client). It installs nothing.
The exit status is 1 when an answer was wrong, 0 otherwise (add
``--fail-on-miss`` to also fail on a missed target).
"""

from __future__ import annotations

import argparse
import gc
import html
import http.client
import inspect
import io
import json
import os
import platform
import random
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parent.parent
# The working tree's serveract.py; BENCH_SERVERACT_DIR names another
# directory holding one (to compare two versions), and children inherit it.
SERVERACT_DIR = Path(os.environ.get("BENCH_SERVERACT_DIR") or ROOT)
if not (SERVERACT_DIR / "serveract.py").is_file():
    sys.exit(f"bench: no serveract.py in {SERVERACT_DIR}")
sys.path.insert(0, str(SERVERACT_DIR))

try:
    import bottle
    import falcon
    import flask
    import pyramid.config
    import pyramid.httpexceptions
    import waitress
    import webob

    import serveract
except ImportError as exc:  # pragma: no cover - a setup problem, said plainly
    sys.exit(f"bench: {exc}; install the bench extra: pip install -e '.[bench]'")

Environ = dict[str, Any]
Headers = list[tuple[str, str]]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# time.perf_counter_ns; --clock cpu swaps in time.thread_time_ns, which a
# noisy machine's other processes cannot inflate (they can still evict caches).
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
clock = CLOCKS["wall"]
MAX_BODY = 1024 * 1024  # serveract's default max_body_size, used by every impl
SECRET = "bench-secret-not-for-production"
FORWARD = "forwarding middleware (reference)"
PEEK = "peek-and-rewind middleware (reference)"
CASE_IDS = (
    "json_call",
    "form_call",
    "passthrough_get",
    "passthrough_get_flask",
    "passthrough_form",
    "passthrough_upload",
    "too_large",
    "server",
)


# ---------------------------------------------------------------- the work


def create_user(name: str, email: str, age: int) -> dict[str, object]:
    """The function every implementation ends up calling."""
    return {"id": 1000 + age, "name": name, "email": email.lower(), "age": age}


USER_ARGS = {"name": "Ada Lovelace", "email": "Ada@Example.com", "age": 36}
USER = create_user(**USER_ARGS)  # type: ignore[arg-type]


def user_args(data: object) -> tuple[str, str, int] | None:
    """The hand-written check: exactly these three fields with these types."""
    if type(data) is not dict or len(data) != 3:
        return None
    name = data.get("name")
    email = data.get("email")
    age = data.get("age")
    if (
        isinstance(name, str)
        and isinstance(email, str)
        and isinstance(age, int)
        and not isinstance(age, bool)
    ):
        return name, email, age
    return None


SIGNUP_FORM = (
    '<form method="post"><input type="hidden" name="$action" value="create_user">'
    '<input name="name"><input name="email"><input name="age" type="number">'
    "<button>Sign up</button></form>"
)


def signup_page(value: dict[str, object] | None, error: object) -> bytes:
    """The page both form implementations render after the call."""
    if value is not None:
        outcome = "<p>Welcome, {} &lt;{}&gt; (#{}, {})</p>".format(
            *(html.escape(str(value[key])) for key in ("name", "email", "id", "age"))
        )
    elif error is not None:
        outcome = f'<p class="error">{html.escape(str(error))}</p>'
    else:
        outcome = ""
    page = f"<!doctype html><title>Sign up</title>{outcome}{SIGNUP_FORM}"
    return page.encode("utf-8")


HELLO = b"Hello, world!\n"
UPLOAD_SIZE = 2 * 1024 * 1024
UPLOAD_DATA = random.Random(6).randbytes(UPLOAD_SIZE)


# ---------------------------------------------------------------- requests


def _environ_template(
    method: str, path: str, headers: dict[str, str], body_length: int | None
) -> Environ:
    """What a server such as waitress hands the app, minus wsgi.input."""
    environ: Environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_HOST": "127.0.0.1",
        "REMOTE_PORT": "50123",
        "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    if body_length is not None:
        environ["CONTENT_LENGTH"] = str(body_length)
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = value
    return environ


# A browser's fetch() or form POST to its own origin sends these.
SAME_ORIGIN = {
    "Origin": "http://127.0.0.1:8080",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "cors",
}


def request(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    stream: Callable[[], Any] | None = None,
) -> Callable[[], Environ]:
    """A factory of fresh environs for one request, each with its own input."""
    template = _environ_template(
        method, path, headers or {}, len(body) if method != "GET" else None
    )
    if stream is None:

        def stream() -> Any:
            return io.BytesIO(body)

    def make() -> Environ:
        environ = template.copy()
        environ["wsgi.input"] = stream()
        return environ

    return make


def multipart(fields: list[tuple[str, str | tuple[str, bytes]]]) -> tuple[str, bytes]:
    """Encode ``fields`` as multipart/form-data; a tuple value is a file."""
    boundary = "----benchboundary7MA4YWxkTrZu0gW"
    parts = []
    for name, value in fields:
        if isinstance(value, tuple):
            filename, data = value
            head = (
                f'Content-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream'
            )
        else:
            head, data = (
                f'Content-Disposition: form-data; name="{name}"',
                value.encode(),
            )
        parts.append(f"--{boundary}\r\n{head}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


JSON_BODY = json.dumps(USER_ARGS).encode()
JSON_HEADERS = {
    **SAME_ORIGIN,
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Serveract-Action": "create_user",  # only serveract looks at it
}
FORM_FIELDS = {"name": "Ada Lovelace", "email": "Ada@Example.com", "age": "36"}
FORM_CALL_BODY = urlencode({"$action": "create_user", **FORM_FIELDS}).encode()
FORM_HEADERS = {
    **SAME_ORIGIN,
    "Sec-Fetch-Mode": "navigate",
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "text/html",
}
PLAIN_FORM_BODY = urlencode({**FORM_FIELDS, "note": "no action here"}).encode()
UPLOAD_TYPE, UPLOAD_BODY = multipart(
    [("title", "holiday"), ("upload", ("data.bin", UPLOAD_DATA))]
)
GET_HEADERS = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def file_stream(body: bytes) -> Callable[[], Any]:
    """Inputs that copy on read, like waitress's spooled body file.

    ``BytesIO(body).read()`` of the whole body returns ``body`` itself, with
    no copy, which no server does; the buffered reader makes every read copy.
    """

    def stream() -> Any:
        return io.BufferedReader(io.BytesIO(body))

    return stream


class CountingInput:
    """A ``wsgi.input`` that counts, in ``reads``, every attempt to read it."""

    def __init__(self, reads: list[int]) -> None:
        self.reads = reads

    def read(self, size: int = -1) -> bytes:
        self.reads[0] += 1
        return b""

    def readline(self, size: int = -1) -> bytes:
        self.reads[0] += 1
        return b""

    def readlines(self, hint: int = -1) -> list[bytes]:
        self.reads[0] += 1
        return []

    def __iter__(self) -> Any:
        self.reads[0] += 1
        return iter(())


# ---------------------------------------------------------------- apps


def _respond(
    start_response: StartResponse, status: str, content_type: str, body: bytes
) -> list[bytes]:
    start_response(
        status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    )
    return [body]


def _json_error(start_response: StartResponse, status: str) -> list[bytes]:
    body = b'{"error": "%s"}' % status.encode()
    return _respond(start_response, status, "application/json", body)


def raw_create_user(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Hand-written WSGI: read, json.loads, check, call, json.dumps."""
    if environ["REQUEST_METHOD"] != "POST":
        return _json_error(start_response, "405 Method Not Allowed")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _json_error(start_response, "400 Bad Request")
    if length > MAX_BODY:
        return _json_error(start_response, "413 Content Too Large")
    try:
        data = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        return _json_error(start_response, "400 Bad Request")
    args = user_args(data)
    if args is None:
        return _json_error(start_response, "422 Unprocessable Content")
    body = json.dumps(create_user(*args)).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


_SIGNATURE = inspect.signature(create_user)
_HINTS = {
    name: hint
    for name, hint in typing.get_type_hints(create_user).items()
    if name != "return"
}


def raw_bind_create_user(
    environ: Environ, start_response: StartResponse
) -> list[bytes]:
    """Hand-written WSGI that binds by signature: Signature.bind + isinstance."""
    if environ["REQUEST_METHOD"] != "POST":
        return _json_error(start_response, "405 Method Not Allowed")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _json_error(start_response, "400 Bad Request")
    if length > MAX_BODY:
        return _json_error(start_response, "413 Content Too Large")
    try:
        data = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        return _json_error(start_response, "400 Bad Request")
    try:
        if isinstance(data, dict):
            bound = _SIGNATURE.bind(**data)
        elif isinstance(data, list):
            bound = _SIGNATURE.bind(*data)
        else:
            raise TypeError("not arguments")
    except TypeError:
        return _json_error(start_response, "422 Unprocessable Content")
    for name, value in bound.arguments.items():
        hint = _HINTS[name]
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            return _json_error(start_response, "422 Unprocessable Content")
    body = json.dumps(create_user(*bound.args, **bound.kwargs)).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class FalconUsers:
    """A Falcon resource."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        args = user_args(req.get_media())
        if args is None:
            raise falcon.HTTPUnprocessableEntity()
        resp.media = create_user(*args)
        resp.cache_control = ["no-store"]


def make_falcon() -> WSGIApp:
    app = falcon.App()
    app.add_route("/create_user", FalconUsers())
    return app  # type: ignore[return-value]


def make_bottle() -> WSGIApp:
    app = bottle.Bottle()

    @app.post("/create_user")  # type: ignore[untyped-decorator]
    def bottle_create_user() -> dict[str, object]:
        args = user_args(bottle.request.json)
        if args is None:
            raise bottle.HTTPError(422, "bad arguments")
        bottle.response.set_header("Cache-Control", "no-store")
        return create_user(*args)

    return app  # type: ignore[no-any-return]


def webob_create_user(environ: Environ, start_response: StartResponse) -> Any:
    """A WebOb Request/Response handler."""
    req = webob.Request(environ)
    if req.method != "POST":
        return webob.Response(status=405)(environ, start_response)
    if (req.content_length or 0) > MAX_BODY:
        return webob.Response(status=413)(environ, start_response)
    try:
        args = user_args(req.json)
    except ValueError:
        return webob.Response(status=400)(environ, start_response)
    if args is None:
        return webob.Response(status=422)(environ, start_response)
    resp = webob.Response(json=create_user(*args), cache_control="no-store")
    return resp(environ, start_response)


def make_pyramid() -> WSGIApp:
    def pyramid_create_user(request: Any) -> dict[str, object]:
        try:
            args = user_args(request.json_body)
        except ValueError:
            raise pyramid.httpexceptions.HTTPBadRequest() from None
        if args is None:
            raise pyramid.httpexceptions.HTTPUnprocessableEntity()
        request.response.cache_control = "no-store"
        return create_user(*args)

    config = pyramid.config.Configurator()
    config.add_route("create_user", "/create_user", request_method="POST")
    config.add_view(pyramid_create_user, route_name="create_user", renderer="json")
    return config.make_wsgi_app()  # type: ignore[no-any-return]


def make_flask() -> WSGIApp:
    app = flask.Flask("bench_flask_json")

    @app.post("/create_user")
    def flask_create_user() -> Any:
        args = user_args(flask.request.get_json())
        if args is None:
            flask.abort(422)
        resp = flask.jsonify(create_user(*args))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return app


def make_flask_hello() -> WSGIApp:
    app = flask.Flask("bench_flask_hello")

    @app.get("/")
    def hello() -> str:
        return "Hello, world!"

    return app


def null_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """No work at all: times the harness (fresh environ, call, answer)."""
    start_response("204 No Content", [])
    return [b""]


def not_found(environ: Environ, start_response: StartResponse) -> list[bytes]:
    return _respond(start_response, "404 Not Found", "text/plain", b"not found\n")


def hello_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    return _respond(start_response, "200 OK", "text/plain; charset=utf-8", HELLO)


def echo_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Answers with the request body it read."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return _respond(start_response, "200 OK", "application/octet-stream", body)


class UploadApp:
    """Reads the whole body, keeps it for the check, answers with its size."""

    def __init__(self) -> None:
        self.received: bytes | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.received = environ["wsgi.input"].read(length)
        answer = b"%d bytes" % len(self.received)
        return _respond(start_response, "200 OK", "text/plain", answer)


class SignupPage:
    """The page serveract re-renders after a no-JS form call."""

    def __init__(self) -> None:
        self.method: str | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        self.method = environ["REQUEST_METHOD"]
        outcome = serveract.result(environ)
        if outcome is None:
            page = signup_page(None, None)
        elif outcome.ok:
            page = signup_page(outcome.value, None)
        else:
            page = signup_page(None, outcome.error)
        return _respond(start_response, "200 OK", "text/html; charset=utf-8", page)


def raw_signup(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Hand-written form handler: parse_qsl, int(), call, render."""
    value = error = None
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return _respond(start_response, "413 Content Too Large", "text/plain", b"")
        body = environ["wsgi.input"].read(length).decode("latin-1")
        fields = dict(parse_qsl(body, keep_blank_values=True))
        if fields.get("$action") == "create_user":
            try:
                value = create_user(fields["name"], fields["email"], int(fields["age"]))
            except (KeyError, ValueError) as exc:
                error = exc
    page = signup_page(value, error)
    return _respond(start_response, "200 OK", "text/html; charset=utf-8", page)


class Forward:
    """The least any middleware costs: a ``__call__`` that only delegates."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        return self.app(environ, start_response)


class PeekRewind(Forward):
    """The least a middleware finding form calls in the body can do for a
    small form POST: read it, look for the field, wind the input back. No
    chunked bodies, no multipart, no Content-Length checks: a floor, not a
    usable middleware."""

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        if environ["CONTENT_TYPE"] == "application/x-www-form-urlencoded":
            stream = environ["wsgi.input"]
            start = stream.tell()
            head = stream.read(int(environ["CONTENT_LENGTH"]))
            if b"%24action=" in head:
                raise AssertionError("this reference passes everything through")
            stream.seek(start)
        return self.app(environ, start_response)


def make_registry() -> serveract.Registry:
    registry = serveract.Registry()
    registry.action(create_user)
    return registry


def wrap(app: WSGIApp, registry: serveract.Registry) -> WSGIApp:
    return serveract.ServerActions(app, registry, secret=SECRET)


def site(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The raw WSGI site of the server mode: the JSON endpoint and a page."""
    if environ["PATH_INFO"] == "/create_user":
        return raw_create_user(environ, start_response)
    return hello_app(environ, start_response)


# ---------------------------------------------------------------- checks

Check = Callable[[str, Headers, bytes], list[str]]


def _header(headers: Headers, name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def expect_json(code: int, value: object, *, no_store: bool = False) -> Check:
    def check(status: str, headers: Headers, body: bytes) -> list[str]:
        problems = []
        if not status.startswith(f"{code} "):
            problems.append(f"status {status!r}, expected {code}")
        content_type = (_header(headers, "Content-Type") or "").lower()
        if not content_type.startswith("application/json"):
            problems.append(f"Content-Type {content_type!r}")
        try:
            decoded = json.loads(body)
        except ValueError:
            problems.append(f"body is not JSON: {body[:80]!r}")
        else:
            if callable(value):
                problems.extend(value(decoded))
            elif decoded != value:
                problems.append(f"decoded {decoded!r}, expected {value!r}")
        if no_store and _header(headers, "Cache-Control") != "no-store":
            problems.append(f"Cache-Control {_header(headers, 'Cache-Control')!r}")
        return problems

    return check


def expect_exact(want_status: str, want_headers: Headers | None, want: bytes) -> Check:
    def check(status: str, headers: Headers, body: bytes) -> list[str]:
        problems = []
        if status != want_status:
            problems.append(f"status {status!r}, expected {want_status!r}")
        if want_headers is not None and list(headers) != list(want_headers):
            problems.append(f"headers {headers!r}, expected {want_headers!r}")
        if body != want:
            problems.append(f"body {body[:60]!r}... ({len(body)} bytes) differs")
        return problems

    return check


def error_body(decoded: object) -> list[str]:
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(error, dict) or not {"type", "message"} <= error.keys():
        return [f"not the spec's error body: {decoded!r}"]
    return []


# ---------------------------------------------------------------- in-process


def _no_write(data: bytes) -> None:
    raise AssertionError("the write() callable is not used by these apps")


def call(app: WSGIApp, environ: Environ) -> tuple[str, Headers, bytes]:
    """Call a WSGI app once the way a server does, returning the answer."""
    answer: list[Any] = []

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
        answer[:] = [status, headers]
        return _no_write

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
    return answer[0], answer[1], body


@dataclass
class Impl:
    """One implementation of a case and what the run learnt about it."""

    name: str
    app: WSGIApp
    make_environ: Callable[[], Environ]
    check: Check
    after: Callable[[], list[str]] | None = None  # side effects of the last call
    batch: int = 64
    calls: int = 0
    times: list[float | None] = field(default_factory=list)  # ns/request per round
    answers: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        if problem in self.failures:
            return
        if len(self.failures) < 5:
            self.failures.append(problem)
        elif len(self.failures) == 5:
            self.failures.append("(further failures not kept)")

    def sample(self, calls: int) -> float:
        """Time ``calls`` requests; returns ns per request. Checks every answer.

        Each request gets a fresh environ, built inside the timed loop as a
        server builds one per request (its cost is reported apart, as the
        case's harness floor). The first answer is checked in full and
        untimed; the timed ones must equal it byte for byte.
        """
        status, headers, body = call(self.app, self.make_environ())
        problems = self.check(status, headers, body)
        if self.after is not None:
            problems += self.after()
        for problem in problems:
            self.fail(problem)
        self.answers += 1
        app = self.app
        make_environ = self.make_environ
        state: list[Any] = [None]

        def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
            state[0] = status
            return _no_write

        elapsed = 0
        left = calls
        while left > 0:
            size = min(self.batch, left)
            left -= size
            answers: list[tuple[str, bytes]] = []
            append = answers.append
            start = clock()
            for _ in range(size):
                iterable = app(make_environ(), start_response)
                try:
                    answer = b"".join(iterable)  # may call start_response
                    append((state[0], answer))
                finally:
                    if hasattr(iterable, "close"):
                        iterable.close()
            elapsed += clock() - start
            for answer_status, answer_body in answers:
                if answer_status != status or answer_body != body:
                    self.fail(f"answer differs: {answer_status} {answer_body[:60]!r}")
            self.answers += size
            del answers
        if self.after is not None:
            for problem in self.after():
                self.fail(problem)
        return elapsed / calls


@dataclass
class Target:
    """A figure the issue asks for, and what this run measured."""

    description: str
    op: str  # "<=", "<", ">="
    limit: float
    unit: str = "x"
    measured: float | None = None

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        if self.op == "<=":
            return self.measured <= self.limit
        if self.op == "<":
            return self.measured < self.limit
        return self.measured >= self.limit


@dataclass
class Case:
    id: str
    title: str
    impls: list[Impl]
    targets: list[Target] = field(default_factory=list)
    # (target index, measure): how each target is computed once timed
    measures: list[tuple[int, Callable[[Case], float | None]]] = field(
        default_factory=list
    )
    extra: dict[str, Any] = field(default_factory=dict)
    unit: str = "us"
    floor: Impl | None = None  # the harness alone, timed in the same rounds

    @property
    def baseline(self) -> Impl:
        return self.impls[0]

    def impl(self, name: str) -> Impl:
        return next(impl for impl in self.impls if impl.name == name)

    def target(self, target: Target, measure: Callable[[Case], float | None]) -> None:
        self.targets.append(target)
        self.measures.append((len(self.targets) - 1, measure))

    @property
    def checks_passed(self) -> bool:
        return all(not impl.failures and impl.answers for impl in self.impls)


def ratios(a: Impl, b: Impl) -> list[float]:
    """a's time over b's, one per round in which both ran."""
    pairs = zip(a.times, b.times, strict=True)
    return [x / y for x, y in pairs if x is not None and y]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: Impl, b: Impl) -> float | None:
    return median(ratios(a, b))


def quartiles(values: list[float]) -> list[float] | None:
    if len(values) < 2:
        return None
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def ratio_to_baseline(name: str) -> Callable[[Case], float | None]:
    return lambda case: ratio(case.impl(name), case.baseline)


def run_case(case: Case, rounds: int, sample_ns: float, min_calls: int) -> None:
    """Calibrate, then time the case's implementations round-robin."""
    base = case.baseline
    case.floor = Impl("harness floor", null_app, base.make_environ, lambda *a: [])
    case.floor.batch = base.batch
    impls = [*case.impls, case.floor]
    live = []
    for impl in impls:
        try:
            per_call = impl.sample(1)  # warm-up and first full check
            while per_call * max(impl.calls, 1) < sample_ns / 8:
                impl.calls = max(impl.calls * 4, 4)
                per_call = impl.sample(impl.calls)
            impl.calls = max(min_calls, int(sample_ns / max(per_call, 1.0)))
            live.append(impl)
        except Exception:  # report a crashing implementation, keep the others
            impl.fail(traceback.format_exc(limit=-3))
    for number in range(rounds):
        shift = number % len(impls)
        for impl in impls[shift:] + impls[:shift]:
            if impl not in live:
                impl.times.append(None)
                continue
            gc.collect()
            try:
                impl.times.append(impl.sample(impl.calls))
            except Exception:
                impl.fail(traceback.format_exc(limit=-3))
                impl.times.append(None)
                live.remove(impl)


def peak_memory(impl: Impl, received: UploadApp) -> int:
    """Peak bytes allocated while answering one request (tracemalloc)."""
    environ = impl.make_environ()
    received.received = None
    gc.collect()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    status, headers, body = call(impl.app, environ)
    peak = tracemalloc.get_traced_memory()[1] - before
    for problem in impl.check(status, headers, body) + (impl.after or list)():
        impl.fail(problem)
    impl.answers += 1
    return peak


# ---------------------------------------------------------------- the cases


def build_cases() -> list[Case]:
    registry = make_registry()
    cases = []

    # 1. JSON call
    json_request = request("POST", "/create_user", JSON_HEADERS, JSON_BODY)
    ok = expect_json(200, USER)
    impls = [
        Impl("raw WSGI", raw_create_user, json_request, ok),
        Impl("raw WSGI + Signature.bind", raw_bind_create_user, json_request, ok),
        Impl("Falcon", make_falcon(), json_request, ok),
        Impl("Bottle", make_bottle(), json_request, ok),
        Impl("WebOb", webob_create_user, json_request, ok),
        Impl("Pyramid", make_pyramid(), json_request, ok),
        Impl("Flask", make_flask(), json_request, ok),
        Impl(
            "serveract",
            wrap(not_found, registry),
            json_request,
            expect_json(200, USER, no_store=True),
        ),
    ]
    case = Case("json_call", "1 JSON call create_user(name, email, age)", impls)
    case.target(
        Target("serveract / raw WSGI", "<=", 1.5), ratio_to_baseline("serveract")
    )
    case.target(
        Target("serveract / Falcon", "<", 1.0),
        lambda case: ratio(case.impl("serveract"), case.impl("Falcon")),
    )
    case.target(
        Target("Flask / serveract", ">=", 10.0),
        lambda case: ratio(case.impl("Flask"), case.impl("serveract")),
    )
    cases.append(case)

    # 2. No-JS form call
    form_request = request("POST", "/signup", FORM_HEADERS, FORM_CALL_BODY)
    page = expect_exact(
        "200 OK",
        None,
        signup_page(create_user(**USER_ARGS), None),  # type: ignore[arg-type]
    )
    signup = SignupPage()

    def rerendered_as_get() -> list[str]:
        if signup.method != "GET":
            return [f"the page was rendered for {signup.method}, expected GET"]
        return []

    case = Case(
        "form_call",
        "2 no-JS form call, re-rendered",
        [
            Impl("parse_qsl + int()", raw_signup, form_request, page),
            Impl(
                "serveract form call",
                wrap(signup, registry),
                form_request,
                page,
                after=rerendered_as_get,
            ),
        ],
    )
    case.target(
        Target("serveract / hand-written", "<=", 1.5),
        ratio_to_baseline("serveract form call"),
    )
    cases.append(case)

    # 3. Pass-through GET
    for case_id, title, bare, limit in (
        ("passthrough_get", "3 pass-through GET, trivial app", hello_app, 1.15),
        (
            "passthrough_get_flask",
            "3 pass-through GET, Flask",
            make_flask_hello(),
            1.02,
        ),
    ):
        get = request("GET", "/", GET_HEADERS)
        status, headers, body = call(bare, get())
        same = expect_exact(status, headers, body)
        if b"Hello, world!" not in body:
            raise AssertionError(f"the bare app answers {body!r}")
        case = Case(
            case_id,
            title,
            [
                Impl("bare", bare, get, same),
                Impl("serveract-wrapped", wrap(bare, registry), get, same),
            ],
        )
        if bare is hello_app:
            case.impls.append(Impl(FORWARD, Forward(bare), get, same))
        case.target(
            Target("wrapped / bare", "<=", limit),
            ratio_to_baseline("serveract-wrapped"),
        )
        cases.append(case)

    # 4. Pass-through form POSTs without $action
    post = request("POST", "/comment", FORM_HEADERS, PLAIN_FORM_BODY)
    echoed = expect_exact(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(PLAIN_FORM_BODY))),
        ],
        PLAIN_FORM_BODY,
    )
    case = Case(
        "passthrough_form",
        "4 pass-through POST, small urlencoded",
        [
            Impl("bare", echo_app, post, echoed),
            Impl("serveract-wrapped", wrap(echo_app, registry), post, echoed),
            Impl(FORWARD, Forward(echo_app), post, echoed),
            Impl(PEEK, PeekRewind(echo_app), post, echoed),
        ],
    )
    case.target(
        Target("wrapped / bare", "<=", 1.3), ratio_to_baseline("serveract-wrapped")
    )
    cases.append(case)

    upload = UploadApp()
    upload_request = request(
        "POST",
        "/upload",
        {**SAME_ORIGIN, "Sec-Fetch-Mode": "navigate", "Content-Type": UPLOAD_TYPE},
        UPLOAD_BODY,
        stream=file_stream(UPLOAD_BODY),
    )
    size_answer = b"%d bytes" % len(UPLOAD_BODY)
    stored = expect_exact(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(size_answer)))],
        size_answer,
    )

    def got_identical_bytes() -> list[str]:
        if upload.received != UPLOAD_BODY:
            got = upload.received
            return [f"the app read {len(got) if got is not None else None} other bytes"]
        return []

    case = Case(
        "passthrough_upload",
        "4 pass-through POST, 2 MiB multipart",
        [
            Impl("bare", upload, upload_request, stored, got_identical_bytes, batch=4),
            Impl(
                "serveract-wrapped",
                wrap(upload, registry),
                upload_request,
                stored,
                got_identical_bytes,
                batch=4,
            ),
        ],
    )
    case.target(
        Target("wrapped / bare", "<=", 1.1), ratio_to_baseline("serveract-wrapped")
    )
    case.target(
        Target("extra peak memory", "<", 64 * 1024, unit="B"),
        lambda case: case.extra.get("extra_peak_bytes"),
    )
    case.extra["upload"] = upload
    cases.append(case)

    # 5. 413 before reading
    reads = {"raw WSGI": [0], "serveract": [0]}

    def oversized(name: str) -> Callable[[], Environ]:
        headers = {**JSON_HEADERS, "Content-Length": str(MAX_BODY * 8)}
        return request(
            "POST", "/create_user", headers, stream=lambda: CountingInput(reads[name])
        )

    def never_read(name: str) -> Callable[[], list[str]]:
        def check() -> list[str]:
            count = reads[name][0]
            return [f"wsgi.input was read {count} times"] if count else []

        return check

    raw_413 = expect_json(413, {"error": "413 Content Too Large"})
    refused = expect_json(413, error_body, no_store=True)
    case = Case(
        "too_large",
        "5 413 for Content-Length > max_body_size",
        [
            Impl(
                "raw WSGI",
                raw_create_user,
                oversized("raw WSGI"),
                raw_413,
                never_read("raw WSGI"),
            ),
            Impl(
                "serveract",
                wrap(not_found, registry),
                oversized("serveract"),
                refused,
                never_read("serveract"),
            ),
        ],
    )
    case.target(
        Target("reads of wsgi.input", "<=", 0, unit=""),
        lambda case: (
            float(reads["serveract"][0]) if case.impl("serveract").answers else None
        ),
    )
    cases.append(case)
    return cases


def run_in_process(
    cases: list[Case],
    rounds: int,
    sample_ns: float,
    min_calls: int,
    log: Callable[[str], None],
) -> None:
    gc.collect()
    gc.freeze()  # setup objects stay out of every later collection
    for case in cases:
        log(f"{case.title} ...")
        run_case(case, rounds, sample_ns, min_calls)
        if case.id == "passthrough_upload":
            upload = case.extra["upload"]
            peaks: dict[str, list[int]] = {impl.name: [] for impl in case.impls}
            tracemalloc.start()
            try:
                for _ in range(max(3, min(rounds, 7))):
                    for impl in case.impls:
                        peaks[impl.name].append(peak_memory(impl, upload))
            finally:
                tracemalloc.stop()
            bare, wrapped = (statistics.median(peaks[impl.name]) for impl in case.impls)
            case.extra["peak_bytes"] = {
                name: statistics.median(p) for name, p in peaks.items()
            }
            case.extra["extra_peak_bytes"] = wrapped - bare
            upload.received = None
        for index, measure in case.measures:
            case.targets[index].measured = measure(case)


# ---------------------------------------------------------------- server mode


def server_apps() -> dict[str, Callable[[], WSGIApp]]:
    return {
        "raw": lambda: site,
        "serveract": lambda: wrap(site, make_registry()),
        "falcon": make_falcon,
        "flask": make_flask,
    }


def serve(names: list[str], threads: int) -> None:
    """The child process of the server mode: each app under its own waitress
    server (own port, own worker threads), all in this one process, so that
    no app gains or loses by its process's memory layout or CPU placement."""
    import logging

    logging.getLogger("waitress").setLevel(logging.ERROR)
    ports = {}
    for name in names:
        server = waitress.create_server(
            server_apps()[name](), host="127.0.0.1", port=0, threads=threads
        )
        ports[name] = server.effective_port
        threading.Thread(target=server.run, daemon=True).start()
    print(json.dumps(ports), flush=True)
    sys.stdin.read()  # EOF when the parent goes away, however it ends
    os._exit(0)


class Server:
    """The waitress child process on 127.0.0.1, stopped by :meth:`stop`."""

    def __init__(self, names: list[str], threads: int) -> None:
        self.name = ",".join(names)
        # kept open while the child runs, closed by stop()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", self.name, "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline() if ready else b""
        try:
            self.ports: dict[str, int] = json.loads(line)
        except ValueError:
            self.stop()
            raise RuntimeError(f"servers did not start: {self.errors()}") from None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux)."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def errors(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@dataclass
class Load:
    """One kind of request sent to one server."""

    group: str
    name: str
    server: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    check: Check
    rps: list[float | None] = field(default_factory=list)
    cpu_us: list[float | None] = field(default_factory=list)  # server CPU/request
    requests: int = 0
    answers_checked: int = 0
    socket_errors: int = 0
    failures: list[str] = field(default_factory=list)
    expected: tuple[int, bytes] | None = None
    last_requests: int = 0


def server_loads(frameworks: bool) -> list[Load]:
    post_headers = {k: v for k, v in JSON_HEADERS.items() if k != "Serveract-Action"}
    ok = expect_json(200, USER)
    loads = [
        Load(
            "action",
            "raw WSGI",
            "raw",
            "POST",
            "/create_user",
            post_headers,
            JSON_BODY,
            ok,
        ),
        Load(
            "action",
            "serveract action",
            "serveract",
            "POST",
            "/create_user",
            JSON_HEADERS,
            JSON_BODY,
            expect_json(200, USER, no_store=True),
        ),
    ]
    if frameworks:
        loads += [
            Load(
                "action",
                "Falcon",
                "falcon",
                "POST",
                "/create_user",
                post_headers,
                JSON_BODY,
                ok,
            ),
            Load(
                "action",
                "Flask",
                "flask",
                "POST",
                "/create_user",
                post_headers,
                JSON_BODY,
                ok,
            ),
        ]
    hello = expect_exact("200 OK", None, HELLO)
    loads += [
        Load("passthrough", "raw WSGI", "raw", "GET", "/", GET_HEADERS, b"", hello),
        Load(
            "passthrough",
            "serveract pass-through",
            "serveract",
            "GET",
            "/",
            GET_HEADERS,
            b"",
            hello,
        ),
    ]
    return loads


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def wrk_script(load: Load, port: int) -> str:
    status, body = load.expected  # type: ignore[misc]
    lines = [f"wrk.method = {_lua_string(load.method.encode())}"]
    if load.body:
        lines.append(f"wrk.body = {_lua_string(load.body)}")
    for name, value in {**load.headers, "Host": f"127.0.0.1:{port}"}.items():
        if name == "Origin":
            value = f"http://127.0.0.1:{port}"
        lines.append(
            f"wrk.headers[{_lua_string(name.encode())}] = {_lua_string(value.encode())}"
        )
    lines += [
        f"local expected = {_lua_string(body)}",
        "local threads = {}",
        "function setup(thread) table.insert(threads, thread) end",
        "function init(args) good = 0 bad = 0 end",
        "function response(status, headers, body)",
        f"  if status == {status} and body == expected then good = good + 1"
        " else bad = bad + 1 end",
        "end",
        "function done(summary, latency, requests)",
        "  local g, b = 0, 0",
        "  for _, t in ipairs(threads) do",
        "    g = g + t:get('good') b = b + t:get('bad')",
        "  end",
        "  io.write(string.format('CHECKED good=%d bad=%d\\n', g, b))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def _send(
    port: int, load: Load, conn: http.client.HTTPConnection | None = None
) -> tuple[str, Headers, bytes]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(load.headers)
    if "Origin" in headers:
        headers["Origin"] = f"http://127.0.0.1:{port}"
    conn.request(load.method, load.path, body=load.body or None, headers=headers)
    response = conn.getresponse()
    status = f"{response.status} {response.reason}"
    return status, response.getheaders(), response.read()


def run_wrk(load: Load, port: int, seconds: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(load, port))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{load.path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        os.unlink(script.name)
    text = out.stdout + out.stderr
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    checked = re.search(r"CHECKED good=(\d+) bad=(\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if out.returncode or not rps or not checked or not total:
        raise RuntimeError(f"wrk failed ({out.returncode}): {text[-500:]}")
    good, bad = int(checked[1]), int(checked[2])
    load.requests += int(total[1])
    load.last_requests = int(total[1])
    load.answers_checked += good + bad
    if errors:
        load.socket_errors += sum(int(n) for n in errors.groups())
    if bad or not good:
        load.failures.append(f"wrk: {bad} wrong answers of {good + bad}")
    return float(rps[1])


def run_python_client(
    load: Load, port: int, seconds: float, connections: int, max_requests: int
) -> float:
    """A bounded keep-alive client: stops at the deadline or the request cap."""
    status, body = load.expected  # type: ignore[misc]
    deadline = time.perf_counter() + seconds
    per_connection = max(1, max_requests // connections)
    results: list[tuple[int, int]] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        good = bad = 0
        try:
            while good + bad < per_connection and time.perf_counter() < deadline:
                got_status, _, got_body = _send(port, load, conn)
                if int(got_status.split()[0]) == status and got_body == body:
                    good += 1
                else:
                    bad += 1
        finally:
            conn.close()
        results.append((good, bad))

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.perf_counter() - start
    good = sum(g for g, _ in results)
    bad = sum(b for _, b in results)
    load.requests += good + bad
    load.last_requests = good + bad
    load.answers_checked += good + bad
    if bad or not good or len(results) != connections:
        load.failures.append(f"client: {bad} wrong answers of {good + bad}")
    return good / elapsed


def run_load(
    load: Load,
    server: Server,
    client: str,
    seconds: float,
    connections: int,
    max_requests: int,
) -> None:
    """One timed run: appends its req/s and the server's CPU per request."""
    if load.failures:
        load.rps.append(None)
        load.cpu_us.append(None)
        return
    cpu_before = server.cpu_seconds()
    port = server.ports[load.server]
    try:
        if client == "wrk":
            rps = run_wrk(load, port, max(1, round(seconds)), connections)
        else:
            rps = run_python_client(load, port, seconds, connections, max_requests)
    except Exception:
        load.failures.append(traceback.format_exc(limit=-2))
        load.rps.append(None)
        load.cpu_us.append(None)
        return
    cpu_after = server.cpu_seconds()
    load.rps.append(rps)
    if cpu_before is None or cpu_after is None or not load.last_requests:
        load.cpu_us.append(None)
    else:
        load.cpu_us.append((cpu_after - cpu_before) * 1e6 / load.last_requests)


def run_server(
    loads: list[Load],
    rounds: int,
    seconds: float,
    connections: int,
    threads: int,
    client: str,
    max_requests: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    server = Server(list(dict.fromkeys(load.server for load in loads)), threads)
    try:
        for load in loads:
            status, headers, body = _send(server.ports[load.server], load)
            load.failures += load.check(status, headers, body)
            load.answers_checked += 1
            load.expected = (int(status.split()[0]), body)
        for load in loads:  # warm every server up, untimed (answers checked)
            if not load.failures:
                run_python_client(load, server.ports[load.server], 1.0, 1, 200)
        groups: dict[str, list[Load]] = {}
        for load in loads:
            groups.setdefault(load.group, []).append(load)
        for number in range(rounds):
            log(f"6 server, round {number + 1}/{rounds} ...")
            # A group's loads run back to back, then again in reverse order
            # (A B C C B A), and each load's round is the mean of its two
            # runs: a machine that slows down or speeds up during the round
            # moves every load alike. The first load rotates every round.
            for group in groups.values():
                shift = number % len(group)
                order = group[shift:] + group[:shift]
                for load in order + order[::-1]:
                    run_load(
                        load,
                        server,
                        client,
                        seconds,
                        connections,
                        max_requests,
                    )
                for load in group:
                    for runs in (load.rps, load.cpu_us):
                        first, second = runs.pop(), runs.pop()
                        if first is None or second is None:
                            runs.append(None)
                        else:
                            runs.append((first + second) / 2)
    finally:
        server.stop()
    if server.process.returncode not in (0, -15):
        code = server.process.returncode
        log(f"servers {server.name} exited with {code}: {server.errors()}")
    return {
        "client": client,
        "connections": connections,
        "server_threads": threads,
        "seconds": seconds,
    }


def server_case(loads: list[Load]) -> Case:
    """Fold the load runs into a Case so the report treats it like the others."""
    impls = []
    for load in loads:
        impl = Impl(f"{load.group}: {load.name}", site, dict, lambda *a: [])
        # store seconds per request (inverse throughput) so ratios stay "time"
        impl.times = [1e9 / rps if rps else None for rps in load.rps]
        impl.answers = load.answers_checked
        impl.failures = load.failures
        impls.append(impl)
    case = Case("server", "6 waitress on 127.0.0.1", impls, unit="rps")
    by_name = {f"{load.group}: {load.name}": load for load in loads}

    def rps_ratio(name: str, base: str) -> Callable[[Case], float | None]:
        return lambda case: ratio(case.impl(base), case.impl(name))

    case.target(
        Target("action req/s / raw WSGI req/s", ">=", 0.9),
        rps_ratio("action: serveract action", "action: raw WSGI"),
    )
    case.target(
        Target("pass-through req/s / raw req/s", ">=", 0.97),
        rps_ratio("passthrough: serveract pass-through", "passthrough: raw WSGI"),
    )
    for index, measure in case.measures:
        case.targets[index].measured = measure(case)
    # The server's CPU time per request, which other processes on a shared
    # machine disturb far less than req/s: base CPU / this CPU reads like a
    # req/s ratio on an otherwise idle machine.
    baselines: dict[str, Load] = {}
    for load in loads:
        baselines.setdefault(load.group, load)
    case.extra["loads"] = {}
    for name, load in by_name.items():
        base = baselines[load.group]
        pairs = zip(base.cpu_us, load.cpu_us, strict=True)
        case.extra["loads"][name] = {
            "requests": load.requests,
            "socket_errors": load.socket_errors,
            "server_cpu_us_per_request": median([c for c in load.cpu_us if c]),
            "cpu_ratio": median([b / c for b, c in pairs if b and c]),
        }
    return case


# ---------------------------------------------------------------- report


def baseline_for(case: Case, impl: Impl) -> Impl:
    if case.id == "server":
        group = impl.name.split(":")[0]
        return next(i for i in case.impls if i.name.startswith(group + ":"))
    return case.baseline


def describe(case: Case, impl: Impl) -> dict[str, Any]:
    times = [t for t in impl.times if t is not None]
    base = baseline_for(case, impl)
    per_round = ratios(impl, base)
    if case.unit == "rps":
        per_round = [1 / r for r in per_round]
    row: dict[str, Any] = {
        "name": impl.name,
        "baseline": base.name,
        "rounds": len(times),
        "answers_checked": impl.answers,
        "failures": impl.failures,
        "ratio": median(per_round),
        "ratio_quartiles": quartiles(per_round),
        "ratio_of_fastest_rounds": (
            min(t for t in impl.times if t) / min(t for t in base.times if t)
            if times and any(base.times)
            else None
        ),
    }
    if case.unit == "rps":
        row["median_rps"] = median([1e9 / t for t in times])
    else:
        middle = median(times)
        row["median_us"] = middle / 1000 if middle is not None else None
        row["calls_per_sample"] = impl.calls
        if case.floor is not None:
            # the same figures with the harness floor taken off both sides
            rounds = zip(impl.times, base.times, case.floor.times, strict=True)
            own = [(t - f, b - f) for t, b, f in rounds if t and b and f]
            row["overhead_vs_baseline_us"] = median([(t - b) / 1000 for t, b in own])
            row["ratio_app_only"] = median([t / b for t, b in own if b > 0])
    return row


def _fmt_target(target: Target) -> str:
    if target.unit == "B":
        return f"{target.op} {target.limit / 1024:.0f} KiB"
    if target.unit == "":
        return f"{target.op} {target.limit:g}"
    return f"{target.op} {target.limit:.2f}x"


def _fmt_measured(target: Target) -> str:
    if target.measured is None:
        return "-"
    if target.unit == "B":
        return f"{target.measured / 1024:+.1f} KiB"
    if target.unit == "":
        return f"{target.measured:g}"
    text = f"{target.measured:.2f}x"
    if text == f"{target.limit:.2f}x":  # a miss by less than the rounding
        text = f"{target.measured:.3f}x"
    return text


def verdict(target: Target, case: Case) -> str:
    if not case.checks_passed:
        return "FAIL"
    return {True: "PASS", False: "MISS", None: "n/a"}[target.met]


def table(cases: list[Case]) -> str:
    rows = [("case", "implementation", "median", "ratio", "target", "result")]
    for case in cases:
        first = True
        for impl in case.impls:
            info = describe(case, impl)
            if case.unit == "rps":
                value = info["median_rps"]
                shown = f"{value:,.0f} req/s" if value else "-"
            else:
                value = info["median_us"]
                shown = f"{value:,.2f} us" if value is not None else "-"
            result = "" if not impl.failures else "FAIL"
            ratio_text = f"{info['ratio']:.2f}x" if info["ratio"] is not None else "-"
            rows.append(
                (case.title if first else "", impl.name, shown, ratio_text, "", result)
            )
            first = False
        for target in case.targets:
            rows.append(
                (
                    "",
                    target.description,
                    "",
                    _fmt_measured(target),
                    _fmt_target(target),
                    verdict(target, case),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


TIMES = "\u00d7"


def rst_table(cases: list[Case], result: dict[str, Any]) -> str:
    """The table as a reST list-table, with the machine and command under it."""
    rows = [("case", "implementation", "median", "ratio", "target", "result")]
    for case in cases:
        first = True
        for impl in case.impls:
            info = describe(case, impl)
            if case.unit == "rps":
                value = info["median_rps"]
                shown = f"{value:,.0f} req/s" if value else "-"
            else:
                value = info["median_us"]
                shown = f"{value:,.1f} µs" if value is not None else "-"
            ratio_text = (
                f"{info['ratio']:.2f}{TIMES}" if info["ratio"] is not None else "-"
            )
            rows.append(
                (case.title if first else "", impl.name, shown, ratio_text, "", "")
            )
            first = False
        for target in case.targets:
            rows.append(
                (
                    "",
                    target.description,
                    "",
                    _fmt_measured(target).replace("x", TIMES),
                    _fmt_target(target)
                    .replace("x", TIMES)
                    .replace("<=", "≤")
                    .replace(">=", "≥"),
                    verdict(target, case),
                )
            )
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        for number, cell in enumerate(row):
            text = cell.replace("*", "\\*")
            lines.append(f"   {'* -' if number == 0 else '  -'} {text}".rstrip())
    info = result["machine"]
    settings = result["settings"]
    lines += [
        "",
        f"One run: {settings['command']} ({settings['duration_s']:.0f} s); "
        f"{info['cpu']}, {info['cpus']} CPUs, {info['python']}, "
        f"{info['platform']}; load average "
        f"{settings['loadavg']['start'][0]:.1f} at the start.",
    ]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in (
        "WebOb",
        "Flask",
        "Werkzeug",
        "bottle",
        "pyramid",
        "falcon",
        "waitress",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    versions["serveract"] = getattr(serveract, "__version__", None)
    versions["serveract_file"] = serveract.__file__
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [wrk, "--version"], capture_output=True, text=True, check=False
        )
        versions["wrk"] = (out.stdout + out.stderr).split("\n")[0].strip() or None
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions,
    }


def report(cases: list[Case], settings: dict[str, Any]) -> dict[str, Any]:
    out_cases = []
    for case in cases:
        out_cases.append(
            {
                "id": case.id,
                "title": case.title,
                "unit": "req/s" if case.unit == "rps" else "us/request",
                "checks_passed": case.checks_passed,
                "implementations": [describe(case, impl) for impl in case.impls],
                "harness_floor_us": (
                    median([t / 1000 for t in case.floor.times if t])
                    if case.floor is not None
                    else None
                ),
                "targets": [
                    {
                        "description": t.description,
                        "op": t.op,
                        "limit": t.limit,
                        "unit": t.unit,
                        "measured": t.measured,
                        "met": t.met,
                    }
                    for t in case.targets
                ],
                "extra": {k: v for k, v in case.extra.items() if k != "upload"},
            }
        )
    targets = [t for case in cases for t in case.targets]
    return {
        "benchmark": "serveract",
        "settings": settings,
        "machine": machine(),
        "cases": out_cases,
        "all_checks_passed": all(case.checks_passed for case in cases),
        "targets_met": sum(t.met is True for t in targets),
        "targets_missed": sum(t.met is False for t in targets),
    }


# ---------------------------------------------------------------- main


def measuring_command(argv: list[str]) -> str:
    """The command line that reproduces the figures (output paths left out)."""
    kept = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--rst"):
            skip = True
        elif not arg.startswith(("--json=", "--rst=")):
            kept.append(arg)
    return " ".join(["python", "bench/bench_serveract.py", *kept])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--server", action="store_true", help="only the waitress case")
    mode.add_argument("--all", action="store_true", help="in-process and waitress")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds (default 51, server 9, quick 3, server quick 1)",
    )
    parser.add_argument("--sample-ms", type=float, help="time per sample (default 5)")
    parser.add_argument(
        "--clock", choices=tuple(CLOCKS), default="wall", help="in-process timer"
    )
    parser.add_argument("--cases", help="comma-separated case ids to run (in-process)")
    parser.add_argument(
        "--json", metavar="PATH", help="write the report ('-' = stdout)"
    )
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--seconds", type=float, help="per load run (default 1)")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--max-requests", type=int, help="python client cap per run")
    parser.add_argument(
        "--no-frameworks", action="store_true", help="server: skip Falcon/Flask"
    )
    parser.add_argument("--rst", metavar="PATH", help="write the table as reST")
    parser.add_argument("--fail-on-miss", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve.split(","), args.threads)
        return 0

    out = sys.stderr if args.json == "-" else sys.stdout
    started = time.time()
    load_start = os.getloadavg()
    rounds = args.rounds or (3 if args.quick else 51)
    global clock
    clock = CLOCKS[args.clock]
    settings: dict[str, Any] = {
        "quick": args.quick,
        "rounds": rounds,
        "command": measuring_command(argv or sys.argv[1:]),
        "gc": "collected before each sample, enabled while timing, setup frozen",
    }

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    cases: list[Case] = []
    if not args.server:
        sample_ms = args.sample_ms or (1.0 if args.quick else 5.0)
        settings["sample_ms"] = sample_ms
        settings["clock"] = clock.__name__
        cases = build_cases()
        if args.cases:
            wanted = set(args.cases.split(","))
            if not wanted <= set(CASE_IDS):
                parser.error(f"--cases: known cases are {', '.join(CASE_IDS)}")
            cases = [case for case in cases if case.id in wanted]
        run_in_process(cases, rounds, sample_ms * 1e6, 2 if args.quick else 10, log)
    if args.server or args.all:
        client = args.client
        if client == "auto":
            client = "wrk" if shutil.which("wrk") else "python"
        seconds = args.seconds or 1.0
        max_requests = args.max_requests or (300 if args.quick else 200_000)
        server_rounds = args.rounds or (1 if args.quick else 9)
        loads = server_loads(frameworks=not (args.quick or args.no_frameworks))
        settings["server"] = run_server(
            loads,
            server_rounds,
            seconds,
            args.connections,
            args.threads,
            client,
            max_requests,
            log,
        )
        settings["server"]["rounds"] = server_rounds
        cases.append(server_case(loads))

    settings["duration_s"] = round(time.time() - started, 1)
    settings["loadavg"] = {"start": load_start, "end": os.getloadavg()}
    result = report(cases, settings)
    print(table(cases), file=out)
    for case in cases:
        for name, info in case.extra.get("loads", {}).items():
            if info["server_cpu_us_per_request"] is not None:
                print(
                    f"server CPU per request, {name}: "
                    f"{info['server_cpu_us_per_request']:,.0f} us "
                    f"(baseline CPU / this: {info['cpu_ratio']:.2f}x)",
                    file=out,
                )
    for case in cases:
        for impl in case.impls:
            for problem in impl.failures:
                print(f"FAILED {case.id} / {impl.name}: {problem}", file=out)
    answers = "all right" if result["all_checks_passed"] else "SOME WRONG"
    load_end = settings["loadavg"]["end"][0]
    print(
        f"answers checked: {answers}; targets met {result['targets_met']}, "
        f"missed {result['targets_missed']}; {settings['duration_s']} s, "
        f"load average {load_start[0]:.2f} -> {load_end:.2f}",
        file=out,
    )
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.rst:
        Path(args.rst).write_text(rst_table(cases, result), encoding="utf-8")
    if not result["all_checks_passed"]:
        return 1
    if args.fail_on_miss and result["targets_missed"]:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
