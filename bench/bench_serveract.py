"""Benchmark serveract against hand-written WSGI, Falcon and Flask.

Each implementation of a case runs in fresh processes, which hand every
request (a fresh environ) to the WSGI callable and check every answer: the
first in full, the others against it. The figure is the median wall-clock
time per request or, with ``--instructions``, the instructions per request
under callgrind, which repeat where wall-clock ratios move by 10-50 %: two
processes serve n₁ and n₂ requests, and start-up cancels in
(total₂ - total₁) / (n₂ - n₁). See docs/guides/performance.rst.

Every implementation ends up calling create_user(), or serving the same page
or bytes. Falcon and Flask are imported by the functions that build their
apps, so that a process measuring one app loads no other.
"""

from __future__ import annotations

import argparse
import functools
import gc
import html
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

# The checkout's serveract.py, or BENCH_SERVERACT_DIR's (children inherit it).
SERVERACT_DIR = Path(os.environ.get("BENCH_SERVERACT_DIR") or Path(__file__).parents[1])
if not (SERVERACT_DIR / "serveract.py").is_file():
    sys.exit(f"bench: no serveract.py in {SERVERACT_DIR}")
sys.path.insert(0, str(SERVERACT_DIR))

import serveract  # noqa: E402

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Any], Iterable[bytes]]
MAX_BODY = 1 << 20  # serveract's default max_body_size, kept by every app
SECRET = "bench-secret-not-for-production"

LIMIT, X = "1000000/second", "\u00d7"
HEADER, FORWARD, PLAIN = "serveract header call", "do-nothing middleware", "plain"
CRAFTED = "200,000 header lines", 'a field of 1 MiB "\\n"', '50,000 ";" in Content-Type'
TITLES = {
    "json_call": "1 JSON call create_user(name, email, age)",
    "form_call": "2 no-JS form call, the page rendered again",
    "passthrough_get": "3 pass-through GET",
    "passthrough_get_flask": "3 pass-through GET, Flask",
    "passthrough_form": "4 pass-through POST, urlencoded",
    "passthrough_upload": "4 pass-through POST, 2 MiB multipart",
    "too_large": "5 413 for Content-Length > max_body_size",
    "limited_call": f'6 JSON call, limit="{LIMIT}"',
    "crafted": "7 header calls, {} KiB multipart",
}
# name / base <= limit: issue 11's targets (in instructions, but Flask's), and
# issue 10's for the crafted bodies (always wall clock); None: no target. The
# last: name's peak memory over base's, in KiB.
PEAK = "2 MiB multipart: extra peak memory"
TARGETS = [
    ("JSON header call / raw WSGI", "json_call", HEADER, "raw WSGI", 1.15),
    ("JSON header call / Falcon", "json_call", HEADER, "Falcon", 0.6),
    ("JSON header call / Flask", "json_call", HEADER, "Flask", 0.1),
    ("no-JS form call / parse_qsl", "form_call", "serveract", "parse_qsl handler", 1.1),
    ("pass-through GET / do-nothing", "passthrough_get", "serveract", FORWARD, 1.05),
    ("urlencoded POST / do-nothing", "passthrough_form", "serveract", FORWARD, 1.35),
    ("2 MiB multipart / do-nothing", "passthrough_upload", "serveract", FORWARD, 1.05),
    ("limit, memory / none", "limited_call", "MemoryLimiter", "no limit", None),
    ("limit, Redis / none", "limited_call", "RedisLimiter", "no limit", None),
    *[(f"{name} / plain", "crafted", name, PLAIN, 3.0) for name in CRAFTED],
    (PEAK, "passthrough_upload", "serveract", FORWARD, 64),
]
VALGRIND = "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null"
Check = Callable[..., bool]  # (status, headers, body): whether it is right


# -- What every implementation does --------------------------------------------


def create_user(name: str, email: str, age: int) -> dict[str, object]:
    """The function every implementation ends up calling."""
    return {"id": 1000 + age, "name": name, "email": email.lower(), "age": age}


def store(title: str, data: Any) -> dict[str, object]:
    """The action the crafted multipart bodies call."""
    return {"title": title, "size": len(data.read())}


USER = create_user("Ada Lovelace", "Ada@Example.com", 36)


def user_args(data: object) -> tuple[str, str, int] | None:
    """The hand-written check: exactly these three fields with these types."""
    if type(data) is not dict or len(data) != 3:
        return None
    name, email, age = data.get("name"), data.get("email"), data.get("age")
    if isinstance(name, str) and isinstance(email, str) and type(age) is int:
        return name, email, age
    return None


def signup_page(value: dict[str, object] | None, error: object) -> bytes:
    """The page both form implementations render after the call."""
    if value is not None:
        shown = (html.escape(str(value[k])) for k in ("name", "email", "id", "age"))
        outcome = "<p>Welcome, {} &lt;{}&gt; (#{}, {})</p>".format(*shown)
    else:
        outcome = f'<p class="error">{html.escape(str(error))}</p>' if error else ""
    return (
        f"<!doctype html><title>Sign up</title>{outcome}<form method=post>"
        '<input type=hidden name="$action" value=create_user><input name=name>'
        "<input name=email><input name=age type=number><button>Sign up</button>"
        "</form>"
    ).encode()


# -- Requests as a server hands them over --------------------------------------

BASE_ENVIRON: Environ = {
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8080",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
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
# What a browser's fetch() and form send to their own origin.
ORIGIN = {"HTTP_ORIGIN": "http://127.0.0.1:8080", "HTTP_SEC_FETCH_SITE": "same-origin"}
FETCH = {**ORIGIN, "HTTP_SEC_FETCH_MODE": "cors", "HTTP_ACCEPT": "application/json"}
FETCH["CONTENT_TYPE"] = "application/json"
FORM = {**ORIGIN, "HTTP_SEC_FETCH_MODE": "navigate", "HTTP_ACCEPT": "text/html"}
FORM["CONTENT_TYPE"] = "application/x-www-form-urlencoded"


def request(
    method: str, path: str, headers: Environ, body: bytes = b"", file: Any = io.BytesIO
) -> Callable[[], Environ]:
    """A factory of fresh environs, each with its own input, ``file(body)``;
    ``headers`` are environ keys (``HTTP_ORIGIN``, ``CONTENT_TYPE``)."""
    template = dict(BASE_ENVIRON, REQUEST_METHOD=method, PATH_INFO=path)
    if method != "GET":
        template["CONTENT_LENGTH"] = str(len(body))
    template.update(headers)

    def make() -> Environ:
        environ = template.copy()
        environ["wsgi.input"] = file(body)
        return environ

    return make


def copying(body: bytes) -> Any:
    """An input that copies on read, like waitress's body file (reading all
    of a BytesIO hands back ``body`` itself)."""
    return io.BufferedReader(io.BytesIO(body))


class Unreadable(io.RawIOBase):
    """A ``wsgi.input`` that fails the request if anything reads it."""

    def __init__(self, body: bytes) -> None:
        super().__init__()

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("wsgi.input was read")


def multipart(title: str, data: bytes, boundary: str = "b") -> tuple[str, bytes]:
    """A title and a file as multipart/form-data: the type and the body."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
        f'{title}\r\n--{boundary}\r\nContent-Disposition: form-data; name="data"; '
        'filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def crafted(size: int) -> list[Callable[[], Environ]]:
    """A plain multipart body of about ``size`` bytes and issue 10's hostile
    ones, sent as header calls to store() so that every body is parsed."""
    kind, plain = multipart("plain", b"0123456789abcdef" * (size // 16))  # no boundary
    title = b'--b\r\nContent-Disposition: form-data; name="title"\r\n'
    end, store = b"\r\nx\r\n--b--\r\n", {**FETCH, "HTTP_SERVERACT_ACTION": "store"}
    bodies = [
        (kind, plain),
        (kind, title + b"a:b\r\n" * (size // 5) + end),  # 200,000 header lines
        (kind, title + b"\r\n" + b"\n" * size + end),  # a field of "\n"
        ('multipart/form-data; boundary=b; a="' + ";" * (size * 50_000 >> 20), plain),
    ]
    return [request("POST", "/", {**store, "CONTENT_TYPE": k}, b) for k, b in bodies]


FIELDS = {"name": "Ada Lovelace", "email": "Ada@Example.com", "age": "36"}
JSON_BODY = b'{"name": "Ada Lovelace", "email": "Ada@Example.com", "age": 36}'
FORM_CALL_BODY = urlencode({"$action": "create_user", **FIELDS}).encode()
FORM_BODY = urlencode({**FIELDS, "note": "no action here"}).encode()
UPLOAD_TYPE, UPLOAD_BODY = multipart(
    "holiday", random.Random(6).randbytes(2 << 20), "----benchboundary7MA4YWxkTrZu0gW"
)
CALL = {**FETCH, "HTTP_SERVERACT_ACTION": "create_user"}
JSON_CALL = request("POST", "/create_user", CALL, JSON_BODY)
PATH_CALL = request("POST", "/_serveract/create_user", FETCH, JSON_BODY)
FORM_CALL = request("POST", "/signup", FORM, FORM_CALL_BODY)
GET = request("GET", "/", {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"})
FORM_POST = request("POST", "/", FORM, FORM_BODY)
UPLOAD = request(
    "POST", "/", {**FORM, "CONTENT_TYPE": UPLOAD_TYPE}, UPLOAD_BODY, copying
)
TOO_LARGE = request(
    "POST", "/", {**CALL, "CONTENT_LENGTH": str(8 * MAX_BODY)}, b"", Unreadable
)


# -- The apps ------------------------------------------------------------------


def respond(start_response: Any, status: str, kind: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def raw_create_user(environ: Environ, start_response: Any) -> list[bytes]:
    """Hand-written WSGI: read, json.loads, check, call, json.dumps."""
    status = "200 OK"
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if environ["REQUEST_METHOD"] != "POST":
            status = "405 Method Not Allowed"
        elif length > MAX_BODY:
            status = "413 Content Too Large"
        elif not (args := user_args(json.loads(environ["wsgi.input"].read(length)))):
            status = "422 Unprocessable Content"
    except ValueError:
        status = "400 Bad Request"
    if status != "200 OK":
        body = b'{"error": "%s"}' % status.encode()
        return respond(start_response, status, "application/json", body)
    body = json.dumps(create_user(*args)).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def falcon_app() -> WSGIApp:
    import falcon

    class Users:
        def on_post(self, req: Any, resp: Any) -> None:
            if (args := user_args(req.get_media())) is None:
                raise falcon.HTTPUnprocessableEntity()
            resp.media, resp.cache_control = create_user(*args), ["no-store"]

    app = falcon.App()
    app.add_route("/create_user", Users())
    return app


def flask_app() -> WSGIApp:
    """The JSON call, and a hello-world page."""
    import flask

    app = flask.Flask("bench")
    app.get("/")(lambda: "Hello, world!")

    @app.post("/create_user")
    def flask_create_user() -> Any:
        if (args := user_args(flask.request.get_json())) is None:
            flask.abort(422)
        resp = flask.jsonify(create_user(*args))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return app


def hello_app(environ: Environ, start_response: Any) -> list[bytes]:
    return respond(start_response, "200 OK", "text/plain", b"Hello, world!\n")


def echo_app(environ: Environ, start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return respond(start_response, "200 OK", "application/octet-stream", body)


def upload_app(environ: Environ, start_response: Any) -> list[bytes]:
    """Reads the whole body; says whether it got the bytes sent, unchanged."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    answer = b"identical" if body == UPLOAD_BODY else b"DIFFERENT"
    return respond(start_response, "200 OK", "text/plain", answer)


def signup_app(environ: Environ, start_response: Any) -> list[bytes]:
    """The page serveract re-renders, as a GET, after a no-JS form call."""
    if environ["REQUEST_METHOD"] != "GET":
        return respond(start_response, "200 OK", "text/plain", b"not a GET")
    outcome = serveract.result(environ)
    value, error = (outcome.value, outcome.error) if outcome else (None, None)
    page = signup_page(value, error)
    return respond(start_response, "200 OK", "text/html; charset=utf-8", page)


def raw_signup(environ: Environ, start_response: Any) -> list[bytes]:
    """Hand-written form handler: parse_qsl, int(), call, render."""
    value = error = None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        return respond(start_response, "413 Content Too Large", "text/plain", b"")
    body = environ["wsgi.input"].read(length).decode("latin-1")
    fields = dict(parse_qsl(body, keep_blank_values=True))
    if fields.get("$action") == "create_user":
        try:
            value = create_user(fields["name"], fields["email"], int(fields["age"]))
        except (KeyError, ValueError) as exc:
            error = exc
    page = signup_page(value, error)
    return respond(start_response, "200 OK", "text/html; charset=utf-8", page)


class Forward:
    """The least any middleware costs: a ``__call__`` that only delegates."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: Any) -> Iterable[bytes]:
        return self.app(environ, start_response)


# -- The cases -----------------------------------------------------------------


def json_answer(code: int, value: object = None) -> Check:
    """Status ``code`` and a JSON body equal to ``value``; with ``value`` None,
    the spec's error body and ``Cache-Control: no-store``."""

    def check(status: str, headers: list[Any], body: bytes) -> bool:
        got, right_status = json.loads(body), status.startswith(f"{code} ")
        if value is not None:
            return right_status and bool(got == value)
        no_store = ("Cache-Control", "no-store") in headers
        return right_status and no_store and {"type", "message"} <= got["error"].keys()

    return check


def crafted_answer(*answer: Any) -> bool:
    """A crafted body may be parsed (200) or refused (4xx, the error body)."""
    code = int(answer[0][:3])
    return code == 200 or (code // 100 == 4 and json_answer(code)(*answer))


def same_answer(bare: Callable[[], WSGIApp], environ: Callable[[], Environ]) -> Check:
    """Byte for byte the bare app's answer (asked once, when first needed)."""
    expected = functools.cache(lambda: call(bare(), environ()))
    return lambda *answer: answer == expected()


def wrap(app: WSGIApp, limit: str | None = None, **options: Any) -> WSGIApp:
    """``app`` in serveract with create_user (limited if asked) and store."""
    registry = serveract.Registry()
    registry.action(limit=limit)(create_user)
    registry.action(store)
    return serveract.ServerActions(app, registry, secret=SECRET, **options)


def build_impls(size: int) -> list[Impl]:
    """Every implementation of every case, in the tables' order (``size``:
    the crafted bodies'); nothing is built until its ``build`` runs."""
    url, hello, form = os.environ.get("REDIS_URL"), hello_app, FORM_CALL
    raw, wrapped = lambda: raw_create_user, functools.partial(wrap, hello)
    ok, refused = json_answer(200, USER), {"error": "413 Content Too Large"}

    def page(status: str, headers: list[Any], body: bytes) -> bool:
        return (status, body) == ("200 OK", signup_page(USER, None))

    def redis() -> WSGIApp:
        return wrap(hello, LIMIT, limiter=serveract.RedisLimiter(url))

    rows = [
        ("json_call", "raw WSGI", raw, JSON_CALL, ok),
        ("json_call", "Falcon", falcon_app, JSON_CALL, ok),
        ("json_call", "Flask", flask_app, JSON_CALL, ok),
        ("json_call", HEADER, wrapped, JSON_CALL, ok),
        ("json_call", "serveract path call", wrapped, PATH_CALL, ok),
        ("form_call", "parse_qsl handler", lambda: raw_signup, form, page),
        ("form_call", "serveract", lambda: wrap(signup_app), form, page),
    ]
    for case, bare, environ in [
        ("passthrough_get", lambda: hello, GET),
        ("passthrough_get_flask", flask_app, GET),
        ("passthrough_form", lambda: echo_app, FORM_POST),
        ("passthrough_upload", lambda: upload_app, UPLOAD),
    ]:
        same = same_answer(bare, environ)
        rows.append((case, "bare app", bare, environ, same))
        rows.append((case, FORWARD, lambda b=bare: Forward(b()), environ, same))
        rows.append((case, "serveract", lambda b=bare: wrap(b()), environ, same))
    memory = functools.partial(wrap, hello, LIMIT)
    rows += [
        ("too_large", "raw WSGI", raw, TOO_LARGE, json_answer(413, refused)),
        ("too_large", "serveract", wrapped, TOO_LARGE, json_answer(413)),
        ("limited_call", "no limit", wrapped, JSON_CALL, ok),
        ("limited_call", "MemoryLimiter", memory, JSON_CALL, ok),
        ("limited_call", "RedisLimiter", redis, JSON_CALL, ok, not url),
    ]
    big = functools.partial(wrap, hello, max_body_size=4 * size)
    plain = json_answer(200, {"title": PLAIN, "size": size})
    for name, environ in zip((PLAIN, *CRAFTED), crafted(size), strict=True):
        check = plain if name == PLAIN else crafted_answer
        rows.append(("crafted", name, big, environ, check))
    return [Impl(*row) for row in rows]


# -- Measuring -----------------------------------------------------------------


@dataclass
class Impl:
    """One implementation of a case, and what the run found out about it."""

    case: str
    name: str
    build: Callable[[], WSGIApp]
    environ: Callable[[], Environ]
    check: Check
    skipped: bool = False  # the RedisLimiter row without REDIS_URL
    value: float | None = None  # ns or instructions per request
    peak: int | None = None  # the most memory one request held, in bytes
    answers: int = 0
    failure: str = ""

    def serve(self, app: WSGIApp, first: tuple[str, bytes], n: int) -> float:
        """The measured loop: ``n`` requests as a server makes them, each
        answer then compared with the first; the time per request, in ns."""
        make_environ, answers = self.environ, []
        state: list[Any] = [None]

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            state[0] = status
            return _no_write

        start = time.perf_counter_ns()
        for _ in range(n):
            iterable = app(make_environ(), start_response)
            body = b"".join(iterable)  # may call start_response
            if hasattr(iterable, "close"):
                iterable.close()
            answers.append((state[0], body))
        self.answers += n
        for answer in answers:
            if answer != first:
                self.failure = f"an answer differs: {answer[0]} {answer[1][:80]!r}"
        return (time.perf_counter_ns() - start) / n

    def found(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if not callable(value)}


def _no_write(data: bytes) -> None:
    raise AssertionError("these apps do not use write()")


def call(app: WSGIApp, environ: Environ) -> tuple[str, list[Any], bytes]:
    """One request as a server makes it: status, headers and body."""
    answer: list[Any] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        answer[:] = [status, list(headers)]
        return _no_write

    iterable = app(environ, start_response)
    body = b"".join(iterable)  # may call start_response
    if hasattr(iterable, "close"):
        iterable.close()
    return answer[0], answer[1], body


def child(mode: str, case: str, names: list[str], size: int, n: int) -> None:
    """In a fresh process: check each first answer in full, time warm-up
    requests and watch one with tracemalloc; then ``count`` one under
    callgrind's instrumentation for ``n`` requests, or ``time`` each one's
    median of ``n`` rounds of about 5 ms, the first to go rotating."""
    impls = [i for i in build_impls(size) if i.case == case and i.name in names]
    live = []
    for impl in impls:
        try:
            app = impl.build()
            status, headers, body = call(app, impl.environ())
            right = impl.check(status, headers, body)
        except Exception as exc:  # this implementation fails, the run goes on
            status, body, right = f"raised {exc!r}", b"", False
        impl.answers, first = 1, (status, body)
        if not right:
            impl.failure = f"wrong answer: {status} {body[:80]!r}"
            continue
        warm = impl.serve(app, first, 20)  # Python 3.11 specialises its bytecode
        tracemalloc.start()
        impl.serve(app, first, 1)
        impl.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        live.append((impl, app, first, max(2, int(5e6 / warm)), []))
    gc.collect()
    gc.freeze()  # start-up's objects stay out of the measured collections
    if mode == "count" and live:  # no pipe for callgrind_control to poll
        on = ["callgrind_control", "--instr=on", str(os.getpid())]
        subprocess.run(on, check=True, stdout=subprocess.DEVNULL)
        impl, app, first, *_ = live[0]
        impl.serve(app, first, n)
    for _ in range(n if mode == "time" else 0):
        for impl, app, first, calls, times in live:
            gc.collect()  # each pays for its own garbage
            times.append(impl.serve(app, first, calls))
        live = live[1:] + live[:1]
    for impl, *_, times in live:
        impl.value = statistics.median(times) if times else None
    print(json.dumps([impl.found() for impl in impls]), flush=True)
    os._exit(0)  # no interpreter clean-up: nothing more to count


def run(mode: str, impls: list[Impl], size: int, loops: list[int]) -> None:
    """Run ``child()`` on ``impls`` in a fresh process per loop count and take
    in what it found; ``count`` (one implementation, under callgrind) divides
    the difference of the totals by the difference of the loop counts."""
    totals = []
    for n in loops:
        job = json.dumps([mode, impls[0].case, [impl.name for impl in impls], size, n])
        prefix = VALGRIND.split() if mode == "count" else []
        argv = [*prefix, sys.executable, __file__, "--child", job]
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        print(mode, job, file=sys.stderr, flush=True)
        done = subprocess.run(argv, env=env, capture_output=True)
        try:
            found = json.loads(done.stdout.splitlines()[-1])
        except (IndexError, ValueError):
            failure = f"exit {done.returncode}: {done.stderr[-500:]!r}"
            found = [{"failure": failure}] * len(impls)
        for impl, fields in zip(impls, found, strict=True):
            impl.answers += fields.pop("answers", 0)
            vars(impl).update(fields)
        if mode == "time" or impls[0].failure:
            return
        totals.append(int(done.stderr.split(b"Collected : ")[-1].split()[0]))
    impls[0].value = (totals[1] - totals[0]) / (loops[1] - loops[0])


# -- The report ----------------------------------------------------------------


def ratio(impl: Impl, base: Impl) -> float | None:
    good = impl.value and base.value and not (impl.failure or base.failure)
    return impl.value / base.value if good else None


def goals(impls: list[Impl], metric: str) -> list[dict[str, Any]]:
    """The targets' rows, for the implementations that ran: ``met`` is None
    without a limit or a figure, and ``shown`` has a third decimal where two
    would hide a miss."""
    ran = {(impl.case, impl.name): impl for impl in impls if not impl.skipped}
    rows = []
    for label, case, name, base, limit in TARGETS:
        if (case, name) not in ran:
            continue
        impl, ref, unit = ran[case, name], ran[case, base], X
        measured = ratio(impl, ref)
        if label == PEAK:
            unit, peaks = " KiB", (impl.peak, ref.peak)
            measured = None if None in peaks else (peaks[0] - peaks[1]) / 1024
        if metric == "instructions" and base == "Flask":
            limit = None  # Flask's target is wall clock
        met = None if measured is None or limit is None else measured <= limit
        shown = "-"
        if measured is not None:
            places = 3 if round(measured, 2) == limit else 0 if measured >= 10 else 2
            shown = f"{measured:,.{places}f}{unit}"
        row = dict(label=label, measured=measured, limit=limit, unit=unit)
        rows.append(dict(row, met=met, shown=shown))
    return rows


def tables(impls: list[Impl], goals: list[Any], metric: str, size: int) -> list[Any]:
    """The results, each with its ratio to its case's first, and the targets."""
    unit = "instructions/request" if metric == "instructions" else "median"
    results, firsts = [("case", "implementation", unit, "ratio")], {}
    for impl in impls:
        first, value = firsts.setdefault(impl.case, impl), impl.value
        if value is None:
            shown = "not run (set REDIS_URL)" if impl.skipped else "FAILED"
        elif impl.case == "crafted":
            shown = f"{value / 1e6:,.1f} ms"
        else:
            shown = f"{value:,.0f}" if unit != "median" else f"{value / 1e3:,.2f} µs"
        base = ratio(impl, first)
        title = TITLES[impl.case].format(size >> 10) if first is impl else ""
        results.append((title, impl.name, shown, f"{base:,.2f}{X}" if base else "-"))
    targets = [("target", "measured", "limit", "result")]
    for row in goals:
        limit = "" if row["limit"] is None else f"≤ {row['limit']:g}{row['unit']}"
        verdict = {True: "PASS", False: "MISS", None: ""}[row["met"]]
        targets.append((row["label"], row["shown"], limit, verdict))
    return [results, targets]


def aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    rows = [rows[0], tuple("-" * width for width in widths), *rows[1:]]
    return "\n".join("  ".join(map(str.ljust, r, widths)).rstrip() for r in rows)


def list_table(rows: list[tuple[str, ...]]) -> str:
    """``rows`` as a reST list-table; a backslash (the "\\n" row) stays."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        lines += [f"   {'  ' if i else '* '}- {c}".rstrip() for i, c in enumerate(row)]
    return "\n".join(lines).replace("\\", "\\\\") + "\n"


def svg_chart(goals: list[dict[str, Any]], title: str) -> str:
    """A bar per ratio, 100 px per 1x up to 3.5x, its target a black tick."""
    rows = [row for row in goals if row["unit"] == X and row["measured"]]
    height = 50 + 26 * len(rows)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="740" height="{height}" '
        f'font-family="sans-serif" font-size="13"><rect width="740" height="{height}" '
        f'fill="#fff"/><text x="12" y="22">{title}</text>'
        f'<path d="M400 36V{height}" stroke="#999"/>'  # 1x
    ]
    for y, row in zip(range(36, height, 26), rows, strict=False):
        bar, tick = (min(row[key] or 0, 3.5) * 100 for key in ("measured", "limit"))
        color = {True: "#2e7d32", False: "#c62828", None: "#78909c"}[row["met"]]
        out.append(
            f'<text x="292" y="{y + 16}" text-anchor="end">{row["label"]}</text>'
            f'<rect x="300" y="{y + 3}" width="{bar:.1f}" height="17" fill="{color}"/>'
            f'<text x="{max(bar, tick) + 307:.1f}" y="{y + 16}">{row["shown"]}</text>'
        )
        if tick:
            out.append(
                f'<path d="M{300 + tick} {y}v23" stroke="#000" stroke-width="3"/>'
            )
    return "\n".join([*out, "</svg>"]) + "\n"


# -- Main ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--instructions", action="store_true", help="count with callgrind (minutes)")
    add("--jobs", type=int, default=1, help="how many children count at once")
    add("--quick", action="store_true", help="a short smoke run, answers checked")
    add("--cases", help=f"comma-separated, of: {', '.join(TITLES)}")
    add("--json", metavar="PATH", help="write the results as JSON")
    add("--svg", metavar="PATH", help="write the targets as an SVG bar chart")
    add("--rst", metavar="PATH", help="write the tables as reST list-tables")
    add("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = 64 << 10 if args.quick else 1 << 20
    if args.child:
        child(*json.loads(args.child))
    wanted = args.cases.split(",") if args.cases else list(TITLES)
    if not set(wanted) <= set(TITLES):
        parser.error(f"--cases: known cases are {', '.join(TITLES)}")
    metric = "instructions" if args.instructions else "wall clock"
    impls, started = [i for i in build_impls(size) if i.case in wanted], time.time()
    counted = []
    for case in wanted:  # timed one after the other, then counted --jobs at once
        some = [impl for impl in impls if impl.case == case and not impl.skipped]
        if args.instructions and case != "crafted":  # crafted: wall clock, always
            counted += [[impl] for impl in some]
        else:
            run("time", some, size, [3 if args.quick else 31])
    loops = [1, 2] if args.quick else [20, 220]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda one: run("count", one, size, loops), counted))
    found = goals(impls, metric)
    results, targets = tables(impls, found, metric, size)
    failures = [f"FAILED {i.case} / {i.name}: {i.failure}" for i in impls if i.failure]
    version = f"serveract {serveract.__version__}"
    print(aligned(results), "", aligned(targets), *failures, sep="\n")
    print(f"{metric}; {version} ({serveract.__file__}); {time.time() - started:.0f} s")
    if args.json:
        report = {"metric": metric, "targets": found}
        report["impls"] = [impl.found() for impl in impls]
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.svg:
        aside = " (crafted bodies: wall clock)" if args.instructions else ""
        title = f"serveract / reference, {metric}{aside}; lower is better; {version}"
        Path(args.svg).write_text(svg_chart(found, title), encoding="utf-8")
    if args.rst:
        Path(args.rst).write_text(list_table(results) + "\n" + list_table(targets))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
