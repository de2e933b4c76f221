"""Cross-origin front ends: the CORS preflight and action answers for the
origins in ``allowed_origins``, nothing for any other origin, preflights that
are not for actions left to the wrapped app; then the same in a real Chromium
with three waitress servers on three 127.0.0.1 ports (the API, the allowed
front page, another page).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import webob
from access_support import Counter
from browser_support import RequestLog, chromium
from playwright.sync_api import Browser, Page

import serveract
from conftest import FORM, JSON, Client, Response, serving

ORIGINS = ["app.example.com", "*.example.org", "**.example.edu", "localhost:5173"]
HOST = "api.example.net"  # the API's own host in the in-process tests

ALLOWED = [
    pytest.param("https://app.example.com", id="exact"),
    pytest.param("http://localhost:5173", id="exact-with-port"),
    pytest.param("https://shop.example.org", id="star-one-label"),
    pytest.param("https://a.b.example.edu", id="double-star-two-labels"),
    pytest.param("https://c.example.edu", id="double-star-one-label"),
]
REFUSED = [
    pytest.param("https://evil.example", id="unlisted"),
    pytest.param("https://a.b.example.org", id="star-is-one-label-only"),
    pytest.param("https://example.org", id="star-needs-a-label"),
    pytest.param("https://example.edu", id="double-star-needs-a-label"),
    pytest.param("http://localhost:5174", id="other-port"),
    pytest.param("https://app.example.com.evil.example", id="listed-as-prefix"),
    pytest.param("https://evilapp.example.com", id="listed-as-suffix"),
    pytest.param("null", id="null"),
]


class Html(str):
    """Markup as a template engine makes it: answered as ``text/html``."""

    def __html__(self) -> str:
        return str(self)


@dataclass
class Api:
    """The middleware under test, and the action counter."""

    client: Client
    ran: Counter


def build(**options: Any) -> Api:
    """``ServerActions`` over a recording app with a few actions; every
    action that runs counts once in ``ran``."""
    registry = serveract.Registry()
    ran = Counter()

    @registry.action
    def add(a: int, b: int) -> int:
        ran()
        return a + b

    @registry.action
    def refuse() -> None:
        ran()
        raise serveract.ActionError("Not today.", data={"why": "test"})

    @registry.action
    def leave() -> None:
        ran()
        raise serveract.redirect("/elsewhere")

    @registry.action
    def markup() -> Html:
        ran()
        return Html("<p>hi</p>")

    @registry.action
    def own_response() -> webob.Response:
        ran()
        response = webob.Response(json_body={"own": True})
        response.headers["Vary"] = "Accept"
        return response

    @registry.action
    def explode() -> None:
        ran()
        raise RuntimeError("boom")

    options.setdefault("allowed_origins", ORIGINS)
    return Api(Client(registry, host=HOST, **options), ran)


@pytest.fixture
def api() -> Api:
    return build()


def preflight(
    api: Api,
    origin: str,
    path: str = "/_serveract/add",
    *,
    request_method: str = "POST",
    request_headers: str | None = "content-type",
    **more: str,
) -> Response:
    """An ``OPTIONS`` preflight as Chromium sends it (lowercase, sorted names)."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": request_method,
        "Sec-Fetch-Mode": "cors",
        **more,
    }
    if request_headers is not None:
        headers["Access-Control-Request-Headers"] = request_headers
    return api.client.send(
        method="OPTIONS", path=path, headers=headers, length=None, status="*"
    )


def call(
    api: Api, path: str, body: Any, content_type: str = JSON, **headers: str
) -> Response:
    """A POST of ``body``: JSON, unless it is text of ``content_type``."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return api.client.send(data, content_type, path=path, headers=headers, status="*")


def assert_preflight_allowed(
    answer: Response, origin: str, header: str = "Serveract-Action"
) -> None:
    """Every header SPEC and BRIEF fix for an allowed preflight."""
    assert answer.status_int == 204, answer
    assert answer.body == b""
    assert answer.header("Access-Control-Allow-Origin") == origin
    assert answer.tokens("Access-Control-Allow-Methods") == {"post"}
    assert answer.tokens("Access-Control-Allow-Headers") == {
        header.lower(),
        "content-type",
    }
    assert answer.header("Access-Control-Allow-Credentials") == "true"
    assert answer.header("Access-Control-Max-Age") == "600"
    assert "origin" in answer.tokens("Vary")


def assert_cors_answer(answer: Response, origin: str) -> None:
    """Every header SPEC and BRIEF fix for an action answer to an allowed origin."""
    assert answer.header("Access-Control-Allow-Origin") == origin
    assert answer.header("Access-Control-Allow-Credentials") == "true"
    assert "serveract-redirect" in answer.tokens("Access-Control-Expose-Headers")
    assert "origin" in answer.tokens("Vary")


def assert_no_allow_origin(answer: Response) -> None:
    assert answer.header("Access-Control-Allow-Origin") is None, answer.headerlist
    assert all(value != "*" for _, value in answer.headerlist), answer.headerlist


# -- The preflight --------------------------------------------------------------


@pytest.mark.parametrize("origin", ALLOWED)
def test_a_preflight_for_a_path_call_from_an_allowed_origin_is_answered_204(
    api: Api, origin: str
) -> None:
    answer = preflight(api, origin)
    assert_preflight_allowed(answer, origin)
    assert api.client.calls == []
    assert api.ran.count == 0


@pytest.mark.parametrize(
    "request_headers",
    [
        pytest.param("serveract-action", id="only-the-action-header"),
        pytest.param("content-type,serveract-action", id="as-chromium-sends"),
        pytest.param("Content-Type, Serveract-Action", id="spaces-and-case"),
    ],
)
@pytest.mark.parametrize("path", ["/", "/serveract.js", "/deep/page"])
def test_a_preflight_naming_the_action_header_is_answered_on_any_path(
    api: Api, path: str, request_headers: str
) -> None:
    origin = "https://app.example.com"
    answer = preflight(api, origin, path, request_headers=request_headers)
    assert_preflight_allowed(answer, origin)
    assert api.client.calls == []


def test_a_preflight_without_request_headers_is_answered_for_a_path_call(
    api: Api,
) -> None:
    # A preflight may name no headers at all: the path makes it an action's.
    origin = "https://shop.example.org"
    assert_preflight_allowed(preflight(api, origin, request_headers=None), origin)


def test_a_preflight_from_a_vite_dev_server_on_another_site_is_answered(
    api: Api,
) -> None:
    # localhost:5173 calling api.example.net is cross-site, not only cross-origin.
    origin = "http://localhost:5173"
    answer = preflight(api, origin, **{"Sec-Fetch-Site": "cross-site"})
    assert_preflight_allowed(answer, origin)


def test_the_preflight_allows_the_configured_action_header() -> None:
    api = build(header="X-Call-Action")
    origin = "https://app.example.com"
    answer = preflight(api, origin, "/", request_headers="x-call-action")
    assert_preflight_allowed(answer, origin, header="X-Call-Action")
    assert_preflight_allowed(preflight(api, origin), origin, "X-Call-Action")
    # The default name is no action header here: that preflight is the app's.
    other = preflight(api, origin, "/", request_headers="serveract-action")
    assert other.from_app
    assert len(api.client.calls) == 1


def test_a_preflight_for_a_path_call_under_a_script_name_is_answered(
    api: Api,
) -> None:
    origin = "https://app.example.com"
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    answer = api.client.send(
        method="OPTIONS",
        path="/_serveract/add",
        script_name="/api",
        headers=headers,
        length=None,
    )
    assert_preflight_allowed(answer, origin)


@pytest.mark.parametrize("origin", REFUSED)
@pytest.mark.parametrize(
    ("path", "request_headers"),
    [
        pytest.param("/_serveract/add", "content-type", id="path-call"),
        pytest.param("/", "content-type,serveract-action", id="header-call"),
    ],
)
def test_a_preflight_from_a_refused_origin_gets_no_allow_origin(
    api: Api, origin: str, path: str, request_headers: str
) -> None:
    answer = preflight(api, origin, path, request_headers=request_headers)
    assert_no_allow_origin(answer)
    assert api.ran.count == 0


def test_without_allowed_origins_no_preflight_is_allowed() -> None:
    api = build(allowed_origins=())
    answer = preflight(api, "https://app.example.com")
    assert_no_allow_origin(answer)
    assert api.ran.count == 0


@pytest.mark.parametrize(
    ("path", "request_method", "request_headers"),
    [
        pytest.param("/api/items", "POST", "content-type", id="post-elsewhere"),
        pytest.param("/api/items", "POST", None, id="no-request-headers"),
        pytest.param("/", "DELETE", "x-token", id="delete-on-root"),
        pytest.param("/api/items", "PUT", "content-type", id="put-elsewhere"),
        pytest.param(
            "/api/items", "POST", "x-serveract-action-id", id="header-name-lookalike"
        ),
        pytest.param("/_serveractions/add", "POST", None, id="path-lookalike"),
    ],
)
def test_preflights_not_for_actions_pass_through_untouched(
    api: Api, path: str, request_method: str, request_headers: str | None
) -> None:
    # The wrapped app's own CORS answer must reach the browser as it wrote it.
    api.client.recorder.headers = [("Access-Control-Allow-Origin", "https://cdn.test")]
    origin = "https://app.example.com"
    answer = preflight(
        api,
        origin,
        path,
        request_method=request_method,
        request_headers=request_headers,
    )
    assert answer.status_int == 200
    assert answer.headerlist == [
        ("Content-Type", JSON),
        ("Content-Length", str(len(answer.body))),
        ("X-From", "the app"),
        ("Access-Control-Allow-Origin", "https://cdn.test"),
    ]
    [seen] = api.client.calls
    assert (seen.method, seen.path) == ("OPTIONS", path)
    assert seen.headers["HTTP_ORIGIN"] == origin
    assert seen.headers["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] == request_method
    assert seen.headers.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") == request_headers


def test_an_options_request_without_origin_passes_through(api: Api) -> None:
    answer = api.client.send(method="OPTIONS", length=None, status=200)
    assert answer.from_app
    assert [seen.method for seen in api.client.calls] == ["OPTIONS"]


# -- Action answers --------------------------------------------------------------

CALLS = [
    pytest.param("/_serveract/add", {}, [2, 3], 200, id="path-call"),
    pytest.param("/", {"Serveract-Action": "add"}, [2, 3], 200, id="header-call"),
    pytest.param("/_serveract/add", {}, ["x", 3], 422, id="invalid-arguments"),
    pytest.param("/_serveract/refuse", {}, [], 400, id="action-error"),
    pytest.param("/_serveract/leave", {}, [], 200, id="redirect"),
    pytest.param("/_serveract/markup", {}, [], 200, id="html"),
    pytest.param("/_serveract/own_response", {}, [], 200, id="webob-response"),
    pytest.param("/_serveract/explode", {}, [], 500, id="internal-error"),
    pytest.param("/_serveract/missing", {}, [], 404, id="no-such-action"),
    pytest.param("/", {"Serveract-Action": "add"}, "[2, 3", 400, id="bad-json"),
]


@pytest.mark.parametrize(("path", "headers", "body", "status"), CALLS)
def test_action_answers_to_an_allowed_origin_carry_the_cors_headers(
    api: Api, path: str, headers: dict[str, str], body: Any, status: int
) -> None:
    origin = "https://shop.example.org"
    answer = call(api, path, body, Origin=origin, **headers)
    assert answer.status_int == status, answer.body
    assert_cors_answer(answer, origin)
    assert api.client.calls == []


def test_a_redirect_answer_exposes_its_header_to_the_front_end(api: Api) -> None:
    answer = call(api, "/_serveract/leave", [], Origin="https://app.example.com")
    assert answer.header("Serveract-Redirect") == "/elsewhere"
    assert "serveract-redirect" in answer.tokens("Access-Control-Expose-Headers")


def test_vary_origin_is_added_to_the_vary_an_action_response_sets(api: Api) -> None:
    origin = "https://app.example.com"
    answer = call(api, "/_serveract/own_response", [], Origin=origin)
    assert answer.json == {"own": True}
    assert {"accept", "origin"} <= answer.tokens("Vary")


def test_an_allowed_origin_is_served_though_the_browser_says_cross_site(
    api: Api,
) -> None:
    origin = "http://localhost:5173"
    headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"}
    answer = call(api, "/_serveract/add", [2, 3], **headers)
    assert (answer.status_int, answer.json) == (200, 5)
    assert_cors_answer(answer, origin)


def test_an_enhanced_form_from_an_allowed_origin_gets_the_cors_headers(
    api: Api,
) -> None:
    # The client posts an enhanced form as a header call with a form body.
    origin = "https://app.example.com"
    headers = {"Origin": origin, "Serveract-Action": "add"}
    answer = call(api, "/", "a=2&b=3", FORM, **headers)
    assert (answer.status_int, answer.json) == (200, 5)
    assert_cors_answer(answer, origin)


@pytest.mark.parametrize("origin", REFUSED)
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/_serveract/add", {}, id="path-call"),
        pytest.param("/", {"Serveract-Action": "add"}, id="header-call"),
    ],
)
def test_a_call_from_a_refused_origin_is_403_with_no_allow_origin(
    api: Api, origin: str, path: str, headers: dict[str, str]
) -> None:
    answer = call(api, path, [2, 3], Origin=origin, **headers)
    assert answer.status_int == 403
    assert answer.error["type"] == "forbidden"
    assert_no_allow_origin(answer)
    assert api.ran.count == 0


def test_a_same_origin_call_gets_no_cors_headers(api: Api) -> None:
    answer = call(api, "/_serveract/add", [2, 3], Origin=f"http://{HOST}")
    assert (answer.status_int, answer.json) == (200, 5)
    assert_no_allow_origin(answer)


def test_a_pass_through_request_from_an_allowed_origin_is_left_alone(
    api: Api,
) -> None:
    answer = api.client.send(
        method="GET",
        path="/api/items",
        headers={"Origin": "https://app.example.com"},
        length=None,
    )
    assert answer.headerlist == [
        ("Content-Type", JSON),
        ("Content-Length", str(len(answer.body))),
        ("X-From", "the app"),
    ]
    assert [seen.path for seen in api.client.calls] == ["/api/items"]


# -- In a real browser: three servers on three ports ----------------------------


@dataclass
class Sites:
    """The API (actions, allowed from ``front`` only), the front page, and
    another page; every request to the API is logged."""

    api: str
    front: str
    other: str
    log: RequestLog
    ran: Counter


def front_page(api_url: dict[str, str]) -> Any:
    """A page loading the client from the API's origin (known once it serves)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = (
            "<!doctype html><title>front</title>"
            f'<script src="{api_url["url"]}/serveract.js"></script>'
        ).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return app


def api_app(front: str, ran: Counter) -> Any:
    """The actions behind ``allowed_origins=["127.0.0.1:<front port>"]``."""
    registry = serveract.Registry()

    @registry.action
    def add(a: int, b: int) -> int:
        return a + b

    @registry.action
    def whoami(request: webob.Request) -> str | None:
        return request.cookies.get("session")

    @registry.action
    def login() -> webob.Response:
        response = webob.Response(json_body=True)
        response.set_cookie("session", "fresh", samesite="Lax", httponly=True)
        return response

    @registry.action
    def record() -> str:
        ran()
        return "ran"

    def not_found(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such page"]

    port = front.rsplit(":", 1)[1]
    return serveract.ServerActions(
        not_found, registry, allowed_origins=[f"127.0.0.1:{port}"]
    )


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    api_url: dict[str, str] = {}
    ran = Counter()
    with ExitStack() as stack:
        front = stack.enter_context(serving(front_page(api_url)))
        other = stack.enter_context(serving(front_page(api_url)))
        log = RequestLog(api_app(front, ran))
        api_url["url"] = stack.enter_context(serving(log))
        yield Sites(api_url["url"], front, other, log, ran)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # One per module: playwright's sync API marks an asyncio loop as running
    # in this thread, which would break asyncio.run in later test modules.
    with chromium() as browser:
        yield browser


def open_page(browser: Browser, sites: Sites, url: str) -> Iterator[Page]:
    """A fresh context (no cookies, no preflight cache) with a ``session``
    cookie for 127.0.0.1, on ``url`` once the client script has run."""
    sites.log.clear()
    sites.ran.count = 0
    context = browser.new_context()
    context.set_default_timeout(5000)
    context.add_cookies(
        [{"name": "session", "value": "s3cret", "url": sites.api, "sameSite": "Lax"}]
    )
    page = context.new_page()
    try:
        page.goto(url + "/")
        page.wait_for_function("window.serveract !== undefined")
        yield page
    finally:
        context.close()


@pytest.fixture
def front(browser: Browser, sites: Sites) -> Iterator[Page]:
    yield from open_page(browser, sites, sites.front)


@pytest.fixture
def other(browser: Browser, sites: Sites) -> Iterator[Page]:
    yield from open_page(browser, sites, sites.other)


FETCH_JSON = """async ([url, body]) => {
  try {
    const response = await fetch(url, {
      method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json"}, body,
    });
    return {status: response.status, value: await response.json()};
  } catch (error) {
    return {error: error.name};
  }
}"""


def settle(page: Page, call: str) -> dict[str, Any]:
    """``{"value": ...}`` if the call resolved, ``{"status": ...}`` if it
    rejected (with its error's ``status``, as the client sets it)."""
    result: dict[str, Any] = page.evaluate(
        f"{call}.then((value) => ({{value}}), "
        "(e) => ({status: e.status, type: e.type, name: e.name}))"
    )
    return result


def test_fetch_with_credentials_from_the_allowed_page_calls_a_path_action(
    front: Page, sites: Sites
) -> None:
    answer = front.evaluate(FETCH_JSON, [sites.api + "/_serveract/whoami", "{}"])
    assert answer == {"status": 200, "value": "s3cret"}
    calls = sites.log.requests(path="/_serveract/whoami")
    assert [(s.method, s.status[:3]) for s in calls] == [
        ("OPTIONS", "204"),
        ("POST", "200"),
    ]


def test_serveract_call_from_the_allowed_page_works(front: Page) -> None:
    assert settle(front, "serveract.call('add', 2, 3)") == {"value": 5}
    assert settle(front, "serveract.callWith('add', {a: 2, b: 3})") == {"value": 5}
    assert settle(front, "serveract.actions.add({a: 4, b: 5})") == {"value": 9}


def test_serveract_call_from_the_allowed_page_sends_the_cookies(front: Page) -> None:
    # SPEC: "with credentials". Across origins that takes credentials: "include".
    assert settle(front, "serveract.call('whoami')") == {"value": "s3cret"}


def test_a_cookie_set_by_a_cross_origin_action_is_kept_and_sent_back(
    front: Page,
) -> None:
    assert settle(front, "serveract.call('login')") == {"value": True}
    assert settle(front, "serveract.call('whoami')") == {"value": "fresh"}


def test_error_answers_are_readable_from_the_allowed_page(front: Page) -> None:
    # Without the CORS headers on errors the browser would hide them: status 0.
    outcome = settle(front, "serveract.call('add', 'two', 3)")
    assert (outcome["status"], outcome["type"]) == (422, "invalid_arguments")
    outcome = settle(front, "serveract.call('nothing_here')")
    assert (outcome["status"], outcome["type"]) == (404, "not_found")


def test_a_page_on_another_port_is_refused_by_the_browser(
    other: Page, sites: Sites
) -> None:
    outcome = settle(other, "serveract.call('record')")
    assert outcome["status"] == 0, outcome
    answer = other.evaluate(FETCH_JSON, [sites.api + "/_serveract/record", "[]"])
    assert answer == {"error": "TypeError"}
    # Both calls are preflighted (JSON body): the browser never sent the POST.
    assert sites.log.requests("POST") == []
    assert sites.ran.count == 0


def test_a_simple_post_from_another_port_reaches_the_api_and_is_refused(
    other: Page, sites: Sites
) -> None:
    # text/plain is not preflighted: the POST is sent, and the server must refuse.
    outcome = other.evaluate(
        """async (url) => {
          try { await fetch(url, {method: "POST", body: "[]"}); return "read"; }
          catch (error) { return error.name; }
        }""",
        sites.api + "/_serveract/record",
    )
    assert outcome == "TypeError"
    [post] = sites.log.requests("POST")
    assert (post.path, post.status[:3]) == ("/_serveract/record", "403")
    assert sites.ran.count == 0
