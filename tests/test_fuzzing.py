"""Property-based fuzzing: whatever arrives, the middleware answers cleanly.

Hypothesis builds whole requests (mostly action calls that reach the
binding), forms without JavaScript, malformed ``Content-Length`` values,
urlencoded bodies checked against ``parse_qsl``, and forged bound values;
then, part by part, multipart bodies (often subtly broken), urlencoded
bodies of stray escapes, and whole environs a confused server or proxy might
build. Every run draws the same examples (``derandomize``).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import json
import re
import typing
from typing import Any
from urllib.parse import parse_qsl, urlencode

import webob
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import serveract
from conftest import (
    ERROR_TYPES,
    FORM,
    MULTIPART,
    Client,
    Response,
    ServerBody,
    environ_for,
    multipart,
    multipart_of,
    part,
)

LIMIT = 100_000  # max_body_size, where a test needs more than fuzz_client's
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
FUZZ_BODIES = settings(FUZZ, max_examples=150)
# Every status the middleware itself may answer (the app's are its own).
DOCUMENTED = {200, 204, 303, 304, 400, 403, 404, 405, 413, 415, 422, 429}


# -- The actions under fuzz, and what makes an answer clean --------------------


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


def fuzz_client(**options: Any) -> tuple[Client, list[str]]:
    """Actions with every kind of parameter; none of them fails on its own,
    so any 5xx would be serveract's. Returns the client and the names of the
    actions called."""
    reg = serveract.Registry()
    seen: list[str] = []

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
        n: int = 0,
        flag: bool = False,
        items: list[int] | None = None,
        document: typing.BinaryIO | None = None,
    ) -> str:
        seen.append("typed")
        return repr((a, b, c, d, e, f, g, h, when, n, flag, items, document))

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
    return Client(reg, secret="fuzz", **options), seen


def check_clean_answer(client: Client, answer: Response) -> None:
    """2xx, 3xx or 4xx; every error in the JSON error shape; the app reached
    only by a pass-through or to render a no-JS form's outcome."""
    status = answer.status_int
    assert 200 <= status < 500, answer
    if answer.from_app:
        assert status == 200
        [seen] = client.calls
        outcome = seen.result
        assert outcome is None or outcome.ok or outcome.error.status < 500
    elif status >= 400:
        if answer.request.method == "HEAD":  # no content (RFC 9110, 9.3.2)
            assert status == 405 and answer.body == b""
        else:
            answer.error  # noqa: B018 - checks the shape
        assert client.calls == []
    elif status >= 300:
        assert "Location" in answer.headers
    else:
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.content_type == "application/json"
        answer.json  # noqa: B018 - checks it parses


def check_documented(client: Client, answer: Response) -> None:
    """A documented status, errors in their JSON shape, 5xx never."""
    if answer.from_app:
        outcome = client.calls[-1].result
        assert outcome is None or outcome.ok or outcome.error.status < 500
        return
    assert answer.status_int in DOCUMENTED, (answer.status, answer.body[:300])
    if answer.status_int >= 400:
        error = answer.error
        assert error["type"] == ERROR_TYPES[answer.status_int], error
        assert client.calls == []


# -- Whole requests -------------------------------------------------------------

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
        return body, FORM
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
        "body": body,
        "content_type": content_type,
        "action": action,
        "method": method,
        "headers": headers,
        "length": length,
    }


@FUZZ
@given(request=requests())
def test_an_arbitrary_request_gets_a_clean_answer(request: dict[str, Any]) -> None:
    client, _ = fuzz_client()
    check_clean_answer(client, client.send(status="*", **request))


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
def test_an_arbitrary_form_without_javascript_gets_a_clean_answer(
    name: str,
    fields: list[tuple[str, str]],
    files: list[tuple[str, str, bytes]],
    encoding: str,
    how: str,
    length: str,
    origin: str | None,
) -> None:
    client, _ = fuzz_client()
    fields = [("$action", name), *fields]
    if how == "urlencoded":
        body, content_type = urlencode(fields, encoding=encoding).encode(), FORM
    else:
        body, content_type = multipart(fields, files)
    headers = {"Origin": origin} if origin else {}
    answer = client.send(body, content_type, headers=headers, length=length, status="*")
    check_clean_answer(client, answer)


@FUZZ
@given(
    action=st.one_of(st.none(), st.sampled_from(NAMES)),
    content_type=CONTENT_TYPES,
    body=st.binary(max_size=100),
    length=st.one_of(HEADER_TEXT, st.integers(-5, 300).map(str)),
)
def test_an_arbitrary_content_length_gets_a_clean_answer(
    action: str | None, content_type: str, body: bytes, length: str
) -> None:
    # The validator refuses a malformed CONTENT_LENGTH itself: called bare.
    client, _ = fuzz_client(validate=False)
    answer = client.send(
        body, content_type, action=action, length=length or None, status="*"
    )
    check_clean_answer(client, answer)


# Urlencoded bodies as browsers and hand-written clients send them: escaped
# text, and raw bytes with stray "%", "+", "&" and "=" and broken escapes.
FORM_PIECES = [b"a", b"%", b"+", b"&", b"=", b"%4", b"%41", b"%e9", b"%C3%A9"]
FORM_PIECES += [b"%c3", b"\xc3\xa9", b"\xff", b"%zz", b" ", b"~"]
FORM_BODIES = st.one_of(
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=6).map(
        lambda pairs: urlencode(pairs).encode()
    ),
    st.lists(st.sampled_from(FORM_PIECES), max_size=20).map(b"".join),
)


@FUZZ
@given(body=FORM_BODIES)
def test_a_urlencoded_body_binds_what_parse_qsl_finds_or_is_400(body: bytes) -> None:
    """A form call binds exactly the fields ``parse_qsl`` finds with strict
    UTF-8, or answers 400 where that fails."""
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        pairs = None
    # serveract's own fields are no arguments; a signed one is checked first.
    assume(pairs is None or all(name != "$bound" for name, _ in pairs))
    reg = serveract.Registry()

    @reg.action
    def fields(**given: str) -> dict[str, str]:
        return given

    answer = Client(reg).send(body, FORM, action="fields", status="*")
    if pairs is None:
        assert answer.status_int == 400
        assert "UTF-8" in answer.error["message"]
        return
    assert answer.status_int == 200
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        if name != "$action":
            values.setdefault(name, []).append(value)
    assert sorted(answer.json) == sorted(values)
    for name, value in answer.json.items():
        assert value in values[name]  # one of a repeated field's values


@st.composite
def forged_tokens(draw: st.DrawFn, genuine: str) -> str:
    payload, _, signature = genuine.partition(".")
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
    client, seen = fuzz_client(max_body_size=LIMIT)
    markup = str(client.actions.hidden_field("bound", todo_id=7, owner="ann"))
    genuine = re.findall(r'name="\$bound" value="([^"]*)"', markup)[0]
    token = data.draw(forged_tokens(genuine))
    assert token != genuine
    fields = [(n, v) for n, v in fields if n != "$action" and len(v) < 100]

    def post(token: str) -> Response:
        body, content_type = multipart(
            [("$action", "bound"), ("$bound", token), *fields]
        )
        return client.send(body, content_type, action="bound", status="*")

    answer = post(token)
    assert answer.status_int == 400
    assert answer.error["message"] == (
        "The bound values of this form are not signed for 'bound'"
    )
    assert seen == []
    if all(name != "$bound" for name, _ in fields):
        assert post(genuine).json == "7/ann"


# -- Bodies built part by part, and whole environs ------------------------------

#: Two actions, and a name no action is registered under.
FEW_NAMES = ["echo", "typed", "missing"]
TOKEN = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=12)
LINE_BREAKS = st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b""])


@st.composite
def case(draw: st.DrawFn, text: str) -> str:
    """``text`` with each letter in upper or lower case."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(
        c.upper() if f else c.lower() for c, f in zip(text, flips, strict=True)
    )


BOUNDARIES = st.one_of(
    st.text("abcXYZ0189'()+_,-./:=?", min_size=1, max_size=70),
    st.text(min_size=0, max_size=80),  # spaces, quotes, non-ASCII, empty
)


@st.composite
def part_headers(draw: st.DrawFn, line_break: bytes) -> bytes:
    """A part's header block: a disposition (or not), maybe a type, others."""
    lines = []
    name = draw(st.sampled_from(["n", "items", "document", "flag", "$action"]) | TOKEN)
    disposition = draw(case("content-disposition"))
    params = draw(
        st.sampled_from(
            [
                f'form-data; name="{name}"',
                f"form-data; name={name}",
                f'form-data; name="{name}"; filename="{draw(TOKEN)}"',
                f"form-data; name*=UTF-8''{name}",
                "form-data",
                "attachment",
                draw(TOKEN),
            ]
        )
    )
    if draw(st.integers(0, 9)):
        lines.append(f"{disposition}: {params}")
    if draw(st.booleans()):
        kind = draw(
            st.sampled_from(
                ["text/plain", "application/octet-stream", "multipart/mixed"]
            )
        )
        lines.append(f"{draw(case('content-type'))}: {kind}")
    lines += draw(
        st.lists(
            st.tuples(TOKEN, TOKEN).map(lambda kv: f"{kv[0]}: {kv[1]}"), max_size=3
        )
    )
    encoded = [line.encode("utf-8", "surrogatepass") for line in lines]
    return line_break.join(encoded) + line_break


@st.composite
def multipart_bodies(draw: st.DrawFn, depth: int = 0) -> tuple[bytes, str]:
    """A multipart body built part by part, often subtly broken, and its
    boundary; parts may hold further multipart bodies."""
    boundary = draw(BOUNDARIES)
    line_break = draw(LINE_BREAKS)
    delimiter = b"--" + boundary.encode("utf-8", "surrogatepass")
    out = [draw(st.binary(max_size=8))] if draw(st.integers(0, 5)) == 0 else []
    for _ in range(draw(st.integers(0, 4))):
        head = draw(part_headers(line_break))
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            inner, inner_boundary = draw(multipart_bodies(depth + 1))
            head += (
                f"Content-Type: multipart/mixed; boundary={inner_boundary}".encode(
                    "utf-8", "surrogatepass"
                )
                + line_break
            )
            data = inner
        else:
            data = draw(
                st.binary(max_size=40)
                | st.sampled_from([delimiter, delimiter + b"--", b"\r\n" + delimiter])
            )
        out.append(delimiter + line_break + head + line_break + data + line_break)
    if draw(st.integers(0, 5)):
        out.append(delimiter + b"--" + line_break)
    body = b"".join(out)
    if draw(st.integers(0, 6)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    return body, boundary


@st.composite
def multipart_requests(draw: st.DrawFn) -> dict[str, Any]:
    body, boundary = draw(multipart_bodies())
    media = draw(case("multipart/form-data"))
    quoted = draw(st.booleans())
    param = draw(case("boundary"))
    value = f'"{boundary}"' if quoted else boundary
    content_type = draw(
        st.sampled_from(
            [
                f"{media}; {param}={value}",
                f"{media};{param}={value}; charset=utf-8",
                f"{media}",
                f'{media}; {param}={value}; a="{";" * 40}',
            ]
        )
    )
    name = draw(st.sampled_from([None, *FEW_NAMES]))
    if name is None and draw(st.booleans()):  # a no-JS form naming its action
        first = b"--" + boundary.encode("utf-8", "surrogatepass") + b"\r\n"
        first += part("$action", draw(st.sampled_from(FEW_NAMES))) + b"\r\n"
        body = first + body
    return {"body": body, "content_type": content_type, "name": name}


def fuzz_call(client: Client, request: dict[str, Any]) -> Response:
    body, content_type, name = request["body"], request["content_type"], request["name"]
    return client.send(body, content_type, action=name, length=len(body), status="*")


@FUZZ_BODIES
@given(request=multipart_requests())
def test_structured_multipart_bodies_get_a_documented_answer(
    request: dict[str, Any],
) -> None:
    client, _ = fuzz_client(validate=False, max_body_size=64 * 1024)
    answer = fuzz_call(client, request)
    check_documented(client, answer)
    if answer.from_app and client.calls[-1].result is None:
        assert client.calls[-1].body == request["body"]  # byte for byte


URLENCODED_PIECES = st.sampled_from(
    [
        b"&",
        b"=",
        b"%",
        b"%2",
        b"%zz",
        b"%C3",
        b"%C3%A9",
        b"%FF",
        b"+",
        b"$action",
        b"%24action",
        b"n",
        b"items",
        b"flag",
        b"echo",
        b"typed",
        b"1",
        b"[1,2]",
        b"%5B" * 70,
        b"\xff",
        b"\x00",
        b";",
    ]
)


@st.composite
def urlencoded_requests(draw: st.DrawFn) -> dict[str, Any]:
    body = b"".join(
        draw(st.lists(URLENCODED_PIECES | st.binary(max_size=4), max_size=30))
    )
    name = draw(st.sampled_from([None, *FEW_NAMES]))
    if name is None and draw(st.booleans()):
        body = b"%24action=" + draw(st.sampled_from(FEW_NAMES)).encode() + b"&" + body
    media = draw(case("application/x-www-form-urlencoded"))
    suffix = draw(st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", ";"]))
    return {"body": body, "content_type": media + suffix, "name": name}


@FUZZ_BODIES
@given(request=urlencoded_requests())
def test_urlencoded_bodies_get_a_documented_answer(request: dict[str, Any]) -> None:
    client, _ = fuzz_client(validate=False, max_body_size=64 * 1024)
    answer = fuzz_call(client, request)
    check_documented(client, answer)
    if answer.from_app and client.calls[-1].result is None:
        assert client.calls[-1].body == request["body"]


WIDE_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=20)
OPTIONAL_KEYS = [
    "REQUEST_METHOD",
    "PATH_INFO",
    "SCRIPT_NAME",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_HOST",
    "wsgi.url_scheme",
]


def mostly(usual: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> Any:
    """``usual`` three times in four, else one of ``rare``."""
    other = st.one_of(*rare)
    pick = st.sampled_from([True, True, True, False])
    return pick.flatmap(lambda usually: usual if usually else other)


@st.composite
def environs(draw: st.DrawFn) -> dict[str, Any]:
    """Any environ a server, a test tool or a confused proxy might build."""
    body = draw(
        st.sampled_from(
            [
                b"",
                b"[]",
                b'{"n": 1}',
                b"%24action=echo&n=1",
                multipart_of(part("$action", "echo"), part("n", "1")),
            ]
        )
        | st.binary(max_size=64)
    )
    method = draw(
        mostly(
            st.just("POST"),
            st.sampled_from(["GET", "HEAD", "OPTIONS", "PUT", "post", ""]),
            WIDE_TEXT,
        )
    )
    path = draw(
        mostly(
            st.sampled_from(["/", "/page", "/_serveract/echo", "/serveract.js"]),
            st.sampled_from(["/_serveract/", "/_serveract/%00", "", "page"]),
            WIDE_TEXT,
        )
    )
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                FORM,
                MULTIPART,
                "MULTIPART/FORM-DATA",
                "text/plain",
                "multipart/form-data; boundary=",
                f'{MULTIPART}; a="' + ";" * 200,  # an unterminated quote
            ]
        )
        | WIDE_TEXT
    )
    environ = environ_for(method, body, content_type, length=None)
    environ["PATH_INFO"] = path
    length = draw(
        st.sampled_from(
            [str(len(body)), "", "-1", "abc", " 5", "99999999999999999999", "0"]
        )
    )
    environ["CONTENT_LENGTH"] = length
    if draw(st.booleans()):
        environ["wsgi.input_terminated"] = True
    if draw(st.booleans()):
        environ["wsgi.input"] = ServerBody(body)
    action = draw(mostly(st.sampled_from(FEW_NAMES), st.none(), WIDE_TEXT))
    if action is not None:
        environ["HTTP_SERVERACT_ACTION"] = action
    headers = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "HTTP_ORIGIN",
                    "HTTP_SEC_FETCH_SITE",
                    "HTTP_HOST",
                    "HTTP_X_FORWARDED_HOST",
                    "HTTP_HX_REQUEST",
                    "HTTP_IF_NONE_MATCH",
                    "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
                    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
                ]
            ),
            st.sampled_from(["", "null", "http://example.com", "a.example.com", "*"])
            | WIDE_TEXT,
            max_size=3,
        )
    )
    environ.update(headers)
    for key in draw(st.lists(st.sampled_from(OPTIONAL_KEYS), unique=True, max_size=3)):
        environ.pop(key, None)
    return environ


@FUZZ_BODIES
@given(environ=environs())
def test_no_exception_escapes_the_middleware_whatever_the_environ(
    environ: dict[str, Any],
) -> None:
    client, _ = fuzz_client(
        validate=False, max_body_size=64 * 1024, allowed_origins=["*.example.com"]
    )
    answer = client.serve(environ, status="*")  # raises if anything escaped
    if answer.from_app:
        return
    assert answer.status_int in DOCUMENTED | {500, 503}, answer
    if answer.status_int >= 400 and environ.get("REQUEST_METHOD") == "HEAD":
        assert answer.status_int == 405 and answer.body == b""  # RFC 9110, 9.3.2
    elif answer.status_int >= 400:
        error = answer.error
        assert error["type"] == ERROR_TYPES[answer.status_int], error
    if answer.status_int >= 500:
        assert error["data"]["error_id"] in error["message"]
