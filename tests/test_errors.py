"""An action that fails unexpectedly: a generic 500 with an error id, the
traceback in the ``serveract`` log under the same id, nothing of the
exception sent to the client unless ``debug=True``."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import webob

import serveract
from conftest import FORM, Client, serving

SECRET_TEXT = "password=hunter2 at db.internal"


@pytest.fixture
def explode(reg: serveract.Registry) -> None:
    """Registers ``explode(x=0)``, which raises with :data:`SECRET_TEXT`."""

    @reg.action
    def explode(x: int = 0) -> None:
        raise RuntimeError(SECRET_TEXT)


def logged_error_id(caplog: pytest.LogCaptureFixture) -> str:
    """The one error the ``serveract`` logger recorded: its traceback is the
    exception's; returns the message, which holds the error id."""
    records = [r for r in caplog.records if r.name == "serveract"]
    assert len(records) == 1
    [record] = records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert SECRET_TEXT in caplog.text  # the traceback, for the operator
    assert "Traceback" in caplog.text
    return record.getMessage()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"[1]", "application/json", id="json"),
        pytest.param(b"x=1", FORM, id="form-body"),
    ],
)
def test_a_crash_is_a_generic_500_with_an_error_id_also_in_the_log(
    middleware: Callable[..., Client],
    explode: None,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
) -> None:
    with caplog.at_level(logging.ERROR, logger="serveract"):
        answer = middleware().send(body, content_type, action="explode", status=500)
    error = answer.error
    error_id = error["data"]["error_id"]
    assert len(error_id) >= 8 and error_id.isalnum()
    assert error == {
        "type": "internal_error",
        "message": f"The action failed unexpectedly (error id {error_id})",
        "data": {"error_id": error_id},
    }
    for leak in ("hunter2", "RuntimeError", "Traceback", "explode", __file__):
        assert leak not in answer.text
    assert error_id in logged_error_id(caplog)


def test_a_crash_in_a_form_without_javascript_shows_only_the_generic_message(
    middleware: Callable[..., Client], explode: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = middleware()
    with caplog.at_level(logging.ERROR, logger="serveract"):
        client.form([("$action", "explode")])  # the page shows the failure
    outcome = client.calls[0].result
    assert outcome is not None and not outcome.ok
    assert outcome.error.status == 500
    error_id = outcome.error.data["error_id"]
    assert outcome.error.message == (
        f"The action failed unexpectedly (error id {error_id})"
    )
    assert "hunter2" not in repr(outcome)
    assert error_id in logged_error_id(caplog)


def test_debug_sends_the_exception_and_its_traceback(
    middleware: Callable[..., Client], explode: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="serveract"):
        error = middleware(debug=True).call("explode", status=500).error
    error_id = error["data"]["error_id"]
    assert error["message"] == f"RuntimeError: {SECRET_TEXT} (error id {error_id})"
    assert "Traceback" in error["data"]["traceback"]
    assert SECRET_TEXT in error["data"]["traceback"]
    assert error_id in logged_error_id(caplog)


def test_each_crash_gets_its_own_error_id(
    middleware: Callable[..., Client], explode: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = middleware()
    with caplog.at_level(logging.ERROR, logger="serveract"):
        ids = {
            client.call("explode", status=500).error["data"]["error_id"]
            for _ in range(5)
        }
    assert len(ids) == 5
    assert all(any(i in r.getMessage() for r in caplog.records) for i in ids)


def test_a_return_value_json_cannot_encode_is_a_generic_logged_500(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Secretive:
        def __repr__(self) -> str:
            return SECRET_TEXT

    @reg.action
    def leak() -> Any:
        return Secretive()

    with caplog.at_level(logging.ERROR, logger="serveract"):
        answer = middleware().call("leak", status=500)
    error_id = answer.error["data"]["error_id"]
    assert answer.error["type"] == "internal_error"
    assert "hunter2" not in answer.text
    assert any(error_id in r.getMessage() for r in caplog.records)
    assert "cannot be encoded as JSON" in caplog.text
    assert "is not JSON serializable" in caplog.text


def test_nan_is_no_json_so_returning_it_is_a_500(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    @reg.action
    def ratio() -> float:
        return float("nan")

    error = middleware().call("ratio", status=500).error
    assert error["type"] == "internal_error"


class BrokenMarkup:
    """HTML rendered lazily, whose rendering fails (a missing template
    variable)."""

    def __html__(self) -> str:
        raise RuntimeError(SECRET_TEXT)


@dataclasses.dataclass
class Half:
    x: int


def test_an_answer_that_fails_to_render_is_a_generic_logged_500(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Turning the returned value into the answer runs the action's code too
    (``__html__``, a dataclass's fields): what it raises is the 500 of an
    action that failed, never an exception out of the middleware."""

    @reg.action
    def page() -> Any:
        return BrokenMarkup()

    @reg.action
    def half() -> Any:
        value = Half(1)
        del value.x
        return value

    client = middleware()
    for name in ("page", "half"):
        with caplog.at_level(logging.ERROR, logger="serveract"):
            answer = client.call(name, status=500)
        error_id = answer.error["data"]["error_id"]
        assert answer.error["type"] == "internal_error"
        assert "hunter2" not in answer.text
        assert any(error_id in r.getMessage() for r in caplog.records)


@dataclasses.dataclass
class HalfBuilt:
    name: str
    slug: str = dataclasses.field(init=False)  # never set: reading it raises


class Unordered:
    """Goes in a set, whose encoding sorts it: comparing raises."""

    def __lt__(self, other: object) -> bool:
        raise LookupError("no order")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"who": HalfBuilt("a")}, id="dataclass-with-an-unset-field"),
        pytest.param({"items": {Unordered(), Unordered()}}, id="set-sorting-raises"),
    ],
)
def test_action_error_data_that_fails_to_encode_is_answered_without_it(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    data: Any,
) -> None:
    # Encoding the data runs its code (a dataclass's fields, a set's order):
    # what that raises is logged, never an exception out of the middleware.
    @reg.action
    def refuse() -> None:
        raise serveract.ActionError("Not today.", 409, data)

    with caplog.at_level(logging.ERROR, logger="serveract"):
        answer = middleware().call("refuse", status=409)
    assert answer.error["message"] == "Not today."
    assert answer.error["data"] is None
    assert "ActionError data cannot be encoded as JSON" in caplog.text


class FailingLimiter:
    """A limiter whose store fails in a way serveract does not know."""

    def acquire(self, key: str, limit: int, window: float) -> float:
        raise RuntimeError(SECRET_TEXT)

    peek = acquire


def failing_context(environ: dict[str, Any]) -> Any:
    raise RuntimeError(SECRET_TEXT)


@contextlib.contextmanager
def failing_enter(environ: dict[str, Any]) -> Iterator[None]:
    raise RuntimeError(SECRET_TEXT)
    yield


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"context": failing_context}, id="context-hook"),
        pytest.param({"context": failing_enter}, id="context-enter"),
        pytest.param({"limiter": FailingLimiter()}, id="limiter"),
    ],
)
def test_a_crash_around_the_action_is_a_generic_logged_500_and_the_action_not_run(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    options: dict[str, Any],
) -> None:
    ran: list[int] = []

    @reg.action(limit="5/minute")
    def count(x: int) -> int:
        ran.append(x)
        return x

    with caplog.at_level(logging.ERROR, logger="serveract"):
        error = middleware(**options).call("count", [1], status=500).error
    error_id = error["data"]["error_id"]
    assert error["message"] == f"The action failed unexpectedly (error id {error_id})"
    assert "hunter2" not in json.dumps(error)
    assert error_id in logged_error_id(caplog)
    assert ran == []


def test_an_action_error_from_the_context_hook_answers_as_from_the_action(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    # A framework context that checks the session before any action runs.
    def signed_in(environ: dict[str, Any]) -> Any:
        raise serveract.ActionError("Sign in first", 401, {"login": "/login"})

    ran: list[str] = []

    @reg.action
    def hello() -> str:
        ran.append("hello")
        return "hi"

    client = middleware(context=signed_in)
    error = client.call("hello", status=401).error
    assert error == {
        "type": "action_error",
        "message": "Sign in first",
        "data": {"login": "/login"},
    }
    client.form([("$action", "hello")])  # without JavaScript: the page shows it
    outcome = client.rendered
    assert outcome.error is not None and outcome.error.status == 401
    assert ran == []


def test_an_action_whose_context_swallows_its_exception_never_reads_as_returned(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    # A context whose __exit__ returns True (a rollback that forgets to
    # re-raise): the action returned nothing, so no 200 with null.
    @reg.action
    def pay() -> int:
        raise serveract.ActionError("Insufficient funds", 409)

    client = middleware(context=lambda environ: contextlib.suppress(Exception))
    assert client.call("pay", status=500).error["type"] == "internal_error"
    client.form([("$action", "pay")])  # without JavaScript: the page shows it
    outcome = client.rendered
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.status == 500 and outcome.value is None


def test_an_action_error_of_an_exception_is_answered_with_its_text(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    # raise ActionError(error), or a lazy translation: the message is text.
    @reg.action
    def parse(n: str) -> int:
        try:
            return int(n)
        except ValueError as error:
            raise serveract.ActionError(error) from None  # type: ignore[arg-type]

    error = middleware().call("parse", {"n": "x"}, status=400).error
    assert error == {
        "type": "action_error",
        "message": "invalid literal for int() with base 10: 'x'",
        "data": None,
    }


def served_call(app: Any, name: str) -> tuple[http.client.HTTPResponse, bytes]:
    """A path call of ``name`` to ``app`` served by waitress: the answer and
    its body."""
    with serving(app) as url:
        connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
        connection.request("POST", f"/_serveract/{name}")
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
    return answer, body


REFUSED_HEADERS = [
    pytest.param(("Content-Disposition", "attachment; a\r\nb"), id="line-break"),
    pytest.param(("Connection", "close"), id="hop-by-hop"),
]


@pytest.mark.parametrize("header", REFUSED_HEADERS)
def test_a_response_whose_headers_the_server_refuses_is_a_generic_logged_500(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    header: tuple[str, str],
) -> None:
    """waitress refuses a header with a line break (the client's text in a
    file name) or a hop-by-hop one once it has recorded the call, so the
    500 must say it replaces that answer (``exc_info``): before, waitress
    failed on the second ``start_response`` and answered its own text."""

    @reg.action
    def download() -> webob.Response:
        return webob.Response(b"data", headerlist=[header])

    # Served as it is: wsgiref's validator would refuse the header first.
    with caplog.at_level(logging.ERROR):
        answer, body = served_call(middleware().actions, "download")
    assert answer.status == 500
    assert answer.getheader("Content-Type") == "application/json", body
    error = json.loads(body)["error"]
    assert error["type"] == "internal_error"
    assert error["data"]["error_id"] in caplog.text


class ClosingBody:
    """A response body holding a resource: it counts its closes."""

    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter([b"data"])

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("header", [*REFUSED_HEADERS, None])
def test_the_body_of_a_returned_response_is_closed_once_whatever_the_server_did(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    header: tuple[str, str] | None,
) -> None:
    """The server closes the body it was given; one whose headers it refused
    it never got (nor a ``close()`` method's cleanup: a file, a cursor)."""
    body = ClosingBody()

    @reg.action
    def download() -> webob.Response:
        return webob.Response(app_iter=body, headerlist=[header] if header else [])

    answer, _ = served_call(middleware().actions, "download")
    assert answer.status == (200 if header is None else 500)
    assert body.closed == 1
