"""The todo demo (``examples/todo.py``) without a browser, through WebTest.

Its pages render whatever a form without JavaScript sends them, the htmx
page works offline on the copy of htmx the demo serves itself (and says so
plainly when there is none), and serving on a loopback address lets only
loopback host names call actions.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest
from browser_support import load_demo

todo = load_demo()


@pytest.fixture(autouse=True)
def fresh_list() -> None:
    todo.store.reset()


@pytest.fixture
def browser() -> webtest.TestApp:
    """The demo as a browser without JavaScript sees it."""
    return webtest.TestApp(todo.app)


@pytest.fixture
def vendored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A vendored htmx, as ``.ci/install`` puts it in place."""
    script = b"/* htmx, vendored */ window.htmx = {};"
    path = tmp_path / "htmx.min.js"
    path.write_bytes(script)
    monkeypatch.setattr(todo, "HTMX_FILE", path)
    monkeypatch.setattr(todo, "HTMX_URL", "")
    return script


@pytest.fixture
def no_htmx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(todo, "HTMX_FILE", tmp_path / "missing" / "htmx.min.js")
    monkeypatch.setattr(todo, "HTMX_URL", "")


def flash(page: webtest.TestResponse) -> str:
    found = page.html.find(id="flash")
    assert found is not None, page.text[:500]
    return str(found.get_text())


# -- Forms without JavaScript -----------------------------------------------


def test_every_form_on_the_page_works_without_javascript(
    browser: webtest.TestApp,
) -> None:
    page = browser.get("/")
    add = page.forms[1]
    add["title"] = "Buy milk"
    page = add.submit()
    assert flash(page) == "Added “Buy milk”."
    assert "Buy milk" in page.html.find(class_="todos").get_text()

    toggle = next(f for f in page.forms.values() if "toggle_todo" in f.text)
    page = toggle.submit()
    assert page.html.find(class_="todo done") is not None

    delete = next(f for f in page.forms.values() if "delete_todo" in f.text)
    page = delete.submit()
    assert flash(page) == "Deleted."

    bulk = next(f for f in page.forms.values() if "complete_all" in f.text)
    page = bulk.submit()
    assert flash(page) == "Everything is done."
    bulk = next(f for f in page.forms.values() if "complete_all" in f.text)
    # The submitter's name=value comes last, after the hidden field (WebTest
    # cannot pick a button named like a hidden field).
    page = browser.post(bulk.action, [*bulk.submit_fields(), ("$action", "clear_done")])
    assert flash(page) == "Cleared the finished ones."
    assert page.html.find(class_="empty") is not None

    start_over = page.forms[0]
    redirected = start_over.submit(status=303)
    assert flash(redirected.follow()) == "Started over with a fresh list."


def test_a_refused_title_is_shown_next_to_the_field_and_kept(
    browser: webtest.TestApp,
) -> None:
    page = browser.post("/", {"$action": "add_todo", "title": "x" * 81})
    error = page.html.find(id="title-error").get_text()
    assert error == "Keep it under 80 characters (this one has 81)."
    assert page.html.find(id="title")["value"] == "x" * 81
    assert page.html.find(id="title")["aria-invalid"] == "true"


def test_a_form_naming_the_stats_action_renders_the_counts(
    browser: webtest.TestApp,
) -> None:
    """``stats`` answers counts, no message: the page used to raise."""
    page = browser.post("/", {"$action": "stats"})
    assert flash(page) == "2 open, 0 done."


@pytest.mark.parametrize("path", ["/", "/htmx"])
@pytest.mark.parametrize("name", sorted(todo.registry))
def test_a_form_naming_any_action_renders_the_page(
    browser: webtest.TestApp, path: str, name: str
) -> None:
    """Whatever action a form without JavaScript names, the page shows the
    outcome (or the middleware answers before it: a redirect, or an error
    for bound values the form did not carry)."""
    answer = browser.post(path, {"$action": name, "title": "From a form"}, status="*")
    if answer.status_int == 200:
        assert answer.content_type == "text/html"
        assert answer.html.find("h1") is not None
        assert answer.headers["Cache-Control"] == "no-store"
    elif answer.status_int == 303:
        assert answer.location.endswith("/?fresh=1")
    else:
        assert (answer.status_int, answer.json["error"]["type"]) == (
            400,
            "bad_request",
        )
        assert "signed" in answer.json["error"]["message"]


# -- htmx, offline ----------------------------------------------------------


def htmx_script(page: webtest.TestResponse) -> str | None:
    """The ``src`` of the script tag that loads htmx, if there is one."""
    sources = [str(s["src"]) for s in page.html.find_all("script", src=True)]
    others = [s for s in sources if s != "/serveract.js"]
    assert len(others) <= 1, sources
    return others[0] if others else None


def test_the_htmx_page_loads_the_vendored_htmx_from_the_demo(
    browser: webtest.TestApp, vendored: bytes
) -> None:
    page = browser.get("/htmx")
    url = htmx_script(page)
    assert url is not None and url.startswith("/"), url  # local, no CDN
    script = browser.get(url)
    assert script.status_int == 200
    assert script.content_type == "text/javascript"
    assert script.body == vendored
    assert page.html.find(class_="missing") is None


def test_the_vendored_htmx_is_revalidated_not_downloaded_again(
    browser: webtest.TestApp, vendored: bytes
) -> None:
    script = browser.get(todo.HTMX_PATH)
    again = browser.get(
        todo.HTMX_PATH, headers={"If-None-Match": script.headers["ETag"]}, status=304
    )
    assert again.body == b""


def test_the_htmx_page_says_plainly_when_htmx_is_missing(
    browser: webtest.TestApp, no_htmx: None
) -> None:
    page = browser.get("/htmx")
    assert htmx_script(page) is None
    note = page.html.find(class_="missing")
    assert note is not None
    assert "htmx is missing" in note.get_text()
    assert "TODO_HTMX_URL" in note.get_text()
    browser.get(todo.HTMX_PATH, status=404)
    # The form still works as a plain form.
    page = browser.post("/htmx", {"$action": "add_todo_html", "title": "Plain"})
    assert "Plain" in page.html.find(id="htmx-list").get_text()


def test_todo_htmx_url_chooses_where_htmx_comes_from(
    browser: webtest.TestApp, no_htmx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(todo, "HTMX_URL", "/static/my-htmx.js")
    assert htmx_script(browser.get("/htmx")) == "/static/my-htmx.js"


def test_todo_htmx_url_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TODO_HTMX_URL", "https://cdn.example/htmx.min.js")
    fresh = load_demo("serveract_todo_demo_env_check")
    try:
        assert fresh.HTMX_URL == "https://cdn.example/htmx.min.js"
    finally:
        del sys.modules["serveract_todo_demo_env_check"]


def test_the_page_loads_no_script_from_another_site(
    browser: webtest.TestApp, vendored: bytes
) -> None:
    for path in ("/", "/htmx"):
        page = browser.get(path)
        for tag in page.html.find_all("script", src=True):
            assert not re.match(r"(?i)(https?:)?//", tag["src"]), tag


# -- allowed_hosts when serving on loopback ----------------------------------


def call_stats(app: Any, host: str) -> webtest.TestResponse:
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": host})
    return client.post(
        "/",
        "[]",
        {"Serveract-Action": "stats", "Content-Type": "application/json"},
        status="*",
    )


@pytest.fixture(params=["127.0.0.1", "::1", "localhost"])
def loopback_app(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield todo.make_app(request.param)


@pytest.mark.parametrize(
    "host", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "localhost"]
)
def test_on_loopback_action_calls_to_loopback_names_are_answered(
    loopback_app: Any, host: str
) -> None:
    answer = call_stats(loopback_app, host)
    assert answer.status_int == 200
    assert answer.json["open"] == 2


@pytest.mark.parametrize(
    "host", ["rebound.example:8080", "evil.example", "127.0.0.1.nip.io:8080"]
)
def test_on_loopback_action_calls_to_other_names_are_400(
    loopback_app: Any, host: str
) -> None:
    answer = call_stats(loopback_app, host)
    assert answer.status_int == 400
    assert answer.json["error"]["type"] == "bad_request"


def test_on_loopback_pages_still_answer_any_host() -> None:
    """Only action calls are checked; the pages are the app's business."""
    client = webtest.TestApp(todo.make_app("127.0.0.1"))
    page = client.get("/", extra_environ={"HTTP_HOST": "rebound.example"})
    assert page.status_int == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "todo.example"])
def test_on_other_addresses_no_host_is_refused(host: str) -> None:
    answer = call_stats(todo.make_app(host), "todo.example:8080")
    assert answer.status_int == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_only_loopback_addresses_and_localhost_are_loopback(
    host: str, loopback: bool
) -> None:
    assert todo.is_loopback(host) is loopback
