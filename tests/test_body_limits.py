"""Request bodies within bounds: ``max_body_size`` before and while reading,
form fields and uploads counted, uploads spooled to disk and closed, and a
``Content-Length`` taken at its word, no more and no less."""

from __future__ import annotations

import gc
import io
import json
import tracemalloc
import typing
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
import webob

import serveract
from conftest import (
    BOUNDARY,
    FORM,
    MULTIPART,
    Client,
    EndlessInput,
    UntouchableInput,
    multipart,
    multipart_of,
    part,
)

LIMIT = 100_000  # max_body_size here: small, so overflows are fast
MIB = 1 << 20
CHUNK = 65536  # what serveract reads at a time from a body of unknown length
DELIMITER = f"--{BOUNDARY}\r\n".encode()
PART = DELIMITER + part("note")  # and the note's text, as long as it goes
ACTION_PART = DELIMITER + part("$action", "ping") + b"\r\n"


@pytest.fixture
def client(middleware: Callable[..., Client]) -> Client:
    return middleware(max_body_size=LIMIT)


# -- max_body_size ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/json", b"[]", id="json"),
        pytest.param(FORM, b"a=1", id="urlencoded"),
        pytest.param(MULTIPART, multipart_of(), id="multipart"),
        pytest.param(None, b"", id="no-type"),
    ],
)
def test_a_content_length_over_the_limit_is_413_before_reading(
    client: Client, pings: list[str], content_type: str | None, body: bytes
) -> None:
    stream = UntouchableInput()
    answer = client.send(
        body, content_type, action="ping", length=LIMIT + 1, stream=stream, status=413
    )
    assert answer.error == {
        "type": "payload_too_large",
        "message": f"The request body is larger than {LIMIT} bytes",
        "data": {"limit": LIMIT},
    }
    assert not stream.touched
    assert pings == [] and client.calls == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_a_body_of_a_type_never_decoded_is_415_before_reading(
    client: Client, pings: list[str], content_type: str
) -> None:
    stream = UntouchableInput()
    answer = client.send(
        b"", content_type, action="ping", length=LIMIT, stream=stream, status=415
    )
    assert answer.error["type"] == "unsupported_media_type"
    assert not stream.touched
    assert pings == []


@pytest.mark.parametrize("content_type", [FORM, MULTIPART])
def test_an_oversized_form_call_reads_no_more_than_its_first_bytes(
    client: Client, pings: list[str], content_type: str
) -> None:
    head = ACTION_PART if content_type == MULTIPART else b"%24action=ping&note="
    stream = EndlessInput(head)
    answer = client.send(
        b"", content_type, length=10 * LIMIT, stream=stream, status=413
    )
    assert answer.error["type"] == "payload_too_large"
    assert stream.given <= 8192  # just the look for the $action field
    assert pings == [] and client.calls == []


@pytest.mark.parametrize(
    ("action", "content_type", "prefix"),
    [
        pytest.param("ping", "application/json", b"[", id="header-json"),
        pytest.param("ping", None, b"", id="header-no-type"),
        pytest.param("ping", FORM, b"note=", id="header-urlencoded"),
        pytest.param("ping", MULTIPART, PART, id="header-multipart"),
        pytest.param("spool", MULTIPART, PART, id="header-multipart-spooled"),
        pytest.param(None, FORM, b"%24action=ping&note=", id="form"),
        pytest.param(None, MULTIPART, ACTION_PART + PART, id="form-multipart"),
    ],
)
def test_a_chunked_body_is_counted_while_it_is_read(
    reg: serveract.Registry,
    client: Client,
    pings: list[str],
    action: str | None,
    content_type: str | None,
    prefix: bytes,
) -> None:
    @reg.action
    def spool(request: webob.Request, note: str = "") -> None:
        pings.append(note)

    stream = EndlessInput(prefix)
    answer = client.send(
        b"", content_type, action=action, length="chunked", stream=stream, status=413
    )
    assert answer.error["data"] == {"limit": LIMIT}
    assert LIMIT < stream.given <= LIMIT + CHUNK  # the limit plus one chunk at most
    assert pings == [] and client.calls == []


@pytest.mark.parametrize("content_type", [FORM, MULTIPART])
def test_a_chunked_form_call_all_in_its_first_bytes_is_counted_too(
    middleware: Callable[..., Client], pings: list[str], content_type: str
) -> None:
    # A limit under the 8 KiB looked at for $action: the whole body is read then.
    head = ACTION_PART + PART if content_type == MULTIPART else b"%24action=ping&note="
    client = middleware(max_body_size=1000)
    body = head + b"n" * 2000
    answer = client.send(body, content_type, length="chunked", status=413)
    assert answer.error["data"] == {"limit": 1000}
    assert pings == [] and client.calls == []


@pytest.mark.parametrize("length", ["chunked", "exact"])
def test_a_body_just_under_the_limit_is_accepted(
    client: Client, pings: list[str], length: str
) -> None:
    note = "n" * (LIMIT - 10)
    body = json.dumps([note]).encode()
    assert len(body) <= LIMIT
    client.send(body, "application/json", action="ping", length=length)
    assert pings == [note]


def test_without_content_length_or_a_terminated_input_there_is_no_body(
    client: Client, pings: list[str]
) -> None:
    # PEP 3333: without CONTENT_LENGTH the app must not read to the end.
    stream = UntouchableInput()
    answer = client.send(
        b"", "application/json", action="ping", length=None, stream=stream
    )
    assert answer.json == "pong"
    assert pings == [""]
    assert not stream.touched


def test_a_chunked_body_the_server_did_not_decode_is_400_not_no_body(
    client: Client, pings: list[str]
) -> None:
    # wsgiref hands a chunked body over undecoded, with neither CONTENT_LENGTH
    # nor wsgi.input_terminated: the call has arguments the action never gets.
    stream = UntouchableInput()
    headers = {"Transfer-Encoding": "chunked"}
    answer = client.send(
        b"",
        "application/json",
        action="ping",
        headers=headers,
        length=None,
        stream=stream,
        status=400,
    )
    assert answer.error["message"] == (
        "The request body has no Content-Length and the server did not decode "
        "its Transfer-Encoding"
    )
    assert pings == [] and not stream.touched


# -- Form fields and uploads --------------------------------------------------


@pytest.fixture
def anything(reg: serveract.Registry) -> list[dict[str, str]]:
    """Registers ``anything(**fields)``; the fields of each call."""
    seen: list[dict[str, str]] = []

    @reg.action
    def anything(**fields: str) -> int:
        seen.append(fields)
        return len(fields)

    return seen


@pytest.mark.parametrize("count", [1001, 5000])
@pytest.mark.parametrize("form", ["multipart", "urlencoded"])
@pytest.mark.parametrize("how", ["header", "form"])
def test_more_than_a_thousand_form_fields_are_413(
    middleware: Callable[..., Client],
    anything: list[dict[str, str]],
    count: int,
    form: str,
    how: str,
) -> None:
    fields = [(f"f{i}", "1") for i in range(count)]
    if how == "form":
        fields.insert(0, ("$action", "anything"))
    if form == "multipart":
        body, content_type = multipart(fields)
    else:
        body, content_type = urlencode(fields).encode(), FORM
    assert len(body) < LIMIT * 5
    client = middleware(max_body_size=LIMIT * 5)
    action = "anything" if how == "header" else None
    error = client.send(body, content_type, action=action, status=413).error
    assert error["type"] == "payload_too_large"
    assert "more than" in error["message"] and "fields" in error["message"]
    assert anything == []


@pytest.mark.parametrize("count", [990, 1000])
def test_a_thousand_form_fields_are_fine(
    client: Client, anything: list[dict[str, str]], count: int
) -> None:
    body, content_type = multipart([(f"f{i}", "1") for i in range(count)])
    assert client.send(body, content_type, action="anything").json == count
    assert len(anything[0]) == count


@pytest.mark.parametrize("how", ["header", "form"])
def test_empty_items_of_an_urlencoded_form_are_no_fields(
    client: Client, anything: list[dict[str, str]], how: str
) -> None:
    """A trailing "&" or a doubled one separates nothing: a thousand fields
    written so are a thousand, as they are parsed."""
    fields = [f"f{i}=1" for i in range(1000 if how == "header" else 999)]
    if how == "form":  # 999 fields and the action's
        fields.insert(0, "%24action=anything")
    body = ("&" + "&&".join(fields) + "&").encode()
    action = "anything" if how == "header" else None
    client.send(body, FORM, action=action, status=200)
    assert len(anything[0]) == (1000 if how == "header" else 999)
    # Empty items do not hide a field too many.
    client.send(body + b"&f=1&", FORM, action=action, status=413)


@pytest.mark.parametrize(
    ("item", "status"), [(b"&", 200), (b"a&", 413), (b"ab&", 413), (b"a&&", 413)]
)
def test_recounting_the_empty_items_of_a_form_costs_no_more_than_a_body(
    middleware: Callable[..., Client],
    anything: list[dict[str, str]],
    item: bytes,
    status: int,
) -> None:
    """A megabyte of "&" (no field) or of tiny fields: recounting what is
    not empty holds no list of a million items (it held 15 times the body)."""
    body = item * ((1 << 20) // len(item))
    client = middleware(max_body_size=2 << 20)
    tracemalloc.start()
    try:
        client.send(body, FORM, action="anything", status=status)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A legitimate megabyte of 1,000 fields peaks at about 3 bodies.
    assert peak < 4 * len(body)


@pytest.mark.parametrize("item", [b"%", b"%zz", b"%41", b"a%C3%A9"])
def test_a_megabyte_of_percent_escapes_costs_no_more_than_a_few_bodies(
    middleware: Callable[..., Client], anything: list[dict[str, str]], item: bytes
) -> None:
    """Unquoting split a field at each "%", a list of pieces that held up to
    190 times the body: 1 MiB of "%" took 190 MiB."""
    body = b"note=" + item * ((1 << 20) // len(item))
    client = middleware(max_body_size=2 << 20)
    tracemalloc.start()
    try:
        client.send(body, FORM, action="anything")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert anything[0]["note"] == unquote(body[5:].decode(), errors="strict")
    size = len(body)
    assert peak < 8 * size, f"{peak / size:.0f} times the body"


def test_a_form_of_a_thousand_fields_with_its_action_field_is_fine(
    client: Client, anything: list[dict[str, str]]
) -> None:
    """The hidden field a rendered form adds does not push a form of 999
    fields over the limit."""
    fields = [("$action", "anything")] + [(f"f{i}", "1") for i in range(999)]
    client.send(*multipart(fields), status=200)
    assert client.rendered.value == 999


def test_more_than_a_hundred_uploads_are_413(
    reg: serveract.Registry, client: Client
) -> None:
    seen: list[int] = []

    @reg.action
    def store(files: list[typing.BinaryIO]) -> int:
        seen.append(len(files))
        return len(files)

    uploads = [part("files", b"x", filename=f"{i}.txt") for i in range(101)]
    header = client.send(multipart_of(*uploads), MULTIPART, action="store", status=413)
    assert header.error["type"] == "payload_too_large"
    form = multipart_of(part("$action", "store"), *uploads)
    assert client.send(form, MULTIPART, status=413).error["type"] == "payload_too_large"
    assert seen == [] and client.calls == []


def test_a_hundred_uploads_are_read_and_closed_when_the_call_ends(
    reg: serveract.Registry, client: Client
) -> None:
    kept: list[typing.BinaryIO] = []

    @reg.action
    def store(files: list[typing.BinaryIO]) -> list[str]:
        kept.extend(files)
        return sorted({file.read().decode() for file in files})

    body = multipart_of(
        *(part("files", f"file {i % 3}", filename=f"{i}.txt") for i in range(100))
    )
    answer = client.send(body, MULTIPART, action="store")
    assert answer.json == ["file 0", "file 1", "file 2"]
    assert len(kept) == 100
    assert all(file.closed for file in kept)


def test_an_upload_is_spooled_to_disk_not_held_in_memory(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    size = 3 * 1024 * 1024

    @reg.action
    def upload(request: webob.Request, document: typing.BinaryIO) -> int:
        total = 0
        while chunk := document.read(CHUNK):
            total += len(chunk)
        return total

    client = middleware(max_body_size=8 * 1024 * 1024)
    body, content_type = multipart(
        [("note", "hi")], [("document", "a.bin", b"z" * size)]
    )
    tracemalloc.start()
    try:
        answer = client.send(body, content_type, action="upload")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.json == size
    # Never the whole upload in memory at once (the body is spooled to disk
    # past 1 MiB, the part written to its own temporary file).
    assert peak < size


@pytest.mark.parametrize("kind", ["header", "form"])
@pytest.mark.parametrize("outcome", ["ok", "failed", "too large"])
def test_the_spooled_body_and_its_uploads_are_closed_when_the_call_ends(
    reg: serveract.Registry,
    middleware: Callable[..., Client],
    kind: str,
    outcome: str,
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

    client = middleware(max_body_size=size if outcome == "too large" else 4 * size)
    fields = [("$action", "upload")] if kind == "form" else []
    body, content_type = multipart(fields, [("document", "a.bin", b"z" * size)])
    expected = {"ok": 200, "failed": 400, "too large": 413}[outcome]
    if kind == "form" and outcome == "failed":
        expected = 200  # the page is rendered with the error
    action = "upload" if kind == "header" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        # Nothing of the request is kept: what is left open is collected here.
        client.send(
            body, content_type, action=action, length="chunked", status=expected
        )
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]
    assert all(document.closed for document in uploads)
    assert len(uploads) == (0 if outcome == "too large" else 1)


# How each ending answers: a header call with its own status, a no-JS form
# by the app rendering the outcome (200), unless no action could run.
ENDINGS = {
    "returns": (200, 200),
    "raises": (500, 200),
    "action-error": (400, 200),
    "redirect": (200, 303),
    "streamed": (200, 200),  # the answer reads the upload as it is sent
    "unfit": (422, 200),
    "truncated": (400, 400),
    "too-many-fields": (413, 413),
}


@pytest.mark.parametrize("how", list(ENDINGS))
@pytest.mark.parametrize("style", ["header", "form"])
def test_uploads_are_closed_however_the_call_ends(
    reg: serveract.Registry, middleware: Callable[..., Client], how: str, style: str
) -> None:
    """Large uploads spool to files; none of them outlives the call (the
    :class:`~conftest.Client` compares the open files)."""

    @reg.action
    def store(document: typing.BinaryIO, count: int = 0) -> Any:
        if how == "streamed":
            chunks = iter(lambda: document.read(CHUNK), b"")
            return webob.Response(app_iter=chunks, content_type="text/plain")
        if how == "raises":
            raise RuntimeError("boom")
        if how == "action-error":
            raise serveract.ActionError("no")
        if how == "redirect":
            raise serveract.redirect("/done")
        return len(document.read())

    first = [part("$action", "store")] if style == "form" else []
    many = [part(f"x{i}", "") for i in range(1001)] if how == "too-many-fields" else []
    big = b"z" * (3 * MIB // 2)  # past any in-memory spool size
    body = multipart_of(  # the uploads first: spooled when the call fails
        *first,
        part("document", big, filename="big.bin"),
        part("document2", big, filename="big2.bin"),
        part("count", "many" if how == "unfit" else "1"),
        *many,
    )
    sent = body[: len(body) // 2] if how == "truncated" else body
    action = "store" if style == "header" else None
    status = ENDINGS[how][style == "form"]
    client = middleware(max_body_size=4 * MIB)
    answer = client.send(
        sent, MULTIPART, action=action, length=len(body), status=status
    )
    if how == "streamed":
        assert answer.body == big
    elif style == "form" and status == 200:
        assert answer.from_app


# -- Content-Length, at its word ----------------------------------------------

TRUNCATED = [
    pytest.param("application/json", b'["note"]', id="json"),
    pytest.param(FORM, b"note=hello", id="urlencoded"),
    pytest.param(*reversed(multipart([("note", "hello")])), id="multipart"),
]


@pytest.mark.parametrize(("content_type", "body"), TRUNCATED)
@pytest.mark.parametrize("wants_request", [False, True])
def test_a_body_shorter_than_its_content_length_is_400(
    reg: serveract.Registry,
    client: Client,
    content_type: str,
    body: bytes,
    wants_request: bool,
) -> None:
    seen = []

    def with_request(request: webob.Request, note: str = "") -> None:
        seen.append(note)

    def without_request(note: str = "") -> None:
        seen.append(note)

    reg.action(with_request if wants_request else without_request, name="take")
    for cut in (len(body) - 7, len(body) // 2, 0):
        answer = client.send(
            body[:cut], content_type, action="take", length=len(body), status=400
        )
        assert answer.error == {
            "type": "bad_request",
            "message": "The request body ended before its Content-Length",
            "data": None,
        }
    assert seen == []


@pytest.mark.parametrize("content_type", [FORM, "multipart"])
def test_a_form_call_shorter_than_its_content_length_is_400(
    client: Client, pings: list[str], content_type: str
) -> None:
    if content_type == "multipart":
        body, content_type = multipart([("$action", "ping"), ("note", "hello")])
    else:
        body = b"%24action=ping&note=hello"
    for cut in (len(body) - 1, len(body) - 5):
        answer = client.send(body[:cut], content_type, length=len(body), status=400)
        assert answer.error["message"] == (
            "The request body ended before its Content-Length"
        )
    assert pings == [] and client.calls == []


class BreakingInput:
    """A body its server cannot read to the end: ``data``, then ``error``."""

    def __init__(self, data: bytes, error: Exception) -> None:
        self._data = io.BytesIO(data)
        self._error = error

    def read(self, size: int = -1) -> bytes:
        data = self._data.read(size)
        if not data and size:
            raise self._error
        return data


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(OSError("Missing chunk terminating newline"), id="werkzeug"),
        pytest.param(ValueError("Bad chunked transfer coding"), id="cheroot"),
        pytest.param(TimeoutError("timed out"), id="timeout"),
    ],
)
@pytest.mark.parametrize(
    ("action", "content_type", "head"),
    [
        pytest.param("ping", "application/json", b'["', id="header-json"),
        pytest.param("ping", MULTIPART, PART, id="header-multipart"),
        pytest.param(None, FORM, b"%24action=ping&note=", id="form"),
        pytest.param(None, MULTIPART, ACTION_PART + PART, id="form-multipart"),
    ],
)
@pytest.mark.parametrize("length", ["exact", "chunked"])
def test_a_body_the_server_cannot_read_to_its_end_is_400(
    middleware: Callable[..., Client],
    pings: list[str],
    error: Exception,
    action: str | None,
    content_type: str,
    head: bytes,
    length: str,
) -> None:
    # A chunked body cut short, or a client that stopped sending: gunicorn
    # and Werkzeug raise an OSError, cheroot a ValueError, a socket timeout
    # a TimeoutError. The client's doing, not a fault of the action's (500).
    client = middleware(max_body_size=LIMIT, validate=False)
    sent = head + b"n" * 20_000  # past the first bytes looked at for $action
    declared = len(sent) + 100 if length == "exact" else "chunked"
    # A form's action is found in its first bytes, a header call's in none.
    for data in [sent] if action is None else [b"", sent]:
        stream = BreakingInput(data, error)
        answer = client.send(
            b"", content_type, action=action, length=declared, stream=stream, status=400
        )
        assert answer.error == {
            "type": "bad_request",
            "message": "The request body could not be read to its end",
            "data": None,
        }
    assert pings == [] and client.calls == []


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "0x10"])
@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data"])
def test_a_malformed_content_length_is_400(
    middleware: Callable[..., Client], pings: list[str], length: str, content_type: str
) -> None:
    client = middleware(validate=False)  # the validator refuses these itself
    answer = client.send(b"[]", content_type, action="ping", length=length, status=400)
    assert "Content-Length" in answer.error["message"]
    assert pings == [] and client.calls == []


@pytest.mark.parametrize("length", [" {}", "{} ", "\t{}\t"])
@pytest.mark.parametrize(
    ("content_type", "body", "action"),
    [
        pytest.param("application/json", b'["hello"]', "ping", id="header-call"),
        pytest.param(FORM, b"%24action=ping&note=hello", None, id="form-call"),
    ],
)
def test_a_content_length_with_whitespace_around_it_is_that_number(
    middleware: Callable[..., Client],
    pings: list[str],
    length: str,
    content_type: str,
    body: bytes,
    action: str | None,
) -> None:
    # Whitespace around a field value is no part of it (RFC 9110, 5.5), but
    # wsgiref's server hands "Content-Length: 9 " over with its space: a
    # header call was a 400, a form call passed through to the app unrun.
    client = middleware(validate=False)  # the validator refuses it itself
    client.send(body, content_type, action=action, length=length.format(len(body)))
    assert pings == ["hello"]


@pytest.mark.parametrize(
    ("content_type", "body", "action"),
    [
        pytest.param("application/json", b'["hello"]', "ping", id="header-call"),
        pytest.param(FORM, b"%24action=ping&note=hello", None, id="form-call"),
        pytest.param(MULTIPART, ACTION_PART + PART + b"hello\r\n", None, id="multi"),
    ],
)
def test_a_content_length_of_thousands_of_digits_is_still_a_number(
    middleware: Callable[..., Client],
    pings: list[str],
    content_type: str,
    body: bytes,
    action: str | None,
) -> None:
    # int() refuses more than 4,300 digits; Content-Length is 1*DIGIT (RFC 9110).
    client = middleware(max_body_size=LIMIT, validate=False)  # int() in it too
    if content_type == MULTIPART:
        body += f"--{BOUNDARY}--\r\n".encode()
    padded = "0" * 5000 + str(len(body))
    client.send(body, content_type, action=action, length=padded)
    assert pings == ["hello"]
    huge = "9" * 5000
    answer = client.send(body, content_type, action=action, length=huge, status=413)
    assert answer.error["data"] == {"limit": LIMIT}
    assert pings == ["hello"]


@pytest.mark.parametrize("length", ["-1", "abc"])
def test_a_malformed_content_length_on_a_form_is_left_to_the_app(
    middleware: Callable[..., Client], pings: list[str], length: str
) -> None:
    client = middleware(validate=False)
    answer = client.send(b"", FORM, length=length)
    assert answer.headers["X-From"] == "the app"
    assert pings == []


def test_a_body_longer_than_its_content_length_is_cut_there(
    client: Client, pings: list[str]
) -> None:
    body = b'["first"]["second"]'
    client.send(body, "application/json", action="ping", length=9)
    assert pings == ["first"]
