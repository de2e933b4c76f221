"""The demo in a real headless Chromium, with JavaScript off and on.

The demo (``examples/todo.py``) runs on waitress on 127.0.0.1; every request
goes through a log, so a test can tell what the browser actually sent.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from browser_support import RequestLog, chromium, load_demo, with_vendored_htmx
from playwright.sync_api import Browser, Page, expect

import serveract
from conftest import serving

todo = load_demo()
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
SEED = list(todo.SEED)


@todo.action(name="test.日本語")
@todo.action(name="test.créer")
def _named_outside_ascii(note: str) -> str:
    """Test-only: actions named outside ASCII, and outside Latin-1."""
    return f"got {note}"


@todo.action(name="test.upload")
def _upload(note: str, attachment: IO[bytes]) -> dict[str, Any]:
    """Test-only: proves the client sends file inputs along."""
    return {
        "note": note,
        "filename": attachment.filename,  # type: ignore[attr-defined]
        "content": attachment.read().decode(),
    }


@todo.action(name="test.choose")
def _choose(action: str, target: str = "") -> str:
    """Test-only: a form whose fields are named like a form's own properties."""
    return f"{action} {target}".strip()


@todo.action(name="test.method")
def _method(method: str) -> str:
    """Test-only: a form with a field named like the form's method."""
    return f"method={method}"


@todo.action(name="test.jump")
def _jump(to: str) -> None:
    """Test-only: a redirect within the page."""
    raise serveract.redirect(f"#{to}")


# -- Fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def log() -> RequestLog:
    return RequestLog(with_vendored_htmx(todo.app))


@pytest.fixture(scope="module")
def base_url(log: RequestLog) -> Iterator[str]:
    with serving(log) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # One per module: playwright's sync API marks an asyncio loop as running
    # in this thread, which would break asyncio.run in later test modules.
    with chromium() as browser:
        yield browser


@pytest.fixture(autouse=True)
def fresh_state(log: RequestLog, monkeypatch: pytest.MonkeyPatch) -> None:
    todo.store.reset()
    log.clear()
    monkeypatch.setattr(todo, "HTMX_URL", "/vendor/htmx.min.js")


def _page(browser: Browser, base_url: str, *, javascript: bool) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, java_script_enabled=javascript)
    context.set_default_timeout(5000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    yield from _page(browser, base_url, javascript=True)


@pytest.fixture
def nojs(browser: Browser, base_url: str) -> Iterator[Page]:
    yield from _page(browser, base_url, javascript=False)


@pytest.fixture(params=[False, True], ids=["js-off", "js-on"])
def any_page(
    request: pytest.FixtureRequest, browser: Browser, base_url: str
) -> Iterator[Page]:
    yield from _page(browser, base_url, javascript=request.param)


def titles(page: Page) -> Any:
    return page.locator("#list .todo .title")


def open_demo(page: Page) -> None:
    """Load the demo; with JavaScript on, mark the page to detect reloads."""
    page.goto("/")
    expect(titles(page)).to_have_text(SEED)
    if _javascript(page):
        page.evaluate("window.__marker = 1")


def _javascript(page: Page) -> bool:
    return page.locator("#stats").is_visible()


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1


def assert_no_javascript_was_used(log: RequestLog) -> None:
    posts = log.requests("POST")
    assert posts, "the browser sent no form"
    assert all(seen.action is None for seen in posts), posts
    assert log.requests(path="/serveract.js") == []


# -- JavaScript off: plain forms, the page rendered again ---------------------


def test_without_js_adding_shows_the_new_todo_and_clears_the_field(
    nojs: Page, log: RequestLog
) -> None:
    open_demo(nojs)
    nojs.fill("#title", "Buy oat milk")
    nojs.click("form.add button")
    expect(titles(nojs)).to_have_text([*SEED, "Buy oat milk"])
    expect(nojs.locator("#flash")).to_have_text("Added “Buy oat milk”.")
    expect(nojs.locator("#title")).to_have_value("")
    expect(nojs.locator(".count")).to_have_text("3 open · 0 done")
    assert_no_javascript_was_used(log)
    assert [(s.method, s.path, s.status) for s in log.requests("POST")] == [
        ("POST", "/", "200 OK")
    ]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        pytest.param("   ", "Write what needs doing.", id="blank"),
        pytest.param(
            "x" * 81, "Keep it under 80 characters (this one has 81).", id="too-long"
        ),
    ],
)
def test_without_js_invalid_input_shows_the_field_error_and_keeps_it(
    nojs: Page, log: RequestLog, typed: str, message: str
) -> None:
    open_demo(nojs)
    nojs.fill("#title", typed)
    nojs.click("form.add button")
    expect(nojs.locator("#title-error")).to_have_text(message)
    expect(nojs.locator("#title")).to_have_attribute("aria-invalid", "true")
    expect(nojs.locator("#title")).to_have_value(typed)  # filled in again
    expect(titles(nojs)).to_have_text(SEED)
    assert_no_javascript_was_used(log)


def test_without_js_toggle_and_delete_work_through_signed_ids(
    nojs: Page, log: RequestLog
) -> None:
    open_demo(nojs)
    nojs.get_by_role("button", name=f"Mark “{SEED[1]}” as done").click()
    expect(nojs.locator("#list .todo.done .title")).to_have_text([SEED[1]])
    nojs.get_by_role("button", name=f"Delete “{SEED[0]}”").click()
    expect(titles(nojs)).to_have_text([SEED[1]])
    expect(nojs.locator(".count")).to_have_text("0 open · 1 done")
    assert_no_javascript_was_used(log)


# -- Both ways: several buttons, a redirect -----------------------------------


def test_a_submit_button_naming_an_action_overrides_the_forms(
    any_page: Page, log: RequestLog
) -> None:
    open_demo(any_page)
    any_page.get_by_role("button", name=f"Mark “{SEED[0]}” as done").click()
    expect(any_page.locator(".count")).to_have_text("1 open · 1 done")
    any_page.get_by_role("button", name="Clear completed").click()  # $action=clear_done
    expect(titles(any_page)).to_have_text([SEED[1]])
    expect(any_page.locator("#flash")).to_have_text("Cleared the finished ones.")
    any_page.get_by_role("button", name="Complete all").click()  # the hidden default
    expect(any_page.locator(".count")).to_have_text("0 open · 1 done")
    expect(any_page.locator("#flash")).to_have_text("Everything is done.")
    if _javascript(any_page):
        assert_not_reloaded(any_page)
        actions = [seen.action for seen in log.requests("POST")]
        assert actions[1:] == ["clear_done", "complete_all"]
    else:
        assert_no_javascript_was_used(log)


def test_an_action_that_redirects_navigates_to_the_new_page(
    any_page: Page, log: RequestLog
) -> None:
    todo.store.add("Gone after starting over")
    any_page.goto("/")
    if _javascript(any_page):
        any_page.evaluate("window.__marker = 1")
    any_page.get_by_role("button", name="Start over").click()
    expect(any_page).to_have_url(re.compile(r"/\?fresh=1$"))
    expect(any_page.locator("#flash")).to_have_text("Started over with a fresh list.")
    expect(titles(any_page)).to_have_text(SEED)
    assert any_page.evaluate("window.__marker") is None  # a new page
    [post] = log.requests("POST")
    if _javascript(any_page):
        assert (post.action, post.status) == ("start_over", "200 OK")
    else:
        assert (post.action, post.status) == (None, "303 See Other")


# -- JavaScript on: the same forms, no reload ---------------------------------


def test_with_js_adding_updates_the_page_without_a_reload(
    page: Page, log: RequestLog
) -> None:
    open_demo(page)
    page.fill("#title", "Buy oat milk")
    page.press("#title", "Enter")
    expect(titles(page)).to_have_text([*SEED, "Buy oat milk"])
    expect(page.locator("#flash")).to_have_text("Added “Buy oat milk”.")
    expect(page.locator("#title")).to_have_value("")
    expect(page.locator(".count")).to_have_text("3 open · 0 done")
    assert_not_reloaded(page)
    [post] = log.requests("POST")
    assert (post.path, post.action, post.status) == ("/", "add_todo", "200 OK")
    assert len(log.requests("GET", "/")) == 1


def test_with_js_invalid_input_shows_the_field_error_until_fixed(page: Page) -> None:
    open_demo(page)
    page.fill("#title", "x" * 81)
    page.click("form.add button")
    expect(page.locator("#title-error")).to_have_text(
        "Keep it under 80 characters (this one has 81)."
    )
    expect(page.locator("#title")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#title")).to_have_value("x" * 81)
    page.fill("#title", "Short")
    page.click("form.add button")
    expect(page.locator("#title-error")).to_have_text("")
    expect(page.locator("#title")).not_to_have_attribute("aria-invalid", "true")
    expect(titles(page)).to_have_text([*SEED, "Short"])
    assert_not_reloaded(page)


def test_with_js_toggle_and_delete_update_the_list_without_a_reload(page: Page) -> None:
    open_demo(page)
    page.get_by_role("button", name=f"Mark “{SEED[1]}” as done").click()
    expect(page.locator("#list .todo.done .title")).to_have_text([SEED[1]])
    page.get_by_role("button", name=f"Mark “{SEED[1]}” as open").click()
    expect(page.locator("#list .todo.done")).to_have_count(0)
    page.get_by_role("button", name=f"Delete “{SEED[0]}”").click()
    expect(titles(page)).to_have_text([SEED[1]])
    assert_not_reloaded(page)
    assert [t.title for t in todo.store.all()] == [SEED[1]]


def test_with_js_the_answer_for_a_form_redrawn_meanwhile_still_arrives(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    toggle = todo.store.toggle

    def slow_toggle(todo_id: int) -> None:
        assert release.wait(timeout=10)
        toggle(todo_id)

    monkeypatch.setattr(todo.store, "toggle", slow_toggle)
    open_demo(page)
    try:
        page.get_by_role("button", name=f"Mark “{SEED[0]}” as done").click()
        expect(page.locator("#list form[aria-busy=true]")).to_have_count(1)
        # The delete's answer draws the list again, dropping the busy form.
        page.get_by_role("button", name=f"Delete “{SEED[1]}”").click()
        expect(titles(page)).to_have_text([SEED[0]])
        expect(page.locator("#list form[aria-busy=true]")).to_have_count(0)
    finally:
        release.set()
    # The toggle's answer is dispatched on the document and drawn all the same.
    expect(page.locator("#list .todo.done .title")).to_have_text([SEED[0]])
    assert_not_reloaded(page)


def test_with_js_a_form_is_busy_and_sends_once_while_its_call_is_in_flight(
    page: Page, log: RequestLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    arrived = threading.Event()
    add = todo.store.add

    def slow_add(title: str) -> Any:
        arrived.set()
        assert release.wait(timeout=10)
        return add(title)

    monkeypatch.setattr(todo.store, "add", slow_add)
    open_demo(page)
    # Its submit buttons: an image button too (form.elements leaves those
    # out), and one outside the form that names it.
    page.evaluate(
        """() => {
          const form = document.querySelector("form.add");
          form.id = "add";
          form.insertAdjacentHTML("beforeend", '<input type="image" alt="Add it">');
          form.insertAdjacentHTML("afterend", '<button form="add">Add</button>');
        }"""
    )
    form = page.locator("form.add")
    button = form.locator("button")
    others = page.locator("form.add input[type=image], button[form=add]")
    page.fill("#title", "Slow one")
    try:
        button.click()
        expect(form).to_have_attribute("aria-busy", "true")
        expect(button).to_be_disabled()
        for other in others.all():
            expect(other).to_be_disabled()
        assert arrived.wait(timeout=5)
        # A script submitting again meanwhile does not send a second call.
        page.evaluate("document.querySelector('form.add').requestSubmit()")
        expect(titles(page)).to_have_text(SEED)
    finally:
        release.set()
    expect(titles(page)).to_have_text([*SEED, "Slow one"])
    expect(form).not_to_have_attribute("aria-busy", "true")
    expect(button).to_be_enabled()
    for other in others.all():
        expect(other).to_be_enabled()
    assert [t.title for t in todo.store.all()] == [*SEED, "Slow one"]
    assert [seen.action for seen in log.requests("POST")] == ["add_todo"]


def test_serveract_call_and_call_with_resolve_to_the_value(page: Page) -> None:
    open_demo(page)
    todo.store.toggle(1)
    before = datetime.datetime.now(datetime.timezone.utc)
    counts = page.evaluate("serveract.call('stats')")
    server_time = datetime.datetime.fromisoformat(counts.pop("server_time"))
    assert counts == {"open": 1, "done": 1}
    assert before <= server_time <= datetime.datetime.now(datetime.timezone.utc)

    page.get_by_role("button", name="How many are open?").click()
    expect(page.locator("#stats-out")).to_have_text(
        re.compile(r"^1 open, 1 done \(server time .+\)$")
    )

    added = page.evaluate("serveract.callWith('add_todo', {title: 'By keyword'})")
    assert added["message"] == "Added “By keyword”."
    assert added["open"] == 2
    assert [t.title for t in todo.store.all()][-1] == "By keyword"
    assert_not_reloaded(page)


def test_several_serveract_calls_at_once_all_resolve(page: Page) -> None:
    open_demo(page)
    results = page.evaluate(
        "Promise.all(['a', 'b', 'c'].map((t) => serveract.call('add_todo', t)))"
    )
    assert sorted(r["message"] for r in results) == [
        "Added “a”.",
        "Added “b”.",
        "Added “c”.",
    ]
    assert max(r["open"] for r in results) == 5
    assert sorted(t.title for t in todo.store.all()) == sorted([*SEED, "a", "b", "c"])


CATCH = """async ([name, args]) => {
  try {
    return {value: await serveract.call(name, ...args)};
  } catch (err) {
    return {isError: err instanceof Error, name: err.name, status: err.status,
            type: err.type, message: err.message, data: err.data};
  }
}"""


def test_a_failing_serveract_call_rejects_with_status_type_and_data(page: Page) -> None:
    open_demo(page)
    failure = page.evaluate(CATCH, ["add_todo", [" "]])
    assert failure == {
        "isError": True,
        "name": "ServeractError",
        "status": 400,
        "type": "action_error",
        "message": "The todo was not added.",
        "data": {"title": "Write what needs doing."},
    }
    missing = page.evaluate(CATCH, ["no.such.action", []])
    assert (missing["status"], missing["type"], missing["data"]) == (
        404,
        "not_found",
        None,
    )
    unfit = page.evaluate(CATCH, ["add_todo", ["one", "two"]])
    assert (unfit["status"], unfit["type"]) == (422, "invalid_arguments")
    assert [t.title for t in todo.store.all()] == SEED


def test_with_js_forms_added_later_are_enhanced_and_send_their_files(
    page: Page, log: RequestLog
) -> None:
    open_demo(page)
    page.evaluate(
        """() => {
          const form = document.createElement("form");
          form.method = "post";
          form.enctype = "multipart/form-data";
          form.innerHTML = `<input type="hidden" name="$action" value="test.upload">
            <input name="note" value="hello"><input type="file" name="attachment">
            <button>Upload</button>`;
          const keep = (e) => { window.__uploaded = e.detail; };
          form.addEventListener("serveract:result", keep);
          form.addEventListener("serveract:error", keep);
          document.body.append(form);
        }"""
    )
    page.set_input_files(
        "input[name=attachment]",
        files=[
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"line one\n"}
        ],
    )
    page.get_by_role("button", name="Upload").click()
    page.wait_for_function("window.__uploaded !== undefined")
    assert page.evaluate("window.__uploaded") == {
        "note": "hello",
        "filename": "notes.txt",
        "content": "line one\n",
    }
    assert_not_reloaded(page)
    assert [seen.action for seen in log.requests("POST")] == ["test.upload"]


@pytest.mark.parametrize("name", ["test.日本語", "test.créer"])
def test_with_js_a_form_naming_an_action_outside_latin_1_is_called(
    page: Page, log: RequestLog, name: str
) -> None:
    """fetch() refuses a header value outside Latin-1: the action's name must
    still reach the server, as it does without JavaScript."""
    open_demo(page)
    page.evaluate(
        """(name) => {
          const form = document.createElement("form");
          form.method = "post";
          form.enctype = "multipart/form-data";
          form.innerHTML = `<input type="hidden" name="$action">
            <input name="note" value="hello"><button>Send</button>`;
          form.elements[0].value = name;
          const keep = (e) => { window.__answer = [e.type, e.detail]; };
          form.addEventListener("serveract:result", keep);
          form.addEventListener("serveract:error", keep);
          document.body.append(form);
        }""",
        name,
    )
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("window.__answer !== undefined")
    kind, detail = page.evaluate("[window.__answer[0], String(window.__answer[1])]")
    assert (kind, detail) == ("serveract:result", "got hello")
    assert_not_reloaded(page)
    assert len(log.requests("POST")) == 1


def add_form(page: Page, html: str, method: str = "post", action: str = "") -> None:
    """Append a form holding ``html`` to the page; its outcome is kept in
    ``window.__answer`` as ``[event type, String(detail)]``."""
    page.evaluate(
        """([html, method, action]) => {
          const form = document.createElement("form");
          form.setAttribute("method", method);
          if (action) form.setAttribute("action", action);
          form.innerHTML = html;
          const keep = (e) => { window.__answer = [e.type, String(e.detail)]; };
          form.addEventListener("serveract:result", keep);
          form.addEventListener("serveract:error", keep);
          document.body.append(form);
        }""",
        [html, method, action],
    )


def test_with_js_a_form_with_fields_named_action_and_elements_posts_to_its_url(
    page: Page, log: RequestLog
) -> None:
    """A field named "action" hides form.action (it is then the field), one
    named "elements" hides form.elements: the client must not read those."""
    open_demo(page)
    add_form(
        page,
        """<input type="hidden" name="$action" value="test.choose">
        <select name="action"><option>archive</option></select>
        <input name="elements" value="x"><button>Apply</button>""",
        action="/bulk",
    )
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("window.__answer !== undefined")
    assert page.evaluate("window.__answer") == ["serveract:result", "archive"]
    assert_not_reloaded(page)
    assert [(p.path, p.action) for p in log.requests("POST")] == [
        ("/bulk", "test.choose")
    ]


@pytest.mark.parametrize(
    ("method", "button"),
    [
        pytest.param("get", "<button>Search</button>", id="form-method-get"),
        pytest.param(
            "post",
            '<button formmethod="get">Search</button>',
            id="button-formmethod-get",
        ),
    ],
)
def test_with_js_a_submission_sent_as_a_get_calls_no_action(
    page: Page, log: RequestLog, method: str, button: str
) -> None:
    """Without JavaScript such a form is a GET (the action never runs): the
    client leaves it to the browser instead of calling the action."""
    open_demo(page)
    add_form(
        page,
        f"""<input type="hidden" name="$action" value="test.choose">
        <input name="action" value="search">{button}""",
        method=method,
        action="/",
    )
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/\?%24action=test.choose&action=search$"))
    assert page.evaluate("window.__answer") is None
    assert log.requests("POST") == []


@pytest.mark.parametrize(
    ("enctype", "button"),
    [
        pytest.param("text/plain", "", id="form-enctype"),
        pytest.param("", 'formenctype="text/plain"', id="button-formenctype"),
    ],
)
def test_with_js_a_text_plain_submission_calls_no_action(
    page: Page, log: RequestLog, enctype: str, button: str
) -> None:
    """Without JavaScript such a body is no form: the wrapped app gets the
    POST, the action never runs. The client leaves it to the browser too."""
    open_demo(page)
    add_form(
        page,
        f"""<input type="hidden" name="$action" value="test.choose">
        <input name="action" value="archive"><button {button}>Apply</button>""",
        action="/bulk",
    )
    if enctype:
        page.evaluate(f"document.body.lastElementChild.enctype = '{enctype}'")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/bulk$"))
    assert page.evaluate("window.__marker") is None  # the browser posted it
    assert [(p.path, p.action) for p in log.requests("POST")] == [("/bulk", None)]


def keep_outcomes(page: Page) -> None:
    """Keep every serveract event the document sees in ``window.__outcomes``,
    as ``[type, on a form?, detail]`` with an Error as CATCH shows it."""
    page.evaluate(
        """() => {
          window.__outcomes = [];
          for (const type of ["serveract:result", "serveract:error"]) {
            document.addEventListener(type, ({target, detail: err}) => {
              const detail = !(err instanceof Error) ? err : {
                isError: true, name: err.name, status: err.status,
                type: err.type, message: err.message, data: err.data};
              window.__outcomes.push([type, target instanceof HTMLFormElement, detail]);
            });
          }
        }"""
    )


def outcomes(page: Page) -> Any:
    page.wait_for_function("window.__outcomes.length > 0")
    return page.evaluate("window.__outcomes")


@pytest.mark.parametrize(
    ("fields", "method", "result", "posted"),
    [
        pytest.param(
            """<input type="hidden" name="$action" value="test.choose">
            <input name="action" value="archive">
            <button formaction="/elsewhere">Apply</button>""",
            "post",
            "archive",
            ("/elsewhere", "test.choose"),
            id="to-the-buttons-formaction",
        ),
        # Without JavaScript that button POSTs, so the action runs: with it too.
        pytest.param(
            """<input type="hidden" name="$action" value="test.choose">
            <input name="action" value="archive">
            <button formmethod="post">Apply</button>""",
            "get",
            "archive",
            ("/bulk", "test.choose"),
            id="by-the-buttons-formmethod-post-on-a-get-form",
        ),
        # form.method is then the <input>: the client reads the real method.
        pytest.param(
            """<input type="hidden" name="$action" value="test.method">
            <input name="method" value="get"><button>Apply</button>""",
            "post",
            "method=get",
            ("/bulk", "test.method"),
            id="by-its-own-method-beside-a-field-named-method",
        ),
        # An image button sends where it was clicked (NAME.x, NAME.y), never
        # its value: without JavaScript the hidden field picks the action.
        pytest.param(
            """<input type="hidden" name="$action" value="test.choose">
            <input name="action" value="archive">
            <input type="image" name="$action" value="test.method" alt="Apply">""",
            "post",
            "archive",
            ("/bulk", "test.choose"),
            id="not-by-an-image-buttons-value",
        ),
    ],
)
def test_with_js_a_form_posts_where_and_as_the_browser_would(
    page: Page,
    log: RequestLog,
    fields: str,
    method: str,
    result: str,
    posted: tuple[str, str],
) -> None:
    open_demo(page)
    keep_outcomes(page)
    add_form(page, fields, method=method, action="/bulk")
    page.get_by_role("button", name="Apply").click()
    assert outcomes(page) == [["serveract:result", True, result]]
    assert_not_reloaded(page)
    expect(page).to_have_url(re.compile(r"/$"))  # no query string either
    assert [(p.path, p.action) for p in log.requests("POST")] == [posted]


@pytest.mark.parametrize(
    ("method", "button"),
    [
        pytest.param("dialog", "", id="form-method-dialog"),
        pytest.param("post", 'formmethod="dialog"', id="button-formmethod-dialog"),
    ],
)
def test_with_js_a_dialog_submission_closes_its_dialog_and_calls_no_action(
    page: Page, log: RequestLog, method: str, button: str
) -> None:
    """Without JavaScript it sends nothing: it closes the <dialog> with the
    button's value. The client must not cancel that, nor call the action."""
    open_demo(page)
    keep_outcomes(page)
    add_form(
        page,
        f"""<input type="hidden" name="$action" value="test.choose">
        <input name="action" value="archive">
        <button value="cancel" {button}>Cancel</button>""",
        method=method,
        action="/bulk",
    )
    page.evaluate(
        """() => {
          const dialog = document.createElement("dialog");
          dialog.append(document.body.lastElementChild);
          document.body.append(dialog);
          dialog.showModal();
        }"""
    )
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("dialog")).not_to_have_attribute("open", "")
    assert page.evaluate("document.querySelector('dialog').returnValue") == "cancel"
    assert page.evaluate("serveract.call('stats')")["open"] == 2  # a round trip
    assert page.evaluate("window.__outcomes") == []
    assert_not_reloaded(page)
    assert log.requests("POST", "/bulk") == []


def test_with_js_a_redirect_to_a_fragment_moves_within_the_page(
    page: Page, log: RequestLog
) -> None:
    """The page stays (no reload): the form must be usable again after."""
    open_demo(page)
    keep_outcomes(page)
    add_form(
        page,
        """<input type="hidden" name="$action" value="test.jump">
        <input type="hidden" name="to" value="from-form"><button>Jump</button>""",
    )
    page.get_by_role("button", name="Jump").click()
    expect(page).to_have_url(re.compile(r"/#from-form$"))
    form = page.locator("form:has(button:text('Jump'))")
    expect(form).not_to_have_attribute("aria-busy", "true")
    expect(form.locator("button")).to_be_enabled()

    # A call's Promise never settles: whoever awaits it runs nothing more.
    page.evaluate(
        """() => {
          let settled = false;
          addEventListener("hashchange", () => setTimeout(() => {
            window.__after = [location.hash, settled];  // after the call's callbacks
          }), {once: true});
          serveract.call("test.jump", "from-call").finally(() => { settled = true; });
        }"""
    )
    page.wait_for_function("window.__after !== undefined")
    after = page.evaluate("window.__after")
    assert after == ["#from-call", False]
    assert_not_reloaded(page)
    assert page.evaluate("window.__outcomes") == []
    assert [(p.path, p.action) for p in log.requests("POST")] == [
        ("/", "test.jump"),
        ("/_serveract/test.jump", None),
    ]


def test_with_js_a_forms_relative_redirect_is_resolved_against_the_forms_url(
    page: Page, log: RequestLog
) -> None:
    """Without JavaScript the browser resolves the Location it gets against
    the URL it posted to, the form's action, not against the page's URL."""
    open_demo(page)
    add_form(
        page,
        """<input type="hidden" name="$action" value="test.jump">
        <input type="hidden" name="to" value="there"><button>Jump</button>""",
        action="/htmx",
    )
    page.get_by_role("button", name="Jump").click()
    expect(page).to_have_url(re.compile(r"/htmx#there$"))
    expect(page.locator("#htmx-list .title")).to_have_text(SEED)
    assert page.evaluate("window.__marker") is None  # a new page
    assert [(p.path, p.action) for p in log.requests("POST")] == [
        ("/htmx", "test.jump")
    ]


# -- JavaScript on: answers serveract does not give ---------------------------
# A proxy in front (or a server that is not serveract) may answer a call
# with its own error page, or anything at all: the client must still settle
# with an Error a page can show, and follow nothing but a web page.

PROXY_ANSWERS = {
    # action name: (status, headers, body) the proxy answers instead
    "proxy.html-502": (
        "502 Bad Gateway",
        [("Content-Type", "text/html")],
        b"<h1>Bad Gateway</h1>",
    ),
    "proxy.string-error": (
        "502 Bad Gateway",
        [("Content-Type", "application/json")],
        b'{"error": "upstream timed out"}',
    ),
    "proxy.empty-error": (
        "502 Bad Gateway",
        [("Content-Type", "application/json")],
        b'{"error": {"type": null, "message": ""}}',
    ),
    "proxy.unreadable": (
        "200 OK",
        [("Content-Type", "application/json")],
        b"{not json",
    ),
    # What an action's webob.Response(status=204) is sent as (WebOb drops its
    # Content-Type), and one of content_type="application/json" left empty.
    "proxy.no-content": ("204 No Content", [], b""),
    "proxy.empty-json": ("200 OK", [("Content-Type", "application/json")], b""),
    "proxy.javascript-redirect": (
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Serveract-Redirect", "javascript:window.__ran = 1"),
        ],
        b"{}",
    ),
    "proxy.data-redirect": (
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Serveract-Redirect", "data:text/html,<h1>Sign in again</h1>"),
        ],
        b"{}",
    ),
}
BARE_PAGE = b"<!doctype html><title>Bare</title><p>No script tag here."


def behind_a_proxy(app: Any) -> Any:
    """``app`` behind a proxy that answers PROXY_ANSWERS' calls itself (by
    header or by path), and serves a page without the script on ``/bare``."""

    def proxy(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        name = environ.get("HTTP_SERVERACT_ACTION") or path.rpartition("/")[2]
        if environ["REQUEST_METHOD"] == "GET" and path == "/bare":
            status, headers, body = "200 OK", [("Content-Type", "text/html")], BARE_PAGE
        elif name in PROXY_ANSWERS:
            status, headers, body = PROXY_ANSWERS[name]
        else:
            return app(environ, start_response)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return proxy


@pytest.fixture(scope="module")
def proxy_log() -> RequestLog:
    return RequestLog(behind_a_proxy(todo.app))


@pytest.fixture(scope="module")
def proxy_url(proxy_log: RequestLog) -> Iterator[str]:
    with serving(proxy_log) as url:
        yield url


@pytest.fixture
def proxied(browser: Browser, proxy_url: str, proxy_log: RequestLog) -> Iterator[Page]:
    proxy_log.clear()
    yield from _page(browser, proxy_url, javascript=True)


def failure(status: int, type: str, message: str) -> dict[str, Any]:
    """A rejected call or an error event's detail, as CATCH shows it."""
    return {
        "isError": True,
        "name": "ServeractError",
        "status": status,
        "type": type,
        "message": message,
        "data": None,
    }


def caught(page: Page, name: str, *args: Any) -> Any:
    """What CATCH answers for ``serveract.call(name, *args)``; bounded by the
    page's timeout, where a call that never settles would hang evaluate()."""
    page.evaluate(
        f"""(call) => {{
          window.__caught = undefined;
          ({CATCH})(call).then((answer) => {{ window.__caught = answer; }});
        }}""",
        [name, list(args)],
    )
    page.wait_for_function("window.__caught !== undefined")
    return page.evaluate("window.__caught")


def call_and_submit(page: Page, name: str) -> tuple[Any, Any]:
    """How ``serveract.call(name)`` fails, and how a form naming ``name``
    does (the detail of the event it gets), on the demo page."""
    open_demo(page)
    keep_outcomes(page)
    called = caught(page, name)
    add_form(
        page,
        f"""<input type="hidden" name="$action" value="{name}">
        <button>Send</button>""",
    )
    page.get_by_role("button", name="Send").click()
    [[kind, on_form, submitted]] = outcomes(page)
    assert (kind, on_form) == ("serveract:error", True)
    form = page.locator("form:has(button:text('Send'))")
    expect(form).not_to_have_attribute("aria-busy", "true")
    expect(form.locator("button")).to_be_enabled()
    assert_not_reloaded(page)
    return called, submitted


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        pytest.param("proxy.html-502", 502, "502 Bad Gateway", id="html-page"),
        pytest.param("proxy.string-error", 502, "HTTP 502", id="error-is-a-string"),
        pytest.param("proxy.empty-error", 502, "HTTP 502", id="error-is-empty"),
    ],
)
def test_with_js_an_error_page_not_from_serveract_fails_with_its_http_status(
    proxied: Page, name: str, status: int, message: str
) -> None:
    called, submitted = call_and_submit(proxied, name)
    assert called == submitted == failure(status, "http_error", message)
    expect(proxied.locator("#flash")).to_have_text(message)  # the demo shows it


def test_with_js_an_answer_that_is_not_json_fails_as_unreadable(
    proxied: Page,
) -> None:
    called, submitted = call_and_submit(proxied, "proxy.unreadable")
    for error in (called, submitted):
        assert error == failure(200, "http_error", error["message"])
        assert error["message"].startswith("Unreadable answer: ")


@pytest.mark.parametrize("name", ["proxy.no-content", "proxy.empty-json"])
def test_a_serveract_call_answered_with_no_content_resolves_to_null(
    proxied: Page, name: str
) -> None:
    open_demo(proxied)
    script = "(name) => serveract.call(name).then((value) => value === null)"
    assert proxied.evaluate(script, name)


def test_with_js_a_network_failure_fails_with_status_0(page: Page) -> None:
    open_demo(page)
    keep_outcomes(page)
    page.context.set_offline(True)
    try:
        called = caught(page, "stats")
        page.get_by_role("button", name="Clear completed").click()
        [[kind, on_form, submitted]] = outcomes(page)
    finally:
        page.context.set_offline(False)
    assert (kind, on_form) == ("serveract:error", True)
    for error in (called, submitted):
        assert error == failure(0, "network_error", error["message"])
        assert error["message"]  # the browser's reason
    assert_not_reloaded(page)


@pytest.mark.parametrize("name", ["proxy.javascript-redirect", "proxy.data-redirect"])
def test_with_js_a_redirect_to_a_script_or_data_url_is_refused(
    proxied: Page, proxy_log: RequestLog, name: str
) -> None:
    """serveract never sends one: a proxy or another server might."""
    url = dict(PROXY_ANSWERS[name][1])["Serveract-Redirect"]
    called, submitted = call_and_submit(proxied, name)
    assert called == submitted == failure(0, "bad_redirect", f"Refused to go to {url}")
    expect(proxied).to_have_url(re.compile(r"/$"))
    assert proxied.evaluate("window.__ran") is None
    assert [(p.path, p.action) for p in proxy_log.requests("POST")] == [
        (f"/_serveract/{name}", None),
        ("/", name),
    ]


def test_the_script_loaded_by_eval_calls_actions_at_the_pages_url(
    proxied: Page, proxy_log: RequestLog
) -> None:
    """Without document.currentScript the script does not know its own URL:
    calls go to the page's, the action named in the header."""
    proxied.goto("/bare")
    proxied.evaluate(
        "fetch('/serveract.js').then((r) => r.text()).then((t) => (0, eval)(t))"
    )
    assert proxied.evaluate("serveract.call('test.choose', 'archive')") == "archive"
    assert (
        proxied.evaluate(
            "serveract.callWith('test.choose', {action: 'keep', target: 'all'})"
        )
        == "keep all"
    )
    assert [(p.path, p.action) for p in proxy_log.requests("POST")] == [
        ("/bare", "test.choose"),
        ("/bare", "test.choose"),
    ]


# -- htmx ---------------------------------------------------------------------


def test_htmx_form_swaps_the_returned_html_and_follows_hx_redirect(
    page: Page, log: RequestLog
) -> None:
    page.goto("/htmx")
    expect(page.locator("#htmx-list .title")).to_have_text(SEED)
    page.evaluate("window.__marker = 1")
    page.fill("#title", "Via htmx")
    page.click("form.add button")
    expect(page.locator("#htmx-list .title")).to_have_text([*SEED, "Via htmx"])
    expect(page.locator("#title")).to_have_value("")
    assert_not_reloaded(page)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "htmx.png"), full_page=True)
    [post] = log.requests("POST")
    assert (post.path, post.action, post.htmx, post.status) == (
        "/htmx",
        "add_todo_html",
        True,
        "200 OK",
    )

    page.fill("#title", "")
    page.click("form.add button")
    expect(page.locator("#title-error")).to_have_text("Write what needs doing.")

    page.get_by_role("button", name="Start over").click()
    expect(page).to_have_url(re.compile(r"/\?fresh=1$"))
    expect(titles(page)).to_have_text(SEED)
    assert log.requests("POST")[-1].action == "start_over"


def test_htmx_page_works_without_javascript(nojs: Page, log: RequestLog) -> None:
    nojs.goto("/htmx")
    nojs.fill("#title", "No htmx either")
    nojs.click("form.add button")
    expect(nojs.locator("#htmx-list .title")).to_have_text([*SEED, "No htmx either"])
    nojs.get_by_role("button", name="Start over").click()
    expect(nojs).to_have_url(re.compile(r"/\?fresh=1$"))
    assert_no_javascript_was_used(log)


# -- A picture of the demo ----------------------------------------------------


def test_a_screenshot_of_the_demo_is_saved_in_test_output(page: Page) -> None:
    todo.store.add("Water the plants")
    todo.store.toggle(1)
    page.set_viewport_size({"width": 900, "height": 760})
    page.goto("/")
    page.get_by_role("button", name="How many are open?").click()
    expect(page.locator("#stats-out")).to_contain_text("2 open, 1 done")
    page.fill("#title", "")
    page.click("form.add button")
    expect(page.locator("#title-error")).to_have_text("Write what needs doing.")
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / "demo.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


# -- The framework recipes, JavaScript on -------------------------------------
# Their pages load /serveract.js, so with JavaScript on every form goes over
# fetch: the page must still show what the action did, or what went wrong.

RECIPES = {
    # name: (module, app attribute, field of the form that adds, its refusal)
    "flask": ("recipe_flask", "app", "text", "Write something first."),
    "bottle": ("recipe_bottle", "application", "name", "Tell me your name."),
    "pyramid": ("recipe_pyramid", "application", "title", "A todo needs a title."),
}


@pytest.fixture(params=sorted(RECIPES))
def recipe(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    import importlib

    import framework_support  # noqa: F401  # puts examples/frameworks on sys.path

    module, attribute, field, refusal = RECIPES[request.param]
    with serving(getattr(importlib.import_module(module), attribute)) as url:
        yield url, field, refusal


def test_with_js_each_recipe_page_shows_what_its_form_did(
    browser: Browser, recipe: tuple[str, str, str]
) -> None:
    url, field, refusal = recipe
    for page in _page(browser, url, javascript=True):
        page.goto("/")
        form = page.locator(f"form:has(input[name={field}])").last
        form.locator(f"input[name={field}]").fill("  ")
        form.locator("button").click()
        expect(page.get_by_text(refusal)).to_be_visible()
        form = page.locator(f"form:has(input[name={field}])").last
        form.locator(f"input[name={field}]").fill("Ada")
        form.locator("button").click()
        expect(page.get_by_text(refusal)).to_have_count(0)
        # Shown as text, or as the value of a field (Flask's rename forms).
        page.wait_for_function("document.body.innerHTML.includes('Ada')")


def test_with_js_the_django_recipe_page_shows_what_its_form_did(
    browser: Browser,
) -> None:
    import framework_support  # noqa: F401  # configures Django
    import recipe_django

    with serving(recipe_django.application) as url:
        for page in _page(browser, url, javascript=True):
            page.goto("/")
            expect(page.locator("body")).to_contain_text("theme light")
            page.get_by_role("button", name="Dark").click()
            expect(page.locator("body")).to_contain_text("theme dark")
