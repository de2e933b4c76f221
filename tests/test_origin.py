"""Cross-site requests: which origins may call an action, by header or by a
form posted without JavaScript, and that everything else still reaches the
app untouched."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import webob

import serveract
from conftest import FORM, Client, Recorder, Response, environ_for


def by_header(client: Client, headers: dict[str, str], **environ: Any) -> int:
    """Call ``ping`` with a header; the status, after checking the answer."""
    answer = client.call("ping", [], headers=headers, status="*", **environ)
    check_pong_or_forbidden(answer)
    return answer.status_int


def by_form(client: Client, headers: dict[str, str], **environ: Any) -> int:
    """Call ``ping`` from a form with no JavaScript; the status, after checking
    that the app rendered the outcome or was never reached."""
    before = len(client.calls)
    answer = client.form([("$action", "ping")], headers=headers, status="*", **environ)
    if answer.status_int == 200:  # the app rendered the page with the outcome
        assert answer.headers["X-From"] == "the app"
        rendered = client.calls[before]
        assert rendered.method == "GET"
        assert rendered.result is not None
        assert (rendered.result.ok, rendered.result.value) == (True, "pong")
    else:
        check_pong_or_forbidden(answer)
        assert len(client.calls) == before
    return answer.status_int


def check_pong_or_forbidden(answer: Response) -> None:
    if answer.status_int == 200:
        assert answer.json == "pong"
    else:
        assert answer.status_int == 403
        assert answer.error["type"] == "forbidden"


CALL_STYLES = [pytest.param(by_header, id="header"), pytest.param(by_form, id="form")]


# -- The request's own origin -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Origin:
    """A request's ``Origin`` (and ``Sec-Fetch-Site``, host, scheme), and the
    status a call with it gets."""

    id: str
    origin: str | None
    status: int
    host: str = "example.com"
    fetch_site: str | None = None
    scheme: str = "http"

    def headers(self) -> dict[str, str]:
        sent = {"Origin": self.origin, "Sec-Fetch-Site": self.fetch_site}
        return {name: value for name, value in sent.items() if value is not None}


ORIGINS = [
    Origin("no-origin-no-fetch-site", None, 200),
    Origin("same", "http://example.com", 200),
    Origin("case", "http://EXAMPLE.com", 200),
    Origin("same-with-port", "http://example.com:8080", 200, "example.com:8080"),
    Origin("other-port", "http://example.com:8081", 403, "example.com:8080"),
    Origin("http-80", "http://example.com:80", 200),
    Origin("host-80", "http://example.com", 200, "example.com:80"),
    Origin("https-443", "https://example.com", 200, "example.com:443", scheme="https"),
    Origin("origin-443", "https://example.com:443", 200, scheme="https"),
    Origin("default-ports-dropped", "http://example.com:443", 200, scheme="https"),
    Origin("behind-a-tls-proxy", "https://example.com", 200, "example.com:443"),
    Origin("other-host", "http://evil.net", 403),
    Origin("subdomain", "http://evil.example.com", 403),
    Origin("suffix", "http://example.com.evil.net", 403),
    Origin("userinfo", "http://example.com@evil.net", 403),
    Origin("null", "null", 403),
    Origin("empty", "", 403),
    Origin("fetch-cross-site", None, 403, fetch_site="cross-site"),
    Origin("same-fetch-cross-site", "http://example.com", 403, fetch_site="cross-site"),
    Origin("fetch-same-origin", None, 200, fetch_site="same-origin"),
    Origin("fetch-none", None, 200, fetch_site="none"),
]


@pytest.mark.parametrize("send", CALL_STYLES)
@pytest.mark.parametrize("case", ORIGINS, ids=lambda case: case.id)
def test_only_the_requests_own_origin_may_call(
    middleware: Callable[..., Client],
    pings: list[str],
    send: Callable[..., int],
    case: Origin,
) -> None:
    client = middleware()
    assert send(client, case.headers(), host=case.host, scheme=case.scheme) == (
        case.status
    )
    assert pings == ([""] if case.status == 200 else [])


@pytest.mark.parametrize(
    ("origin", "status"),
    [("http://example.com:8080", 200), ("http://None", 403), ("http://", 403)],
)
def test_without_a_host_header_the_origin_is_checked_against_the_server_name(
    reg: serveract.Registry, pings: list[str], origin: str, status: int
) -> None:
    """HTTP/1.0 sends no Host: the server's own name and port stand for it."""
    environ = environ_for(body=b"[]", content_type="application/json", host="x")
    del environ["HTTP_HOST"]
    environ.update(SERVER_NAME="example.com", SERVER_PORT="8080")
    environ.update(HTTP_SERVERACT_ACTION="ping", HTTP_ORIGIN=origin)
    app = serveract.ServerActions(Recorder(), reg)
    answer = webob.Request(environ).get_response(app)
    assert answer.status_int == status
    assert pings == ([""] if status == 200 else [])


# -- allowed_origins ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Listed:
    """A pattern in ``allowed_origins`` and whether it lets an origin call."""

    id: str
    pattern: str
    origin: str
    allowed: bool


LISTED = [
    Listed("exact", "partner.net", "https://partner.net", True),
    Listed("exact-other-port", "partner.net", "https://partner.net:8443", False),
    Listed("exact-subdomain", "partner.net", "https://a.partner.net", False),
    Listed("port", "localhost:3000", "http://localhost:3000", True),
    Listed("port-other", "localhost:3000", "http://localhost:3001", False),
    Listed("port-none", "localhost:3000", "http://localhost", False),
    Listed("star", "*.example.org", "https://a.example.org", True),
    Listed("star-case", "*.example.org", "https://A.Example.org", True),
    Listed("star-two-labels", "*.example.org", "https://a.b.example.org", False),
    Listed("star-no-label", "*.example.org", "https://example.org", False),
    Listed("star-other-port", "*.example.org", "https://a.example.org:8443", False),
    Listed("star-glued", "*.example.org", "https://aexample.org", False),
    Listed("stars-one-label", "**.example.org", "https://a.example.org", True),
    Listed("stars-three-labels", "**.example.org", "https://a.b.c.example.org", True),
    Listed("stars-no-label", "**.example.org", "https://example.org", False),
    Listed("stars-suffix", "**.example.org", "https://a.example.org.evil.net", False),
    Listed("stars-glued", "**.example.org", "https://evilexample.org", False),
    Listed("star-port", "*.example.org:8443", "https://a.example.org:8443", True),
    Listed("url", "https://app.example.net", "https://app.example.net", True),
    Listed("url-443", "https://app.example.net:443", "https://app.example.net", True),
    # A scheme, when written, is the one allowed: the http twin of an https
    # site is any network attacker's to inject script into.
    Listed("url-http", "https://app.example.net", "http://app.example.net", False),
    Listed("url-case", "HTTPS://app.example.net", "https://app.example.net", True),
    Listed("no-scheme-any", "app.example.net", "http://app.example.net", True),
    Listed("null-never", "partner.net", "null", False),
]


@pytest.mark.parametrize("send", CALL_STYLES)
@pytest.mark.parametrize("case", LISTED, ids=lambda case: case.id)
def test_allowed_origins_may_call_besides_the_requests_own(
    middleware: Callable[..., Client],
    pings: list[str],
    send: Callable[..., int],
    case: Listed,
) -> None:
    client = middleware(allowed_origins=[case.pattern])
    # An allowed origin is another site: browsers say so, and it still passes.
    headers = {"Origin": case.origin, "Sec-Fetch-Site": "cross-site"}
    assert send(client, headers) == (200 if case.allowed else 403)
    assert len(pings) == int(case.allowed)
    # The request's own host stays allowed next to the listed ones.
    assert send(client, {"Origin": "http://example.com"}) == 200


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [
        pytest.param("a.*.example.org", "leftmost", id="inner"),
        pytest.param("example.*", "leftmost", id="last"),
        pytest.param("*a.example.org", "leftmost", id="glued-after"),
        pytest.param("a*.example.org", "leftmost", id="glued-before"),
        pytest.param("***.example.org", "leftmost", id="three"),
        pytest.param("*.*.example.org", "leftmost", id="two-stars"),
        pytest.param("**.**.example.org", "leftmost", id="two-double-stars"),
        pytest.param("https://www.*.example.org", "leftmost", id="inner-with-scheme"),
        pytest.param("*", "wildcard", id="everything"),
        pytest.param("**", "wildcard", id="everything-deep"),
        pytest.param("**:8080", "wildcard", id="every-host-on-a-port"),
        pytest.param("https://*", "wildcard", id="every-https-host"),
    ],
)
def test_a_wildcard_other_than_the_leftmost_label_of_a_host_fails_at_init(
    reg: serveract.Registry, pattern: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        serveract.ServerActions(lambda e, s: [], reg, allowed_origins=[pattern])


@pytest.mark.parametrize(
    "pattern",
    [
        "https://app.example.org/",
        "https://app.example.org/app",
        "app.example.org/",
        "https://app.example.org?x",
        "https://app.example.org#top",
        "https://user@app.example.org",
    ],
)
def test_an_allowed_origin_with_a_path_fails_at_init(
    reg: serveract.Registry, pattern: str
) -> None:
    # An Origin header never holds a path, a query, a fragment or a user:
    # such an entry would match nothing.
    with pytest.raises(ValueError, match="no path"):
        serveract.ServerActions(lambda e, s: [], reg, allowed_origins=[pattern])
    with pytest.raises(ValueError, match="no path"):
        serveract.ServerActions(lambda e, s: [], reg, allowed_hosts=[pattern])


def test_allowed_origins_must_be_a_list_not_a_string(reg: serveract.Registry) -> None:
    with pytest.raises(TypeError):
        serveract.ServerActions(lambda e, s: [], reg, allowed_origins="example.org")


# -- Proxies ------------------------------------------------------------------


@pytest.mark.parametrize("send", CALL_STYLES)
def test_x_forwarded_host_is_ignored_by_default(
    middleware: Callable[..., Client], pings: list[str], send: Callable[..., int]
) -> None:
    client = middleware()
    # An attacker naming its own site as the forwarded host gains nothing.
    evil = {"Origin": "http://evil.net", "X-Forwarded-Host": "evil.net"}
    assert send(client, evil, host="example.com") == 403
    # Behind a proxy that the user did not declare, the public name is not
    # trusted: the call is refused rather than let through.
    proxied = {"Origin": "https://example.com", "X-Forwarded-Host": "example.com"}
    assert send(client, proxied, host="127.0.0.1:8000") == 403
    assert pings == []


@pytest.mark.parametrize("send", CALL_STYLES)
def test_x_forwarded_host_counts_with_trusted_proxy(
    middleware: Callable[..., Client], pings: list[str], send: Callable[..., int]
) -> None:
    client = middleware(trusted_proxy=True)
    internal = "127.0.0.1:8000"
    forwarded = {"X-Forwarded-Host": "example.com"}
    for origin, status in [
        ("https://example.com", 200),
        ("http://example.com", 200),
        # The forwarded host replaces the Host header: the internal name fails.
        (f"http://{internal}", 403),
        ("http://evil.net", 403),
    ]:
        headers = {"Origin": origin, **forwarded}
        assert send(client, headers, host=internal) == status, origin
    # A chain of proxies: the first (client-facing) one is the public name.
    chain = {"X-Forwarded-Host": "example.com, proxy.internal"}
    assert (
        send(client, {"Origin": "https://example.com", **chain}, host=internal) == 200
    )
    assert len(pings) == 3


# -- Requests that are no action call -----------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        pytest.param("POST", b"name=x&amount=1", FORM, id="form"),
        pytest.param("POST", b'{"$action": "ping"}', "application/json", id="json"),
        pytest.param("POST", b"$action=ping", "text/plain", id="text-plain-form"),
        pytest.param("PUT", b"$action=ping", FORM, id="put"),
        pytest.param("GET", b"", None, id="get"),
        pytest.param("DELETE", b"", None, id="delete"),
    ],
)
@pytest.mark.parametrize("length", ["exact", "chunked"])
def test_a_cross_site_request_that_calls_no_action_reaches_the_app_unchanged(
    middleware: Callable[..., Client],
    pings: list[str],
    method: str,
    body: bytes,
    content_type: str | None,
    length: str,
) -> None:
    client = middleware()
    hostile = {
        "Origin": "http://evil.net",
        "Sec-Fetch-Site": "cross-site",
        "X-Forwarded-Host": "evil.net",
        "Cookie": "session=victim",
    }
    answer = client.send(
        body, content_type, method=method, headers=hostile, length=length
    )
    # The app's own answer, nothing added or taken away.
    assert sorted(answer.headers) == ["Content-Length", "Content-Type", "X-From"]
    assert answer.json == {"method": method, "body_length": len(body), "result": None}
    [seen] = client.calls
    assert (seen.method, seen.content_type, seen.body) == (method, content_type, body)
    assert seen.headers == {
        "HTTP_HOST": "example.com",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in hostile.items()},
    }
    assert seen.result is None
    assert pings == []
