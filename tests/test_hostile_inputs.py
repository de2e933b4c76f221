"""Hostile requests get exact answers and reach neither the actions nor the
app: a table of malformed bodies, unknown names, numbers no action should
see, and property-based fuzzing of whole requests."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import json
import re
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import webob
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import serveract
from conftest import FORM, Client, Response, multipart

LIMIT = 100_000  # max_body_size here, unless a body needs more
ERROR_TYPES = {
    400: "bad_request",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


@pytest.fixture
def target(reg: serveract.Registry) -> list[Any]:
    """Registers ``target(*args, **kwargs)``; the calls it gets."""
    seen: list[Any] = []

    @reg.action
    def target(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    return seen


# -- A table of hostile header calls ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hostile:
    """A header call for ``target`` and the error it gets."""

    id: str
    status: int
    words: str  # in the error's message
    body: bytes = b"[]"
    content_type: str | None = "application/json"
    method: str = "POST"


DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
MIXED = b'[{"a": ' * 50 + b"1" + b"}]" * 50
BAD_BOUNDARY = 'multipart/form-data; boundary="a b\u00e9"'
NO_BOUNDARY = "multipart/form-data"
HEADLESS_PART = b"--x\r\n\r\n--x--"

HOSTILE = [
    Hostile("get", 405, "POST", b"", None, "GET"),
    Hostile("put", 405, "POST", method="PUT"),
    Hostile("head", 405, "POST", b"", None, "HEAD"),
    Hostile("options", 405, "POST", b"", None, "OPTIONS"),
    Hostile("text-plain", 415, "text/plain", content_type="text/plain"),
    Hostile("pickle", 415, "pickle", b"\x80\x04K\x01.", "application/python-pickle"),
    Hostile("xml", 415, "xml", b"<a/>", "application/xml"),
    Hostile("json-lookalike", 415, "patch", content_type="application/json-patch+json"),
    Hostile("broken-json", 400, "not valid JSON", b"[1,"),
    Hostile("trailing-json", 400, "not valid JSON", b"[1] [2]"),
    Hostile("single-quotes", 400, "not valid JSON", b"'x'"),
    Hostile("truncated-json", 400, "not valid JSON", b'["abc'),
    Hostile("utf8-bom", 400, "not valid JSON", b"\xef\xbb\xbf[]"),
    Hostile("scalar-json", 400, "must be an array", b'"x"'),
    Hostile("null-json", 400, "must be an array", b"null"),
    Hostile("array-100000-deep", 400, "nested", DEEP_ARRAY),
    Hostile("object-100000-deep", 400, "nested", DEEP_OBJECT),
    Hostile("array-100-deep", 400, "nested", b"[" * 100 + b"]" * 100),
    Hostile("mixed-100-deep", 400, "nested", MIXED),
    Hostile("5000-digit-int", 400, "digits", b"[" + b"9" * 5000 + b"]"),
    Hostile("1e999", 400, "1e999", b"[1e999]"),
    Hostile("minus-1e999", 400, "1e999", b"[-1e999]"),
    Hostile("nan", 400, "NaN", b"[NaN]"),
    Hostile("infinity", 400, "Infinity", b"[Infinity]"),
    Hostile("minus-infinity", 400, "Infinity", b"[-Infinity]"),
    Hostile("json-bad-utf8", 400, "UTF-8", b'["\xff"]'),
    Hostile("json-surrogate", 400, "UTF-8", b'["\xed\xa0\x80"]'),
    Hostile("form-raw-bad-utf8", 400, "UTF-8", b"note=\xff", FORM),
    Hostile("form-escaped-bad-utf8", 400, "UTF-8", b"note=%ff", FORM),
    Hostile("form-name-bad-utf8", 400, "UTF-8", b"%ff=1", FORM),
    Hostile("multipart-no-boundary", 400, "multipart", HEADLESS_PART, NO_BOUNDARY),
    Hostile("multipart-bad-boundary", 400, "multipart", b"--x--", BAD_BOUNDARY),
]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.id)
def test_a_hostile_header_call_gets_its_exact_error_and_reaches_nothing(
    middleware: Callable[..., Client], target: list[Any], case: Hostile
) -> None:
    client = middleware(max_body_size=max(LIMIT, len(case.body)))
    answer = client.send(
        case.body,
        case.content_type,
        action="target",
        method=case.method,
        status=case.status,
    )
    assert answer.error["type"] == ERROR_TYPES[case.status]
    assert case.words in answer.error["message"]
    if case.status == 405:
        assert answer.headers["Allow"] == "POST"
    assert target == [] and client.calls == []


def test_json_nested_within_the_bound_is_fine(reg, middleware) -> None:
    @reg.action
    def take(value: Any) -> Any:
        return value

    value: Any = 1
    for _ in range(40):
        value = [value]
    assert middleware().call("take", [value]).json == value


def test_a_long_integer_for_a_float_is_422_not_a_crash(reg, middleware) -> None:
    @reg.action
    def take(x: float) -> float:
        return x

    body = b"[1" + b"0" * 400 + b"]"
    error = middleware().send(body, "application/json", action="take", status=422)
    assert error.error["data"] == [{"field": "x", "message": "expected a number"}]


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("kind", [float, decimal.Decimal])
def test_a_form_number_must_be_finite(reg, middleware, text: str, kind: type) -> None:
    # NaN fails every comparison: `if amount > balance: refuse` would pass it.
    seen = []

    def take(amount: float) -> None:
        seen.append(amount)

    take.__annotations__["amount"] = kind
    reg.action(take)
    client = middleware()
    body = f"amount={text}".encode()
    if kind is decimal.Decimal and text == "1e999":  # a finite decimal
        client.send(body, FORM, action="take")
        assert seen == [decimal.Decimal("1e999")]
        return
    answer = client.send(body, FORM, action="take", status=422)
    assert answer.error["data"][0]["field"] == "amount"
    assert seen == []
    # The same text in a JSON string is refused for a Decimal too.
    if kind is decimal.Decimal:
        client.call("take", [text], status=422)


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
def test_a_name_no_action_is_registered_under_is_404(
    middleware: Callable[..., Client], target: list[Any], name: str, how: str
) -> None:
    def _hidden() -> None:  # a private function in reach: never callable
        target.append("private")

    client = middleware()
    if how == "header":
        answer = client.call(name, status=404)
    elif how == "form":
        answer = client.form([("$action", name)], status=404)
    else:
        answer = client.send(*multipart([("$action", name)]), status=404)
    assert answer.error == {
        "type": "not_found",
        "message": f"No action named {name!r}",
        "data": None,
    }
    assert target == [] and client.calls == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        pytest.param(b"%24action=target&note=x%ff", 400, "not valid UTF-8", id="utf8"),
        pytest.param(b"%24action=target&%24bound=e30.AAAA", 400, "not signed", id="b"),
    ],
)
def test_a_hostile_form_without_javascript_gets_its_error_and_reaches_nothing(
    middleware: Callable[..., Client],
    target: list[Any],
    body: bytes,
    status: int,
    words: str,
) -> None:
    client = middleware(secret="k")
    assert words in client.send(body, FORM, status=status).error["message"]
    assert target == [] and client.calls == []


# -- Property-based: arbitrary requests never break the middleware ------------

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


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


def fuzz_client(**options: Any) -> tuple[Client, list[str]]:
    """Actions with every kind of parameter; none of them fails on its own.
    Returns the client and the names of the actions called."""
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
    return Client(reg, secret="fuzz", **options), seen


def check_clean_answer(client: Client, answer: Response) -> None:
    """2xx, 3xx or 4xx; every error in the JSON error shape; the app reached
    only by a pass-through or to render a no-JS form's outcome."""
    status = answer.status_int
    assert 200 <= status < 500, answer
    if answer.headers.get("X-From") == "the app":
        assert status == 200
        [seen] = client.calls
        outcome = seen.result
        assert outcome is None or outcome.ok or outcome.error.status < 500
    elif status >= 400:
        answer.error  # noqa: B018 - checks the shape
        assert client.calls == []
    elif status >= 300:
        assert "Location" in answer.headers
    else:
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.content_type == "application/json"
        answer.json  # noqa: B018 - checks it parses


FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


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
