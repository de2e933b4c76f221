"""Security of serveract, proven: origin checks, body limits, signed bound
values, 500s that leak nothing, the authorization pattern, a matrix of hostile
requests, property-based fuzzing and a load test on a real waitress server.

Every request goes through ``wsgiref.validate.validator`` on both sides of the
middleware (except the few whose Content-Length the validator itself refuses),
and honest bodies are served by a stream that fails a read past the declared
length, as a server's raw socket file would block on it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import decimal
import gc
import http.client
import io
import json
import logging
import os
import threading
import time
import tracemalloc
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode
from wsgiref.validate import WSGIWarning, validator

import pytest
import waitress.server
import webob
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import serveract

LIMIT = 100_000  # max_body_size of most tests here: small, so overflows are fast
CHUNK = 65536  # what serveract reads at a time from a body of unknown length


@pytest.fixture(autouse=True)
def _validator_warnings_are_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        yield


@pytest.fixture
def reg() -> serveract.Registry:
    return serveract.Registry()


@pytest.fixture(autouse=True)
def _no_secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVERACT_SECRET", raising=False)


# -- Request bodies a server might hand over --------------------------------


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


def multipart(
    fields: Iterable[tuple[str, str]] = (),
    files: Iterable[tuple[str, str, bytes]] = (),
    boundary: str = "serveract-test-boundary",
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type."""
    out = []
    for name, value in fields:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, filename, data in files:
        out.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def environ_for(
    method: str = "POST",
    body: bytes = b"",
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    length: int | str | None = "exact",
    stream: Any = None,
    host: str = "example.com",
    scheme: str = "http",
    path: str = "/page",
) -> dict[str, Any]:
    """A WSGI environ for one request.

    :param length: ``"exact"`` (the body's length, served by a
        :class:`StrictInput`), ``"chunked"`` (no Content-Length,
        ``wsgi.input_terminated``), ``None`` (neither), or the header's value.
    """
    environ = webob.Request.blank(path, method=method).environ
    environ.pop("CONTENT_LENGTH", None)
    environ.pop("CONTENT_TYPE", None)
    environ["HTTP_HOST"] = host
    environ["wsgi.url_scheme"] = scheme
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


# -- The site under test: the middleware around an app that records --------


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The error object, after checking the body has exactly its shape."""
        body = self.json()
        assert list(body) == ["error"], body
        error = body["error"]
        assert sorted(error) == ["data", "message", "type"], error
        assert isinstance(error["type"], str)
        assert isinstance(error["message"], str)
        assert self.headers["cache-control"] == "no-store"
        return typing.cast("dict[str, Any]", error)


class Site:
    """``ServerActions`` around a WSGI app that records every request reaching
    it; both sides run inside ``wsgiref.validate.validator`` unless
    ``validate=False``."""

    def __init__(
        self, registry: serveract.Registry, *, validate: bool = True, **options: Any
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        inner: Any = validator(self._app) if validate else self._app
        options.setdefault("max_body_size", LIMIT)
        self.actions = serveract.ServerActions(inner, registry, **options)
        self.wsgi: Any = validator(self.actions) if validate else self.actions

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH", "")
        if length.isdigit():
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            parts = []
            while chunk := stream.read(8192):
                parts.append(chunk)
            body = b"".join(parts)
        else:
            body = b""
        outcome = serveract.result(environ)
        self.calls.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "content_type": environ.get("CONTENT_TYPE"),
                "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
                "body": body,
                "result": outcome,
            }
        )
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("X-From", "the app")]
        )
        return [b"page: " + body]

    def call(self, environ: dict[str, Any]) -> Answer:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            started[:] = [status, headers]
            return lambda data: None

        iterable = self.wsgi(environ, start_response)
        try:
            body = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        status, headers = started
        return Answer(int(status[:3]), {k.lower(): v for k, v in headers}, body)

    def header_call(
        self,
        name: str,
        body: bytes = b"[]",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Answer:
        headers = {"Serveract-Action": name, **(headers or {})}
        return self.call(environ_for("POST", body, content_type, headers, **options))

    def form_call(
        self,
        fields: list[tuple[str, str]],
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Answer:
        """A form posted without JavaScript (urlencoded, ``$action`` first)."""
        body = urlencode(fields).encode()
        return self.call(
            environ_for(
                "POST", body, "application/x-www-form-urlencoded", headers, **options
            )
        )


def plain_site(reg: serveract.Registry, **options: Any) -> tuple[Site, list[Any]]:
    """A site with one action, ``ping``, that records its calls."""
    seen: list[Any] = []

    @reg.action
    def ping(note: str = "") -> str:
        seen.append(note)
        return "pong"

    return Site(reg, **options), seen


# -- Cross-site requests ----------------------------------------------------


def by_header(site: Site, headers: dict[str, str], **options: Any) -> int:
    answer = site.header_call("ping", b"[]", headers=headers, **options)
    if answer.status == 200:
        assert answer.json() == "pong"
    else:
        assert answer.error["type"] == "forbidden"
    return answer.status


def by_form(site: Site, headers: dict[str, str], **options: Any) -> int:
    before = len(site.calls)
    answer = site.form_call([("$action", "ping")], headers=headers, **options)
    if answer.status == 200:  # the app rendered the page with the outcome
        assert answer.headers["x-from"] == "the app"
        assert site.calls[before]["method"] == "GET"
        assert site.calls[before]["result"].ok
        assert site.calls[before]["result"].value == "pong"
    else:
        assert answer.error["type"] == "forbidden"
        assert len(site.calls) == before
    return answer.status


CALL_STYLES = [pytest.param(by_header, id="header"), pytest.param(by_form, id="form")]


@pytest.mark.parametrize("send", CALL_STYLES)
@pytest.mark.parametrize(
    ("host", "scheme", "headers", "status"),
    [
        pytest.param("example.com", "http", {}, 200, id="no-origin-no-fetch-site"),
        pytest.param(
            "example.com", "http", {"Origin": "http://example.com"}, 200, id="same"
        ),
        pytest.param(
            "example.com", "http", {"Origin": "http://EXAMPLE.com"}, 200, id="case"
        ),
        pytest.param(
            "example.com:8080",
            "http",
            {"Origin": "http://example.com:8080"},
            200,
            id="same-with-port",
        ),
        pytest.param(
            "example.com:8080",
            "http",
            {"Origin": "http://example.com:8081"},
            403,
            id="other-port",
        ),
        pytest.param(
            "example.com",
            "http",
            {"Origin": "http://example.com:80"},
            200,
            id="http-80",
        ),
        pytest.param(
            "example.com:80",
            "http",
            {"Origin": "http://example.com"},
            200,
            id="host-80",
        ),
        pytest.param(
            "example.com:443",
            "https",
            {"Origin": "https://example.com"},
            200,
            id="https-443",
        ),
        pytest.param(
            "example.com",
            "https",
            {"Origin": "https://example.com:443"},
            200,
            id="origin-443",
        ),
        pytest.param(
            "example.com",
            "https",
            {"Origin": "http://example.com:443"},
            200,
            id="default-ports-dropped-whatever-the-scheme",
        ),
        pytest.param(
            "example.com:443",
            "http",
            {"Origin": "https://example.com"},
            200,
            id="behind-a-tls-proxy",
        ),
        pytest.param(
            "example.com", "http", {"Origin": "http://evil.net"}, 403, id="other-host"
        ),
        pytest.param(
            "example.com",
            "http",
            {"Origin": "http://evil.example.com"},
            403,
            id="subdomain",
        ),
        pytest.param(
            "example.com",
            "http",
            {"Origin": "http://example.com.evil.net"},
            403,
            id="suffix",
        ),
        pytest.param(
            "example.com",
            "http",
            {"Origin": "http://example.com@evil.net"},
            403,
            id="userinfo",
        ),
        pytest.param("example.com", "http", {"Origin": "null"}, 403, id="null"),
        pytest.param("example.com", "http", {"Origin": ""}, 403, id="empty"),
        pytest.param(
            "example.com",
            "http",
            {"Sec-Fetch-Site": "cross-site"},
            403,
            id="fetch-cross-site",
        ),
        pytest.param(
            "example.com",
            "http",
            {"Origin": "http://example.com", "Sec-Fetch-Site": "cross-site"},
            403,
            id="same-origin-but-fetch-cross-site",
        ),
        pytest.param(
            "example.com",
            "http",
            {"Sec-Fetch-Site": "same-origin"},
            200,
            id="fetch-same-origin",
        ),
        pytest.param(
            "example.com", "http", {"Sec-Fetch-Site": "none"}, 200, id="fetch-none"
        ),
    ],
)
def test_origin_rules(
    reg: serveract.Registry,
    send: Callable[..., int],
    host: str,
    scheme: str,
    headers: dict[str, str],
    status: int,
) -> None:
    site, seen = plain_site(reg)
    assert send(site, headers, host=host, scheme=scheme) == status
    assert seen == ([""] if status == 200 else [])


@pytest.mark.parametrize("send", CALL_STYLES)
@pytest.mark.parametrize(
    ("pattern", "origin", "allowed"),
    [
        pytest.param("partner.net", "https://partner.net", True, id="exact"),
        pytest.param("partner.net", "https://partner.net:8443", False, id="exact-port"),
        pytest.param("partner.net", "https://a.partner.net", False, id="exact-sub"),
        pytest.param("localhost:3000", "http://localhost:3000", True, id="port"),
        pytest.param("localhost:3000", "http://localhost:3001", False, id="port-other"),
        pytest.param("localhost:3000", "http://localhost", False, id="port-none"),
        pytest.param("*.example.org", "https://a.example.org", True, id="star"),
        pytest.param("*.example.org", "https://A.Example.org", True, id="star-case"),
        pytest.param("*.example.org", "https://a.b.example.org", False, id="star-two"),
        pytest.param("*.example.org", "https://example.org", False, id="star-zero"),
        pytest.param("*.example.org", "https://a.example.org:8443", False, id="s-port"),
        pytest.param("*.example.org", "https://aexample.org", False, id="star-glued"),
        pytest.param("**.example.org", "https://a.example.org", True, id="stars-one"),
        pytest.param("**.example.org", "https://a.b.c.example.org", True, id="stars"),
        pytest.param("**.example.org", "https://example.org", False, id="stars-zero"),
        pytest.param(
            "**.example.org", "https://a.example.org.evil.net", False, id="stars-suffix"
        ),
        pytest.param("**.example.org", "https://evilexample.org", False, id="glued"),
        pytest.param(
            "*.example.org:8443", "https://a.example.org:8443", True, id="s:p"
        ),
        pytest.param(
            "https://app.example.net", "https://app.example.net", True, id="u"
        ),
        pytest.param("https://app.example.net:443", "https://app.example.net", True),
        pytest.param("partner.net", "null", False, id="null-never"),
    ],
)
def test_allowed_origins(
    reg: serveract.Registry,
    send: Callable[..., int],
    pattern: str,
    origin: str,
    allowed: bool,
) -> None:
    site, seen = plain_site(reg, allowed_origins=[pattern])
    # An allowed origin is another site: browsers say so, and it still passes.
    headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"}
    assert send(site, headers) == (200 if allowed else 403)
    assert len(seen) == int(allowed)
    # The request's own host stays allowed next to the listed ones.
    assert send(site, {"Origin": "http://example.com"}) == 200


@pytest.mark.parametrize(
    "pattern",
    [
        "a.*.example.org",
        "example.*",
        "*a.example.org",
        "a*.example.org",
        "***.example.org",
        "*.*.example.org",
        "**.**.example.org",
        "https://www.*.example.org",
    ],
)
def test_a_wildcard_that_is_not_the_leftmost_label_fails_at_init(
    reg: serveract.Registry, pattern: str
) -> None:
    with pytest.raises(ValueError, match="leftmost"):
        serveract.ServerActions(lambda e, s: [], reg, allowed_origins=[pattern])


def test_allowed_origins_must_be_a_list_not_a_string(reg: serveract.Registry) -> None:
    with pytest.raises(TypeError):
        serveract.ServerActions(lambda e, s: [], reg, allowed_origins="example.org")


@pytest.mark.parametrize("send", CALL_STYLES)
def test_x_forwarded_host_is_ignored_by_default(
    reg: serveract.Registry, send: Callable[..., int]
) -> None:
    site, seen = plain_site(reg)
    # An attacker naming its own site as the forwarded host gains nothing.
    evil = {"Origin": "http://evil.net", "X-Forwarded-Host": "evil.net"}
    assert send(site, evil, host="example.com") == 403
    # Behind a proxy that the user did not declare, the public name is not
    # trusted: the call is refused rather than let through.
    proxied = {"Origin": "https://example.com", "X-Forwarded-Host": "example.com"}
    assert send(site, proxied, host="127.0.0.1:8000") == 403
    assert seen == []


@pytest.mark.parametrize("send", CALL_STYLES)
def test_x_forwarded_host_counts_with_trusted_proxy(
    reg: serveract.Registry, send: Callable[..., int]
) -> None:
    site, seen = plain_site(reg, trusted_proxy=True)
    internal = "127.0.0.1:8000"
    forwarded = {"X-Forwarded-Host": "example.com"}
    assert (
        send(site, {"Origin": "https://example.com", **forwarded}, host=internal) == 200
    )
    assert (
        send(site, {"Origin": "http://example.com", **forwarded}, host=internal) == 200
    )
    # The forwarded host replaces the Host header: the internal name fails.
    assert (
        send(site, {"Origin": f"http://{internal}", **forwarded}, host=internal) == 403
    )
    # A chain of proxies: the first (client-facing) one is the public name.
    chain = {"X-Forwarded-Host": "example.com, proxy.internal"}
    assert send(site, {"Origin": "https://example.com", **chain}, host=internal) == 200
    assert send(site, {"Origin": "http://evil.net", **forwarded}, host=internal) == 403
    assert len(seen) == 3


PASS_THROUGH = [
    pytest.param(
        "POST", b"name=x&amount=1", "application/x-www-form-urlencoded", id="f"
    ),
    pytest.param("POST", b'{"$action": "ping"}', "application/json", id="json"),
    pytest.param("POST", b"$action=ping", "text/plain", id="text-plain-form"),
    pytest.param("PUT", b"$action=ping", "application/x-www-form-urlencoded", id="put"),
    pytest.param("GET", b"", None, id="get"),
    pytest.param("DELETE", b"", None, id="delete"),
]


@pytest.mark.parametrize(("method", "body", "content_type"), PASS_THROUGH)
@pytest.mark.parametrize("length", ["exact", "chunked"])
def test_cross_site_pass_through_reaches_the_app_unchanged(
    reg: serveract.Registry,
    method: str,
    body: bytes,
    content_type: str | None,
    length: str,
) -> None:
    site, seen = plain_site(reg)
    hostile = {
        "Origin": "http://evil.net",
        "Sec-Fetch-Site": "cross-site",
        "X-Forwarded-Host": "evil.net",
        "Cookie": "session=victim",
    }
    environ = environ_for(method, body, content_type, hostile, length=length)
    expected_headers = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    answer = site.call(environ)
    assert answer.status == 200
    assert answer.headers == {"content-type": "text/plain", "x-from": "the app"}
    assert answer.body == b"page: " + body
    assert len(site.calls) == 1
    call = site.calls[0]
    assert call["method"] == method
    assert call["content_type"] == content_type
    assert call["headers"] == expected_headers
    assert call["body"] == body
    assert call["result"] is None
    assert seen == []


def test_a_form_naming_an_action_past_the_peek_is_the_apps(
    reg: serveract.Registry,
) -> None:
    site, seen = plain_site(reg)
    body = urlencode([("text", "y" * 20000), ("$action", "ping")]).encode()
    answer = site.call(environ_for("POST", body, "application/x-www-form-urlencoded"))
    assert answer.status == 200
    assert site.calls[0]["body"] == body
    assert seen == []


# -- Resource limits --------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/json", b"[]", id="json"),
        pytest.param("application/x-www-form-urlencoded", b"a=1", id="urlencoded"),
        pytest.param("multipart/form-data; boundary=b", b"--b--", id="multipart"),
        pytest.param(None, b"", id="no-type"),
    ],
)
def test_oversized_content_length_is_413_before_reading(
    reg: serveract.Registry, content_type: str | None, body: bytes
) -> None:
    site, seen = plain_site(reg)
    stream = UntouchableInput()
    answer = site.header_call(
        "ping", body, content_type, length=LIMIT + 1, stream=stream
    )
    assert answer.status == 413
    assert answer.error == {
        "type": "payload_too_large",
        "message": f"The request body is larger than {LIMIT} bytes",
        "data": {"limit": LIMIT},
    }
    assert not stream.touched
    assert seen == [] and site.calls == []


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b"],
)
def test_oversized_form_call_reads_no_more_than_the_peek(
    reg: serveract.Registry, content_type: str
) -> None:
    site, seen = plain_site(reg)
    if content_type.startswith("multipart"):
        head = b'--b\r\nContent-Disposition: form-data; name="$action"\r\n\r\nping\r\n'
    else:
        head = b"%24action=ping&note="
    stream = EndlessInput(head)
    answer = site.call(
        environ_for("POST", b"", content_type, length=10 * LIMIT, stream=stream)
    )
    assert answer.status == 413
    assert answer.error["type"] == "payload_too_large"
    assert stream.given <= 8192  # just the look for the $action field
    assert seen == [] and site.calls == []


CHUNKED_BODIES = [
    pytest.param("ping", "application/json", b"[", id="header-json"),
    pytest.param("ping", None, b"", id="header-no-type"),
    pytest.param("ping", "application/x-www-form-urlencoded", b"note=", id="header-f"),
    pytest.param(
        "ping",
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n',
        id="header-multipart",
    ),
    pytest.param(
        "request",
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n',
        id="header-multipart-spooled",
    ),
    pytest.param(
        None, "application/x-www-form-urlencoded", b"%24action=ping&note=", id="form"
    ),
    pytest.param(
        None,
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="$action"\r\n\r\nping\r\n'
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n',
        id="form-multipart",
    ),
]


@pytest.mark.parametrize(("name", "content_type", "prefix"), CHUNKED_BODIES)
def test_a_chunked_body_is_counted_while_reading(
    reg: serveract.Registry, name: str | None, content_type: str | None, prefix: bytes
) -> None:
    site, seen = plain_site(reg)

    @reg.action
    def request(request: webob.Request, note: str = "") -> None:
        seen.append(note)

    stream = EndlessInput(prefix)
    headers = {"Serveract-Action": name} if name else {}
    answer = site.call(
        environ_for("POST", b"", content_type, headers, length="chunked", stream=stream)
    )
    assert answer.status == 413
    assert answer.error["data"] == {"limit": LIMIT}
    assert LIMIT < stream.given <= LIMIT + CHUNK  # the limit plus one chunk at most
    assert seen == [] and site.calls == []


@pytest.mark.parametrize("length", ["chunked", "exact"])
def test_a_body_just_under_the_limit_is_accepted(
    reg: serveract.Registry, length: str
) -> None:
    site, seen = plain_site(reg)
    note = "n" * (LIMIT - 10)
    body = json.dumps([note]).encode()
    assert len(body) <= LIMIT
    answer = site.header_call("ping", body, length=length)
    assert answer.status == 200
    assert seen == [note]


def test_no_content_length_and_no_terminated_input_means_no_body(
    reg: serveract.Registry,
) -> None:
    # PEP 3333: without CONTENT_LENGTH the app must not read to the end.
    site, seen = plain_site(reg)
    stream = UntouchableInput()
    answer = site.header_call(
        "ping", b"", "application/json", length=None, stream=stream
    )
    assert answer.status == 200
    assert answer.json() == "pong"
    assert seen == [""]
    assert not stream.touched


@pytest.mark.parametrize("form", ["multipart", "urlencoded"])
@pytest.mark.parametrize("how", ["header", "form"])
def test_thousands_of_form_fields_are_413(
    reg: serveract.Registry, form: str, how: str
) -> None:
    seen = []

    @reg.action
    def anything(**fields: str) -> int:
        seen.append(fields)
        return len(fields)

    fields = [("$action", "anything")] + [(f"f{i}", "1") for i in range(5000)]
    if form == "multipart":
        body, content_type = multipart(fields)
    else:
        body, content_type = (
            urlencode(fields).encode(),
            "application/x-www-form-urlencoded",
        )
    assert len(body) < LIMIT * 5
    headers = {"Serveract-Action": "anything"} if how == "header" else {}
    answer = Site(reg, max_body_size=LIMIT * 5).call(
        environ_for("POST", body, content_type, headers)
    )
    assert answer.status == 413
    assert answer.error["type"] == "payload_too_large"
    assert "more than" in answer.error["message"]
    assert seen == []


def test_a_thousand_fields_are_still_fine(reg: serveract.Registry) -> None:
    @reg.action
    def anything(**fields: str) -> int:
        return len(fields)

    site = Site(reg)
    fields = [(f"f{i}", "1") for i in range(990)]
    body, content_type = multipart(fields)
    answer = site.header_call("anything", body, content_type)
    assert answer.status == 200
    assert answer.json() == 990


def test_uploads_go_to_a_temporary_file_not_memory(reg: serveract.Registry) -> None:
    size = 3 * 1024 * 1024
    seen: dict[str, Any] = {}

    @reg.action
    def upload(request: webob.Request, document: typing.BinaryIO) -> int:
        file = document.file  # type: ignore[attr-defined]
        seen["in_memory"] = isinstance(file, io.BytesIO)
        seen["on_disk"] = os.fstat(file.fileno()).st_size
        total = 0
        while chunk := document.read(CHUNK):
            total += len(chunk)
        return total

    site = Site(reg, max_body_size=8 * 1024 * 1024)
    body, content_type = multipart(
        [("note", "hi")], [("document", "a.bin", b"z" * size)]
    )
    environ = environ_for("POST", body, content_type, {"Serveract-Action": "upload"})
    del body
    tracemalloc.start()
    try:
        answer = site.call(environ)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status == 200
    assert answer.json() == size
    assert seen == {"in_memory": False, "on_disk": size}
    # Never the whole upload in memory at once (the body is spooled to disk
    # past 1 MiB, the part written to its own temporary file).
    assert peak < size


@pytest.mark.parametrize("kind", ["header", "form"])
@pytest.mark.parametrize("outcome", ["ok", "failed", "too large"])
def test_the_spooled_body_is_closed_after_the_call(
    reg: serveract.Registry, kind: str, outcome: str
) -> None:
    """A multipart body copied for the action (to a temporary file past
    1 MiB) and its uploads are closed when the call ends, however it ends:
    no file is left for the garbage collector to find."""
    size = 2 * 1024 * 1024
    uploads: list[typing.BinaryIO] = []

    @reg.action
    def upload(request: webob.Request, document: typing.BinaryIO) -> int:
        uploads.append(document)
        assert len(request.body) > size  # the spooled copy, readable meanwhile
        if outcome == "failed":
            raise serveract.ActionError("no")
        return len(document.read())

    limit = size if outcome == "too large" else 4 * size
    site = Site(reg, max_body_size=limit)
    fields = [("$action", "upload")] if kind == "form" else []
    body, content_type = multipart(fields, [("document", "a.bin", b"z" * size)])
    headers = {"Serveract-Action": "upload"} if kind == "header" else {}
    environ = environ_for("POST", body, content_type, headers, length="chunked")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        answer = site.call(environ)
        del environ
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]
    assert all(document.closed for document in uploads)
    assert len(uploads) == (0 if outcome == "too large" else 1)
    expected = {"ok": 200, "failed": 400, "too large": 413}[outcome]
    if kind == "form" and outcome == "failed":
        expected = 200  # the page is rendered with the error
    assert answer.status == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="array-100000"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="object-100000"),
        pytest.param(b"[" * 100 + b"]" * 100, id="array-100"),
        pytest.param(b'[{"a": ' * 50 + b"1" + b"}]" * 50, id="mixed-100"),
    ],
)
def test_deeply_nested_json_is_400(reg: serveract.Registry, body: bytes) -> None:
    seen = []

    @reg.action
    def take(*values: Any, **named: Any) -> None:
        seen.append(values)

    answer = Site(reg, max_body_size=1 << 20).header_call("take", body)
    assert answer.status == 400
    assert answer.error["type"] == "bad_request"
    assert "nested" in answer.error["message"]
    assert seen == []


def test_json_nesting_within_the_bound_is_fine(reg: serveract.Registry) -> None:
    @reg.action
    def take(value: Any) -> Any:
        return value

    value: Any = 1
    for _ in range(40):
        value = [value]
    answer = Site(reg).header_call("take", json.dumps([value]).encode())
    assert answer.status == 200
    assert answer.json() == value


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(b"[" + b"9" * 5000 + b"]", "digits", id="5000-digit-int"),
        pytest.param(b"[1e999]", "1e999", id="1e999"),
        pytest.param(b"[-1e999]", "1e999", id="minus-1e999"),
        pytest.param(b"[NaN]", "NaN", id="nan"),
        pytest.param(b"[Infinity]", "Infinity", id="infinity"),
        pytest.param(b"[-Infinity]", "Infinity", id="minus-infinity"),
    ],
)
def test_huge_and_non_finite_numbers_are_400(
    reg: serveract.Registry, body: bytes, words: str
) -> None:
    seen = []

    @reg.action
    def take(x: Any) -> None:
        seen.append(x)

    answer = Site(reg).header_call("take", body)
    assert answer.status == 400
    assert answer.error["type"] == "bad_request"
    assert words in answer.error["message"]
    assert seen == []


def test_a_long_integer_for_a_float_is_422_not_a_crash(reg: serveract.Registry) -> None:
    @reg.action
    def take(x: float) -> float:
        return x

    answer = Site(reg).header_call("take", b"[1" + b"0" * 400 + b"]")
    assert answer.status == 422
    assert answer.error["data"] == [{"field": "x", "message": "expected a number"}]


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("kind", [float, decimal.Decimal])
def test_form_numbers_must_be_finite(
    reg: serveract.Registry, text: str, kind: type
) -> None:
    # NaN fails every comparison: `if amount > balance: refuse` would pass it.
    seen = []

    def take(amount: float) -> None:
        seen.append(amount)

    take.__annotations__["amount"] = kind
    reg.action(take)
    site = Site(reg)
    answer = site.header_call(
        "take", f"amount={text}".encode(), "application/x-www-form-urlencoded"
    )
    if kind is decimal.Decimal and text == "1e999":  # a finite decimal
        assert answer.status == 200
        assert seen == [decimal.Decimal("1e999")]
        return
    assert answer.status == 422
    assert answer.error["data"][0]["field"] == "amount"
    assert seen == []
    # The same text in a JSON string is refused for a Decimal too.
    if kind is decimal.Decimal:
        answer = site.header_call("take", json.dumps([text]).encode())
        assert answer.status == 422


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b'["\xff"]', "application/json", id="json"),
        pytest.param(b'["\xed\xa0\x80"]', "application/json", id="json-surrogate"),
        pytest.param(b"note=\xff", "application/x-www-form-urlencoded", id="form-raw"),
        pytest.param(b"note=%ff", "application/x-www-form-urlencoded", id="form-pct"),
        pytest.param(b"%ff=1", "application/x-www-form-urlencoded", id="form-name"),
    ],
)
def test_invalid_utf8_is_400(
    reg: serveract.Registry, body: bytes, content_type: str
) -> None:
    site, seen = plain_site(reg)
    answer = site.header_call("ping", body, content_type)
    assert answer.status == 400
    assert "UTF-8" in answer.error["message"]
    assert seen == []


# -- Lying and truncated bodies ---------------------------------------------

TRUNCATED = [
    pytest.param("application/json", b'["note"]', id="json"),
    pytest.param("application/x-www-form-urlencoded", b"note=hello", id="urlencoded"),
    pytest.param(*reversed(multipart([("note", "hello")])), id="multipart"),
]


@pytest.mark.parametrize(("content_type", "body"), TRUNCATED)
@pytest.mark.parametrize("wants_request", [False, True])
def test_a_body_shorter_than_its_content_length_is_400(
    reg: serveract.Registry, content_type: str, body: bytes, wants_request: bool
) -> None:
    seen = []

    def with_request(request: webob.Request, note: str = "") -> None:
        seen.append(note)

    def without_request(note: str = "") -> None:
        seen.append(note)

    reg.action(with_request if wants_request else without_request, name="take")
    site = Site(reg)
    for cut in (len(body) - 7, len(body) // 2, 0):
        answer = site.header_call("take", body[:cut], content_type, length=len(body))
        assert answer.status == 400, cut
        assert answer.error == {
            "type": "bad_request",
            "message": "The request body ended before its Content-Length",
            "data": None,
        }
    assert seen == []


@pytest.mark.parametrize(("content_type", "body"), TRUNCATED[1:])
def test_a_form_call_shorter_than_its_content_length_is_400(
    reg: serveract.Registry, content_type: str, body: bytes
) -> None:
    site, seen = plain_site(reg)
    if content_type.startswith("multipart"):
        body, content_type = multipart([("$action", "ping"), ("note", "hello")])
    else:
        body = b"%24action=ping&" + body
    for cut in (len(body) - 1, len(body) - 5):
        environ = environ_for("POST", body[:cut], content_type, length=len(body))
        answer = site.call(environ)
        assert answer.status == 400
        assert answer.error["message"] == (
            "The request body ended before its Content-Length"
        )
    assert seen == [] and site.calls == []


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "0x10"])
@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data"])
def test_a_malformed_content_length_is_400(
    reg: serveract.Registry, length: str, content_type: str
) -> None:
    site, seen = plain_site(reg, validate=False)  # the validator refuses these
    answer = site.header_call("ping", b"[]", content_type, length=length)
    assert answer.status == 400
    assert "Content-Length" in answer.error["message"]
    assert seen == [] and site.calls == []


@pytest.mark.parametrize("length", ["-1", "abc"])
def test_a_malformed_content_length_on_a_form_is_left_to_the_app(
    reg: serveract.Registry, length: str
) -> None:
    site, seen = plain_site(reg, validate=False)
    environ = environ_for(
        "POST", b"", "application/x-www-form-urlencoded", length=length
    )
    answer = site.call(environ)
    assert answer.status == 200
    assert answer.headers["x-from"] == "the app"
    assert seen == []


def test_a_body_longer_than_its_content_length_is_cut_there(
    reg: serveract.Registry,
) -> None:
    site, seen = plain_site(reg)
    body = b'["first"]["second"]'
    environ = environ_for(
        "POST", body, "application/json", {"Serveract-Action": "ping"}
    )
    environ["CONTENT_LENGTH"] = "9"
    answer = site.call(environ)
    assert answer.status == 200
    assert seen == ["first"]


# -- Signed bound values ----------------------------------------------------


def bound_site(
    reg: serveract.Registry, **options: Any
) -> tuple[Site, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    if "delete_todo" not in reg:

        @reg.action
        def delete_todo(todo_id: int, owner: str, note: str = "") -> str:
            seen.append({"todo_id": todo_id, "owner": owner, "note": note})
            return "deleted"

        @reg.action
        def archive_todo(todo_id: int, owner: str) -> str:
            seen.append({"archived": todo_id})
            return "archived"

    options.setdefault("secret", "s3cret")
    return Site(reg, **options), seen


def token_of(markup: str) -> str:
    """The signed value in a ``hidden_field`` markup."""
    start = markup.index('name="$bound" value="') + len('name="$bound" value="')
    return markup[start : markup.index('"', start)]


def post_bound(
    site: Site,
    name: str,
    token: str | None,
    extra: Iterable[tuple[str, str]] = (),
    how: str = "form",
) -> Answer:
    fields = [("$action", name)]
    if token is not None:
        fields.append(("$bound", token))
    fields += list(extra)
    if how == "form":
        return site.form_call(fields)
    body, content_type = multipart(fields)
    return site.header_call(name, body, content_type)


@pytest.mark.parametrize("how", ["form", "header"])
def test_bound_values_arrive_typed_and_cannot_be_overridden(
    reg: serveract.Registry, how: str
) -> None:
    site, seen = bound_site(reg)
    markup = str(site.actions.hidden_field("delete_todo", todo_id=7, owner="ann"))
    assert markup.startswith('<input type="hidden" name="$action" value="delete_todo">')
    overrides = [("todo_id", "999"), ("owner", "mallory"), ("note", "bye")]
    answer = post_bound(site, "delete_todo", token_of(markup), overrides, how)
    assert answer.status == 200
    assert seen == [{"todo_id": 7, "owner": "ann", "note": "bye"}]


def tampered_tokens(token: str, foreign: str, other_action: str) -> dict[str, str]:
    payload, _, signature = token.partition(".")
    forged = base64.urlsafe_b64encode(b'{"todo_id":999,"owner":"ann"}').rstrip(b"=")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "payload": forged.decode() + "." + signature,
        "payload-byte": payload[:-1]
        + ("A" if payload[-1] != "A" else "B")
        + "."
        + signature,
        "signature": payload + "." + flipped,
        "truncated": payload + "." + signature[:-4],
        "no-signature": payload + ".",
        "no-dot": payload,
        "empty": "",
        "garbage": "!!!.???",
        "non-ascii": payload + "." + signature + "é",
        "foreign-secret": foreign,
        "other-action": other_action,
    }


@pytest.mark.parametrize(
    "kind",
    [
        "payload",
        "payload-byte",
        "signature",
        "truncated",
        "no-signature",
        "no-dot",
        "empty",
        "garbage",
        "non-ascii",
        "foreign-secret",
        "other-action",
    ],
)
@pytest.mark.parametrize("how", ["form", "header"])
def test_a_bad_token_is_400(reg: serveract.Registry, kind: str, how: str) -> None:
    site, seen = bound_site(reg)
    token = token_of(site.actions.hidden_field("delete_todo", todo_id=7, owner="ann"))
    foreign_site, _ = bound_site(reg, secret="another secret")
    foreign = token_of(
        foreign_site.actions.hidden_field("delete_todo", todo_id=7, owner="ann")
    )
    other = token_of(site.actions.hidden_field("archive_todo", todo_id=7, owner="ann"))
    bad = tampered_tokens(token, foreign, other)[kind]
    answer = post_bound(site, "delete_todo", bad, [("note", "x")], how)
    assert answer.status == 400
    assert answer.error == {
        "type": "bad_request",
        "message": "The bound values of this form are not signed for 'delete_todo'",
        "data": None,
    }
    assert seen == [] and site.calls == []


def test_binding_without_a_secret_fails_when_rendering(reg: serveract.Registry) -> None:
    site, _ = bound_site(reg, secret=None)
    # Naming the action needs no secret; binding values does.
    assert "$bound" not in str(site.actions.hidden_field("delete_todo"))
    with pytest.raises(RuntimeError, match="SERVERACT_SECRET"):
        site.actions.hidden_field("delete_todo", todo_id=1)
    with pytest.raises(KeyError):
        site.actions.hidden_field("no_such_action", todo_id=1)
    with pytest.raises(ValueError, match="empty"):
        serveract.ServerActions(lambda e, s: [], reg, secret="")
    # And a token sent to a site without a secret is refused, not trusted.
    signed, _ = bound_site(reg, secret="s")
    token = token_of(signed.actions.hidden_field("delete_todo", todo_id=1, owner="a"))
    assert post_bound(site, "delete_todo", token).status == 400


def test_the_secret_can_come_from_the_environment(
    reg: serveract.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVERACT_SECRET", "from the environment")
    site, seen = bound_site(reg, secret=None)
    token = token_of(site.actions.hidden_field("delete_todo", todo_id=3, owner="bo"))
    monkeypatch.delenv("SERVERACT_SECRET")
    # Another process configured explicitly with the same key.
    other, _ = bound_site(reg, secret="from the environment")
    assert post_bound(other, "delete_todo", token).status == 200
    assert seen == [{"todo_id": 3, "owner": "bo", "note": ""}]
    wrong, _ = bound_site(reg, secret=b"something else")
    assert post_bound(wrong, "delete_todo", token).status == 400


def test_instances_sharing_a_secret_accept_each_others_forms(
    reg: serveract.Registry,
) -> None:
    # Two processes: separate registries with the same action, one secret.
    first, seen_first = bound_site(reg, secret=b"shared")
    second, seen_second = bound_site(serveract.Registry(), secret="shared")
    one = token_of(first.actions.hidden_field("delete_todo", todo_id=1, owner="a"))
    two = token_of(second.actions.hidden_field("delete_todo", todo_id=2, owner="b"))
    assert post_bound(second, "delete_todo", one).status == 200
    assert post_bound(first, "delete_todo", two).status == 200
    assert seen_second == [{"todo_id": 1, "owner": "a", "note": ""}]
    assert seen_first == [{"todo_id": 2, "owner": "b", "note": ""}]


def test_key_rotation_new_key_signs_old_key_still_verifies(
    reg: serveract.Registry,
) -> None:
    old, seen = bound_site(reg, secret="old key")
    rotated, _ = bound_site(reg, secret=["new key", "old key"])
    new_only, _ = bound_site(reg, secret=["new key"])
    from_old = token_of(old.actions.hidden_field("delete_todo", todo_id=1, owner="a"))
    from_rotated = token_of(
        rotated.actions.hidden_field("delete_todo", todo_id=2, owner="b")
    )
    assert post_bound(rotated, "delete_todo", from_old).status == 200
    assert post_bound(rotated, "delete_todo", from_rotated).status == 200
    # Signed with the new key: verified where the new key is, not by the old.
    assert post_bound(new_only, "delete_todo", from_rotated).status == 200
    assert post_bound(old, "delete_todo", from_rotated).status == 400
    # Once the old key is dropped, its forms stop working.
    assert post_bound(new_only, "delete_todo", from_old).status == 400
    assert [s["todo_id"] for s in seen] == [1, 2, 2]


def test_bound_values_of_every_json_type(reg: serveract.Registry) -> None:
    seen = []

    @reg.action
    def keep(**values: Any) -> None:
        seen.append(values)

    site = Site(reg, secret="k")
    values = {"n": 1, "f": 1.5, "s": "é<>\"'&", "b": False, "z": None, "l": [1, "a"]}
    values["d"] = {"k": [True]}
    markup = str(site.actions.hidden_field("keep", **values))
    assert "<>" not in markup.split('name="$bound"')[1]  # escaped into the attribute
    assert post_bound(site, "keep", token_of(markup)).status == 200
    assert seen == [values]


# -- Failures inside actions ------------------------------------------------


SECRET_TEXT = "password=hunter2 at db.internal"


def failing_site(reg: serveract.Registry, **options: Any) -> Site:
    @reg.action
    def explode(x: int = 0) -> None:
        raise RuntimeError(SECRET_TEXT)

    return Site(reg, **options)


def check_logged(caplog: pytest.LogCaptureFixture, error_id: str) -> None:
    records = [r for r in caplog.records if r.name == "serveract"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert error_id in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert SECRET_TEXT in caplog.text  # the traceback, for the operator
    assert "Traceback" in caplog.text


@pytest.mark.parametrize("how", ["json", "form-body"])
def test_a_crash_is_a_generic_500_with_an_id_in_the_log(
    reg: serveract.Registry, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    site = failing_site(reg)
    with caplog.at_level(logging.ERROR, logger="serveract"):
        if how == "json":
            answer = site.header_call("explode", b"[1]")
        else:
            answer = site.header_call(
                "explode", b"x=1", "application/x-www-form-urlencoded"
            )
    assert answer.status == 500
    error = answer.error
    error_id = error["data"]["error_id"]
    assert len(error_id) >= 8 and error_id.isalnum()
    assert error == {
        "type": "internal_error",
        "message": f"The action failed unexpectedly (error id {error_id})",
        "data": {"error_id": error_id},
    }
    for leak in ("hunter2", "RuntimeError", "Traceback", "explode", __file__):
        assert leak not in answer.body.decode()
    check_logged(caplog, error_id)


def test_a_crash_in_a_no_js_form_shows_only_the_generic_message(
    reg: serveract.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    site = failing_site(reg)
    with caplog.at_level(logging.ERROR, logger="serveract"):
        answer = site.form_call([("$action", "explode")])
    assert answer.status == 200  # the page is rendered, showing the failure
    outcome = site.calls[0]["result"]
    assert not outcome.ok
    assert outcome.error.status == 500
    error_id = outcome.error.data["error_id"]
    assert outcome.error.message == (
        f"The action failed unexpectedly (error id {error_id})"
    )
    assert "hunter2" not in repr(outcome)
    check_logged(caplog, error_id)


def test_debug_shows_the_exception(
    reg: serveract.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    site = failing_site(reg, debug=True)
    with caplog.at_level(logging.ERROR, logger="serveract"):
        answer = site.header_call("explode")
    assert answer.status == 500
    error = answer.error
    error_id = error["data"]["error_id"]
    assert error["message"] == f"RuntimeError: {SECRET_TEXT} (error id {error_id})"
    assert SECRET_TEXT in error["data"]["traceback"]
    check_logged(caplog, error_id)


def test_each_crash_gets_its_own_id(
    reg: serveract.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    site = failing_site(reg)
    with caplog.at_level(logging.ERROR, logger="serveract"):
        ids = {site.header_call("explode").error["data"]["error_id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(any(i in r.getMessage() for r in caplog.records) for i in ids)


def test_an_unencodable_answer_is_a_generic_500(
    reg: serveract.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    class Secretive:
        def __repr__(self) -> str:
            return SECRET_TEXT

    @reg.action
    def leak() -> Any:
        return Secretive()

    with caplog.at_level(logging.ERROR, logger="serveract"):
        answer = Site(reg).header_call("leak")
    assert answer.status == 500
    error_id = answer.error["data"]["error_id"]
    assert "hunter2" not in answer.body.decode()
    assert any(error_id in r.getMessage() for r in caplog.records)


# -- Authorization: the app's job, with the pattern the README shows --------


def test_authorization_with_a_request_parameter(reg: serveract.Registry) -> None:
    seen = []

    @reg.action
    def delete_account(request: webob.Request, account_id: int) -> str:
        user = request.cookies.get("session")
        if user is None:
            raise serveract.ActionError("Sign in first", 401)
        if request.headers.get("X-Role") != "admin" and user != f"user{account_id}":
            raise serveract.ActionError("Not allowed", 403, {"account_id": account_id})
        seen.append((user, account_id))
        return "deleted"

    site = Site(reg)
    answer = site.header_call("delete_account", b"[5]")
    assert answer.status == 401
    assert answer.error == {
        "type": "action_error",
        "message": "Sign in first",
        "data": None,
    }
    answer = site.header_call(
        "delete_account", b"[5]", headers={"Cookie": "session=user6"}
    )
    assert answer.status == 403
    assert answer.error == {
        "type": "action_error",
        "message": "Not allowed",
        "data": {"account_id": 5},
    }
    # The client cannot pass the request as an argument.
    answer = site.header_call(
        "delete_account", b'{"account_id": 5, "request": {"cookies": {}}}'
    )
    assert answer.status == 422
    assert seen == []
    answer = site.header_call(
        "delete_account", b"[5]", headers={"Cookie": "session=user5"}
    )
    assert answer.status == 200
    # A form posted without JavaScript gets the refusal in the rendered page.
    site.form_call([("$action", "delete_account"), ("account_id", "5")])
    outcome = site.calls[-1]["result"]
    assert (outcome.ok, outcome.error.status, outcome.error.message) == (
        False,
        401,
        "Sign in first",
    )
    assert seen == [("user5", 5)]


def test_authorization_with_the_context_hook(reg: serveract.Registry) -> None:
    seen = []
    users = {"token-ann": "ann"}
    current_user: list[str] = []

    @contextlib.contextmanager
    def signed_in(environ: dict[str, Any]) -> Iterator[None]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        user = users.get(auth.removeprefix("Bearer "))
        if user is None:
            raise serveract.ActionError("Sign in first", 401)
        current_user.append(user)
        try:
            yield
        finally:
            current_user.pop()

    @reg.action
    def whoami() -> str:
        seen.append(current_user[-1])
        return current_user[-1]

    site = Site(reg, context=signed_in)
    answer = site.header_call("whoami")
    assert answer.status == 401
    assert answer.error == {
        "type": "action_error",
        "message": "Sign in first",
        "data": None,
    }
    answer = site.header_call("whoami", headers={"Authorization": "Bearer nope"})
    assert answer.status == 401
    assert seen == []
    answer = site.header_call("whoami", headers={"Authorization": "Bearer token-ann"})
    assert answer.status == 200
    assert answer.json() == "ann"
    assert seen == ["ann"] and current_user == []


# -- Hostile requests: exact answers, nothing reaches the app or the actions --

DEEP = b"[" * 100_000 + b"]" * 100_000
MANY_PARTS = multipart([(f"f{i}", "") for i in range(3000)])

HOSTILE = [
    # (method, content type, body, extra headers, length, status, type, message)
    pytest.param(
        "GET", None, b"", {}, "exact", 405, "method_not_allowed", "POST", id="get"
    ),
    pytest.param(
        "PUT", "application/json", b"[]", {}, "exact", 405, None, "POST", id="put"
    ),
    pytest.param("HEAD", None, b"", {}, "exact", 405, None, "POST", id="head"),
    pytest.param("OPTIONS", None, b"", {}, "exact", 405, None, "POST", id="options"),
    pytest.param(
        "POST",
        "text/plain",
        b"[]",
        {},
        "exact",
        415,
        "unsupported_media_type",
        "text/plain",
        id="text-plain",
    ),
    pytest.param(
        "POST",
        "application/python-pickle",
        b"\x80\x04K\x01.",
        {},
        "exact",
        415,
        None,
        "pickle",
        id="pickle",
    ),
    pytest.param(
        "POST", "application/xml", b"<a/>", {}, "exact", 415, None, "xml", id="xml"
    ),
    pytest.param(
        "POST",
        "application/json-patch+json",
        b"[]",
        {},
        "exact",
        415,
        None,
        "patch",
        id="json-lookalike",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[1,",
        {},
        "exact",
        400,
        "bad_request",
        "not valid JSON",
        id="broken-json",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[1] [2]",
        {},
        "exact",
        400,
        None,
        "not valid JSON",
        id="trailing-json",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"'x'",
        {},
        "exact",
        400,
        None,
        "not valid JSON",
        id="single-quotes",
    ),
    pytest.param(
        "POST",
        "application/json",
        b'"x"',
        {},
        "exact",
        400,
        None,
        "must be an array",
        id="scalar-json",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"null",
        {},
        "exact",
        400,
        None,
        "must be an array",
        id="null-json",
    ),
    pytest.param(
        "POST", "application/json", DEEP, {}, "exact", 400, None, "nested", id="deep"
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[" + b"7" * 100_000 + b"]",
        {},
        "exact",
        400,
        None,
        "digits",
        id="huge-int",
    ),
    pytest.param(
        "POST", "application/json", b"[NaN]", {}, "exact", 400, None, "NaN", id="nan"
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[1e400]",
        {},
        "exact",
        400,
        None,
        "1e400",
        id="overflowing-float",
    ),
    pytest.param(
        "POST",
        "application/json",
        b'["\xc3\x28"]',
        {},
        "exact",
        400,
        None,
        "UTF-8",
        id="invalid-utf8",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"\xef\xbb\xbf[]",
        {},
        "exact",
        400,
        None,
        "not valid JSON",
        id="utf8-bom",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[]",
        {},
        2 * 1024 * 1024,
        413,
        "payload_too_large",
        "larger than",
        id="oversized-length",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[" + b"1," * LIMIT + b"1]",
        {},
        "chunked",
        413,
        None,
        "larger than",
        id="oversized-chunked",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[1, 2]",
        {},
        100,
        400,
        "bad_request",
        "ended before",
        id="lying-length",
    ),
    pytest.param(
        "POST",
        "application/json",
        b'["abc',
        {},
        "exact",
        400,
        None,
        "not valid JSON",
        id="truncated-json",
    ),
    pytest.param(
        "POST",
        "application/x-www-form-urlencoded",
        b"note=%ff",
        {},
        "exact",
        400,
        None,
        "UTF-8",
        id="form-bad-utf8",
    ),
    pytest.param(
        "POST",
        MANY_PARTS[1],
        MANY_PARTS[0],
        {},
        "exact",
        413,
        "payload_too_large",
        "more than",
        id="thousands-of-parts",
    ),
    pytest.param(
        "POST",
        "multipart/form-data",
        b"--x\r\n\r\n--x--",
        {},
        "exact",
        400,
        "bad_request",
        "multipart",
        id="multipart-no-boundary",
    ),
    pytest.param(
        "POST",
        'multipart/form-data; boundary="a b\u00e9"',
        b"--x--",
        {},
        "exact",
        400,
        "bad_request",
        "multipart",
        id="multipart-bad-boundary",
    ),
    pytest.param(
        "POST",
        "application/json",
        b"[]",
        {"Origin": "https://evil.net"},
        "exact",
        403,
        "forbidden",
        "evil.net",
        id="cross-site",
    ),
]


@pytest.mark.parametrize(
    ("method", "content_type", "body", "headers", "length", "status", "kind", "words"),
    HOSTILE,
)
def test_hostile_header_calls(
    reg: serveract.Registry,
    method: str,
    content_type: str | None,
    body: bytes,
    headers: dict[str, str],
    length: Any,
    status: int,
    kind: str | None,
    words: str,
) -> None:
    seen = []

    @reg.action
    def target(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    site = Site(
        reg, max_body_size=max(LIMIT, len(body)) if length != "chunked" else LIMIT
    )
    headers = {"Serveract-Action": "target", **headers}
    answer = site.call(environ_for(method, body, content_type, headers, length=length))
    assert answer.status == status
    error = answer.error
    if kind is not None:
        assert error["type"] == kind
    assert words in error["message"]
    if status == 405:
        assert answer.headers["allow"] == "POST"
    assert seen == [] and site.calls == []


UNKNOWN_NAMES = [
    "__import__",
    "eval",
    "exec",
    "os.system",
    "subprocess.run",
    "builtins.open",
    "../x",
    "/etc/passwd",
    "",
    " ",
    "target ",
    "TARGET",
    "__class__",
    "__init__",
    "get",
    "action",
    "_actions",
    "target.__globals__",
    "%74arget",
    "null",
]


@pytest.mark.parametrize("name", UNKNOWN_NAMES)
@pytest.mark.parametrize("how", ["header", "form", "multipart-form"])
def test_unknown_and_unregistered_names_are_404(
    reg: serveract.Registry, name: str, how: str
) -> None:
    seen = []

    @reg.action
    def target() -> None:
        seen.append("called")

    def _hidden() -> None:  # a module-level private function: never callable
        seen.append("private")

    site = Site(reg)
    if how == "header":
        answer = site.header_call(name)
    elif how == "form":
        answer = site.form_call([("$action", name)])
    else:
        body, content_type = multipart([("$action", name)])
        answer = site.call(environ_for("POST", body, content_type))
    assert answer.status == 404
    assert answer.error == {
        "type": "not_found",
        "message": f"No action named {name!r}",
        "data": None,
    }
    assert seen == [] and site.calls == []


HOSTILE_FORMS = [
    pytest.param(
        urlencode([("$action", "target"), ("note", "x")]).encode() + b"%ff",
        "application/x-www-form-urlencoded",
        "exact",
        400,
        "not valid UTF-8",
        id="bad-utf8",
    ),
    pytest.param(
        b"%24action=target&note=" + b"x" * LIMIT,
        "application/x-www-form-urlencoded",
        "exact",
        413,
        "larger than",
        id="oversized",
    ),
    pytest.param(
        b"%24action=target&note=" + b"x" * LIMIT,
        "application/x-www-form-urlencoded",
        "chunked",
        413,
        "larger than",
        id="oversized-chunked",
    ),
    pytest.param(
        b"%24action=target" + b"&f=1" * 2000,
        "application/x-www-form-urlencoded",
        "exact",
        413,
        "more than",
        id="thousands-of-fields",
    ),
    pytest.param(
        *multipart([("$action", "target")] + [("f", "1")] * 1500, boundary="b"),
        "exact",
        413,
        "more than",
        id="thousands-of-parts",
    ),
    pytest.param(
        multipart([("$action", "target"), ("note", "x")])[0][:-20],
        multipart()[1],
        40,
        400,
        "ended before",
        id="truncated-multipart",
    ),
    pytest.param(
        b"%24action=target&note=x",
        "application/x-www-form-urlencoded",
        30,
        400,
        "ended before",
        id="truncated-urlencoded",
    ),
    pytest.param(
        b"%24action=target&%24bound=e30.AAAA",
        "application/x-www-form-urlencoded",
        "exact",
        400,
        "not signed",
        id="forged-bound",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "length", "status", "words"), HOSTILE_FORMS
)
def test_hostile_no_js_forms(
    reg: serveract.Registry,
    body: bytes,
    content_type: str,
    length: Any,
    status: int,
    words: str,
) -> None:
    seen = []

    @reg.action
    def target(note: str = "", **fields: str) -> None:
        seen.append(note)

    site = Site(reg, secret="k")
    if isinstance(length, int):
        length = len(body) + length  # the body is shorter than it says
    answer = site.call(environ_for("POST", body, content_type, length=length))
    assert answer.status == status
    assert words in answer.error["message"]
    assert seen == [] and site.calls == []


def test_a_get_naming_an_action_in_its_query_is_the_apps(
    reg: serveract.Registry,
) -> None:
    site, seen = plain_site(reg)
    answer = site.call(environ_for("GET", path="/page?%24action=ping&note=x"))
    assert answer.status == 200
    assert answer.headers["x-from"] == "the app"
    assert site.calls[0]["result"] is None
    assert seen == []


def test_register_module_skips_private_and_imported_names(
    reg: serveract.Registry,
) -> None:
    import types

    module = types.ModuleType("hostile_module")
    exec(  # a module built on the fly
        "from os import system\nimport json\n"
        "def public():\n    return 1\n"
        "def _private():\n    return 2\n"
        "class Thing:\n    pass\n",
        module.__dict__,
    )
    assert serveract.register_module(module, reg) == ["public"]
    site = Site(reg)
    for name in ("system", "json", "_private", "Thing", "json.loads"):
        assert site.header_call(name).status == 404
    assert site.header_call("public").json() == 1


# -- Property-based: arbitrary requests never break the middleware ---------

HEADER_TEXT = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"
    ),
    max_size=30,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/x-www-form-urlencoded",
        "APPLICATION/X-WWW-FORM-URLENCODED; charset=latin-1",
        "multipart/form-data",
        "multipart/form-data; boundary=b",
        "multipart/form-data; boundary=",
        'multipart/form-data; boundary="serveract-test-boundary"',
        "multipart/mixed; boundary=serveract-test-boundary",
        "text/plain",
        "",
    ]
)
NAMES = ["echo", "typed", "upload", "kw", "req", "bound"]
PARAMS = ["a", "b", "c", "d", "e", "f", "g", "h", "when", "file", "name", "todo_id"]
FIELD_NAME = st.one_of(st.sampled_from([*PARAMS, "$action", "$bound"]), HEADER_TEXT)
FIELD_VALUE = st.one_of(
    st.sampled_from(
        [
            *["1", "-1", "x", "", "nan", "1e999", "[1]", "[[1]]", '{"x": -1}'],
            *["true", "on", "2024-01-01", "y", "9" * 5000, "[" * 3000, "\x00"],
        ]
    ),
    HEADER_TEXT,
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(PARAMS) | st.text(), inner, max_size=4)
    ),
    max_leaves=12,
)


def weighted(draw: st.DrawFn, *choices: tuple[int, Any]) -> Any:
    """Draw from one of ``choices`` (weight, strategy) by weight."""
    pick = draw(st.integers(0, sum(weight for weight, _ in choices) - 1))
    for weight, strategy in choices:
        if pick < weight:
            return draw(strategy)
        pick -= weight
    raise AssertionError("unreachable")


@st.composite
def bodies(draw: st.DrawFn, names_action: bool) -> tuple[bytes, str | None]:
    """A body (JSON-ish, form-ish, multipart or bytes) and the type it fits."""
    if names_action:  # a form posted without JavaScript, mostly
        kinds = ["form", "form", "multipart", "multipart", "json", "bytes"]
    else:
        kinds = ["json", "json", "form", "multipart", "bytes", "empty"]
    kind = draw(st.sampled_from(kinds))
    if kind == "bytes":
        return draw(st.binary(max_size=200)), None
    if kind == "json":
        text = json.dumps(draw(JSON_VALUES))
        if draw(st.integers(0, 4)) == 0:
            text = text[: draw(st.integers(0, len(text)))]
        return text.encode(), "application/json"
    if kind == "empty":
        return b"", None
    pairs = draw(st.lists(st.tuples(FIELD_NAME, FIELD_VALUE), max_size=6))
    if names_action:
        pairs.insert(0, ("$action", draw(st.sampled_from(NAMES))))
    if kind == "form":
        body = urlencode(pairs, encoding="latin-1").encode()
        if draw(st.integers(0, 4)) == 0:
            body = draw(st.binary(max_size=20)) + body
        return body, "application/x-www-form-urlencoded"
    files = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["file", "a", "name"]),
                HEADER_TEXT,
                st.binary(max_size=1500),
            ),
            max_size=2,
        )
    )
    body, content_type = multipart(pairs, files)
    if draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    return body, content_type


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """The parts of one request, mostly action calls that reach the binding."""
    action = weighted(
        draw,
        (6, st.sampled_from(NAMES)),
        (2, st.none()),
        (1, HEADER_TEXT),
        (1, st.sampled_from(["__import__", "eval", "os.system", "", "$action"])),
    )
    method = weighted(
        draw,
        (8, st.just("POST")),
        (1, st.sampled_from(["GET", "PUT", "HEAD", "DELETE", "OPTIONS"])),
    )
    body, fitting_type = draw(bodies(names_action=action is None))
    content_type = weighted(
        draw,
        (6, st.just(fitting_type)),
        (2, CONTENT_TYPES),
        (1, HEADER_TEXT),
        (1, st.none()),
    )
    headers = {}
    if action is not None:
        headers["Serveract-Action"] = action
    origin = weighted(
        draw,
        (6, st.none()),
        (2, st.just("http://example.com")),
        (1, st.sampled_from(["null", "http://evil.net", "https://example.com:443"])),
        (1, HEADER_TEXT),
    )
    if origin is not None:
        headers["Origin"] = origin
    fetch_site = weighted(
        draw,
        (7, st.none()),
        (2, st.sampled_from(["same-origin", "cross-site", "same-site", "none"])),
        (1, HEADER_TEXT),
    )
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    names = ["Cookie", "X-Forwarded-Host", "HX-Request", "Accept", "Authorization"]
    headers.update(
        draw(st.dictionaries(st.sampled_from(names), HEADER_TEXT, max_size=2))
    )
    length = weighted(
        draw,
        (6, st.just("exact")),
        (2, st.just("chunked")),
        (1, st.just(None)),
        (1, st.integers(len(body) + 1, len(body) + 50)),  # a lying length
    )
    return {
        "method": method,
        "body": body,
        "content_type": content_type,
        "headers": headers,
        "length": length,
    }


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


def fuzz_site(reg: serveract.Registry, **options: Any) -> tuple[Site, list[Any]]:
    """Actions with every kind of parameter; none of them fails on its own."""
    seen: list[Any] = []

    @reg.action
    def echo(*args: Any, **kwargs: Any) -> Any:
        seen.append("echo")
        return [len(args), sorted(kwargs)]  # uploads among them are not JSON

    @reg.action
    def typed(
        a: int = 0,
        b: float = 0.0,
        c: list[int] | None = None,
        d: bool = False,
        e: decimal.Decimal | None = None,
        f: set[Any] | None = None,
        g: Point | None = None,
        h: typing.Literal["x", "y"] = "x",
        when: datetime.date | None = None,
    ) -> str:
        seen.append("typed")
        return repr((a, b, c, d, e, f, g, h, when))

    @reg.action
    def upload(file: typing.BinaryIO | None = None, name: str = "") -> int:
        seen.append("upload")
        return 0 if file is None else len(file.read())

    @reg.action
    def kw(**fields: str) -> int:
        seen.append("kw")
        return len(fields)

    @reg.action
    def req(request: webob.Request, a: str = "") -> int:
        seen.append("req")
        return len(request.body)

    @reg.action
    def bound(todo_id: int = 0, owner: str = "") -> str:
        seen.append("bound")
        return f"{todo_id}/{owner}"

    options.setdefault("max_body_size", 4096)
    return Site(reg, secret="fuzz", **options), seen


def check_answer(site: Site, answer: Answer) -> None:
    """2xx, 3xx or 4xx; every error in the JSON error shape; the app reached
    only by a pass-through or to render a no-JS form's outcome."""
    assert 200 <= answer.status < 500, answer
    if answer.headers.get("x-from") == "the app":
        assert answer.status == 200
        assert len(site.calls) == 1
        outcome = site.calls[0]["result"]
        assert outcome is None or outcome.ok or outcome.error.status < 500
    elif answer.status >= 400:
        answer.error  # noqa: B018 - checks the shape
        assert site.calls == []
    elif answer.status >= 300:
        assert "location" in answer.headers
    else:
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-type"] == "application/json"
        answer.json()


FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@FUZZ
@given(request=requests())
def test_arbitrary_requests_get_a_clean_answer(request: dict[str, Any]) -> None:
    site, _ = fuzz_site(serveract.Registry())
    check_answer(site, site.call(environ_for(**request)))


@FUZZ
@given(
    name=st.sampled_from(NAMES),
    fields=st.lists(st.tuples(FIELD_NAME, FIELD_VALUE), max_size=6),
    files=st.lists(
        st.tuples(st.sampled_from(["file", "name", "a"]), HEADER_TEXT, st.binary()),
        max_size=2,
    ),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
    how=st.sampled_from(["urlencoded", "multipart"]),
    length=st.sampled_from(["exact", "exact", "chunked"]),
    origin=st.sampled_from([None, None, "http://example.com"]),
)
def test_arbitrary_no_js_forms_get_a_clean_answer(
    name: str,
    fields: list[tuple[str, str]],
    files: list[tuple[str, str, bytes]],
    encoding: str,
    how: str,
    length: str,
    origin: str | None,
) -> None:
    site, _ = fuzz_site(serveract.Registry())
    fields = [("$action", name), *fields]
    if how == "urlencoded":
        body = urlencode(fields, encoding=encoding).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body, content_type = multipart(fields, files)
    headers = {"Origin": origin} if origin else {}
    environ = environ_for("POST", body, content_type, headers, length=length)
    check_answer(site, site.call(environ))


@FUZZ
@given(
    action=st.one_of(st.none(), st.sampled_from(NAMES)),
    content_type=CONTENT_TYPES,
    body=st.binary(max_size=100),
    length=st.one_of(HEADER_TEXT, st.integers(-5, 300).map(str)),
)
def test_arbitrary_content_lengths_get_a_clean_answer(
    action: str | None, content_type: str, body: bytes, length: str
) -> None:
    # The validator refuses a malformed CONTENT_LENGTH itself: called bare.
    site, _ = fuzz_site(serveract.Registry(), validate=False)
    headers = {"Serveract-Action": action} if action else {}
    environ = environ_for("POST", body, content_type, headers, length=length or None)
    check_answer(site, site.call(environ))


# Urlencoded bodies as browsers and hand-written clients send them: escaped
# text, and raw bytes with stray "%", "+", "&" and "=" and broken escapes.
FORM_BODIES = st.one_of(
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=6).map(
        lambda pairs: urlencode(pairs).encode()
    ),
    st.lists(
        st.sampled_from(
            [
                b"a",
                b"%",
                b"+",
                b"&",
                b"=",
                b"%4",
                b"%41",
                b"%e9",
                b"%C3%A9",
                b"%c3",
                b"\xc3\xa9",
                b"\xff",
                b"%zz",
                b" ",
                b"~",
            ]
        ),
        max_size=20,
    ).map(b"".join),
)


@FUZZ
@given(body=FORM_BODIES)
def test_form_bodies_parse_as_parse_qsl_does(body: bytes) -> None:
    """The urlencoded parser's shortcuts change nothing: the same fields as
    ``parse_qsl`` with strict UTF-8, or the same refusal."""
    try:
        expected: dict[str, list[str]] | None = {}
        for key, value in parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict"
        ):
            expected.setdefault(key, []).append(value)  # type: ignore[union-attr]
    except UnicodeDecodeError:
        expected = None
    try:
        got: dict[str, list[str]] | None = serveract._parse_form(body)
    except serveract._Failure as failure:
        assert failure.status == 400
        got = None
    assert got == expected


@st.composite
def forged_tokens(draw: st.DrawFn, signed: str) -> str:
    payload, _, signature = signed.partition(".")
    values = draw(
        st.dictionaries(st.sampled_from(["todo_id", "owner"]), JSON_VALUES, max_size=2)
    )
    forged = base64.urlsafe_b64encode(json.dumps(values).encode()).rstrip(b"=")
    noise = base64.urlsafe_b64encode(draw(st.binary(max_size=40))).rstrip(b"=")
    return draw(
        st.sampled_from(
            [
                forged.decode() + "." + signature,  # new values, old signature
                payload + "." + noise.decode(),  # old values, made-up signature
                draw(st.text(max_size=80)),
                draw(HEADER_TEXT),
            ]
        )
    )


@FUZZ
@given(data=st.data(), fields=st.lists(st.tuples(FIELD_NAME, FIELD_VALUE), max_size=4))
def test_forged_bound_values_never_reach_the_action(
    data: st.DataObject, fields: list[tuple[str, str]]
) -> None:
    site, seen = fuzz_site(serveract.Registry(), max_body_size=LIMIT)
    signed = token_of(site.actions.hidden_field("bound", todo_id=7, owner="ann"))
    token = data.draw(forged_tokens(signed))
    assert token != signed
    fields = [(n, v) for n, v in fields if n != "$action" and len(v) < 100]
    answer = post_bound(site, "bound", token, fields, "header")
    assert answer.status == 400
    assert answer.error["message"] == (
        "The bound values of this form are not signed for 'bound'"
    )
    assert seen == []
    if all(name != "$bound" for name, _ in fields):
        answer = post_bound(site, "bound", signed, fields, "header")
        assert answer.status == 200
        assert answer.json() == "7/ann"


# -- Load: a real server, concurrent keep-alive clients ---------------------


@contextlib.contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serve ``app`` with waitress on 127.0.0.1 in a daemon thread; yields the port."""
    server = waitress.server.create_server(
        app, host="127.0.0.1", port=0, threads=4, channel_timeout=20
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port  # type: ignore[union-attr]
    finally:
        server.close()
        for channel in list(server._map.values()):  # type: ignore[union-attr]
            channel.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_concurrent_calls_on_a_real_server(reg: serveract.Registry) -> None:
    threads, calls = 8, 100
    lock = threading.Lock()
    counter = {"value": 0}
    gauge = threading.Lock()
    in_flight = {"now": 0, "most": 0}

    @reg.action
    def increment(by: int) -> int:
        with gauge:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        time.sleep(0.001)  # hold the call open, so that other calls overlap it
        with lock:
            counter["value"] += by
            value = counter["value"]
        with gauge:
            in_flight["now"] -= 1
        return value

    hostile_answers: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"page"]

    wrapped = validator(
        serveract.ServerActions(validator(app), reg, max_body_size=LIMIT)
    )
    answers: list[list[tuple[int, Any, str]]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    deadline = time.monotonic() + 40

    with serving(wrapped) as port:

        def client(index: int) -> None:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for _ in range(calls):
                    assert time.monotonic() < deadline
                    connection.request(
                        "POST",
                        "/",
                        body=b"[1]",
                        headers={
                            "Serveract-Action": "increment",
                            "Content-Type": "application/json",
                            "Origin": f"http://127.0.0.1:{port}",
                        },
                    )
                    response = connection.getresponse()
                    answers[index].append(
                        (
                            response.status,
                            json.loads(response.read()),
                            response.getheader("Content-Type", ""),
                        )
                    )
                connection.close()
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        def hostile() -> None:
            # Garbage from another connection meanwhile: each gets its 4xx.
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for body, extra in [
                    (b"[1,", {}),
                    (b"[" * 5000, {}),
                    (b"[1]", {"Origin": "http://evil.net"}),
                    (b"x" * (LIMIT + 1), {}),
                    (b"[NaN]", {}),
                ] * 4:
                    connection.request(
                        "POST",
                        "/",
                        body=body,
                        headers={"Serveract-Action": "increment", **extra},
                    )
                    response = connection.getresponse()
                    response.read()
                    hostile_answers.append(response.status)
                connection.close()
            except BaseException as error:
                errors.append(error)

        workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        workers.append(threading.Thread(target=hostile))
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not any(worker.is_alive() for worker in workers)
        elapsed = time.monotonic() - started

    assert errors == []
    assert counter["value"] == threads * calls
    every = [answer for per_thread in answers for answer in per_thread]
    assert len(every) == threads * calls
    assert {status for status, _, _ in every} == {200}
    assert {content_type for _, _, content_type in every} == {"application/json"}
    # Each call saw its own count: no increment lost or counted twice.
    assert sorted(value for _, value, _ in every) == list(range(1, threads * calls + 1))
    for per_thread in answers:  # and each client's counts only went up
        values = [value for _, value, _ in per_thread]
        assert values == sorted(values)
    assert 2 <= in_flight["most"] <= 4  # calls ran at once, on waitress's 4 threads
    assert hostile_answers == [400, 400, 403, 413, 400] * 4
    assert elapsed < 40
