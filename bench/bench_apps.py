"""The bench's work: requests as a server hands them over, and the apps.

Every implementation ends up calling create_user(), or serving the same page
or bytes. Falcon and Flask are imported by the functions that build their
apps, so that a process measuring one app loads no other.
"""

from __future__ import annotations

import html
import io
import json
import os
import random
import sys
from collections.abc import Callable, Iterable
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


# ---------------------------------------------------------------- requests

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


# ---------------------------------------------------------------- apps


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
