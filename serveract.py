"""serveract — server actions for any WSGI app.

Mark a Python function as an action, wrap your WSGI app once, and the browser
can call the function with ``fetch``, from a plain HTML ``<form>`` (no
JavaScript needed), or through the bundled client script. Arguments are
checked against the function's type hints, answers are JSON, and every other
request passes through to the wrapped app untouched::

    import serveract

    @serveract.action
    def add(a: int, b: int) -> int:
        return a + b

    app = serveract.ServerActions(wsgi_app)

    # in the browser
    fetch("/_serveract/add", {method: "POST", body: "[2, 3]",
                              headers: {"Content-Type": "application/json"}})  // 5

The wire format and the public names are fixed by the project's SPEC; the
documentation has the guides.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import collections.abc
import contextlib
import contextvars
import dataclasses
import datetime
import decimal
import enum
import hashlib
import hmac
import html
import importlib
import inspect
import io
import json
import json.scanner
import logging
import math
import operator
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import types
import typing
import uuid
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any, Literal, Union
from urllib.parse import quote, quote_plus, unquote_plus

import multipart
import webob
import webob.multidict

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from contextlib import AbstractContextManager

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ActionError",
    "Markup",
    "MemoryLimiter",
    "RedisLimiter",
    "Registry",
    "Result",
    "ServerActions",
    "Upload",
    "action",
    "hidden_field",
    "redirect",
    "register_module",
    "registry",
    "result",
]
__version__ = "0.2.0"

logger = logging.getLogger("serveract")

#: Bytes of a form POST read to look for the ``$action`` field. The rendered
#: hidden field comes first, so a few hundred bytes would do; this leaves room
#: for hand-written forms and long multipart boundaries.
_PEEK_SIZE = 8192
_CHUNK_SIZE = 65536
#: Deepest JSON nesting accepted, in a body or in a form field.
_MAX_DEPTH = 64
#: Most fields (parts) and most uploaded files in one form body.
_MAX_FIELDS = 1000
_MAX_FILES = 100
#: Uploads stay in memory up to this size, then spool to a temporary file.
_SPOOL_SIZE = 1 << 16
_RESULT_KEY = "serveract.result"
#: Headers (cookies a framework ``context`` saved) added to an action's answer.
_HEADERS_KEY = "serveract.response_headers"
_BOUND_FIELD = "$bound"
_SIGNATURE_SALT = b"serveract.bound\x00"
#: Bad signatures a client may send in ``_SIGNATURE_WINDOW`` seconds.
_SIGNATURE_FAILURES = 10
_SIGNATURE_WINDOW = 600


# -- Outcomes ---------------------------------------------------------------


class ActionError(Exception):
    """A deliberate failure an action sends to the client.

    The answer has ``status`` and the body
    ``{"error": {"type": "action_error", "message": ..., "data": ...}}``. A
    form called without JavaScript shows it through :func:`result`; a dict
    ``data`` of field names to messages becomes ``result(environ).error.fields``.

    :param message: shown to the user.
    :param status: a 4xx or 5xx HTTP status (401, 403, 409, ...).
    :param data: anything JSON-encodable, e.g. ``{"email": "already taken"}``.

    >>> raise ActionError("Email already taken", 409, {"email": "taken"})
    Traceback (most recent call last):
    serveract.ActionError: Email already taken
    """

    def __init__(self, message: str, status: int = 400, data: Any = None) -> None:
        status = operator.index(status)  # an int or HTTPStatus; 400.5 is no status
        if not 400 <= status <= 599:
            raise ValueError(f"ActionError status must be 4xx or 5xx, not {status}")
        message = str(message)  # an exception, a lazy translation: sent as text
        super().__init__(message)
        self.message = message
        self.status = status
        self.data = data


_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_URL_UNSAFE = re.compile(r"[^\x21-\x7e]")


class redirect(BaseException):
    """Send the browser elsewhere; raise it or return it from an action.

    A header call answers 200 with ``Serveract-Redirect: URL`` (and
    ``HX-Redirect`` for htmx), which the client script follows; a form call
    without JavaScript answers with ``status`` and ``Location``. It derives
    from ``BaseException`` so that an ``except Exception:`` inside the action
    does not swallow it.

    :param url: a relative URL or an ``http``/``https`` one; characters
        outside ASCII are percent-encoded.
    :param status: the status of a form call's answer: 301, 302, 303 (the
        browser then GETs the URL), 307 or 308.
    :raises ValueError: another scheme (``javascript:``, ``data:``, ...), or
        a control character, which could smuggle one past a browser.

    >>> redirect("/search?q=日本").url
    '/search?q=%E6%97%A5%E6%9C%AC'
    """

    def __init__(self, url: str, status: int = 303) -> None:
        status = operator.index(status)
        # 300, 304, 305 and 306 are 3xx but no redirect a browser follows.
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(
                f"redirect status must be 301, 302, 303, 307 or 308, not {status}"
            )
        # Browsers drop tabs and line breaks inside a URL and spaces around
        # it, so "java\tscript:" is a script: refuse them all.
        if url != url.strip() or any(ord(c) < 32 or ord(c) == 127 for c in url):
            raise ValueError(f"redirect URL has control characters: {url!r}")
        scheme = _URL_SCHEME.match(url)
        if scheme and scheme[1].lower() not in ("http", "https"):
            raise ValueError(f"redirect URL must be http(s) or relative: {url!r}")
        url = _URL_UNSAFE.sub(lambda match: quote(match[0]), url)
        super().__init__(url)
        self.url = url
        self.status = status


_ERROR_TYPES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_arguments",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class _Failure(Exception):
    """A call that ends in an error answer; ``Result.error`` of a form call.

    ``status``, ``type``, ``message`` and ``data`` are the error body's;
    ``headers`` go with the answer (``Allow``, ``Retry-After``)."""

    def __init__(
        self,
        status: int,
        message: str,
        data: Any = None,
        type: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data
        self.type = type or _ERROR_TYPES[status]
        self.headers = headers

    @property
    def fields(self) -> dict[str, str]:
        """Messages per form field, from a 422 or an ``ActionError``'s dict data."""
        if isinstance(self.data, dict):
            return {str(key): str(value) for key, value in self.data.items()}
        if isinstance(self.data, list):
            return {
                item["field"]: item["message"]
                for item in self.data
                if isinstance(item, dict) and item.get("field")
            }
        return {}

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "data": self.data}


class Result:
    """What a form call without JavaScript did, for the page to render.

    :ivar name: the action's name.
    :ivar ok: whether it returned.
    :ivar value: what it returned.
    :ivar error: on failure, with ``.status``, ``.type``, ``.message``,
        ``.data`` and ``.fields`` (messages per form field).
    """

    __slots__ = ("_fields", "_form", "error", "name", "ok", "value")

    def __init__(
        self,
        name: str,
        value: Any = None,
        error: _Failure | None = None,
        fields: dict[str, list[Any]] | None = None,
    ) -> None:
        self.name = name
        self.ok = error is None
        self.value = value
        self.error = error
        self._fields = fields or {}
        self._form: webob.multidict.MultiDict[str, str] | None = None

    @property
    def form(self) -> webob.multidict.MultiDict[str, str]:
        """The submitted text fields (uploads and serveract's own left out),
        to fill the form in again."""
        if self._form is None:  # built on first use: a success page rarely asks
            self._form = webob.multidict.MultiDict(
                (key, value)
                for key, values in self._fields.items()
                for value in values
                if type(value) is str
            )
        return self._form

    def __repr__(self) -> str:
        return f"<Result of {self.name}: {'ok' if self.ok else self.error!r}>"


def result(environ: WSGIEnvironment) -> Result | None:
    """The outcome of the form call this request re-renders, or ``None``.

    After a form is submitted without JavaScript, the action runs and the
    wrapped app renders the same URL as a ``GET``; it reads this to show the
    value or the errors::

        outcome = serveract.result(request.environ)
        if outcome and not outcome.ok:
            errors = outcome.error.fields      # {"email": "already taken"}
            title = outcome.form.get("title")  # what the user typed

    :param environ: the WSGI environ the wrapped app received.
    """
    value = environ.get(_RESULT_KEY)
    return value if isinstance(value, Result) else None


# -- Registry ---------------------------------------------------------------

_F = typing.TypeVar("_F", bound="Callable[..., Any]")


class Registry:
    """A set of actions, by name.

    ``Registry().action`` is the :func:`action` decorator bound to it. Pass a
    registry to :class:`ServerActions` to serve only its actions::

        admin = serveract.Registry()

        @admin.action(name="users.delete")
        def delete_user(user_id: int) -> None: ...

        app = serveract.ServerActions(wsgi_app, admin)
    """

    def __init__(self) -> None:
        self._actions: dict[str, _Action] = {}

    @typing.overload
    def action(
        self,
        func: _F,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
        limit: str | None = None,
    ) -> _F: ...
    @typing.overload
    def action(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
        limit: str | None = None,
    ) -> Callable[[_F], _F]: ...

    def action(
        self,
        func: _F | None = None,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
        limit: str | None = None,
    ) -> _F | Callable[[_F], _F]:
        """Register ``func`` as an action, bare or with options; ``func`` is
        returned unchanged. ``serveract.action`` registers in the default
        registry::

            @serveract.action
            def create_user(name: str, email: str) -> dict: ...

            @serveract.action(name="users.delete", bound=["user_id"], limit="5/minute")
            def delete_user(user_id: int) -> None: ...

        :param func: the function.
        :param name: the name clients call; the function's ``__name__`` by
            default.
        :param bound: parameters that only values signed into a form by
            :meth:`ServerActions.hidden_field` may fill: a call without them
            (any JSON call, a form without the signed field) is refused with
            400, so the client cannot choose them.
        :param limit: at most this many calls per client in any window, as
            ``"N/unit"`` with unit ``second``, ``minute``, ``hour`` or ``day``.
        :raises ValueError: the name is empty, ``.`` or ``..``, another
            function already has it, ``bound`` names no parameter, or
            ``limit`` is malformed.
        :raises TypeError: ``func`` is not a function, one of its parameters
            can never be built from a request, or ``bound`` is a string.
        """
        if func is None:
            return lambda func: self.action(func, name=name, bound=bound, limit=limit)
        name = name or str(getattr(func, "__name__", ""))
        # "." and ".." are dot segments: URLs drop them, so no path call reaches them.
        if not isinstance(name, str) or name in ("", ".", ".."):
            raise ValueError(
                f"an action needs a non-empty name other than . and .., not {name!r}"
            )
        if isinstance(func, type) or not callable(func):
            raise TypeError(f"action {name!r} must be a function, not {func!r}")
        if isinstance(bound, str):  # would be read letter by letter
            raise TypeError(f"bound is a list of names, e.g. [{bound!r}], not a str")
        existing = self._actions.get(name)
        if existing is None:
            self._actions[name] = _Action(name, func, frozenset(bound), limit)
        elif existing.func is not func:
            raise ValueError(
                f"action name {name!r} is already taken by {existing.func!r}"
            )
        elif (existing.bound, existing.limit) != (
            frozenset(bound),
            None if limit is None else _parse_limit(limit),
        ):
            raise ValueError(
                f"action {name!r} is already registered with other bound= or limit="
            )
        return func

    def get(self, name: str) -> Callable[..., Any] | None:
        """The function registered as ``name``, or ``None``."""
        found = self._actions.get(name)
        return None if found is None else found.func

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __len__(self) -> int:
        return len(self._actions)

    def __iter__(self) -> Iterator[str]:
        return iter(self._actions)

    def __repr__(self) -> str:
        return f"<Registry {sorted(self._actions)}>"


#: The default registry, used by :func:`action` and :class:`ServerActions`.
registry = Registry()
_default_registry = registry  # for where a parameter named ``registry`` hides it
action = registry.action


def register_module(
    module: types.ModuleType | str, registry: Registry | None = None
) -> list[str]:
    """Register every public function *defined* in ``module`` (file-level
    "use server").

    Imported functions, classes and names starting with ``_`` are skipped.
    Each function is registered under its ``__name__``, unless the module
    registered it already (as it was). Every one becomes a public HTTP
    endpoint, so each must check its own authorization.

    :param module: a module object or a dotted name to import.
    :param registry: where to register; the default registry if omitted.
    :returns: the names registered, in definition order.
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    target = _default_registry if registry is None else registry
    # A function the module registered itself (with a name, limit= or
    # bound=) stays as it is: a second name without its bound= would let
    # any client choose the values it binds.
    registered = {action.func: name for name, action in target._actions.items()}
    names = []
    for name, value in vars(module).items():
        if (
            not name.startswith("_")
            and inspect.isfunction(value)
            and value.__module__ == module.__name__
        ):
            if value not in registered:
                registered[value] = target.action(value).__name__
            names.append(registered[value])
    return names


# -- Types and binding ------------------------------------------------------
#
# Each supported type hint maps to one _Type: how a JSON value is checked and
# built, how a form field's text is parsed, and how both are described (error
# messages, JSON Schema, TypeScript). Parameters are built from it once, at
# registration, so a call costs a dict walk and the published schemas cannot
# disagree with the checks. JSON follows JSON Schema's data model: 1.0 is an
# integer, true is no number, dates are RFC 3339 text.

_EMPTY = inspect.Parameter.empty


class _Invalid(Exception):
    """A value that does not fit a type hint; the message says what was wanted."""


class _NotJSON(_Invalid):
    """A form field that should hold JSON text (a list, an object) and does not."""


def _answer_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of an answer, from that of a request: text types are
    plain text (every digit of a Decimal, a naive time), every dataclass field
    is present, and sizes and key patterns are for clients to meet."""
    if "pattern" in schema:
        return {"type": "string"}
    if "anyOf" in schema:
        return {"anyOf": [_answer_schema(option) for option in schema["anyOf"]]}
    if "prefixItems" in schema:
        items = [_answer_schema(item) for item in schema["prefixItems"]]
        return {"type": "array", "prefixItems": items, "items": False}
    if "items" in schema:
        return {"type": "array", "items": _answer_schema(schema["items"])}
    if "properties" in schema:
        fields = {k: _answer_schema(v) for k, v in schema["properties"].items()}
        return {"type": "object", "properties": fields, "required": list(fields)}
    if "additionalProperties" in schema:
        values = _answer_schema(schema["additionalProperties"])
        return {"type": "object", "additionalProperties": values}
    return schema


@dataclasses.dataclass(eq=False)
class _Type:
    """How one type hint is checked, parsed and described."""

    json: Callable[[Any], Any]  # decoded JSON value -> Python value
    form: Callable[[Any], Any]  # a field's text or upload (every value if many)
    schema: dict[str, Any]  # JSON Schema of what a client may send
    ts: str  # the TypeScript type
    description: str  # for error messages: "an integer"
    many: bool = False  # the form field repeats: form() gets every value
    blank: bool = False  # an empty form field is a value, not a missing one
    missing: Any = _EMPTY  # the value of a form field left out
    answer: str = ""  # the TypeScript type of an answer, if not ts

    def __post_init__(self) -> None:
        self.answer = self.answer or self.ts


class Upload:
    """An uploaded file: readable like a file, with ``filename`` and
    ``content_type``, both as the client wrote them (never use ``filename``
    as a path). Small files are in memory, larger ones in a temporary file;
    all are closed when the call ends."""

    def __init__(self, file: IO[bytes], filename: str, content_type: str) -> None:
        self.file = file
        self.filename = filename
        self.content_type = content_type

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all by default)."""
        return self.file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move within the upload, as ``file.seek``."""
        return self.file.seek(offset, whence)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.file)

    def __repr__(self) -> str:
        return f"<Upload {self.filename!r} {self.content_type}>"


def _item(convert: Callable[[Any], Any], where: object, value: Any) -> Any:
    try:
        return convert(value)
    except _Invalid as error:
        raise _Invalid(f"[{where!r}]: {error}") from None


def _text(
    parse: Callable[[str], Any], description: str, pattern: str = ""
) -> Callable[[Any], Any]:
    """A form parser: ``parse`` on the field's text (if ``pattern`` matches
    it); a file or a parse failure is ``_Invalid``."""
    match = re.compile(pattern).fullmatch if pattern else None

    def form(value: Any) -> Any:
        if not isinstance(value, str):
            raise _Invalid(f"expected {description}, not a file")
        text = value.strip()
        try:
            if match is None or match(text):
                return parse(text)
        except (ValueError, KeyError, ArithmeticError):
            pass
        raise _Invalid(f"expected {description}")

    return form


def _finite(text: str) -> float:
    """``float(text)``, refusing NaN and infinities: NaN fails every
    comparison, so a check like ``amount > balance`` would let it through."""
    value = float(text)
    if math.isfinite(value):
        return value
    raise ValueError(text)


def _exact(kind: type, description: str) -> Callable[[Any], Any]:
    """A check for exactly ``kind``: ``True`` is an ``int`` subclass but no
    integer. It also tells a form's text from its uploads (JSON holds none)."""

    def exact(value: Any) -> Any:
        if type(value) is kind:
            return value
        raise _Invalid(f"expected {description}")

    return exact


def _json_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _Invalid("expected an integer")


#: The largest float: an integer literal of hundreds of digits may be more.
_FLOAT_MAX = sys.float_info.max


def _json_float(value: Any) -> float:
    if type(value) is float:
        return value
    # Compared exactly, as the schema's bounds: float() would round a few
    # integers above the largest float down to it, and refuse the rest.
    if type(value) is int and -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return float(value)
    raise _Invalid("expected a number")


def _identity(value: Any) -> Any:
    return value


_json_text = _exact(str, "text")
_form_text = _exact(str, "text, not a file")


def _json_bytes(value: Any) -> bytes:
    try:
        return bytes(_json_text(value).encode())
    except UnicodeEncodeError:  # "\ud800": valid JSON, but no text UTF-8 holds
        raise _Invalid("expected text") from None


#: Text UTF-8 holds: no lone surrogate, read as ECMA-262 reads it with or
#: without the u flag (where a pair is two code units).
_UTF8_TEXT = r"^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$"


_form_int = _text(int, "an integer")
_form_float = _text(_finite, "a number")
#: What a checkbox, a select or a text field may say for a bool.
_BOOLEANS = dict.fromkeys(("on", "true", "1", "yes"), True)
_BOOLEANS.update(dict.fromkeys(("off", "false", "0", "no", ""), False))

#: At most 4,300 digits each side of the point (as int() reads) and 4 in
#: the exponent: int() of a Decimal of a million digits takes a minute.
_DIGITS, _EXPONENT = "[0-9]{1,4300}", "([eE][+-]?[0-9]{1,4})?"
_DECIMAL = rf"-?{_DIGITS}(\.{_DIGITS})?{_EXPONENT}"
#: HTML's valid floating-point number, as <input type="number"> sends it:
#: the digits before the point may be left out (".5").
_FORM_DECIMAL = rf"-?({_DIGITS}(\.{_DIGITS})?|\.{_DIGITS}){_EXPONENT}"
_UUID = r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
#: A fraction of any length (RFC 3339; HTML sends 1 to 3 digits), read to
#: the microsecond.
_SECONDS = r":[0-5][0-9](\.[0-9]+)?"
_CLOCK = "([01][0-9]|2[0-3]):[0-5][0-9]"
_OFFSET = f"([Zz]|[+-]{_CLOCK})"
#: RFC 3339, for JSON: seconds and an offset are required.
_TIME = _CLOCK + _SECONDS + _OFFSET
_DATETIME = _DATE + "[Tt]" + _TIME
#: What HTML date and time inputs send: seconds and offset optional.
_FORM_TIME = f"{_CLOCK}({_SECONDS})?{_OFFSET}?"
_FORM_DATETIME = _DATE + "[Tt ]" + _FORM_TIME


def _textual(
    kind: Callable[[str], Any],
    description: str,
    pattern: str,
    form_pattern: str = "",
    **schema: Any,
) -> _Type:
    """A type sent as text (dates, UUIDs, decimals): ``kind`` of what
    ``pattern`` matches (``form_pattern`` in forms; no NaN, no infinity);
    JSON numbers too if its ``schema`` says so."""
    schema = {"type": "string", **schema, "pattern": f"^{pattern}$"}
    numbers = "number" in schema["type"]
    match = re.compile(pattern).fullmatch

    def from_json(value: Any) -> Any:
        if numbers and type(value) in (int, float):
            value = repr(value)
        try:
            if type(value) is str and match(value):
                return kind(value)
        except (ValueError, ArithmeticError):
            pass
        raise _Invalid(f"expected {description}")

    form = _text(kind, description, form_pattern or pattern)
    ts = " | ".join(schema["type"]) if numbers else "string"
    return _Type(from_json, form, schema, ts, description, answer="string")


_FRACTION = re.compile(r"\.([0-9]+)")


def _iso(kind: Any) -> Callable[[str], Any]:
    # Python 3.10 reads neither "Z" nor a lowercase "t", and a fraction of
    # 3 or 6 digits only: it gets 6, the digits past them dropped.
    def parse(text: str) -> Any:
        text = text.replace("t", "T").replace("z", "+00:00").replace("Z", "+00:00")
        text = _FRACTION.sub(lambda m: "." + f"{m[1]:0<6}"[:6], text, 1)
        return kind.fromisoformat(text)

    return parse


_SCALARS: dict[Any, _Type] = {
    str: _Type(
        _json_text, _form_text, {"type": "string"}, "string", "text", blank=True
    ),
    int: _Type(_json_int, _form_int, {"type": "integer"}, "number", "an integer"),
    float: _Type(
        _json_float,
        _form_float,
        {"type": "number", "minimum": -_FLOAT_MAX, "maximum": _FLOAT_MAX},
        "number",
        "a number",
    ),
    bool: _Type(
        _exact(bool, "true or false"),
        _text(lambda text: _BOOLEANS[text.lower()], "true or false"),
        {"type": "boolean"},
        "boolean",
        "true or false",
        missing=False,  # an unchecked checkbox sends nothing
    ),
    decimal.Decimal: _textual(
        decimal.Decimal,
        "a decimal number",
        _DECIMAL,
        _FORM_DECIMAL,
        type=["number", "string"],
    ),
    uuid.UUID: _textual(uuid.UUID, "a UUID", _UUID, format="uuid"),
    datetime.datetime: _textual(
        _iso(datetime.datetime),
        "a date and time (RFC 3339)",
        _DATETIME,
        _FORM_DATETIME,
        format="date-time",
    ),
    datetime.date: _textual(
        _iso(datetime.date), "a date (YYYY-MM-DD)", _DATE, format="date"
    ),
    datetime.time: _textual(
        _iso(datetime.time), "a time (HH:MM:SS+00:00)", _TIME, _FORM_TIME, format="time"
    ),
    bytes: _Type(
        _json_bytes,
        lambda value: value.read() if isinstance(value, Upload) else value.encode(),
        {"type": "string", "pattern": _UTF8_TEXT},
        "string",
        "text",
        blank=True,
    ),
}
_ANY = _Type(_identity, _identity, {}, "unknown", "any value", blank=True)
_SIMPLE_TYPES = (str, int, float, bool, type(None))


def _json_simple(value: Any) -> Any:
    if type(value) in _SIMPLE_TYPES:
        return value
    raise _Invalid("expected text, a number, true, false or null")


#: What a set of any values holds: a list or an object cannot go in a set.
_SIMPLE = dataclasses.replace(
    _ANY,
    json=_json_simple,
    schema={"type": ["string", "number", "boolean", "null"]},
    ts="string | number | boolean | null",
    description="a simple value",
    answer="string | number | boolean | null",
)
_NULL = _Type(_exact(type(None), "null"), _identity, {"type": "null"}, "null", "null")
_UPLOAD = _Type(
    _exact(Upload, "a file upload (send a multipart form)"),
    _exact(Upload, "a file upload"),
    {"not": {}, "description": "a file upload: send a multipart form"},
    "never",  # actions.NAME sends JSON, where a File is {}
    "a file upload",
)


def _choices(values: Sequence[Any], members: Sequence[Any], hint: Any) -> _Type:
    """Enums and Literals: JSON by value (1 and 1.0 alike, never true), form
    fields by their text."""
    for value in values:
        # NaN and the infinities are no JSON: the schema would not be JSON.
        finite = type(value) is not float or math.isfinite(value)
        if type(value) not in _SIMPLE_TYPES or not finite:
            raise TypeError(f"{hint!r}: only JSON values can be choices, not {value!r}")

    def key(value: Any) -> tuple[type, Any]:
        return (float if type(value) is int else type(value), value)

    by_json = {key(v): m for v, m in zip(values, members, strict=True)}
    texts = [json.dumps(v) for v in values]
    # A form field holds the text the 422 asks for: a value's JSON text
    # ("true", not Python's "True"); a str as is.
    by_text = {str(v): m for v, m in zip(values, members, strict=True)}
    by_text.update(
        (v if type(v) is str else text, m)
        for v, m, text in zip(values, members, texts, strict=True)
    )
    description = "one of " + ", ".join(texts)

    def check(value: Any) -> Any:
        try:
            return by_json[key(value)]
        except (KeyError, TypeError):  # TypeError: a list or object is unhashable
            raise _Invalid(f"expected {description}") from None

    form = _text(by_text.__getitem__, description)
    schema = {"enum": list(values)}
    # With "" among the values an empty field is that choice, as text is; with
    # None, a field left out is None (Literal["a", None] is Optional).
    blank, missing = "" in by_text, by_json.get(key(None), _EMPTY)
    ts = " | ".join(texts)
    return _Type(check, form, schema, ts, description, blank=blank, missing=missing)


#: What each dataclass built of each JSON object (or the _Invalid it raised)
#: while a union holding dataclasses checks one value: in one whose members
#: hold the union (``Every | Some``), each member would check all the levels
#: below again, 2**depth times. The object is kept too: a call made meanwhile
#: (from a ``__post_init__``) frees its own, and a new one may take its id.
_BUILT: contextvars.ContextVar[dict[tuple[type, int], tuple[Any, Any]] | None]
_BUILT = contextvars.ContextVar("serveract.built", default=None)


def _union(records: list[_Type], nullable: bool) -> _Type:
    """The first member that fits, in the hint's order."""
    description = " or ".join(r.description for r in records)
    # Members holding dataclasses share what each built (_BUILT): the next
    # member would build it again, and so 2**depth times in a recursive type.
    shares = sum("$ref" in json.dumps(r.schema) for r in records) > 1

    def first_fit(members: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
        def union(value: Any) -> Any:
            if shares and _BUILT.get() is None:  # the outermost such union
                token = _BUILT.set({})
                try:
                    return union(value)
                finally:
                    _BUILT.reset(token)
            as_json = ""  # as a single type's error says it
            for member in members:
                try:
                    return member(value)
                except _NotJSON:
                    as_json = " as JSON"
                except _Invalid:
                    pass
            raise _Invalid(f"expected {description}{as_json}")

        return union

    def last(form: Callable[[Any], Any]) -> Callable[[list[Any]], Any]:
        return lambda values: form(values[-1])

    # With a list among the members, every member's form parser gets all of
    # the field's values: "list[int] | None" reads each of them, in order.
    many = any(r.many for r in records)
    forms = [r.form if r.many or not many else last(r.form) for r in records]
    options = [*records, _NULL] if nullable else records
    # Left out of a form: None, or a member's None (Literal["a", None], an
    # enum with a None value), not a bool's False nor a list's [].
    missing = [
        r.missing for r in records if isinstance(r.missing, (type(None), enum.Enum))
    ]
    return _Type(
        first_fit([r.json for r in options]),
        first_fit(forms),
        {"anyOf": [r.schema for r in options]},
        " | ".join(r.ts for r in options),
        " or ".join(r.description for r in options),
        many=many,
        blank=any(r.blank for r in records),
        missing=None if nullable else next(iter(missing), _EMPTY),
        answer=" | ".join(r.answer for r in options),
    )


def _json_field(build: Callable[[Any], Any], description: str) -> Callable[[Any], Any]:
    """A form parser for lists, objects and dataclasses: one field of JSON text."""

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            raise _NotJSON(f"expected {description} as JSON, not a file")
        try:
            decoded = _loads(value)
        except ValueError:
            raise _NotJSON(f"expected {description} as JSON") from None
        return build(decoded)

    return parse


def _hashable(hint: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether every value built for ``hint`` can go in a set: scalars,
    choices, null and uploads, unions, tuples and frozensets of them, and
    dataclasses hashed by identity or by fields that are (a frozen one
    holding a list is not, even in a field it sets itself)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:  # its metadata is for other tools
        args = args[:1]
    if origin in (typing.Annotated, Union, types.UnionType, tuple, frozenset) and args:
        return all(arg is ... or _hashable(arg, seen) for arg in args)
    if hint is type(None) or origin is Literal:
        return True
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return True
    if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        try:
            return _type_of(hint) in (_UPLOAD, *_SCALARS.values())
        except TypeError:  # a field a dataclass sets itself, of a class's type
            return getattr(hint, "__hash__", None) is not None
    if hint.__hash__ is None:  # eq without frozen
        return False
    if hint.__hash__ is object.__hash__ or hint in seen:  # eq=False; or a cycle
        return True
    hints = typing.get_type_hints(hint)
    return all(
        _hashable(hints[field.name], seen | {hint})
        for field in dataclasses.fields(hint)
        if (field.compare if field.hash is None else field.hash)
    )


#: How many distinct values may share one hash in a set or among integer
#: keys. Clients choose hashes (an int's is itself modulo 2**61 - 1; a
#: Decimal's and a tuple's follow from it), and a set of n values sharing
#: one costs n**2 / 2 comparisons: 1 MiB of them took 12 s.
_PER_HASH = 8


def _few_per_hash(values: list[Any]) -> list[Any]:
    """``values``, refused if too many distinct ones share a hash."""
    shared: dict[int, list[Any]] = {}
    for value in values:
        same = shared.setdefault(hash(value), [])
        if value not in same:
            if len(same) == _PER_HASH:
                raise _Invalid("too many distinct values share one hash")
            same.append(value)
    return values


def _sequence(build: Callable[[list[Any]], Any], item: _Type, hint: Any) -> _Type:
    """Lists, sets and tuples of one type; in a form, a field repeated (a list
    of lists or objects: the last one, as JSON text)."""
    # A list of objects (dataclasses too: a $ref, maybe optional) is one field.
    structured = any(
        "$ref" in option or option.get("type") in ("array", "object")
        for option in item.schema.get("anyOf", [item.schema])
    )
    hashed = build in (set, frozenset)
    if hashed:
        if item is _ANY:
            item = _SIMPLE
        elif not _hashable(typing.get_args(hint)[0]):
            raise TypeError(
                f"{hint!r}: a set's items must be simple values "
                "or frozen dataclasses of them"
            )
    described = f"a list of {item.description}"

    def from_json(value: Any) -> Any:
        if type(value) is not list:
            raise _Invalid(f"expected {described}")
        items = [_item(item.json, i, v) for i, v in enumerate(value)]
        try:
            return build(_few_per_hash(items) if hashed else items)
        except TypeError:  # a set of objects: unhashable
            raise _Invalid("expected a list of distinct simple values") from None

    def from_form(values: list[Any]) -> Any:
        given = [(i, v) for i, v in enumerate(values) if item.blank or v != ""]
        items = [_item(item.form, i, v) for i, v in given]
        return build(_few_per_hash(items) if hashed else items)

    if structured or item.many:  # lists of lists or objects: one field of JSON
        as_json = _json_field(from_json, described)
        from_form = lambda values: as_json(values[-1])  # noqa: E731
    return _Type(
        from_json,
        from_form,
        {"type": "array", "items": item.schema},
        f"({item.ts})[]",
        described,
        many=True,
        blank=True,
        missing=build([]),
        answer=f"({item.answer})[]",
    )


def _tuple(items: list[_Type]) -> _Type:
    count = len(items)
    described = f"a list of {count} items"

    def from_json(value: Any) -> Any:
        if type(value) is not list or len(value) != count:
            raise _Invalid(f"expected {described}")
        pairs = zip(items, value, strict=True)
        return tuple(_item(r.json, i, v) for i, (r, v) in enumerate(pairs))

    schema: dict[str, Any] = {"type": "array", "maxItems": 0}  # tuple[()]
    if items:  # draft 2020-12: prefixItems is never empty
        schema = {
            "type": "array",
            "prefixItems": [r.schema for r in items],
            "minItems": count,
            "maxItems": count,
            "items": False,
        }
    ts = "[" + ", ".join(r.ts for r in items) + "]"
    answer = "[" + ", ".join(r.answer for r in items) + "]"
    parse = _json_field(from_json, described)
    return _Type(from_json, parse, schema, ts, described, answer=answer)


#: An integer key: at most 4300 digits, as many as int() reads by default
#: (and so the longest integer a JSON body may hold).
_INT_KEY = r"(0|-?[1-9][0-9]{0,4299})"  # no "-0": it would be "0" again


_INT_KEY_MATCH = re.compile(_INT_KEY).fullmatch


def _int_key(text: str) -> int:
    if _INT_KEY_MATCH(text):
        with contextlib.suppress(ValueError):  # sys.set_int_max_str_digits() lower
            return int(text)
    raise _Invalid("expected integer keys")


def _mapping(key: Any, value: _Type, hint: Any) -> _Type:
    if key not in (str, int, Any):
        raise TypeError(f"{hint!r}: JSON object keys are text: use str or int keys")
    convert_key = _int_key if key is int else _identity

    def from_json(data: Any) -> Any:
        if type(data) is not dict:
            raise _Invalid("expected an object")
        if key is int:
            _few_per_hash(list(map(_int_key, data)))
        return {convert_key(k): _item(value.json, k, v) for k, v in data.items()}

    names = {"propertyNames": {"pattern": f"^{_INT_KEY}$"}} if key is int else {}
    schema = {"type": "object", **names, "additionalProperties": value.schema}
    parse = _json_field(from_json, "an object")
    ts, answer = f"Record<string, {value.ts}>", f"Record<string, {value.answer}>"
    return _Type(from_json, parse, schema, ts, "an object", answer=answer)


#: The _Types that need no building, and each dataclass's once built.
_TYPES: dict[Any, _Type] = {**_SCALARS, _EMPTY: _ANY, Any: _ANY, object: _ANY}
_TYPES[Upload] = _UPLOAD  # what an upload parameter receives, as its hint too
#: The JSON Schema of each dataclass by the name its $ref uses: for requests,
#: for answers, and the class's qualified name; and its TypeScript interface.
_DEFINITIONS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {}
_INTERFACES: dict[str, str] = {}


#: Names a dataclass's interface must not take in the TypeScript declarations:
#: their own types (it would merge with them) and the global ones they use
#: inside ``namespace Serveract`` (it would hide them), and TypeScript's own.
_TS_TAKEN = frozenset(
    {
        *("Actions", "Blob", "Client", "Error", "File", "Promise", "Record"),
        *("globalThis", "any", "bigint", "boolean", "never", "null", "number"),
        *("object", "string", "symbol", "undefined", "unknown", "void"),
        # and the words it reserves that a Python class may be named
        *("case", "catch", "const", "debugger", "default", "delete", "do"),
        *("enum", "export", "extends", "false", "function", "infer", "keyof"),
        *("instanceof", "new", "readonly", "super", "switch", "this", "throw"),
        *("true", "typeof", "unique", "var"),
    }
)


def _dataclass(cls: type) -> _Type:
    """Objects with the dataclass's fields, under ``$defs`` by its name in
    ASCII (as OpenAPI wants), not starting with a digit (as TypeScript
    wants), and with ``_`` added while another class (two modules may each
    have a ``Point``), the TypeScript declarations (``Client``) or an
    OpenAPI answer (``X_returns``, for ``X``) takes it."""
    qualified = f"{cls.__module__}.{cls.__qualname__}"
    name = re.sub(r"\W|^(?=[0-9])", "_", cls.__name__, flags=re.ASCII)
    while (
        name in _TS_TAKEN
        or name.endswith("_returns")
        or (name in _DEFINITIONS and _DEFINITIONS[name][2] != qualified)
    ):
        name += "_"
    described = f"an object ({cls.__name__})"
    fields: dict[str, _Type] = {}
    required: list[str] = []

    def from_json(value: Any) -> Any:
        if type(value) is not dict:
            raise _Invalid(f"expected {described}")
        built = _BUILT.get()
        if built is None:  # under no union of dataclasses: built once
            return build(value)
        key = (cls, id(value))
        if key not in built:
            try:
                built[key] = (value, build(value))
            except _Invalid as error:
                built[key] = (value, error)
        outcome = built[key][1]
        if isinstance(outcome, _Invalid):
            raise _Invalid(str(outcome))
        return outcome

    def build(value: dict[str, Any]) -> Any:
        for key in value:
            if key not in fields:
                raise _Invalid(f"unexpected field {key!r}")
        kwargs = {}
        for key, kind in fields.items():
            if key in value:
                kwargs[key] = _item(kind.json, key, value[key])
            elif key in required:
                raise _Invalid(f"[{key!r}]: required")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError):  # refused by its __post_init__
            raise _Invalid(f"expected a valid {cls.__name__}") from None

    ref = {"$ref": f"#/$defs/{name}"}
    parse = _json_field(from_json, described)
    record = _Type(from_json, parse, ref, name, described, answer=f"{name}_returns")
    # Known before its fields are built: a dataclass may hold itself.
    built = len(_TYPES)
    _TYPES[cls] = record
    _DEFINITIONS[name] = ({}, {}, qualified)
    try:
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if not field.init:  # the class sets it: no client may send it
                continue
            if field.default is field.default_factory is dataclasses.MISSING:
                required.append(field.name)
            try:
                fields[field.name] = _type_of(hints[field.name])
            except TypeError as error:
                raise TypeError(f"{cls.__name__}.{field.name}: {error}") from None
        for key, hint in hints.items():  # InitVars are no fields: none is sent
            if isinstance(hint, dataclasses.InitVar) and not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}.{key}: an InitVar without a default: "
                    "no request can fill it"
                )
    except BaseException:  # with the classes built meanwhile: they may hold it
        for kind in list(_TYPES)[built:]:
            del _TYPES[kind]
        del _DEFINITIONS[name]
        raise
    schema = {
        "type": "object",
        "properties": {key: kind.schema for key, kind in fields.items()},
        "required": required,
        "additionalProperties": False,
    }
    _DEFINITIONS[name] = (schema, _answer_schema(schema), qualified)
    members = "".join(
        f"    {_ts_key(key)}{'' if key in required else '?'}: {kind.ts};\n"
        for key, kind in fields.items()
    )
    _INTERFACES[name] = f"interface {name} {{\n{members}}}"
    # What an answer holds: every field, each as answered.
    members = "".join(f"    {_ts_key(k)}: {v.answer};\n" for k, v in fields.items())
    _INTERFACES[record.answer] = f"interface {record.answer} {{\n{members}}}"
    return record


#: The hints of a list of values, and what builds each from a list.
_SEQUENCES: dict[Any, Callable[[list[Any]], Any]] = {
    list: list,
    tuple: tuple,
    set: set,
    frozenset: frozenset,
    collections.abc.Sequence: list,
    collections.abc.Iterable: list,
    collections.abc.Collection: list,
    collections.abc.Set: frozenset,
}


def _type_of(hint: Any) -> _Type:
    """The _Type of a hint; ``TypeError`` for a hint no request can fill."""
    with contextlib.suppress(KeyError, TypeError):  # TypeError: unhashable
        return _TYPES[hint]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:  # its metadata is for other tools
        return _type_of(args[0])
    if origin in (Union, types.UnionType):
        nullable = type(None) in args
        return _union([_type_of(a) for a in args if a is not type(None)], nullable)
    if origin is Literal:
        return _choices(args, args, hint)
    if origin is typing.IO or hint in (typing.IO, typing.BinaryIO):
        return _UPLOAD
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            members = list(hint)
            return _choices([m.value for m in members], members, hint)
        if issubclass(hint, io.IOBase):
            return _UPLOAD
        if dataclasses.is_dataclass(hint):
            return _dataclass(hint)
    # A bare typing.Tuple is any tuple, as tuple is; tuple[()] has no items.
    fixed = origin is tuple and hint is not typing.Tuple  # noqa: UP006
    if fixed and not (len(args) == 2 and args[1] is ...):
        return _tuple([_type_of(a) for a in args])
    kind = origin or hint
    if kind in _SEQUENCES:
        return _sequence(_SEQUENCES[kind], _type_of(args[0] if args else Any), hint)
    if kind in (dict, collections.abc.Mapping):
        key, value = args if len(args) == 2 else (str, Any)
        return _mapping(key, _type_of(value), hint)
    raise TypeError(f"unsupported type hint {hint!r}")


def _return_type(hint: Any) -> _Type:
    """What an action answers: a _Type, or a stand-in for HTML and responses."""
    if typing.get_origin(hint) is typing.Annotated:  # as for parameters
        return _return_type(typing.get_args(hint)[0])
    if isinstance(hint, type) and hasattr(hint, "__html__"):
        html = {"type": "string", "contentMediaType": "text/html"}
        return _Type(_identity, _identity, html, "string", "HTML")
    if hint is None or hint is type(None):
        return _NULL
    try:
        return _type_of(hint)
    except TypeError:  # an answer serveract encodes but cannot describe (a Response)
        return _ANY


class _Param:
    """One parameter of an action, with the _Type of its hint."""

    __slots__ = ("default", "kind", "name", "request", "type")

    def __init__(self, parameter: inspect.Parameter, where: str) -> None:
        self.name = parameter.name
        self.kind = parameter.kind
        self.default = parameter.default
        hint = parameter.annotation
        if typing.get_origin(hint) is typing.Annotated:  # Annotated[Request, ...]
            hint = typing.get_args(hint)[0]
        self.request = isinstance(hint, type) and issubclass(
            hint, webob.request.BaseRequest
        )
        try:
            self.type = _ANY if self.request else _type_of(hint)
        except TypeError as error:
            raise TypeError(
                f"{where}: parameter {self.name!r} has a type hint serveract "
                f"cannot build from a request ({hint!r}): {error}"
            ) from None


#: Bad arguments listed one by one in a 422 (the rest only counted).
_LISTED = 20
_WINDOWS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _parse_limit(limit: str) -> tuple[int, int]:
    """``"10/minute"`` -> (10, 60)."""
    if not isinstance(limit, str):
        raise TypeError(f"limit must be a string such as '10/minute', not {limit!r}")
    count, _, unit = limit.partition("/")
    if not count.isdigit() or int(count) < 1 or unit not in _WINDOWS:
        raise ValueError(
            f"limit must be 'N/second', 'N/minute', 'N/hour' or 'N/day', not {limit!r}"
        )
    return int(count), _WINDOWS[unit]


def _run_coroutine(coroutine: Any) -> Any:
    """``asyncio.run(coroutine)``; in a thread of its own (with this thread's
    context variables: a framework's current request) inside a running event
    loop, where it refuses to run: an async test or a notebook calling the
    app, an app served from a loop's thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    import concurrent.futures  # only for a caller running an event loop

    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, "serveract-async-action") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


#: Held while an action is prepared: a dataclass's _Type is published before
#: its fields are built (it may hold itself), so no other thread may see it.
_PREPARING = threading.RLock()


class _Action:
    """A registered function with its parameters prepared for binding."""

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        bound: frozenset[str] = frozenset(),
        limit: str | None = None,
    ) -> None:
        self.name = name
        self.func = func
        self.bound = bound
        self.limit = None if limit is None else _parse_limit(limit)
        # Its limit's key, + the client's. The name quoted: "a" called from
        # 2001:db8::1 is not "a:2001" called from db8::1. The limit in it: two
        # apps sharing a limiter may give one name two windows.
        self.key = f"call:{name!r}:{self.limit}:"
        self.is_async = inspect.iscoroutinefunction(func)
        self.params: list[_Param] | None = None
        # A hint naming something defined later in the module is resolved
        # when the middleware is built.
        with contextlib.suppress(NameError):
            self.prepare()

    def prepare(self) -> _Action:
        """Read the signature and build the parameters (once)."""
        with _PREPARING:
            if self.params is None:
                self._prepare()
        return self

    def _prepare(self) -> None:
        where = f"action {self.name!r}"
        try:
            signature = inspect.signature(self.func, eval_str=True)
        except ValueError as error:
            raise TypeError(f"{where}: cannot read its signature: {error}") from None
        self.returns = _return_type(signature.return_annotation)
        params = [_Param(p, where) for p in signature.parameters.values()]
        kinds = inspect.Parameter
        last = {p.kind: p for p in params}  # *args and **kwargs come once each
        self.var_args = last.get(kinds.VAR_POSITIONAL)
        self.var_kwargs = last.get(kinds.VAR_KEYWORD)
        named = [p for p in params if p not in (self.var_args, self.var_kwargs)]
        self.by_name = {p.name: p for p in named if not p.request}
        unknown = self.bound - self.by_name.keys()
        if unknown:
            raise ValueError(f"{where}: bound names no parameter: {sorted(unknown)}")
        positional = (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        self.positional = [p for p in self.by_name.values() if p.kind in positional]
        self.positional_only = [p for p in named if p.kind is kinds.POSITIONAL_ONLY]
        # What fills the places before *args: the client's values and the
        # injected request, in the signature's order.
        self.before_args = [p for p in named if p.kind in positional]
        self.requests = [p.name for p in named if p.request]
        self.params = named

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call the function (an ``async def`` one to completion)."""
        value = self.func(*args, **kwargs)
        if self.is_async or type(value) is types.CoroutineType:
            value = _run_coroutine(value)
        return value

    def bind_json(
        self, payload: Any, environ: WSGIEnvironment
    ) -> tuple[list[Any], dict[str, Any]]:
        """Arguments from a decoded JSON body: list = positional, dict = keywords."""
        if type(payload) is not list:
            return self._bind({}, [], payload, [], environ)
        count = len(self.positional)
        if len(payload) > count and self.var_args is None:
            raise _Failure(
                422,
                f"{self.name}() takes {count} positional arguments "
                f"but {len(payload)} were given",
                [{"field": None, "message": "too many arguments"}],
            )
        named = dict(zip([p.name for p in self.positional], payload, strict=False))
        return self._bind({}, [], named, payload[count:], environ)

    def bind_form(
        self,
        fields: dict[str, list[Any]],
        bound: dict[str, Any],
        environ: WSGIEnvironment,
    ) -> tuple[list[Any], dict[str, Any]]:
        """Arguments from form fields (name -> values), then the signed
        ``bound`` values, which no client field can override."""
        kwargs: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        params: Iterable[tuple[str, _Param]] = self.by_name.items()
        if self.var_kwargs is not None:  # the other fields, by its hint
            rest = [n for n in fields if n not in self.by_name]
            params = [*params, *((n, self.var_kwargs) for n in rest)]
        for name, param in params:
            if name in bound:
                continue
            values = fields.get(name)
            kind = param.type
            if values and (kind.blank or values[-1] != ""):
                try:
                    kwargs[name] = kind.form(values if kind.many else values[-1])
                except _Invalid as error:
                    kwargs[name] = None  # given, if wrong: not also "required"
                    errors.append({"field": name, "message": str(error)})
            elif param.default is _EMPTY and kind.missing is not _EMPTY:
                kwargs[name] = kind.missing
        return self._bind(kwargs, errors, bound, [], environ)

    def _bind(
        self,
        kwargs: dict[str, Any],
        errors: list[dict[str, Any]],
        values: dict[str, Any],
        extra: list[Any],
        environ: WSGIEnvironment,
    ) -> tuple[list[Any], dict[str, Any]]:
        """The call's arguments: ``kwargs`` and ``errors`` so far, then JSON
        ``values`` by name and ``extra`` ones for ``*args``; a 422 if any is
        wrong or missing."""
        # Loops are entered only when there is something to do: setting one
        # up costs a call a few hundred CPU instructions.
        if values:
            for key, value in values.items():
                known = self.by_name.get(key) or self.var_kwargs
                if known is None:
                    errors.append({"field": key, "message": "unexpected argument"})
                    continue
                try:
                    kwargs[key] = known.type.json(value)
                except _Invalid as error:
                    kwargs[key] = None  # given, if wrong: not also "required"
                    errors.append({"field": key, "message": str(error)})
        if extra:
            assert self.var_args is not None  # bind_json refused them otherwise
            convert = self.var_args.type.json
            for index, value in enumerate(extra):
                try:
                    extra[index] = convert(value)
                except _Invalid as error:
                    extra[index] = None
                    errors.append({"field": f"*{index}", "message": str(error)})
        # Every parameter given, and no **kwargs extras counted: none missing.
        if self.var_kwargs is not None or len(kwargs) != len(self.by_name):
            errors += [
                {"field": name, "message": "required"}
                for name, param in self.by_name.items()
                if name not in kwargs and param.default is _EMPTY
            ]
        if errors:
            if len(errors) > _LISTED:  # the answer stays smaller than the call
                more = f"and {len(errors) - _LISTED} more"
                errors[_LISTED:] = [{"field": None, "message": more}]
            shown = ", ".join(
                f"{e['field']} ({e['message']})" if e["field"] else e["message"]
                for e in errors
            )
            raise _Failure(422, f"Invalid arguments for {self.name}: {shown}", errors)
        if self.requests:
            for name in self.requests:
                kwargs[name] = webob.Request(environ)
        if not extra and not self.positional_only:
            return [], kwargs
        # Positional-only parameters, and all of them when *args is filled,
        # must be passed by position.
        cut = self.before_args if extra else self.positional_only
        args = [kwargs.pop(p.name) if p.name in kwargs else p.default for p in cut]
        return args + extra, kwargs


# -- Request bodies ---------------------------------------------------------


_URLENCODED = "application/x-www-form-urlencoded"
_FORM_TYPES = (_URLENCODED, "multipart/form-data")
_PLAIN_TYPES = frozenset((_URLENCODED, "application/json"))


def _media_type(content_type: str) -> str:
    if content_type in _PLAIN_TYPES:  # as fetch() and forms send it: no parsing
        return content_type
    return content_type.partition(";")[0].strip().lower()


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The declared body length; ``None`` when unknown (a chunked body the
    server terminates); 0 when absent, unless the body is chunked and the
    server handed it over undecoded (wsgiref): a 400, not a body of none."""
    value = environ.get("CONTENT_LENGTH")
    if value:
        if not value.isdecimal():  # what int() reads; in latin-1, only 0-9
            # Whitespace around a field value is none of it (RFC 9110, 5.5),
            # but wsgiref hands a trailing space over.
            value = value.strip(" \t")
            if not value.isdecimal():
                raise _Failure(400, "Content-Length is not a number")
        try:
            return int(value)
        except ValueError:  # past int()'s 4,300 digits; 20 are over any limit
            return int(value.lstrip("0")[:20] or 0)
    if environ.get("wsgi.input_terminated"):
        return None
    if "HTTP_TRANSFER_ENCODING" in environ:
        raise _Failure(
            400,
            "The request body has no Content-Length and the server did not "
            "decode its Transfer-Encoding",
        )
    return 0


def _too_large(limit: int) -> _Failure:
    return _Failure(
        413, f"The request body is larger than {limit} bytes", {"limit": limit}
    )


def _too_many(limit: int, what: str) -> _Failure:
    return _Failure(413, f"The form has more than {limit} {what}")


#: What a server's input raises for a body it cannot read to its end (a
#: chunked body cut short, a client that stopped sending): gunicorn and
#: Werkzeug an OSError, cheroot a ValueError, a socket timeout a TimeoutError.
_READ_ERRORS = (OSError, ValueError)


def _unreadable() -> _Failure:
    return _Failure(400, "The request body could not be read to its end")


def _chunks(
    stream: Any, head: bytes, length: int | None, limit: int
) -> Iterator[bytes]:
    """The request body, ``head`` (already read) first: all of a declared
    ``length`` (400 when it ends early), else at most ``limit`` bytes (413)."""
    want = limit + 1 if length is None else length  # one byte more tells it is over
    chunk = head[:want]
    got = len(chunk)
    while True:
        if got > limit:
            raise _too_large(limit)
        if chunk:
            yield bytes(chunk)
        if got == want:
            return
        try:
            chunk = stream.read(min(_CHUNK_SIZE, want - got))
        except _READ_ERRORS:
            raise _unreadable() from None
        if not chunk:
            if length is None:
                return
            raise _Failure(400, "The request body ended before its Content-Length")
        got += len(chunk)


def _read_body(stream: Any, head: bytes, length: int | None, limit: int) -> bytes:
    """All of the request body, as :func:`_chunks` reads it; in one read
    when the server gives it (no generator: 7 % of a JSON call)."""
    if length is not None:
        if len(head) < length:
            try:
                head += stream.read(length - len(head))
            except _READ_ERRORS:
                raise _unreadable() from None
        if len(head) >= length:
            return head[:length]
    return b"".join(_chunks(stream, head, length, limit))


def _keep_body(environ: WSGIEnvironment, body: IO[bytes], length: int) -> None:
    """Make a body that was read readable again (by the action's request,
    a framework's context), flagged so that WebOb need not copy it."""
    body.seek(0)
    environ["wsgi.input"] = body
    environ["CONTENT_LENGTH"] = str(length)
    environ["webob.is_body_seekable"] = True


class _Replay(io.BufferedIOBase):
    """``wsgi.input`` after a peek at a stream that cannot seek back: the
    peeked bytes, then the rest of the stream, whose other attributes stay
    reachable. The base class reads into buffers (as Werkzeug does),
    iterates and closes by way of these methods, and neither seeks, tells
    nor gives a file descriptor: a read through those would skip the head."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head = io.BytesIO(head)
        self._stream = stream

    def read(self, size: int | None = -1) -> bytes:
        return self._more(self._head.read(size), size, self._stream.read)

    def read1(self, size: int | None = -1) -> bytes:  # what io.TextIOWrapper reads
        data = self._head.read(size)
        if data or size == 0:
            return data
        read1 = getattr(self._stream, "read1", self._stream.read)
        return self._more(data, size, read1)

    def readline(self, size: int | None = -1) -> bytes:
        line = self._head.readline(size)
        if line.endswith(b"\n"):
            return line
        return self._more(line, size, self._stream.readline)

    def _more(self, data: bytes, size: int | None, read: Any) -> bytes:
        """``data`` from the head, then the stream's up to ``size`` in all.
        With no size, the stream is asked with none: PEP 3333 has servers
        take ``read()`` and ``readline()``, and no more (cheroot reads on
        past the body for -1, or nothing of a chunked body)."""
        if size is None or size < 0:
            return data + bytes(read())
        rest = size - len(data)
        return data + bytes(read(rest)) if rest else data

    def peek(self, size: int = 0) -> bytes:
        left = self._head.getvalue()[self._head.tell() :]
        return left or bytes(self._stream.peek(size))

    def readable(self) -> bool:
        return True

    closed = False  # the base's flag, until set, is looked for on the stream

    def close(self) -> None:
        if hasattr(self._stream, "close"):  # gunicorn's Body has none
            self._stream.close()
        self.closed = True

    def __del__(self) -> None:
        """Unlike a file, not closed when collected: the server's stream
        is the server's (cheroot reads the next request from it)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _parse_urlencoded(body: bytes) -> dict[str, list[Any]]:
    """The fields of an urlencoded body, name -> values in order: what
    ``parse_qsl(keep_blank_values=True, errors="strict")`` finds, a third
    cheaper (only escaped names and values are unquoted)."""
    if body.count(b"&") >= _MAX_FIELDS:  # empty items ("a=1&", "a=1&&b=2") are none
        # Counted up to one too many, never listed: a megabyte of "&" would
        # be a million items (and is one "&" to the parsing below).
        for count, _ in enumerate(re.finditer(rb"[^&]+", body)):
            if count == _MAX_FIELDS:
                raise _too_many(_MAX_FIELDS, "fields")
        body = re.sub(rb"&+", b"&", body)
    fields: dict[str, list[Any]] = {}
    # "+" is a space before anything is unquoted ("%2B" is a "+"), and "%24"
    # a "$" in any field: browsers escape the action field's "$", and that
    # spares it _unquote(), 6 % of a form call.
    text = body.replace(b"+", b" ").replace(b"%24", b"$")
    try:
        for item in text.decode("utf-8").split("&"):
            if item:
                key, _, value = item.partition("=")
                if "%" in item:
                    key, value = _unquote(key), _unquote(value)
                fields.setdefault(key, []).append(value)
    except UnicodeDecodeError:
        raise _Failure(400, "The form body is not valid UTF-8") from None
    return fields


# "%XX" -> the byte, for every mix of cases (as urllib.parse has it).
_HEX_BYTE = {
    (a + b).encode(): bytes.fromhex(a + b)
    for a in "0123456789ABCDEFabcdef"
    for b in "0123456789ABCDEFabcdef"
}


_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _unescape(match: re.Match[bytes]) -> bytes:
    return _HEX_BYTE[match[1]]


def _unquote(text: str) -> str:
    """``unquote(text, errors="strict")``: a malformed escape stays as it
    is, a bad UTF-8 sequence raises. A long text is decoded into one buffer:
    the pieces ``unquote()`` and ``re.sub()`` list took up to 190 bytes per
    "%" (a list item, and a buffer each to join them)."""
    if "%" not in text:
        return text
    data = text.encode()
    if len(data) < 4096:  # the regex is quickest
        return _ESCAPE.sub(_unescape, data).decode("utf-8")
    decoded = bytearray()
    start = at = 0
    while (at := data.find(b"%", at) + 1) > 0:  # just past the next "%"
        byte = _HEX_BYTE.get(data[at : at + 2])
        if byte is not None:
            decoded += data[start : at - 1]
            decoded += byte
            start = at + 2
    decoded += data[start:]
    return decoded.decode("utf-8")


# One linear scan: a general parameter parser backtracks on a crafted header.
_BOUNDARY = re.compile(r';\s*boundary=(?:"([^"]{1,200})"|([^\s;"]{1,200}))', re.I)


def _boundary(content_type: str) -> str | None:
    found = _BOUNDARY.search(content_type)
    return None if found is None else found[1] or found[2]


def _parse_multipart(
    chunks: Iterable[bytes], content_type: str, files: list[IO[bytes]]
) -> dict[str, list[Any]]:
    """The fields of a multipart body (name -> values), in time and memory
    linear in its size: text fields in memory, uploads in spooled files
    (added to ``files``, closed when the call ends)."""
    boundary = _boundary(content_type)
    if not boundary:
        raise _Failure(400, "The multipart body has no boundary")
    fields: dict[str, list[Any]] = {}
    parts = uploads = 0
    text: list[bytes] = []
    write: Callable[[bytes], object]
    try:
        with multipart.PushMultipartParser(boundary) as parser:  # checks the end too
            for event in (event for chunk in chunks for event in parser.parse(chunk)):
                if isinstance(event, multipart.MultipartSegment):
                    segment, text = event, []
                    write = text.append
                    parts += 1
                    if parts > _MAX_FIELDS:
                        raise _too_many(_MAX_FIELDS, "fields")
                    if (segment.content_type or "").startswith("multipart/"):
                        raise _Failure(400, "Nested multipart bodies are refused")
                    if segment.filename:
                        uploads += 1
                        if uploads > _MAX_FILES:
                            raise _too_many(_MAX_FILES, "files")
                        file = tempfile.SpooledTemporaryFile(_SPOOL_SIZE)  # noqa: SIM115 - closed with the call
                        files.append(file)
                        write = file.write
                elif event is not None:
                    write(event)
                else:  # the segment's end; its name is "" when it gives none
                    value: Any = ""  # a file input left empty sends filename=""
                    if segment.filename is None:
                        value = b"".join(text).decode("utf-8")
                    elif segment.filename:
                        file.seek(0)
                        value = Upload(
                            file,
                            segment.filename,
                            segment.content_type or "application/octet-stream",
                        )
                    fields.setdefault(segment.name, []).append(value)
    except multipart.MultipartError as error:
        raise _Failure(400, f"Malformed multipart body: {error}") from None
    except UnicodeDecodeError:
        raise _Failure(400, "A form field is not valid UTF-8") from None
    return fields


# NaN, Infinity and 1e999 (which would decode to infinity) are refused.
_DECODER = json.JSONDecoder(parse_constant=_finite, parse_float=_finite)
# The decoder's C scanner, called straight: decode() wraps it in two Python
# calls and two regex scans for whitespace, 40 % of its cost.
_SCAN = json.scanner.make_scanner(typing.cast(Any, _DECODER))


def _loads(text: str) -> Any:
    """Decode JSON text: ``ValueError`` when it is no JSON, a 400 when it is
    nested deeper than ``_MAX_DEPTH``."""
    try:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:  # no value at 0: leading whitespace, or no JSON
            end = -1
        if end != len(text):  # decode() skips the whitespace, or says what is wrong
            value = _DECODER.decode(text)
    except RecursionError:
        raise _Failure(400, "The JSON is nested too deeply") from None
    if text.count("[") + text.count("{") > _MAX_DEPTH:
        # The arrays and objects one level down, 64 times: what is left is
        # deeper (counting containers only, so that an empty one counts too).
        level = [value] if isinstance(value, (list, dict)) else []
        for _ in range(_MAX_DEPTH):
            level = [
                child
                for item in level
                for child in (item.values() if isinstance(item, dict) else item)
                if isinstance(child, (list, dict))
            ]
        if level:
            raise _Failure(400, f"The JSON is nested deeper than {_MAX_DEPTH} levels")
    return value


def _decode_json(body: bytes) -> Any:
    """The arguments of a JSON body: an array, an object, or none."""
    if not body:
        return []
    try:
        payload = _loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Failure(400, "The request body is not valid UTF-8") from None
    except ValueError as error:  # includes integers too long to convert
        raise _Failure(400, f"The request body is not valid JSON: {error}") from None
    if type(payload) is not list and type(payload) is not dict:
        raise _Failure(
            400, "The JSON body must be an array (positional) or an object (keywords)"
        )
    return payload


# -- Security ---------------------------------------------------------------


#: The dot that ends a fully qualified name ("example.com.:8000"), as Django
#: drops it: the same site as without it.
_FINAL_DOT = re.compile(r"\.(?=(:[0-9]*)?$)")


def _normal_host(host: str) -> str:
    """``host[:port]`` lowercased, without a default port or a final dot.
    Ports 80 and 443 are dropped whatever the scheme: behind a TLS proxy an
    ``http`` app sees ``:443``."""
    host = _FINAL_DOT.sub("", host.strip().lower(), 1)
    return host[:-3] if host.endswith(":80") else host.removesuffix(":443")


def _host_pattern(pattern: str, option: str, any_port: bool) -> Callable[[str], Any]:
    """A matcher for one ``allowed_origins`` or ``allowed_hosts`` entry: a
    host with optional port (``any_port``: none given matches every port),
    whose leftmost label may be ``*`` (one label) or ``**`` (one or more)."""
    _, found, rest = pattern.partition("://")
    given = rest if found else pattern
    host = _normal_host(given)
    if any(c in host for c in "/?#@"):  # no Origin or Host header holds them
        raise ValueError(f"{option}: a host and port, no path: {pattern!r}")
    first, dot, tail = host.partition(".")
    label = {"*": r"[^.:]+", "**": r"[^.:]+(?:\.[^.:]+)*"}.get(first)
    if "*" in tail or (label is None and "*" in first):
        raise ValueError(
            f"{option}: only the leftmost label may be a wildcard: {pattern!r}"
        )
    if label is not None and not tail.strip(".:0123456789"):
        # A wildcard with no domain after it would let every site call.
        raise ValueError(f"{option}: a wildcard needs a domain: {pattern!r}")
    regex = re.escape(host) if label is None else label + re.escape(dot + tail)
    if any_port and not re.search(r":[0-9]+$", given.strip()):  # ":80" names one
        regex += "(?::[0-9]+)?"
    return re.compile(regex).fullmatch


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), b"-_", validate=True)


# The signature is 32 bytes in 43 characters: the last one's two low bits are
# padding, zero as written, and a token with them set is another token.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


class _Limiter(typing.Protocol):
    """What ``ServerActions(limiter=...)`` takes: a ``MemoryLimiter``, a
    ``RedisLimiter`` or any object with these two methods."""

    def acquire(self, key: str, limit: int, window: float) -> float: ...

    def peek(self, key: str, limit: int, window: float) -> float: ...


class _SlidingLog:
    """A limiter's two methods, by way of ``_check`` on its sliding log."""

    _check: Callable[[str, int, float, bool], float]  # key, limit, window, record

    def acquire(self, key: str, limit: int, window: float) -> float:
        """Record a call for ``key`` if fewer than ``limit`` were recorded in
        the last ``window`` seconds and return 0.0; else record nothing and
        return the seconds until one may pass."""
        return self._check(key, limit, window, True)

    def peek(self, key: str, limit: int, window: float) -> float:
        """What :meth:`acquire` would return, recording nothing."""
        return self._check(key, limit, window, False)


class MemoryLimiter(_SlidingLog):
    """Rate-limit counts in this process: a sliding log of the accepted
    calls' times per key, so at most N calls pass in *any* window.

    Thread-safe. Memory stays bounded however many clients arrive: at most
    ``max_keys`` logs (the least recently used is dropped), each holding at
    most N times.

    :param max_keys: how many keys (client and action pairs) are kept.
    :param clock: seconds as a float; ``time.monotonic`` by default.
    """

    def __init__(
        self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        self._logs = collections.OrderedDict[str, collections.deque[float]]()
        self._lock = threading.Lock()

    def _check(self, key: str, limit: int, window: float, record: bool) -> float:
        with self._lock:
            # Read under the lock: a thread that read the time and then waited
            # for the lock would append an older time after a newer one, and
            # a log out of order refuses calls and overstates Retry-After.
            now = self._clock()
            # A time after start is in the window, and time - start > 0 (where
            # time + window - now may round to 0.0: a pass, with nothing recorded).
            start = now - window
            log = self._logs.pop(key, None) or collections.deque()
            while log and log[0] <= start:
                log.popleft()
            wait = 0.0
            if len(log) >= limit:  # more than N after a limit was lowered
                wait = log[-limit] - start
            elif record:
                log.append(now)
            if log:  # put back last: the first is the least recently used
                self._logs[key] = log
                if len(self._logs) > self.max_keys:
                    self._logs.popitem(last=False)
            return wait


# KEYS[1]: the log (a sorted set of call times); ARGV: limit, window in
# microseconds, 1 to record, a unique member. Redis's own clock, so that every
# machine counts alike; one script, so that a check and its record are atomic.
_REDIS_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  if ARGV[3] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  end
  return 0
end
local nth = -tonumber(ARGV[1])
local oldest = redis.call('ZRANGE', KEYS[1], nth, nth, 'WITHSCORES')
return tonumber(oldest[2]) + window - now
"""


class RedisLimiter(_SlidingLog):
    """Rate-limit counts in Redis, shared by every process and machine using
    it: the same sliding log as :class:`MemoryLimiter`, as a sorted set per
    key, checked and recorded by one Lua script.

    A Redis that cannot be reached makes the call a 503 and logs an error:
    never a silent pass. Needs the ``redis`` package (``serveract[redis]``).

    :param url_or_client: a ``redis://`` URL or a ``redis.Redis`` client.
    :param prefix: put before every key.
    :raises TypeError: for an asynchronous client (``redis.asyncio``).
    """

    def __init__(self, url_or_client: Any, prefix: str = "serveract:") -> None:
        try:
            import redis  # only for those who use it
        except ImportError as error:
            raise ImportError(
                f"RedisLimiter needs redis: pip install 'serveract[redis]' ({error})"
            ) from None

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        if isinstance(url_or_client, str):
            url_or_client = redis.Redis.from_url(
                url_or_client, socket_timeout=2, socket_connect_timeout=2
            )
        if inspect.iscoroutinefunction(getattr(url_or_client, "execute_command", None)):
            # redis.asyncio's script gives a coroutine the middleware cannot await.
            raise TypeError("RedisLimiter needs a synchronous client: redis.Redis")
        self.client = url_or_client
        self.prefix = prefix
        self._script = url_or_client.register_script(_REDIS_SCRIPT)

    def _check(self, key: str, limit: int, window: float, record: bool) -> float:
        arguments = [limit, int(window * 1e6), int(record), secrets.token_hex(8)]
        try:
            wait = self._script(keys=[self.prefix + key], args=arguments)
        except self._errors as error:
            logger.error("the rate limiter's Redis cannot be reached: %s", error)
            raise _Failure(503, "The rate limiter is unavailable") from None
        return max(0.0, int(wait) / 1e6)


# -- ServerActions ----------------------------------------------------------

#: A header name as RFC 9110 spells it (a token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ServerActions:
    """WSGI middleware that answers action calls and passes everything else
    to ``app``.

    ::

        app = serveract.ServerActions(wsgi_app, secret=os.environ["SECRET"])
        waitress.serve(app, host="127.0.0.1", port=8080)

    :param app: the wrapped WSGI application.
    :param registry: the actions served; the default registry if omitted.
    :param secret: key (str or bytes, or a list whose first item signs and all
        verify, for rotation) for signing values bound into forms; defaults to
        the ``SERVERACT_SECRET`` environment variable.
    :param allowed_origins: other origins allowed to call actions, with CORS
        answers for them, e.g. ``["app.example.com", "*.example.com",
        "localhost:5173"]``.
    :param max_body_size: largest request body an action call may send.
    :param header: the request header naming the action of a header call.
    :param field: the form field naming the action of a form call (another
        than ``$action`` is written by :meth:`hidden_field` only).
    :param client_path: where the browser client script is served (not
        under ``action_path``).
    :param context: called with the environ, returns a context manager every
        action call runs inside (``lambda environ: app.request_context(environ)``).
    :param debug: put exception text and traceback in 500 answers.
    :param trusted_proxy: trust ``X-Forwarded-Host`` and ``X-Forwarded-For``
        (first entries; only behind a proxy that sets them).
    :param allowed_hosts: when set, the only hosts action calls may name
        (Django's ``ALLOWED_HOSTS``, against DNS rebinding); same patterns as
        ``allowed_origins``, a pattern without a port allowing any port.
    :param action_path: path calls are ``POST action_path + NAME``;
        ``None`` turns them off.
    :param limiter: where rate-limit counts live; a :class:`MemoryLimiter`
        by default, a :class:`RedisLimiter` for several processes.
    :param limit_key: ``environ -> str``, the client a rate limit counts;
        the client address by default.
    """

    def __init__(
        self,
        app: WSGIApplication,
        registry: Registry | None = None,
        *,
        secret: str | bytes | Sequence[str | bytes] | None = None,
        allowed_origins: Iterable[str] = (),
        max_body_size: int = 1048576,
        header: str = "Serveract-Action",
        field: str = "$action",
        client_path: str = "/serveract.js",
        context: Callable[[WSGIEnvironment], AbstractContextManager[Any]] | None = None,
        debug: bool = False,
        trusted_proxy: bool = False,
        allowed_hosts: Iterable[str] | None = None,
        action_path: str | None = "/_serveract/",
        limiter: _Limiter | None = None,
        limit_key: Callable[[WSGIEnvironment], str] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application, not {app!r}")
        if registry is not None and not isinstance(registry, Registry):
            raise TypeError(f"registry must be a serveract.Registry, not {registry!r}")
        if type(max_body_size) is not int or max_body_size < 0:
            raise ValueError(
                f"max_body_size must be an int >= 0, not {max_body_size!r}"
            )
        if not isinstance(client_path, str) or not client_path.startswith("/"):
            raise ValueError(f"client_path must start with /, not {client_path!r}")
        if not isinstance(header, str) or not isinstance(field, str):
            raise TypeError(f"header and field must be str, not {header!r}, {field!r}")
        if not field or not _HEADER_NAME.fullmatch(header):  # a header no client sends
            raise ValueError("field must not be empty, header must be an HTTP name")
        if action_path is not None and not (action_path[:1] == action_path[-1:] == "/"):
            raise ValueError("action_path must start and end with /, or be None")
        if action_path is not None and client_path.startswith(action_path):
            raise ValueError("client_path must not be under action_path")
        if isinstance(allowed_origins, str) or isinstance(allowed_hosts, str):
            raise TypeError("allowed_origins and allowed_hosts are lists, not strings")
        if not all(callable(hook) for hook in (context, limit_key) if hook is not None):
            raise TypeError("context and limit_key must be callable with the environ")
        if limiter is not None and not all(
            callable(getattr(limiter, method, None)) for method in ("acquire", "peek")
        ):
            raise TypeError(f"limiter needs acquire() and peek(), not {limiter!r}")
        self.app = app
        self.registry = _default_registry if registry is None else registry
        for known in self.registry._actions.values():
            try:
                known.prepare()  # hints that named later definitions resolve now
            except NameError as error:
                raise TypeError(
                    f"action {known.name!r}: a type hint names something undefined: "
                    f"{error}"
                ) from None
        self.max_body_size = max_body_size
        self.header = header
        self.field = field
        self.client_path = client_path
        self.action_path = action_path
        self.context = context
        self.debug = debug
        self.trusted_proxy = trusted_proxy
        self.limiter = MemoryLimiter() if limiter is None else limiter
        self.limit_key = limit_key
        self._header_key = "HTTP_" + header.upper().replace("-", "_")
        # An origin written with a scheme allows that scheme only: an https
        # site's http twin is any network attacker's to inject script into.
        self._origins = [
            (p.partition("://")[0].lower() if "://" in p else None, match)
            for p in allowed_origins
            for match in [_host_pattern(p, "allowed_origins", False)]
        ]
        self._hosts: list[Callable[[str], Any]] | None = None
        if allowed_hosts is not None:
            self._allow_hosts(allowed_hosts)
        # Whether action answers may carry more headers (CORS, the context's).
        self._adds = bool(self._origins) or context is not None
        # How a form body's first bytes name an action: the field as it is,
        # as urllib quotes it, or as browsers do ($ as %24 in both; a space
        # as + and ~ as %7E by browsers only), or a multipart part header.
        # The field as it is only where it reads back as the field ("a+b="
        # is "a b"). Their common ending (letters, digits, "_.-": "action=")
        # rules most bodies out in one scan.
        browser = quote_plus(field, safe="*").replace("~", "%7E")
        spellings = (field, quote(field, safe=""), browser)
        ours = [t.encode() + b"=" for t in spellings if unquote_plus(t) == field]
        self._form_markers = tuple(dict.fromkeys(ours))
        self._form_tail = re.findall(rb"[\w.-]*=$", field.encode() + b"=")[0]
        self._part_name = b'name="' + field.encode() + b'"'
        if secret is None:
            secret = os.environ.get("SERVERACT_SECRET") or ()
        # A bytearray is one key, not a list of numbers (bytes(n) is n zeros).
        key_types = (str, bytes, bytearray, memoryview)
        one = isinstance(secret, key_types) or not hasattr(type(secret), "__iter__")
        keys: list[Any] = [secret] if one else list(secret)
        if not all(isinstance(key, key_types) for key in keys):
            raise TypeError("secret must be str or bytes, or a list of them")
        self._keys = [k.encode() if isinstance(k, str) else bytes(k) for k in keys]
        if not all(self._keys):
            raise ValueError("secret must not be empty")
        # The script's "__SERVERACT_CLIENT_PATH__" is self.client_path, and so on.
        self._script = re.sub(
            r'"__SERVERACT_(\w+)__"',
            lambda m: json.dumps(getattr(self, m[1].lower())),
            _CLIENT_SCRIPT,
        ).encode()
        self._script_etag = f'"{hashlib.sha256(self._script).hexdigest()[:20]}"'

    def _allow_hosts(self, patterns: Iterable[str]) -> None:
        self._hosts = [_host_pattern(p, "allowed_hosts", True) for p in patterns]

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self._header_key in environ:
            name = environ[self._header_key]
            if not name.isascii():  # as for a path: UTF-8, else Latin-1 as it is
                with contextlib.suppress(UnicodeError):
                    name = name.encode("latin-1").decode("utf-8")
            return self._call(environ, start_response, name)
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        prefix = self.action_path
        # "in" first: a fifth of what startswith() costs, and most paths fail it.
        if prefix and prefix in path and path.startswith(prefix):
            if method == "OPTIONS" and self._is_preflight(environ, True):
                return self._preflight(environ, start_response)
            # WSGI hands the path over as latin-1; names are UTF-8.
            name = path[len(prefix) :].encode("latin-1", "replace")
            return self._call(environ, start_response, name.decode("utf-8", "replace"))
        if method == "POST":
            media = _media_type(environ.get("CONTENT_TYPE", ""))
            if media in _FORM_TYPES:
                peeked = self._peek_form(environ, media)
                if peeked is not None:
                    head, length = peeked
                    return self._call(
                        environ, start_response, None, head, length, media
                    )
        elif path == self.client_path and method in ("GET", "HEAD"):
            return self._serve_script(environ, start_response)
        elif method == "OPTIONS" and self._is_preflight(environ, False):
            return self._preflight(environ, start_response)
        return self.app(environ, start_response)

    def _is_preflight(self, environ: WSGIEnvironment, path_call: bool) -> bool:
        """A CORS preflight for an action call: for a path call, or asking to
        send the action header."""
        if environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") != "POST":
            return False
        asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").split(",")
        return path_call or self.header.lower() in (n.strip().lower() for n in asked)

    # -- the form peek

    def _peek_form(
        self, environ: WSGIEnvironment, media: str
    ) -> tuple[bytes, int | None] | None:
        """The first bytes and the declared length of a form body that names
        an action; else ``None``, with the body left for the wrapped app as
        it came."""
        stream = environ.get("wsgi.input")
        try:
            length = _content_length(environ)
        except _Failure:
            return None  # not ours to judge
        if stream is None or length == 0:
            return None
        want = _PEEK_SIZE if length is None or length > _PEEK_SIZE else length
        try:  # a seekable input (waitress's) is read and wound back
            start = stream.tell() if stream.seekable() else None
            if start and environ.get("webob.is_body_seekable"):
                start = stream.seek(0)  # an outer WebOb read it: as its readers do
        except (AttributeError, OSError, ValueError):
            start = None
        head: bytes = b""
        try:
            head = stream.read(want)
            while len(head) < want:  # a short read: the server returned part of it
                more = stream.read(want - len(head))
                if not more:
                    break
                head += more
        except Exception:  # a broken input (a timeout): the app's to meet, not ours
            environ["wsgi.input"] = _Replay(head, stream)
            return None
        # One scan rules out most bodies: most forms and uploads name no action.
        found = False
        if media == _URLENCODED:
            found = self._form_tail in head and (
                head.startswith(self._form_markers)
                or any(b"&" + marker in head for marker in self._form_markers)
            )
        elif self._part_name in head:
            boundary = _boundary(environ["CONTENT_TYPE"]) or "-"
            with contextlib.suppress(multipart.MultipartError):  # not ours to judge
                # A part's name (data events have none); no closure over self,
                # which would cost every peek a cell.
                events = multipart.PushMultipartParser(boundary).parse(head)
                found = self.field in (getattr(e, "name", None) for e in events)
        if found:
            return head, length
        if start is not None:
            stream.seek(start)  # the server's own file: no copy, no wrapper
        else:
            environ["wsgi.input"] = _Replay(head, stream)
        return None

    # -- the one pipeline

    def _call(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        name: str | None,
        head: bytes | None = None,
        length: int | None = None,
        media: str = "",
    ) -> Iterable[bytes]:
        """Run one action call, however it arrived: a header or path call
        names its action (``name``); a form call's body does (``head``: its
        first bytes, already read, ``length`` its declared length and
        ``media`` its media type)."""
        start = self._start(environ, start_response) if self._adds else start_response
        # The page a form call renders again is the request as it arrived,
        # not as the action and its context left it: frameworks keep what
        # they parsed of the POST in the environ (Bottle its cookies, forms
        # and body) and would show it to the GET.
        arrived = None if head is None else environ.copy()
        files: list[IO[bytes]] = []
        streamed = None
        restart = start  # what answers a crash
        try:
            outcome = self._run(environ, name, head, length, media, files)
            value = outcome if head is None else outcome.value
            if isinstance(value, webob.Response):
                # A crash now follows the answer it started (headers the
                # server refused): the 500 replaces it.
                restart = _restarting(start)
                try:  # its body may stream an upload: the files close with it
                    streamed = value(environ, _edit_headers(start, _no_store))
                finally:
                    if streamed is None and hasattr(value.app_iter, "close"):
                        value.app_iter.close()  # no server got it to close
                return _Closing(streamed, files) if files else streamed
        except _Failure as failure:  # HEAD: a 405 (no content, RFC 9110 9.3.2)
            answer = self._answer_error(start, failure)
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else answer
        except Exception:  # a fault in serveract, a limiter or a context: no crash
            return self._answer_error(restart, self._internal_error(name or "?"))
        finally:
            if streamed is None:
                for file in files:
                    file.close()
                if files and environ.get("wsgi.input") in files:
                    environ["wsgi.input"] = io.BytesIO()  # the call consumed it
        if head is None:
            return self._answer_value(environ, start, value, name or "?")
        if isinstance(value, redirect):  # no JavaScript: the browser follows it
            link = html.escape(value.url)
            body = f'<a href="{link}">{link}</a>'.encode()
            headers = [("Location", value.url)]
            status = _status_line(value.status)
            return _answer(start, status, body, headers, "text/html; charset=utf-8")
        assert arrived is not None
        return self._render(environ, arrived, start, outcome)

    def _run(
        self,
        environ: WSGIEnvironment,
        name: str | None,
        head: bytes | None,
        length: int | None,
        media: str,
        files: list[IO[bytes]],
    ) -> Any:
        """Check, decode, bind and call; the value, or a form call's Result."""
        self._check_caller(environ)
        action = None if name is None else self._lookup(name)
        stream = environ.get("wsgi.input")
        if head is None:  # a header or path call: the peek did not read it
            media = _media_type(environ.get("CONTENT_TYPE", ""))
            length = _content_length(environ)
            if environ.get("webob.is_body_seekable") and stream:
                stream.seek(0)  # an outer WebOb middleware read it (request.POST)
        if "HTTP_CONTENT_ENCODING" in environ:  # RFC 9110, 15.5.16: a 415
            coding = environ["HTTP_CONTENT_ENCODING"]
            if coding.strip().lower() not in ("", "identity"):
                message = f"Cannot decode Content-Encoding {coding}: send it as is"
                raise _Failure(415, message, headers=[("Accept-Encoding", "identity")])
        limit = self.max_body_size
        if length is not None and length > limit:  # else counted while read
            raise _too_large(limit)
        body = payload = fields = None
        if media == "multipart/form-data":
            chunks = _chunks(stream, head or b"", length, limit)
            if self.context is not None or action is None or action.requests:
                chunks = self._spool(environ, chunks, files)
            fields = _parse_multipart(chunks, environ["CONTENT_TYPE"], files)
        elif media == _URLENCODED:
            body = _read_body(stream, head or b"", length, limit)
            fields = _parse_urlencoded(body)
        elif media in ("application/json", ""):
            body = _read_body(stream, head or b"", length, limit)
            payload = _decode_json(body)
        else:  # refused before a byte is read
            raise _Failure(
                415, f"Cannot decode {media}: send application/json or a form"
            )
        tokens = None
        if fields is not None:
            names = fields.pop(self.field, None)
            tokens = fields.pop(_BOUND_FIELD, None)
            if action is None:
                name = names[-1] if names else None  # a submitter's value is last
                if not isinstance(name, str):
                    raise _Failure(400, f"The {self.field} field must be text")
                action = self._lookup(name)
        assert action is not None
        if body is not None and (self.context is not None or action.requests):
            _keep_body(environ, io.BytesIO(body), len(body))
        if action.bound and not tokens:  # never from JSON, always signed
            signed = ", ".join(sorted(action.bound))
            raise _Failure(
                400,
                f"{action.name} takes {signed} only from a form the server signed "
                "(ServerActions.hidden_field)",
            )
        bound = self._verify_bound(action, tokens, environ) if tokens else {}
        if action.limit is not None:
            key = action.key + self._client(environ)
            count, window = action.limit  # not *: 2 % of a limited call
            wait = self.limiter.acquire(key, count, window)
            if wait > 0:
                raise _retry(wait, f"Too many calls of {action.name}")
        value = failure = None
        try:  # what the context's factory raises too: an ActionError answers
            context = self.context(environ) if self.context else None
            if fields is None:
                args, kwargs = action.bind_json(payload, environ)
            else:
                args, kwargs = action.bind_form(fields, bound, environ)
            if context is None:  # no with: 2 % of a JSON call
                value = action.run(args, kwargs)
            else:
                value = _EMPTY  # left so by a context swallowing what the action raised
                with context:
                    value = action.run(args, kwargs)
                if value is _EMPTY:
                    raise RuntimeError("the context swallowed what the action raised")
        except redirect as target:
            value = target
        except ActionError as error:
            failure = _Failure(error.status, error.message, error.data, "action_error")
        except _Failure as error:
            failure = error
        except Exception:
            failure = self._internal_error(action.name)
        if head is not None:
            return Result(action.name, None if failure else value, failure, fields)
        if failure is not None:
            raise failure
        return value

    def _lookup(self, name: str) -> _Action:
        found = self.registry._actions.get(name)
        if found is None:
            raise _Failure(404, f"No action named {name!r}")
        return found if found.params is not None else found.prepare()

    @staticmethod
    def _spool(
        environ: WSGIEnvironment, chunks: Iterator[bytes], files: list[IO[bytes]]
    ) -> Iterator[bytes]:
        """``chunks``, copied as the parser reads them (to memory, to a file
        past 1 MiB) for the action's request and the framework to read again."""
        spool = tempfile.SpooledTemporaryFile(1 << 20)  # noqa: SIM115 - closed with the call
        files.append(spool)
        for chunk in chunks:
            spool.write(chunk)
            yield chunk
        _keep_body(environ, spool, spool.tell())

    def _internal_error(self, name: str, what: str = "failed unexpectedly") -> _Failure:
        """A 500 for what went wrong just now, logged with an error id."""
        error_id = secrets.token_hex(6)
        logger.exception("action %r %s (error id %s)", name, what, error_id)
        message = f"The action {what} (error id {error_id})"
        data: dict[str, Any] = {"error_id": error_id}
        if self.debug:
            import traceback

            error = sys.exc_info()[1]
            message = f"{type(error).__name__}: {error} (error id {error_id})"
            data["traceback"] = traceback.format_exc()
        return _Failure(500, message, data)

    # -- who may call

    def _check_caller(self, environ: WSGIEnvironment) -> None:
        """A POST, to an allowed host, from this site or an allowed origin."""
        if environ.get("REQUEST_METHOD") != "POST":
            raise _Failure(
                405, "Actions are called with POST", headers=[("Allow", "POST")]
            )
        if self._hosts is not None:
            host = self._request_host(environ)
            if not any(match(host) for match in self._hosts):
                raise _Failure(400, f"The host {host!r} is not allowed")
        origin = environ.get("HTTP_ORIGIN")
        cross_site = environ.get("HTTP_SEC_FETCH_SITE") == "cross-site"
        if origin is None:
            if not cross_site:
                return  # curl, old clients: allowed, as Next.js allows them
        elif not cross_site and origin != "null":
            # A browser calling its own site sends exactly scheme://Host:
            # accept that before normalizing hosts and ports.
            site = environ.get("HTTP_HOST")
            scheme = environ.get("wsgi.url_scheme", "http")
            if site and not self.trusted_proxy and origin == f"{scheme}://{site}":
                return
            if _normal_host(origin.partition("://")[2]) == self._request_host(environ):
                return
        if origin is None or not self._allowed_origin(origin):
            why = "Sec-Fetch-Site" if origin is None else f"Origin: {origin}"
            raise _Failure(403, f"Cross-site action calls are refused ({why})")

    def _allowed_origin(self, origin: str) -> bool:
        if origin == "null" or not self._origins:
            return False
        scheme, _, host = origin.partition("://")
        host, scheme = _normal_host(host), scheme.lower()
        return any(
            match(host) and want in (None, scheme) for want, match in self._origins
        )

    def _request_host(self, environ: WSGIEnvironment) -> str:
        forwarded = environ.get("HTTP_X_FORWARDED_HOST") if self.trusted_proxy else None
        if forwarded:
            return _normal_host(forwarded.split(",")[0])
        host = environ.get("HTTP_HOST")
        if not host:
            host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        return _normal_host(host)

    def _cors_headers(self, environ: WSGIEnvironment) -> list[tuple[str, str]]:
        origin = environ.get("HTTP_ORIGIN")
        if origin is None or not self._allowed_origin(origin):
            return []
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", "Serveract-Redirect"),
            ("Vary", "Origin"),
        ]

    def _preflight(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Answer a CORS preflight for an action call: allowed origins only."""
        cors = self._cors_headers(environ)
        if not cors:
            origin = environ.get("HTTP_ORIGIN", "")
            failure = _Failure(403, f"Cross-origin action calls are refused ({origin})")
            return self._answer_error(start_response, failure)
        start_response(
            "204 No Content",
            [
                *cors,  # Expose-Headers too: a preflight's is ignored (Fetch)
                ("Access-Control-Allow-Methods", "POST"),
                ("Access-Control-Allow-Headers", f"{self.header}, Content-Type"),
                ("Access-Control-Max-Age", "600"),
            ],
        )
        return []

    def _client(self, environ: WSGIEnvironment) -> str:
        """Whose calls count together; a long key (a forwarded address is the
        client's to write) is hashed, so that a limiter's memory stays bounded."""
        forwarded = environ.get("HTTP_X_FORWARDED_FOR") if self.trusted_proxy else None
        if self.limit_key is not None:
            client = str(self.limit_key(environ))
        elif forwarded:
            client = str(forwarded).split(",")[0].strip()
        else:
            client = str(environ.get("REMOTE_ADDR", ""))
        if len(client) <= 64:
            return client
        return hashlib.sha256(client.encode(errors="surrogatepass")).hexdigest()

    # -- signed values

    def _sign(self, name: str, encoded: bytes) -> str:
        payload = _b64encode(encoded)
        return payload + "." + _b64encode(self._mac(self._keys[0], name, payload))

    @staticmethod
    def _mac(key: bytes, name: str, payload: str) -> bytes:
        message = _SIGNATURE_SALT + name.encode() + b"\x00" + payload.encode()
        return hmac.new(key, message, hashlib.sha256).digest()

    def _verify_bound(
        self, action: _Action, tokens: list[Any], environ: WSGIEnvironment
    ) -> dict[str, Any]:
        """The values bound by a token signed for ``action``; else a 400. Each
        bad token is one guess of the client's budget (a 429 once it is
        spent), but for a form's one token that this server signed for
        another action: its button named another."""
        key = "signature:" + self._client(environ)
        wait = self.limiter.peek(key, _SIGNATURE_FAILURES, _SIGNATURE_WINDOW)
        for token in tokens:
            if wait > 0:
                raise _retry(wait, "Too many calls with bad signatures")
            bound = self._unsign(token, action.name)
            if isinstance(bound, dict) and action.bound <= bound.keys():
                return bound
            # Tried against every action only for one token of a form's size:
            # each try hashes the token again.
            signed = bound is not None or (
                len(tokens) == 1
                and isinstance(token, str)
                and len(token) <= _PEEK_SIZE
                and any(
                    self._unsign(token, other) is not None for other in self.registry
                )
            )
            if not signed:
                wait = self.limiter.acquire(key, _SIGNATURE_FAILURES, _SIGNATURE_WINDOW)
        raise _Failure(
            400, f"The bound values of this form are not signed for {action.name!r}"
        )

    def _unsign(self, token: Any, name: str) -> Any:
        """The values of a token signed for action ``name``, else ``None``."""
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            return None
        payload, _, signature = token.partition(".")
        given = _b64decode(signature)
        for key in self._keys:
            if hmac.compare_digest(self._mac(key, name, payload), given):
                return json.loads(_b64decode(payload))
        return None

    def hidden_field(self, name: str, /, **bound: Any) -> Markup:
        """The hidden input(s) naming action ``name``, with values ``bound``
        signed so the browser cannot change them (Next.js's ``action.bind``).

        ::

            {{ actions.hidden_field("delete_todo", todo_id=todo.id) }}

        The action receives ``todo_id`` with its JSON type; a changed,
        foreign or other-action signature is refused with 400.

        :raises KeyError: no action ``name`` is registered.
        :raises TypeError: a value the action declares ``bound`` is missing,
            or a value names no parameter of the action.
        :raises ValueError: a value the action cannot take as JSON (a
            ``datetime`` without a time zone, ``"7"`` for an ``int``), which
            would make every submission of the form a 422.
        :raises RuntimeError: values are bound but no secret is configured.
        """
        action = self.registry._actions.get(name)
        where = f"hidden_field({name!r})"
        if action is None:
            raise KeyError(f"no action named {name!r} is registered")
        if not action.bound <= bound.keys():
            missing = ", ".join(sorted(action.bound - bound.keys()))
            raise TypeError(f"{where} needs the bound values {missing}")
        markup = _hidden_input(self.field, name)
        if bound:
            if not self._keys:
                raise RuntimeError(
                    "binding values into a form needs a secret: pass "
                    "ServerActions(..., secret=...) or set SERVERACT_SECRET"
                )
            payload = _encode_json(bound)
            action.prepare()
            for key, value in json.loads(payload).items():  # as the action gets them
                param = action.by_name.get(key) or action.var_kwargs
                if param is None or key in action.requests:  # the request would win
                    raise TypeError(f"{where}: {key!r} names no parameter of it")
                try:
                    param.type.json(value)
                except _Invalid as error:
                    wrong = f"{key}={bound[key]!r} is no value the action takes"
                    raise ValueError(f"{where}: {wrong} ({error})") from None
            markup += _hidden_input(_BOUND_FIELD, self._sign(name, payload))
        return Markup(markup)

    # -- answers

    def _start(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> StartResponse:
        """``start_response`` for every answer of an action call: with the
        CORS headers of an allowed cross origin, and the headers a framework
        context added (first, so that on a re-rendered page the app's own
        cookies, set after the action's, win)."""
        cors = self._cors_headers(environ)
        if self.context is None and not cors:
            return start_response
        added: list[tuple[str, str]] = []
        environ[_HEADERS_KEY] = added
        return _edit_headers(start_response, lambda headers: [*added, *headers, *cors])

    def _answer_value(
        self, environ: WSGIEnvironment, start: StartResponse, value: Any, name: str
    ) -> Iterable[bytes]:
        if isinstance(value, redirect):
            headers = [("Serveract-Redirect", value.url)]
            if "HTTP_HX_REQUEST" in environ:
                headers.append(("HX-Redirect", value.url))
            body = _encode_json({"redirect": value.url})
            return _answer(start, "200 OK", body, headers)
        # Rendering runs the action's code too (__html__, a dataclass's
        # fields): what it raises is a 500, never an exception out of here.
        if hasattr(value, "__html__"):
            try:
                body = str(value.__html__()).encode()
            except Exception:
                failure = self._internal_error(name, "returned HTML that failed")
                return self._answer_error(start, failure)
            return _answer(start, "200 OK", body, (), "text/html; charset=utf-8")
        try:
            body = _encode_json(value)
        except Exception:
            failure = self._internal_error(
                name, "returned a value that cannot be encoded as JSON"
            )
            return self._answer_error(start, failure)
        return _answer(start, "200 OK", body)

    @staticmethod
    def _answer_error(start: StartResponse, failure: _Failure) -> Iterable[bytes]:
        try:
            body = _encode_json({"error": failure.as_json()})
        except Exception:  # what the data's own code raised too (its fields)
            # With the traceback, not the data's repr: that may raise as well.
            logger.exception("ActionError data cannot be encoded as JSON")
            body = _encode_json({"error": {**failure.as_json(), "data": None}})
        return _answer(start, _status_line(failure.status), body, failure.headers)

    def _render(
        self,
        environ: WSGIEnvironment,
        get: WSGIEnvironment,
        start: StartResponse,
        outcome: Result,
    ) -> Iterable[bytes]:
        """Have the wrapped app render the same URL as a GET, ``get`` (the
        environ as it arrived), with the outcome: the server and outer
        middleware (an access log) still see the POST they handed over."""
        for key in _POST_ONLY_KEYS:
            get.pop(key, None)
        get["REQUEST_METHOD"] = "GET"
        get["wsgi.input"] = io.BytesIO(b"")
        get[_RESULT_KEY] = environ[_RESULT_KEY] = outcome
        added = environ.get(_HEADERS_KEY)
        if added:  # cookies set inside the action: the page shows their effect
            cookies = [v for k, v in added if k.lower() == "set-cookie"]
            if cookies:
                get["HTTP_COOKIE"] = _with_cookies(get.get("HTTP_COOKIE", ""), cookies)
        return self.app(get, _edit_headers(start, _no_store))

    def _serve_script(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        etag = self._script_etag
        headers = [("Cache-Control", "no-cache"), ("ETag", etag)]
        # "*" matches any version the client holds; W/"..." matches too
        # (RFC 9110, 13.1.2).
        asked = environ.get("HTTP_IF_NONE_MATCH", "")
        if etag in asked or asked.strip() == "*":
            start_response("304 Not Modified", headers)
            return []
        headers += [
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("Content-Length", str(len(self._script))),
        ]
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [self._script]

    # -- typed descriptions

    def schema(self) -> dict[str, Any]:
        """JSON Schemas (draft 2020-12) of every action's parameters and
        return value: ``{"actions": {NAME: {"parameters": ..., "returns": ...}}}``.

        A JSON object validates against ``parameters`` exactly when the
        action accepts it (``webob.Request`` and ``bound`` parameters are
        not the client's to send), but for sets and ``int``-keyed dicts of
        more than 8 distinct values sharing one hash, which are refused."""
        return {
            "actions": {
                name: {
                    "parameters": _schema_document(_parameters(action)),
                    "returns": _schema_document(_returns(action), returns=True),
                }
                for name, action in self._prepared()
            }
        }

    def openapi(
        self, title: str = "serveract actions", version: str = "1.0.0"
    ) -> dict[str, Any]:
        """An OpenAPI 3.1 document: one ``POST`` per action at its path-call
        URL, with the parameters, the answer and every error answer."""
        return _openapi(self, title, version)

    def typescript(self) -> str:
        """TypeScript declarations typing ``serveract.actions``: one method
        per action, taking one object of its parameters and returning a
        ``Promise`` of its return type."""
        return _typescript(self)

    def _prepared(self) -> list[tuple[str, _Action]]:
        return [
            (name, action.prepare()) for name, action in self.registry._actions.items()
        ]


# What a GET re-render must not inherit from the POST: its body and WebOb's
# caches of it.
_POST_ONLY_KEYS = (
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "webob._body_file",
    "webob._parsed_post_vars",
    "webob.is_body_readable",
    "webob.is_body_seekable",
)


def _with_cookies(header: str, set_cookies: list[str]) -> str:
    """The ``Cookie`` header the browser sends once it stored ``set_cookies``:
    a cookie set replaces every cookie of its name (where the first was), an
    expired one removes them; the others stay as the browser sent them, in
    its order, duplicate names included (frameworks read the first)."""
    changed: dict[str, str | None] = {}  # name: its new pair, None if expired
    for set_cookie in set_cookies:
        pair, *attributes = set_cookie.split(";")
        name, found, value = (part.strip() for part in pair.partition("="))
        if found and name:  # else the browser ignores it (RFC 6265)
            changed[name] = None if _cookie_expired(attributes) else f"{name}={value}"
    if not changed:
        return header
    # Keyed by position, but by name for a changed cookie: it takes the first
    # place of its name, once (update() keeps a key's place).
    sent: dict[int | str, str | None] = {}
    for index, pair in enumerate(header.split(";")):
        name = pair.partition("=")[0].strip() if "=" in pair else ""
        sent.setdefault(name if name in changed else index, pair.strip())
    sent.update(changed)
    return "; ".join(pair for pair in sent.values() if pair)


def _cookie_expired(attributes: list[str]) -> bool:
    """Whether a ``Set-Cookie`` with these attributes deletes its cookie, as
    RFC 6265 says: a ``Max-Age`` of at most 0, else (no valid ``Max-Age``) an
    ``Expires`` date that has passed."""
    max_age, expires = None, ""
    for attribute in attributes:
        key, _, value = (part.strip() for part in attribute.partition("="))
        if key.lower() == "max-age" and re.fullmatch(r"-?[0-9]+", value):
            max_age = int(value)
        elif key.lower() == "expires":
            expires = value
    if max_age is not None:
        return max_age <= 0
    import email.utils

    date = email.utils.parsedate_tz(expires)  # 2-digit years as browsers read
    try:
        return date is not None and email.utils.mktime_tz(date) <= time.time()
    except (OverflowError, ValueError):
        return False


# -- Answers ----------------------------------------------------------------


def _edit_headers(
    start_response: StartResponse,
    edit: Callable[[list[tuple[str, str]]], list[tuple[str, str]]],
) -> StartResponse:
    def start(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is None:
            return start_response(status, edit(headers))
        return start_response(status, edit(headers), exc_info)

    return start


def _restarting(start_response: StartResponse) -> StartResponse:
    """``start_response`` for an answer that replaces one already started:
    with ``exc_info``, as PEP 3333 asks, else a server refuses the call."""

    def start(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        return start_response(status, headers, sys.exc_info())

    return start


class _Closing:
    """An answer's body that closes the call's files when the server closes
    it, as PEP 3333 has servers do: a streamed ``webob.Response`` may read an
    upload."""

    def __init__(self, body: Iterable[bytes], files: list[IO[bytes]]) -> None:
        self._body = body
        self._files = files

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            getattr(self._body, "close", lambda: None)()
        finally:
            for file in self._files:
                file.close()


def _no_store(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of what the action or the app answers (a ``webob.Response``,
    a page rendered again): it shows one user's outcome, so no cache may keep
    it."""
    kept = [h for h in headers if h[0].lower() != "cache-control"]
    kept.append(("Cache-Control", "no-store"))
    return kept


_LISTS = (collections.abc.Sequence, collections.abc.ValuesView)


def _encode_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)  # a string keeps every digit of a Decimal
    if isinstance(value, enum.Enum):
        return value.value
    # Its fields, as its schema says, even if it is a Sequence or a Mapping too.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, collections.abc.Set):  # dict.keys() too
        try:
            return sorted(value)
        except (TypeError, ArithmeticError):  # mixed types; Decimal("NaN")
            return list(value)
    if isinstance(value, (bytes, bytearray)):  # as a bytes argument arrives
        return value.decode()
    # What a Sequence or Mapping hint allows: range, deque, dict.values(), a
    # read-only dict. Not a generator: a date key makes a second pass.
    if isinstance(value, _LISTS):
        return list(value)
    if isinstance(value, collections.abc.Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# NaN and infinities are no JSON (browsers' JSON.parse refuses them): a 500.
_ENCODER = json.JSONEncoder(
    default=_encode_default, separators=(",", ":"), allow_nan=False
)
# encode() builds CPython's C encoder anew for every value, half its cost:
# this one is built once. No circular check (a cycle is a RecursionError,
# then a 500), so no state is shared between threads. Other Pythons: None.
_MAKE_ENCODER = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_C_ENCODER = _MAKE_ENCODER and _MAKE_ENCODER(
    None, _encode_default, json.encoder.encode_basestring_ascii, None, ":", ",",
    False, False, False,
)  # fmt: skip


def _encode_json(value: Any) -> bytes:
    try:
        if _C_ENCODER is None:
            return _ENCODER.encode(value).encode("ascii")
        return "".join(_C_ENCODER(value, 0)).encode("ascii")
    except TypeError:  # a dict key that is a date, an enum...: no default() for keys
        return _encode_json(_plain(value))


def _plain(value: Any) -> Any:
    """``value`` in JSON's types, dict keys included; ``TypeError`` for what
    has no JSON text."""
    if isinstance(value, _SIMPLE_TYPES):  # a str subclass is text to the encoder
        return value
    if isinstance(value, dict):  # a key that becomes a list is unhashable
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return _plain(_encode_default(value))


#: Every status an answer may have: an ActionError's may be any 4xx or 5xx.
_STATUS_LINES = {status: f"{status} Error" for status in range(400, 600)}
_STATUS_LINES.update(
    {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
)
_status_line = _STATUS_LINES.__getitem__


def _answer(
    start: StartResponse,
    status: str,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (),
    content_type: str = "application/json",
) -> list[bytes]:
    start(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *headers,
        ],
    )
    return [body]


def _retry(wait: float, message: str) -> _Failure:
    seconds = max(1, math.ceil(wait))
    return _Failure(
        429,
        f"{message}: try again in {seconds} s",
        {"retry_after": seconds},
        headers=[("Retry-After", str(seconds))],
    )


# -- hidden_field -----------------------------------------------------------


class Markup(str):
    """Markup that templates (Jinja2, Django, Chameleon, Mako) insert as is."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def _hidden_input(name: str, value: str) -> str:
    name, value = html.escape(name), html.escape(value)
    return f'<input type="hidden" name="{name}" value="{value}">'


def hidden_field(name: str) -> Markup:
    """The hidden ``<input>`` naming action ``name``, for any template.

    Put it first in the form: it is how a form posted without JavaScript is
    recognised. ``str()`` of it is the markup; it has ``__html__``, so Jinja2
    and Django insert it unescaped. For values the browser may not change,
    use :meth:`ServerActions.hidden_field`.

    >>> str(hidden_field("add_todo"))
    '<input type="hidden" name="$action" value="add_todo">'
    """
    return Markup(_hidden_input("$action", name))


# -- Typed descriptions -----------------------------------------------------

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _parameters(action: _Action) -> dict[str, Any]:
    """The object schema of what a client may send to ``action``."""
    assert action.params is not None
    params = [p for p in action.params if not p.request and p.name not in action.bound]
    extra = action.var_kwargs
    return {
        "type": "object",
        "properties": {p.name: p.type.schema for p in params},
        "required": [p.name for p in params if p.default is _EMPTY],
        "additionalProperties": False if extra is None else extra.type.schema,
        **({"not": {}} if action.bound else {}),  # only a signed form calls it
    }


def _returns(action: _Action) -> dict[str, Any]:
    return _answer_schema(action.returns.schema)


def _resolve(
    schema: Any, found: dict[str, Any], prefix: str, returns: bool = False
) -> Any:
    """``schema`` with its dataclass references pointing under ``prefix``,
    their definitions added to ``found`` (the answer's variant: every field
    present, under ``NAME_returns`` in a document that holds both)."""
    if isinstance(schema, list):
        return [_resolve(item, found, prefix, returns) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:  # a dataclass's: no property is named "$ref"
        name = schema["$ref"].removeprefix("#/$defs/")
        target = f"{name}_returns" if returns and prefix != "#/$defs/" else name
        if target not in found:
            found[target] = {}  # a dataclass may refer to itself
            definition = _DEFINITIONS[name][1 if returns else 0]
            found[target] = _resolve(definition, found, prefix, returns)
        return {"$ref": prefix + target}
    return {
        key: _resolve(value, found, prefix, returns) for key, value in schema.items()
    }


def _schema_document(schema: dict[str, Any], returns: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {}
    resolved = _resolve(schema, found, "#/$defs/", returns)
    document = {"$schema": _SCHEMA_DIALECT, **resolved}
    return {**document, "$defs": found} if found else document


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


_STRING = {"type": "string"}
_ERROR_SCHEMA = _object(error=_object(type=_STRING, message=_STRING, data={}))
_REDIRECT_SCHEMA = _object(redirect=_STRING)


def _summary(action: _Action) -> str:
    return (inspect.getdoc(action.func) or "").partition("\n")[0]


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _openapi(actions: ServerActions, title: str, version: str) -> dict[str, Any]:
    if actions.action_path is None:
        raise ValueError("OpenAPI describes path calls: action_path is None")
    prefix = "#/components/schemas/"
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    error = _json_content({"$ref": prefix + "Error"})
    failures = {  # a 405 is for what is no POST
        str(status): {"description": kind, "content": error}
        for status, kind in _ERROR_TYPES.items()
        if status != 405
    }
    paths = {}
    for name, action in actions._prepared():
        parameters = _resolve(_parameters(action), components, prefix)
        returns = _resolve(_returns(action), components, prefix, returns=True)
        if returns.get("contentMediaType") == "text/html":
            answer = {"text/html": {"schema": _STRING}}
        else:
            answer = _json_content({"anyOf": [returns, _REDIRECT_SCHEMA]})
        returned = {"description": "what the action returned", "content": answer}
        paths[actions.action_path + quote(name, safe="")] = {
            "post": {
                "operationId": name,
                "summary": _summary(action) or name,
                "requestBody": {
                    "required": bool(parameters["required"]),
                    "content": _json_content(parameters),
                },
                "responses": {"200": returned, **failures},
            }
        }
    document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "jsonSchemaDialect": _SCHEMA_DIALECT,
        "paths": paths,
        "components": {"schemas": components},
    }
    # Nothing shared: the caller may edit it, and YAML writers alias what is
    # (deepcopy() would keep the sharing).
    return typing.cast("dict[str, Any]", json.loads(json.dumps(document)))


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _ts_key(name: str) -> str:
    # Quoted, "new" is a method's name: new(...) is a construct signature.
    plain = _IDENTIFIER.fullmatch(name) and name != "new"
    return name if plain else json.dumps(name)


_TYPESCRIPT = """\
// Generated by `python -m serveract typescript`: the actions of this app.
declare namespace Serveract {
%s    interface Actions {
%s    }
    interface Error extends globalThis.Error {
        status: number;
        type: string;
        data: unknown;
    }
    interface Client {
        actions: Actions;
        call(name: string, ...args: unknown[]): Promise<unknown>;
        callWith(name: string, kwargs?: Record<string, unknown>): Promise<unknown>;
        header: string;
        field: string;
    }
}
declare const serveract: Serveract.Client;
"""


def _typescript(actions: ServerActions) -> str:
    methods = []
    found: dict[str, Any] = {}  # the dataclasses named, nested ones included
    for name, action in actions._prepared():
        assert action.params is not None
        params = [p for p in action.params if not p.request]
        required = [p for p in params if p.default is _EMPTY]
        if action.bound or any(p.type is _UPLOAD for p in required):
            continue  # only a signed form, or a multipart one, can call it
        fields = "".join(
            f" {_ts_key(p.name)}{'' if p.default is _EMPTY else '?'}: {p.type.ts};"
            for p in params
        )
        shape = "{" + fields + " }" if fields else "Record<string, never>"
        if action.var_kwargs is not None:
            shape = "Record<string, unknown>" + (f" & {shape}" if fields else "")
        if doc := _summary(action):
            methods.append(f"        /** {doc.replace('*/', '* /')} */\n")
        methods.append(
            f"        {_ts_key(name)}(args{'' if required else '?'}: {shape}): "
            f"Promise<{action.returns.answer}>;\n"
        )
        _resolve(_parameters(action), found, "#/$defs/")
        _resolve(_returns(action), found, "", returns=True)  # as X_returns, next to X
    interfaces = "".join(
        "    " + _INTERFACES[name].replace("\n", "\n    ") + "\n"
        for name in sorted(found)
    )
    return _TYPESCRIPT % (interfaces, "".join(methods))


# -- Browser client ---------------------------------------------------------
#
# Served at ``client_path``. The middleware replaces the quoted placeholders
# "__SERVERACT_...__" (quotes included) with its configuration as JSON.

_CLIENT_SCRIPT = r"""/* serveract browser client: call server actions from the page.
 *
 *   const sum = await serveract.call("add", 2, 3);        // positional
 *   const user = await serveract.callWith("users.create", {name: "Ada"});  // keywords
 *   const same = await serveract.actions["users.create"]({name: "Ada"});
 *
 * Forms holding the hidden "$action" field submit over fetch (no reload) and
 * dispatch "serveract:result" or "serveract:error" on the form.
 */
(() => {
  "use strict";
  const HEADER = "__SERVERACT_HEADER__";
  const FIELD = "__SERVERACT_FIELD__";
  const CLIENT_PATH = "__SERVERACT_CLIENT_PATH__";
  const ACTION_PATH = "__SERVERACT_ACTION_PATH__";
  // Calls go to the middleware that served this script: a path call per
  // action (one URL each in logs), or a header call to the script's URL.
  const source = new URL(document.currentScript?.src || location.href);
  const {pathname} = source;
  const pathCalls = ACTION_PATH !== null && pathname.endsWith(CLIENT_PATH);
  const actionPath = pathname.slice(0, -CLIENT_PATH.length) + ACTION_PATH;

  // A header holds Latin-1 only (fetch throws on any other character): the
  // name goes as its UTF-8 bytes, which the server reads back as a path's.
  function named(name) {
    return {[HEADER]: String.fromCharCode(...new TextEncoder().encode(name))};
  }

  function endpoint(name) {
    if (!pathCalls) return {url: source.href, headers: named(name)};
    return {url: new URL(actionPath + encodeURIComponent(name), source), headers: {}};
  }

  function failure(status, {message, type, data = null}) {
    const err = new Error(message || `HTTP ${status}`);
    const fields = {name: "ServeractError", status, type: type || "http_error", data};
    return Object.assign(err, fields);
  }

  // Only a page of the web may follow: never javascript:, data: and the like.
  // The page is going away: what go() returns never settles, so nothing runs.
  // A form's redirect is relative to where it posted, as without JavaScript.
  function go(url, base = location.href) {
    const target = new URL(url, base);
    if (target.protocol !== "http:" && target.protocol !== "https:") {
      throw failure(0, {type: "bad_redirect", message: `Refused to go to ${url}`});
    }
    location.assign(target.href);
    return new Promise(() => {});
  }

  // One round trip: resolves to {value} or {redirect}, rejects with failure().
  async function send(url, body, headers) {
    const response = await fetch(url, {
      method: "POST",
      // Cookies go to another origin only if it allows this one (CORS).
      credentials: "include",
      headers: {Accept: "application/json", ...headers},
      body,
    }).catch((err) => {
      throw failure(0, {type: "network_error", message: err.message});
    });
    const redirect = response.headers.get("Serveract-Redirect");
    if (redirect) return {redirect};
    const type = response.headers.get("Content-Type");
    const json = /json/i.test(type || "");
    // An action may answer HTML (a value with __html__): that comes as text.
    // No content (a 204 has no type, or an empty JSON answer) is null.
    const read = (text) =>
      json ? JSON.parse(text || "null") : type || text ? text : null;
    const payload = await response.text().then(read).catch((err) => {
      throw failure(response.status, {message: `Unreadable answer: ${err.message}`});
    });
    if (response.ok) return {value: payload};
    // A proxy's own error page has no JSON error body.
    const fallback = {message: `${response.status} ${response.statusText}`};
    throw failure(response.status, (json && payload?.error) || fallback);
  }

  /** Call action `name` with keyword arguments taken from one plain object;
   * resolves to its return value. */
  async function callWith(name, kwargs) {
    const {url, headers} = endpoint(name);
    headers["Content-Type"] = "application/json";
    const answer = await send(url, JSON.stringify(kwargs || {}), headers);
    return answer.redirect ? go(answer.redirect) : answer.value;
  }

  // Positional arguments: the body is a JSON array.
  const call = (name, ...args) => callWith(name, args);

  const pending = new WeakSet();
  // A field named "action" or "method" hides the form's own property
  // (form.action is then the <input>): read them off the prototype.
  const formProperty = (form, property) =>
    Object.getOwnPropertyDescriptor(HTMLFormElement.prototype, property).get.call(form);

  async function submit(form, submitter, name, data) {
    const override = submitter?.hasAttribute("formaction");
    const url = override ? submitter.formAction : formProperty(form, "action");
    // Not form.elements: it leaves image buttons out.
    const root = form.getRootNode();
    const buttons = Array.from(root.querySelectorAll("button, input")).filter(
      (el) => el.form === form && /^(submit|image)$/.test(el.type) && !el.disabled);
    pending.add(form);
    form.setAttribute("aria-busy", "true");
    buttons.forEach((button) => { button.disabled = true; });
    let type = "serveract:result";
    let detail;
    try {
      const answer = await send(url, data, named(name));
      if (answer.redirect) return go(answer.redirect, url);
      detail = answer.value;
    } catch (err) {
      type = "serveract:error";
      detail = err;
    } finally {
      pending.delete(form);
      form.removeAttribute("aria-busy");
      buttons.forEach((button) => { button.disabled = false; });
    }
    // A form replaced while its call was in flight (the list it sat in was
    // drawn again) is out of the page: tell the document instead.
    const target = form.isConnected ? form : document;
    target.dispatchEvent(new CustomEvent(type, {bubbles: true, detail}));
  }

  // Delegated, so forms added to the page later are enhanced too; a
  // submission another handler already cancelled (htmx, validation) is theirs.
  document.addEventListener("submit", (event) => {
    const {target: form, submitter} = event;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    // What the browser would send as a GET (method="get", a button's
    // formmethod="get") or not at all ("dialog") calls no action without
    // JavaScript: it stays the browser's, never a POST that runs the action.
    // So does a text/plain body, no form to the server. (A button's formMethod
    // and formEnctype are "" when it has no formmethod or formenctype.)
    const method = submitter?.formMethod || formProperty(form, "method");
    const enctype = submitter?.formEnctype || formProperty(form, "enctype");
    if (method !== "post" || enctype === "text/plain") return;
    const data = new FormData(form);
    // The clicked button goes last, as without JavaScript, where it follows the
    // hidden field: so <button name="$action" value="other"> picks the action.
    // (An image button sends where it was clicked, never its value.)
    if (submitter?.name && submitter.type !== "image") {
      data.append(submitter.name, submitter.value);
    }
    const name = data.getAll(FIELD).pop();
    if (name === undefined) return;
    event.preventDefault();
    if (!pending.has(form)) submit(form, submitter, name, data);
  });

  // serveract.actions.NAME({...}) is callWith("NAME", {...}).
  const actions = new Proxy({}, {
    get: (_, name) => (typeof name === "string" && name !== "then"
      ? (kwargs) => callWith(name, kwargs) : undefined),
  });

  window.serveract = {call, callWith, actions, header: HEADER, field: FIELD};
})();
"""


# -- Command line -----------------------------------------------------------


class _CommandError(Exception):
    """What stops the command: one line on stderr, exit status 1."""


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _watch_where_it_failed(error: ImportError | SyntaxError) -> None:
    """hupper watches the modules that imported: fixing an app whose first
    start failed would restart nothing."""
    import traceback

    import hupper

    paths = {frame.filename for frame in traceback.extract_tb(error.__traceback__)}
    if isinstance(error, SyntaxError) and error.filename:
        paths.add(error.filename)
    hupper.get_reloader().watch_files([p for p in paths if os.path.isfile(p)])


def _load(module_name: str, attribute: str, reload: bool) -> tuple[Any, ServerActions]:
    """The app to serve and the middleware holding its actions: the app
    itself, a Flask app's ``wsgi_app``, or a new one wrapping the app."""
    # Under ``python -m`` this file runs as ``__main__``, but the app imports
    # ``serveract``: that module's ServerActions and registry are the real ones.
    import serveract

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as waitress-serve does
    if module_name.startswith("."):  # import_module raises TypeError for it
        raise _CommandError(f"cannot import {module_name!r}: not a relative name")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as error:
        if reload:
            _watch_where_it_failed(error)
        raise _CommandError(f"cannot import {module_name!r}: {error}") from None
    try:
        app = operator.attrgetter(attribute)(module)
    except AttributeError:
        missing = f"module {module_name!r} has no attribute {attribute!r}"
        raise _CommandError(missing) from None
    if not callable(app):
        raise _CommandError(f"{module_name}:{attribute} is not a WSGI application")
    # Through other middleware too (WhiteNoise, ProxyFix, Sentry's): a second
    # ServerActions, without the app's options, would answer first.
    found = [app]
    for inner in found:
        if isinstance(inner, serveract.ServerActions):
            return app, inner
        if len(found) < 64:  # a cycle of wrappers ends here
            attributes = ("wsgi_app", "app", "application")
            found += [getattr(inner, a) for a in attributes if hasattr(inner, a)]
    actions = serveract.ServerActions(app)
    return actions, actions


def _serve(app: WSGIApplication, host: str, port: int, threads: int) -> None:
    try:
        from waitress.server import create_server
    except ImportError:
        raise _CommandError("serving needs waitress: pip install waitress") from None
    try:
        server = create_server(app, host=host, port=port, threads=threads)
    except (OSError, ValueError) as error:  # waitress: ValueError for no address
        reason = getattr(error, "strerror", None) or error
        raise _CommandError(f"cannot listen on {host}:{port}: {reason}") from None
    logging.basicConfig(level=logging.INFO)
    server.print_listen("Serving on http://{}:{}/")
    with contextlib.closing(server), contextlib.suppress(KeyboardInterrupt):
        server.run()


def _free_port(host: str) -> int:
    try:
        family = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family) as probe:
            probe.bind((host, 0))
            return int(probe.getsockname()[1])
    except (OSError, UnicodeError) as error:  # "a..b" fails in the IDNA codec
        raise _CommandError(f"cannot listen on {host}: {error}") from None


def _main(argv: list[str] | None = None) -> int:
    """``python -m serveract``: serve a WSGI app with its actions, list them,
    or print their typed descriptions; ``--help`` says how."""
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m serveract",
        description="Serve a WSGI app and its actions, or describe the actions.",
    )
    descriptions = ("schema", "openapi", "typescript")
    parser.add_argument(
        "command", nargs="?", choices=descriptions, help="print it and exit"
    )
    parser.add_argument("app", metavar="module:app", help="e.g. myproject.web:app")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080")
    parser.add_argument("--threads", type=int, default=4, help="default: 4")
    parser.add_argument(
        "--list", action="store_true", help="print the actions with their signatures"
    )
    parser.add_argument(
        "--reload", action="store_true", help="restart when a source file changes"
    )
    args = parser.parse_args(argv)
    module_name, _, attribute = args.app.partition(":")
    if not module_name or not attribute:
        parser.error(f"expected module:app, not {args.app!r}")
    if not 0 <= args.port <= 65535 or args.threads < 1:
        parser.error("the port must be 0-65535 and threads at least 1")
    try:
        if args.reload:
            try:
                import hupper
            except ImportError:
                hint = "--reload needs hupper: pip install 'serveract[dev]'"
                raise _CommandError(hint) from None
            if args.port == 0:  # one port for every restart, chosen once
                args.port = _free_port(args.host)
                argv = [*argv, f"--port={args.port}"]
            # The monitor never returns; the worker it starts runs this again.
            hupper.start_reloader("serveract._main", worker_kwargs={"argv": argv})
        app, actions = _load(module_name, attribute, args.reload)
        if args.command is not None:
            try:
                described = getattr(actions, args.command)()
            except ValueError as error:  # openapi() without path calls
                raise _CommandError(str(error)) from None
            if not isinstance(described, str):  # all but typescript() are JSON
                described = json.dumps(described, indent=2) + "\n"
            sys.stdout.write(described)
        elif args.list:
            for name, action in actions._prepared():
                signature = inspect.signature(action.func, eval_str=True)
                prefix = "async " if action.is_async else ""
                bound = sorted(action.bound)
                suffix = f"  [bound: {', '.join(bound)}]" if bound else ""
                print(f"{prefix}{name}{signature}{suffix}")
        else:
            if actions._hosts is None and _is_loopback(args.host):
                # No DNS rebinding to dev; 127.0.0.2, ::1 spelled out and the
                # like are their own name (an IPv6 one in brackets, as sent).
                host = args.host.strip("[]")
                named = f"[{host}]" if ":" in host else host
                actions._allow_hosts(["localhost", "127.0.0.1", "[::1]", named])
            _serve(app, args.host, args.port, args.threads)
    except _CommandError as error:
        print(f"python -m serveract: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
