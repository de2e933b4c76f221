"""``allowed_hosts``, Django's ``ALLOWED_HOSTS`` against DNS rebinding: an
action call whose host matches no pattern is a 400, whichever way it was
called; with ``trusted_proxy`` the first ``X-Forwarded-Host`` entry is the
host; requests that are not action calls are not the middleware's business;
``python -m serveract`` on 127.0.0.1 allows only the loopback names.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from framework_support import (
    ROOT,
    START_TIMEOUT,
    TESTS,
    cli_args,
    fetch,
    running,
    serving,
    subprocess_env,
)

import serveract
from conftest import FORM, JSON, Client, Response

PATTERNS = ["example.com", "*.example.com", "**.example.net", "localhost:8080", "[::1]"]

HOSTS = [
    pytest.param("example.com", True, id="exact"),
    pytest.param("example.com:8000", True, id="no-port-in-pattern-any-port"),
    pytest.param("EXAMPLE.com", True, id="case-insensitive"),
    pytest.param("shop.example.com", True, id="star-one-label"),
    pytest.param("a.b.example.com", False, id="star-is-one-label-only"),
    pytest.param("example.org", False, id="unlisted"),
    pytest.param("a.b.example.net", True, id="double-star-two-labels"),
    pytest.param("example.net", False, id="double-star-needs-a-label"),
    pytest.param("localhost:8080", True, id="port-in-pattern"),
    pytest.param("localhost:8081", False, id="other-port"),
    pytest.param("localhost", False, id="port-in-pattern-is-required"),
    pytest.param("[::1]:8000", True, id="ipv6-any-port"),
    pytest.param("example.com.evil.example", False, id="listed-as-prefix"),
    pytest.param("notexample.com", False, id="listed-as-suffix"),
    # A fully qualified name's final dot names the same host (Django drops it).
    pytest.param("example.com.", True, id="final-dot"),
    pytest.param("shop.example.com.:8000", True, id="final-dot-and-port"),
    pytest.param("example.com..", False, id="two-final-dots"),
]

CALLS = ["header", "path", "form"]


@dataclass
class Api:
    """The middleware under test, and the ``ping`` calls that ran."""

    client: Client
    ran: list[str]


def build(**options: Any) -> Api:
    registry = serveract.Registry()
    ran: list[str] = []

    @registry.action
    def ping() -> str:
        ran.append("ping")
        return "pong"

    return Api(Client(registry, host="api.example.net", **options), ran)


def call(api: Api, kind: str, headers: dict[str, str]) -> Response:
    """Call ``ping`` as a header call, a path call or a no-JS form call."""
    if kind == "form":
        body, content_type, action, path = b"%24action=ping", FORM, None, "/"
    elif kind == "header":
        body, content_type, action, path = b"[]", JSON, "ping", "/"
    else:
        body, content_type, action, path = b"[]", JSON, None, "/_serveract/ping"
    return api.client.send(
        body, content_type, action=action, headers=headers, path=path, status="*"
    )


def assert_called(api: Api, kind: str, answer: Response) -> None:
    if kind == "form":  # the page is rendered again, the outcome in result()
        assert answer.status_int == 200 and answer.from_app
        assert len(api.client.calls) == 1
        assert api.client.rendered.ok and api.client.rendered.value == "pong"
    else:
        assert (answer.status_int, answer.json) == (200, "pong")
    assert api.ran == ["ping"]


def assert_refused(api: Api, answer: Response) -> None:
    assert answer.status_int == 400, answer.body
    assert answer.error["type"] == "bad_request"
    assert api.ran == [] and api.client.calls == []


# -- Patterns -------------------------------------------------------------------


@pytest.mark.parametrize("kind", CALLS)
@pytest.mark.parametrize(("host", "allowed"), HOSTS)
def test_an_action_call_is_answered_only_for_an_allowed_host(
    kind: str, host: str, allowed: bool
) -> None:
    api = build(allowed_hosts=PATTERNS)
    answer = call(api, kind, {"Host": host})
    if allowed:
        assert_called(api, kind, answer)
    else:
        assert_refused(api, answer)


@pytest.mark.parametrize("kind", CALLS)
def test_a_dns_rebinding_call_is_refused_though_its_origin_matches_its_host(
    kind: str,
) -> None:
    # The attacker's name resolves to 127.0.0.1: Origin and Host both say it.
    api = build(allowed_hosts=["localhost", "127.0.0.1"])
    headers = {"Host": "rebind.evil.example:8000"}
    headers["Origin"] = "http://rebind.evil.example:8000"
    assert_refused(api, call(api, kind, headers))


@pytest.mark.parametrize("kind", CALLS)
def test_without_allowed_hosts_any_host_may_call(kind: str) -> None:
    api = build()
    assert_called(api, kind, call(api, kind, {"Host": "anything.example"}))


@pytest.mark.parametrize("kind", CALLS)
def test_an_empty_allowed_hosts_refuses_every_action_call(kind: str) -> None:
    api = build(allowed_hosts=[])
    assert_refused(api, call(api, kind, {"Host": "example.com"}))


def test_allowed_hosts_must_be_a_list_of_patterns() -> None:
    with pytest.raises(TypeError):
        build(allowed_hosts="example.com")


def test_a_wildcard_that_is_not_leftmost_is_refused_at_creation() -> None:
    with pytest.raises(ValueError, match=r"a\.\*\.example\.com"):
        build(allowed_hosts=["a.*.example.com"])


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        pytest.param("example.com", True, id="no-port"),
        pytest.param("example.com:80", True, id="that-port"),
        pytest.param("example.com:8000", False, id="another-port"),
    ],
)
@pytest.mark.parametrize("pattern", ["example.com:80", "example.com.:80"])
def test_a_pattern_naming_a_default_port_allows_only_that_port(
    pattern: str, host: str, allowed: bool
) -> None:
    # The default port is dropped from hosts to compare them; a pattern that
    # names it still names a port, not "any port" as a pattern without one.
    api = build(allowed_hosts=[pattern])
    answer = call(api, "path", {"Host": host})
    if allowed:
        assert_called(api, "path", answer)
    else:
        assert_refused(api, answer)


# -- Behind a proxy -------------------------------------------------------------

PROXIED = [
    pytest.param(
        True, "10.0.0.5:8000", "example.com, 10.0.0.5", True, id="trusted-forwarded"
    ),
    pytest.param(
        True, "example.com", "evil.example", False, id="trusted-forwarded-bad"
    ),
    pytest.param(
        True, "10.0.0.5", "evil.example, example.com", False, id="trusted-first-only"
    ),
    pytest.param(True, "example.com", None, True, id="trusted-no-forwarded-uses-host"),
    pytest.param(False, "10.0.0.5:8000", "example.com", False, id="untrusted-ignored"),
    pytest.param(False, "example.com", "evil.example", True, id="untrusted-uses-host"),
]


@pytest.mark.parametrize("kind", CALLS)
@pytest.mark.parametrize(("trusted", "host", "forwarded", "allowed"), PROXIED)
def test_the_forwarded_host_counts_only_with_trusted_proxy(
    kind: str, trusted: bool, host: str, forwarded: str | None, allowed: bool
) -> None:
    api = build(allowed_hosts=PATTERNS, trusted_proxy=trusted)
    headers = {"Host": host}
    if forwarded is not None:
        headers["X-Forwarded-Host"] = forwarded
    answer = call(api, kind, headers)
    if allowed:
        assert_called(api, kind, answer)
    else:
        assert_refused(api, answer)


# -- Not action calls -----------------------------------------------------------

PASS_THROUGH = [
    pytest.param("GET", "/", None, b"", id="get"),
    pytest.param("GET", "/serveract.jsx", None, b"", id="get-lookalike"),
    pytest.param("POST", "/", FORM, b"title=hello", id="form-without-action"),
    pytest.param("POST", "/api/items", JSON, b'{"a": 1}', id="json-post"),
    pytest.param("OPTIONS", "/api/items", None, b"", id="options"),
]


@pytest.mark.parametrize(("method", "path", "content_type", "body"), PASS_THROUGH)
def test_requests_that_are_not_action_calls_pass_through_whatever_the_host(
    method: str, path: str, content_type: str | None, body: bytes
) -> None:
    api = build(allowed_hosts=["example.com"])
    answer = api.client.send(
        body, content_type, method=method, path=path, host="evil.example", status=200
    )
    assert answer.from_app
    [seen] = api.client.calls
    assert (seen.method, seen.path, seen.body) == (method, path, body)
    assert seen.headers["HTTP_HOST"] == "evil.example"


# -- python -m serveract ---------------------------------------------------------


def post(url: str, path: str, host: str, **headers: str) -> tuple[int, Any]:
    """POST ``[]`` to ``url + path`` with ``Host: host``; status and JSON body."""
    headers = {"Host": host, "Content-Type": JSON, **headers}
    reply = fetch(url + path, "POST", b"[]", headers)
    return reply.status, json.loads(reply.body)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.0.0.2", "::1", "0:0:0:0:0:0:0:1", "[::1]"]
)
def test_python_m_serveract_on_loopback_allows_the_loopback_names_and_its_own(
    address: str,
) -> None:
    args = cli_args("access_hosts_app:app", "--host", address)
    own = f"[{address.strip('[]')}]" if ":" in address else address
    with serving(args, cwd=TESTS, env=subprocess_env()) as server:
        port = server.url.rsplit(":", 1)[1]
        for host in (own, "127.0.0.1", "localhost", "[::1]"):
            answer = post(server.url, "/_serveract/ping", f"{host}:{port}")
            assert answer == (200, "pong"), host
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.3:{port}"):
            status, body = post(server.url, "/_serveract/ping", host)
            assert (status, body["error"]["type"]) == (400, "bad_request"), host
        status, body = post(
            server.url, "/", "evil.example", **{"Serveract-Action": "ping"}
        )
        assert (status, body["error"]["type"]) == (400, "bad_request")
        page = fetch(server.url + "/", headers={"Host": "evil.example"})
        assert (page.status, page.body) == (200, b"page")


def test_python_m_serveract_keeps_the_allowed_hosts_an_app_sets() -> None:
    args = cli_args("access_hosts_app:explicit", "--host", "127.0.0.1")
    with serving(args, cwd=TESTS, env=subprocess_env()) as server:
        port = server.url.rsplit(":", 1)[1]
        assert post(server.url, "/_serveract/ping", "api.example") == (200, "pong")
        status, body = post(server.url, "/_serveract/ping", f"127.0.0.1:{port}")
        assert (status, body["error"]["type"]) == (400, "bad_request")


DEMO = re.compile(r"Todo demo on (http://\S+?)/?$")


def test_the_demo_on_loopback_allows_only_the_loopback_names() -> None:
    args = [sys.executable, str(ROOT / "examples" / "todo.py"), "--port", "0"]
    with running(args, env=subprocess_env()) as demo:
        url = demo.wait_for(DEMO, START_TIMEOUT).group(1)
        port = url.rsplit(":", 1)[1]
        status, _ = post(url, "/_serveract/stats", f"127.0.0.1:{port}")
        assert status == 200
        status, body = post(url, "/_serveract/stats", "rebind.evil.example")
        assert status == 400, body
        assert body["error"]["type"] == "bad_request"
