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

    app = serveract.ServerActions(flask_app)

    # in the browser
    fetch("/", {method: "POST", body: "[2, 3]",
                headers: {"Serveract-Action": "add",
                          "Content-Type": "application/json"}})   // -> 5

The wire format and the public names are fixed by the project's SPEC; the
README has the guide.
"""

from __future__ import annotations

import asyncio
import base64
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
import logging
import math
import os
import re
import secrets
import sys
import threading
import types
import typing
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, Union
from urllib.parse import quote_plus

import webob
import webob.multidict

import cgi  # isort: skip  # WebOb's own form parser; legacy-cgi on 3.13+

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from contextlib import AbstractContextManager

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ActionError",
    "Registry",
    "ServerActions",
    "action",
    "hidden_field",
    "redirect",
    "register_module",
    "registry",
    "result",
]
__version__ = "0.1.0"

logger = logging.getLogger("serveract")

#: Bytes of a form POST read to look for the ``$action`` field. The rendered
#: hidden field comes first, so a few hundred bytes would do; this leaves room
#: for hand-written forms and long multipart boundaries.
_PEEK_SIZE = 8192
_CHUNK_SIZE = 65536
#: Deepest JSON nesting accepted in a request body.
_MAX_DEPTH = 64
#: Most fields (parts) accepted in one form body.
_MAX_FIELDS = 1000
_RESULT_KEY = "serveract.result"
#: Headers (cookies a framework ``context`` saved) added to an action's answer.
_HEADERS_KEY = "serveract.response_headers"
#: Files holding a multipart body and its parts, closed when the call ends.
_FILES_KEY = "serveract.files"
_BOUND_FIELD = "$bound"
_SIGNATURE_SALT = b"serveract.bound\x00"


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
        if not 400 <= status <= 599:
            raise ValueError(f"ActionError status must be 4xx or 5xx, not {status}")
        super().__init__(message)
        self.message = message
        self.status = status
        self.data = data


class redirect(BaseException):
    """Send the browser elsewhere; raise it or return it from an action.

    A header call answers 200 with ``Serveract-Redirect: URL`` (and
    ``HX-Redirect`` for htmx), which the client script follows; a form call
    without JavaScript answers with ``status`` and ``Location``. It derives
    from ``BaseException`` so that an ``except Exception:`` inside the action
    does not swallow it.

    :param url: where to go, absolute or relative.
    :param status: a 3xx status for form calls (303 makes the browser GET).
    """

    def __init__(self, url: str, status: int = 303) -> None:
        if not 300 <= status <= 399:
            raise ValueError(f"redirect status must be 3xx, not {status}")
        super().__init__(url)
        self.url = url
        self.status = status


class _Failure(Exception):
    """A request that ends in an error answer; also ``result().error``."""

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
        self.type = type or _ERROR_TYPES.get(status, "error")
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


_ERROR_TYPES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_arguments",
    500: "internal_error",
}


class _Result:
    """What a form call without JavaScript did, for the page to render.

    ``name`` is the action's, ``ok`` whether it returned, ``value`` what it
    returned, ``error`` on failure a ``.status``, ``.type``, ``.message``,
    ``.data``, ``.fields``, and ``form`` the submitted text fields, to fill
    the form in again.
    """

    __slots__ = ("_fields", "_form", "_skip", "error", "name", "ok", "value")

    def __init__(
        self,
        name: str,
        ok: bool,
        value: Any,
        error: _Failure | None,
        fields: dict[str, list[Any]],
        skip: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.ok = ok
        self.value = value
        self.error = error
        self._fields = fields
        self._skip = skip  # the action field and the signed values
        self._form: webob.multidict.MultiDict[str, str] | None = None

    @property
    def form(self) -> webob.multidict.MultiDict[str, str]:
        """The submitted text fields (uploads and serveract's own left out)."""
        if self._form is None:  # built on first use: a success page rarely asks
            self._form = webob.multidict.MultiDict.view_list(
                [
                    (key, value)
                    for key, values in self._fields.items()
                    if key not in self._skip
                    for value in values
                    if type(value) is str
                ]
            )
        return self._form

    def __repr__(self) -> str:
        return f"<result of {self.name}: {'ok' if self.ok else self.error!r}>"


def result(environ: WSGIEnvironment) -> _Result | None:
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
    return value if isinstance(value, _Result) else None


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
        self, func: _F, /, *, name: str | None = None, bound: Iterable[str] = ()
    ) -> _F: ...
    @typing.overload
    def action(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
    ) -> Callable[[_F], _F]: ...

    def action(
        self,
        func: _F | None = None,
        /,
        *,
        name: str | None = None,
        bound: Iterable[str] = (),
    ) -> _F | Callable[[_F], _F]:
        """Register ``func`` as an action, bare or with a ``name``.

        :param func: the function; it is returned unchanged.
        :param name: the name clients call; the function's ``__name__`` by
            default.
        :param bound: parameters that only values signed into a form by
            :meth:`ServerActions.hidden_field` may fill: a call without them
            (any JSON call, a form without the signed field) is refused with
            400, so the client cannot choose them.
        :raises ValueError: another function already has that name, or
            ``bound`` names no parameter.
        :raises TypeError: ``func`` is not a function, or one of its
            parameters can never be built from a request.
        """
        if func is None:
            return lambda func: self.action(func, name=name, bound=bound)
        self._add(name or str(getattr(func, "__name__", "")), func, bound)
        return func

    def _add(
        self, name: str, func: Callable[..., Any], bound: Iterable[str] = ()
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"an action needs a non-empty name, not {name!r}")
        if isinstance(func, type) or not callable(func):
            raise TypeError(f"action {name!r} must be a function, not {func!r}")
        existing = self._actions.get(name)
        if existing is not None:
            if existing.func is func:
                return
            raise ValueError(
                f"action name {name!r} is already taken by {existing.func!r}"
            )
        self._actions[name] = _Action(name, func, frozenset(bound))

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
_default_registry = registry


@typing.overload
def action(
    func: _F, /, *, name: str | None = None, bound: Iterable[str] = ()
) -> _F: ...
@typing.overload
def action(
    func: None = None, /, *, name: str | None = None, bound: Iterable[str] = ()
) -> Callable[[_F], _F]: ...


def action(
    func: _F | None = None,
    /,
    *,
    name: str | None = None,
    bound: Iterable[str] = (),
) -> _F | Callable[[_F], _F]:
    """Register a function in the default registry; the function is unchanged.

    ::

        @serveract.action
        def create_user(name: str, email: str) -> dict: ...

        @serveract.action(name="users.delete", bound=["user_id"])
        def delete_user(user_id: int) -> None: ...

    :param name: the name clients call; the function's ``__name__`` by default.
    :param bound: parameters only signed form values may fill
        (see :meth:`Registry.action`).
    """
    if func is None:
        return _default_registry.action(name=name, bound=bound)
    return _default_registry.action(func, name=name, bound=bound)


def register_module(
    module: types.ModuleType | str, registry: Registry | None = None
) -> list[str]:
    """Register every public function *defined* in ``module`` (file-level
    "use server").

    Imported functions, classes and names starting with ``_`` are skipped.
    Each function is registered under its ``__name__``. Every one becomes a
    public HTTP endpoint, so each must check its own authorization.

    :param module: a module object or a dotted name to import.
    :param registry: where to register; the default registry if omitted.
    :returns: the names registered, in definition order.
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    target = _default_registry if registry is None else registry
    names = []
    for name, value in vars(module).items():
        if (
            not name.startswith("_")
            and inspect.isfunction(value)
            and value.__module__ == module.__name__
        ):
            target._add(value.__name__, value)
            names.append(value.__name__)
    return names


# -- Argument binding -------------------------------------------------------
#
# Each action's parameters are inspected once, at registration, into a list of
# _Param with two converters: one for JSON values, one for form fields (lists
# of strings or uploads). A call then costs a dict walk, no reflection.

_EMPTY = inspect.Parameter.empty
_TRUE_WORDS = frozenset({"on", "true", "1", "yes"})
_FALSE_WORDS = frozenset({"off", "false", "0", "no", ""})
_FILE_HINTS: tuple[Any, ...] = (
    typing.IO,
    typing.BinaryIO,
    io.IOBase,
    io.BufferedIOBase,
    io.RawIOBase,
)


class _Invalid(Exception):
    """A value that does not fit a type hint; the message says what was wanted."""


class _Upload:
    """An uploaded file: readable like a file, plus ``filename`` and
    ``content_type``; the part's bytes are in a temporary file, not memory,
    closed when the call ends."""

    def __init__(self, part: cgi.FieldStorage) -> None:
        self.filename: str = part.filename or ""
        self.content_type: str = part.type or "application/octet-stream"
        self.file: typing.BinaryIO = part.file  # type: ignore[assignment]
        self._part = part  # a FieldStorage closes its file when collected

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
        return f"<upload {self.filename!r} {self.content_type}>"


def _describe(hint: Any) -> str:
    names = {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "text",
        bytes: "text",
        decimal.Decimal: "a decimal number",
        uuid.UUID: "a UUID",
        datetime.datetime: "a date and time (ISO 8601)",
        datetime.date: "a date (YYYY-MM-DD)",
        datetime.time: "a time (HH:MM)",
        dict: "an object",
    }
    if hint in names:
        return names[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(member.value) for member in hint)
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(value) for value in typing.get_args(hint))
    if _is_file_hint(hint):
        return "a file upload"
    return getattr(hint, "__name__", str(hint))


def _is_file_hint(hint: Any) -> bool:
    return (
        hint in _FILE_HINTS
        or typing.get_origin(hint) is typing.IO
        or (isinstance(hint, type) and issubclass(hint, io.IOBase))
    )


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _identity(value: Any) -> Any:
    return value


def _json_converter(hint: Any, where: str) -> Callable[[Any], Any]:
    """A function checking (and, for rich types, building) a decoded JSON value
    against ``hint``; raises ``_Invalid``."""
    if hint is _EMPTY or hint is Any or hint is object:
        return _identity
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if _is_union(hint):
        nullable = type(None) in args
        members = [_json_converter(a, where) for a in args if a is not type(None)]
        return _union_converter(hint, members, nullable)
    if origin is Literal:
        allowed = [(type(a), a) for a in args]

        def literal(value: Any) -> Any:
            if (type(value), value) in allowed:
                return value
            raise _Invalid(f"expected {_describe(hint)}")

        return literal
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable) or (
        origin in (tuple, set, frozenset) and (origin is not tuple or ... in args)
    ):
        item = _json_converter(args[0] if args else Any, where)
        build: Callable[[Any], Any] = (
            origin if origin in (tuple, set, frozenset) else list
        )

        def sequence(value: Any) -> Any:
            if not isinstance(value, list):
                raise _Invalid("expected a list")
            items = [_item(item, i, element) for i, element in enumerate(value)]
            try:
                return build(items)
            except TypeError:  # a set of lists or objects: unhashable
                raise _Invalid("expected a list of distinct simple values") from None

        return sequence
    if origin is tuple:
        items = [_json_converter(a, where) for a in args]

        def fixed_tuple(value: Any) -> Any:
            if not isinstance(value, list) or len(value) != len(items):
                raise _Invalid(f"expected a list of {len(items)} items")
            return tuple(
                _item(c, i, v)
                for i, (c, v) in enumerate(zip(items, value, strict=True))
            )

        return fixed_tuple
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        convert_value = _json_converter(args[1] if len(args) == 2 else Any, where)

        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _Invalid("expected an object")
            return {key: _item(convert_value, key, v) for key, v in value.items()}

        return mapping
    if hint is list:
        return _json_converter(list[Any], where)
    if hint in (tuple, set, frozenset):
        return _json_converter(hint[Any, ...] if hint is tuple else hint[Any], where)
    if _is_file_hint(hint):
        return _json_upload
    if hint is bytes:
        return _json_bytes
    if hint is bool:
        return _exact(bool)
    if hint is int:
        return _exact(int)
    if hint is str:
        return _exact(str)
    if hint is float:
        return _json_float
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_converter(hint, where)
    if not (
        hint in _TEXT_TYPES or (isinstance(hint, type) and issubclass(hint, enum.Enum))
    ):
        raise TypeError(f"unsupported type hint {hint!r}")
    text = _text_converter(hint, where)  # dates, decimals, UUIDs, enums: from text

    def from_text(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Invalid(f"expected {_describe(hint)}")
        return text(value if isinstance(value, str) else str(value))

    return from_text


_TEXT_TYPES = (
    decimal.Decimal,
    uuid.UUID,
    datetime.datetime,
    datetime.date,
    datetime.time,
)


def _json_upload(value: Any) -> Any:
    raise _Invalid("expected a file upload (send a multipart form)")


def _json_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    raise _Invalid("expected text")


def _union_converter(
    hint: Any, members: list[Callable[[Any], Any]], nullable: bool
) -> Callable[[Any], Any]:
    """The first member's conversion that fits, in the hint's order."""
    description = _describe_union(hint)

    def union(value: Any) -> Any:
        if value is None and nullable:
            return None
        for convert in members:
            try:
                return convert(value)
            except _Invalid:
                pass
        raise _Invalid(f"expected {description}")

    return union


def _describe_union(hint: Any) -> str:
    return " or ".join(
        "null" if a is type(None) else _describe(a) for a in typing.get_args(hint)
    )


def _item(convert: Callable[[Any], Any], where: object, value: Any) -> Any:
    try:
        return convert(value)
    except _Invalid as error:
        raise _Invalid(f"[{where!r}]: {error}") from None


def _exact(kind: type) -> Callable[[Any], Any]:
    description = _describe(kind)

    def exact(value: Any) -> Any:
        if type(value) is kind:  # bool is an int subclass: type(), not isinstance()
            return value
        raise _Invalid(f"expected {description}")

    return exact


def _json_float(value: Any) -> float:
    if type(value) is float or type(value) is int:
        try:
            return float(value)
        except OverflowError:  # an integer literal of hundreds of digits
            raise _Invalid("expected a number") from None
    raise _Invalid("expected a number")


def _dataclass_converter(cls: type, where: str) -> Callable[[Any], Any]:
    fields: dict[str, tuple[Callable[[Any], Any], bool]] = {}

    def build(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object ({cls.__name__})")
        if not fields:  # resolved on first use: dataclasses may refer to themselves
            hints = typing.get_type_hints(cls)
            for field in dataclasses.fields(cls):
                required = (
                    field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING
                )
                fields[field.name] = (
                    _json_converter(hints[field.name], where),
                    required,
                )
        unknown = set(value) - set(fields)
        if unknown:
            raise _Invalid(f"unexpected field {sorted(unknown)[0]!r}")
        kwargs = {}
        for name, (convert, required) in fields.items():
            if name in value:
                kwargs[name] = _item(convert, name, value[name])
            elif required:
                raise _Invalid(f"[{name!r}]: required")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError):  # refused by its __post_init__
            raise _Invalid(f"expected a valid {cls.__name__}") from None

    return build


def _text_converter(hint: Any, where: str) -> Callable[[Any], Any]:
    """A function building a value of ``hint`` from one form field (a string
    or an upload); raises ``_Invalid``."""
    if hint is _EMPTY or hint is Any or hint is object or hint is str:
        return _form_text if hint is str else _identity
    if _is_union(hint):
        members = [
            _text_converter(a, where)
            for a in typing.get_args(hint)
            if a is not type(None)
        ]
        return _union_converter(hint, members, nullable=False)
    if _is_file_hint(hint):
        return _form_upload
    if hint is bytes:
        return _form_bytes
    parse: Callable[[str], Any]
    if hint is bool:
        parse = _parse_bool
    elif hint in (float, decimal.Decimal):
        parse = _finite(hint)
    elif hint in (int, uuid.UUID):
        parse = typing.cast("Callable[[str], Any]", hint)
    elif hint in (datetime.datetime, datetime.date, datetime.time):
        parse = hint.fromisoformat
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        by_value = {str(member.value): member for member in hint}
        parse = by_value.__getitem__
    elif typing.get_origin(hint) is Literal:
        choices = {str(value): value for value in typing.get_args(hint)}
        parse = choices.__getitem__
    else:
        # Lists, dicts and dataclasses arrive in one field as JSON text.
        convert = _json_converter(hint, where)

        def json_text(text: str) -> Any:
            try:
                value = _DECODER.decode(text)
            except (ValueError, RecursionError):
                raise _Invalid(f"expected {_describe(hint)} as JSON") from None
            return convert(value)

        parse = json_text
    description = _describe(hint)

    def text(value: Any) -> Any:
        if not isinstance(value, str):
            raise _Invalid(f"expected {description}, not a file")
        try:
            return parse(value.strip())
        except (ValueError, KeyError, ArithmeticError):
            raise _Invalid(f"expected {description}") from None

    return text


def _form_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Invalid("expected text, not a file")


def _form_upload(value: Any) -> _Upload:
    if isinstance(value, _Upload):
        return value
    raise _Invalid("expected a file upload")


def _form_bytes(value: Any) -> bytes:
    return value.read() if isinstance(value, _Upload) else str(value).encode()


def _finite(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser for ``float`` or ``Decimal`` text refusing NaN and infinities:
    NaN fails every comparison, so a check like ``amount > balance`` would
    let it through."""

    def parse(text: str) -> Any:
        value = kind(text)
        if isinstance(value, decimal.Decimal):
            finite = value.is_finite()
        else:
            finite = math.isfinite(value)
        if not finite:
            raise ValueError(text)
        return value

    return parse


def _parse_bool(text: str) -> bool:
    word = text.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(text)


def _takes_blank(hint: Any) -> bool:
    """Whether an empty form field is a value of ``hint`` (text) rather than
    an empty input (missing)."""
    if _is_union(hint):
        return any(_takes_blank(a) for a in typing.get_args(hint))
    return hint in (str, bytes, _EMPTY, Any, object)


def _is_request_hint(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, webob.request.BaseRequest)


class _Param:
    """One parameter of an action, prepared for binding."""

    __slots__ = (
        "blank",
        "default",
        "form",
        "form_missing",
        "json",
        "kind",
        "many",
        "name",
        "request",
    )

    def __init__(self, parameter: inspect.Parameter, where: str) -> None:
        hint = parameter.annotation
        self.name = parameter.name
        self.kind = parameter.kind
        self.default = parameter.default
        self.request = _is_request_hint(hint)
        if self.request:
            return
        try:
            self.json = _json_converter(hint, where)
            origin = typing.get_origin(hint)
            many = origin in (list, tuple, set, frozenset, collections.abc.Sequence)
            self.many = many and (origin is not tuple or ... in typing.get_args(hint))
            if self.many:
                args = typing.get_args(hint)
                item_hint = args[0] if args else Any
                item = _text_converter(item_hint, where)
                blank = _takes_blank(item_hint)
                build: Callable[[Any], Any] = (
                    origin if origin in (tuple, set, frozenset) else list
                )
                # Takes every value of the field; a single one takes the last.
                self.form: Callable[[Any], Any] = lambda values: build(
                    [
                        _item(item, i, v)
                        for i, v in enumerate(values)
                        if blank or v != ""
                    ]
                )
                self.blank = True
                self.form_missing: Any = build([])
            else:
                self.form = _text_converter(hint, where)
                self.blank = _takes_blank(hint)
                nullable = _is_union(hint) and type(None) in typing.get_args(hint)
                self.form_missing = (
                    False if hint is bool else None if nullable else _EMPTY
                )
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{where}: parameter {self.name!r} has a type hint serveract cannot "
                f"build from a request ({hint!r}): {error}"
            ) from None
        if self.default is not _EMPTY:
            self.form_missing = _EMPTY  # the function's own default applies


class _Action:
    """A registered function with its parameters prepared for binding."""

    def __init__(
        self, name: str, func: Callable[..., Any], bound: frozenset[str] = frozenset()
    ) -> None:
        self.name = name
        self.func = func
        self.bound = bound
        self.is_async = inspect.iscoroutinefunction(func)
        self._prepared = False
        # A hint naming something defined later in the module is resolved
        # when the middleware is built (or on the first call, if later).
        with contextlib.suppress(NameError):
            self._prepare()

    def _prepare(self) -> None:
        where = f"action {self.name!r}"
        try:
            signature = inspect.signature(self.func, eval_str=True)
        except ValueError as error:
            raise TypeError(f"{where}: cannot read its signature: {error}") from None
        params = [_Param(p, where) for p in signature.parameters.values()]
        self.params = [
            p
            for p in params
            if p.kind not in (p.kind.VAR_POSITIONAL, p.kind.VAR_KEYWORD)
        ]
        self.by_name = {p.name: p for p in self.params if not p.request}
        unknown = self.bound - self.by_name.keys()
        if unknown:
            raise ValueError(f"{where}: bound names no parameter: {sorted(unknown)}")
        self.positional = [
            p
            for p in self.params
            if p.kind in (p.kind.POSITIONAL_ONLY, p.kind.POSITIONAL_OR_KEYWORD)
            and not p.request
        ]
        self.var_args = next(
            (p for p in params if p.kind is p.kind.VAR_POSITIONAL), None
        )
        self.var_kwargs = next(
            (p for p in params if p.kind is p.kind.VAR_KEYWORD), None
        )
        self.positional_only = [
            p for p in self.params if p.kind is p.kind.POSITIONAL_ONLY
        ]
        self.wants_request = any(p.request for p in self.params)
        self.simple = not self.positional_only and not self.wants_request
        self._prepared = True

    def prepared(self) -> _Action:
        if not self._prepared:
            try:
                self._prepare()
            except NameError as error:
                raise TypeError(
                    f"action {self.name!r}: a type hint names something undefined: "
                    f"{error}"
                ) from None
        return self

    def bind_json(
        self, payload: Any, environ: WSGIEnvironment
    ) -> tuple[list[Any], dict[str, Any]]:
        """Arguments from a decoded JSON body: list = positional, dict = keywords."""
        errors: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        extra: list[Any] = []
        if type(payload) is list:
            positional = self.positional
            if len(payload) > len(positional):
                if self.var_args is None:
                    raise _Failure(
                        422,
                        f"{self.name}() takes {len(positional)} positional arguments "
                        f"but {len(payload)} were given",
                        [{"field": None, "message": "too many arguments"}],
                    )
                convert = self.var_args.json
                for index, value in enumerate(payload[len(positional) :]):
                    extra.append(self._convert(convert, value, f"*{index}", errors))
            for param, value in zip(positional, payload, strict=False):
                kwargs[param.name] = self._convert(
                    param.json, value, param.name, errors
                )
        else:
            by_name = self.by_name
            for key, value in payload.items():
                known = by_name.get(key)
                if known is not None:
                    try:
                        kwargs[key] = known.json(value)
                    except _Invalid as error:
                        kwargs[key] = None  # given, if wrong: not also "required"
                        errors.append({"field": key, "message": str(error)})
                elif self.var_kwargs is not None:
                    kwargs[key] = self._convert(
                        self.var_kwargs.json, value, key, errors
                    )
                else:
                    errors.append({"field": key, "message": "unexpected argument"})
        return self._finish(kwargs, extra, errors, environ)

    def bind_form(
        self,
        fields: dict[str, list[Any]],
        bound: dict[str, Any],
        environ: WSGIEnvironment,
        skip: tuple[str, ...],
    ) -> tuple[list[Any], dict[str, Any]]:
        """Arguments from form fields (name → values), then the signed ``bound``
        values, which no client field can override."""
        errors: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        for param in self.params:
            name = param.name
            if param.request or name in bound:
                continue
            values = fields.get(name)
            if values and (param.blank or values[-1] != ""):
                try:
                    kwargs[name] = param.form(values if param.many else values[-1])
                except _Invalid as error:
                    kwargs[name] = None  # given, if wrong: not also "required"
                    errors.append({"field": name, "message": str(error)})
            elif param.form_missing is not _EMPTY:
                kwargs[name] = param.form_missing
        if self.var_kwargs is not None:
            for name, values in fields.items():
                if name not in self.by_name and name not in bound and name not in skip:
                    kwargs[name] = values[-1]
        for name, value in bound.items():
            target = self.by_name.get(name) or self.var_kwargs
            if target is None:
                errors.append({"field": name, "message": "unexpected argument"})
            else:
                kwargs[name] = self._convert(target.json, value, name, errors)
        return self._finish(kwargs, [], errors, environ)

    @staticmethod
    def _convert(
        convert: Callable[[Any], Any],
        value: Any,
        field: str,
        errors: list[dict[str, Any]],
    ) -> Any:
        try:
            return convert(value)
        except _Invalid as error:
            errors.append({"field": field, "message": str(error)})
            return None

    def _finish(
        self,
        kwargs: dict[str, Any],
        extra: list[Any],
        errors: list[dict[str, Any]],
        environ: WSGIEnvironment,
    ) -> tuple[list[Any], dict[str, Any]]:
        # Every parameter given (and no **kwargs extras counted): nothing
        # can be missing.
        if (
            self.wants_request
            or self.var_kwargs is not None
            or len(kwargs) != len(self.params)
        ):
            for param in self.params:
                if param.request:
                    kwargs[param.name] = webob.Request(environ)
                elif param.name not in kwargs and param.default is _EMPTY:
                    errors.append({"field": param.name, "message": "required"})
        if errors:
            listed = ", ".join(
                f"{e['field']} ({e['message']})" if e["field"] else e["message"]
                for e in errors
            )
            raise _Failure(422, f"Invalid arguments for {self.name}: {listed}", errors)
        if self.simple and not extra:
            return [], kwargs
        # Positional-only parameters, and all of them when *args is filled,
        # must be passed by position.
        cut = self.positional if extra else self.positional_only
        args = [kwargs.pop(p.name) if p.name in kwargs else p.default for p in cut]
        return args + extra, kwargs


def _run_coroutine(coroutine: Any) -> Any:
    """Run an ``async def`` action's coroutine to completion."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # This thread already runs an event loop (an async server, a test tool):
    # run the coroutine on a fresh loop in a helper thread, with our context.
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coroutine)
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="serveract-async")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# -- Request bodies ---------------------------------------------------------


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The declared body length; ``None`` when unknown (a chunked body the
    server terminates); 0 when absent."""
    value = environ.get("CONTENT_LENGTH")
    if value:
        try:
            length = int(value)
        except ValueError:
            raise _Failure(400, "Content-Length is not a number") from None
        if length < 0:
            raise _Failure(400, "Content-Length is negative")
        return length
    if environ.get("wsgi.input_terminated"):
        return None
    return 0


def _read_exactly(stream: Any, length: int) -> bytes:
    data = stream.read(length)
    if len(data) < length:
        parts = [data]
        got = len(data)
        while got < length:
            chunk = stream.read(min(length - got, _CHUNK_SIZE))
            if not chunk:
                raise _Failure(400, "The request body ended before its Content-Length")
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
    return bytes(data)


def _read_to_end(stream: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(_CHUNK_SIZE)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)


def _too_large(limit: int) -> _Failure:
    return _Failure(
        413, f"The request body is larger than {limit} bytes", {"limit": limit}
    )


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _parse_form(body: bytes) -> dict[str, list[str]]:
    """The fields of an urlencoded body, name → values in order: what
    ``parse_qsl(keep_blank_values=True, errors="strict")`` finds, without its
    per-field overhead (only escaped names and values are unquoted)."""
    if body.count(b"&") >= _MAX_FIELDS:
        raise _Failure(413, f"The form has more than {_MAX_FIELDS} fields")
    try:
        text = body.decode("utf-8")
        fields: dict[str, list[str]] = {}
        for item in text.split("&"):
            if not item:
                continue
            key, _, value = item.partition("=")
            if "%" in item or "+" in item:
                key = _unquote(key)
                value = _unquote(value)
            values = fields.get(key)
            if values is None:
                fields[key] = [value]
            else:
                values.append(value)
    except UnicodeDecodeError:
        raise _Failure(400, "The form body is not valid UTF-8") from None
    return fields


# "%XX" → the byte, for every mix of cases (as urllib.parse has it).
_HEX_BYTE = {
    (a + b).encode(): bytes.fromhex(a + b)
    for a in "0123456789ABCDEFabcdef"
    for b in "0123456789ABCDEFabcdef"
}


def _unquote(text: str) -> str:
    """``unquote_plus(text, errors="strict")`` in one call: a malformed
    escape stays as it is, a bad UTF-8 sequence raises."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    first, *rest = text.encode().split(b"%")
    parts = [first]
    for item in rest:
        byte = _HEX_BYTE.get(item[:2])
        if byte is None:
            parts += (b"%", item)
        else:
            parts += (byte, item[2:])
    return b"".join(parts).decode("utf-8")


class _Replay:
    """``wsgi.input`` for a pass-through request whose start was peeked at:
    the peeked bytes, then the rest of the original stream."""

    def __init__(self, head: bytes, rest: Any, remaining: int | None) -> None:
        self._head = head
        self._rest = rest
        self._remaining = remaining  # of ``rest``; None: read to its end

    def _read_rest(self, size: int) -> bytes:
        if self._remaining is None:
            if size >= 0:
                return bytes(self._rest.read(size))
            return _read_to_end(self._rest, sys.maxsize)
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = bytes(self._rest.read(size)) if size else b""
        self._remaining -= len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes, all by default."""
        size = -1 if size is None else size
        head = self._head
        if not head:
            return self._read_rest(size)
        if 0 <= size <= len(head):
            self._head = head[size:]
            return head[:size]
        self._head = b""
        return head + self._read_rest(size - len(head) if size >= 0 else -1)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line, of at most ``size`` bytes."""
        size = -1 if size is None else size
        head = self._head
        if not head:
            if self._remaining is not None and (size < 0 or size > self._remaining):
                size = self._remaining
            line = bytes(self._rest.readline(size)) if size else b""
            if self._remaining is not None:
                self._remaining -= len(line)
            return line
        end = head.find(b"\n") + 1 or len(head)
        if 0 <= size < end:
            end = size
        line = head[:end]
        self._head = head[end:]
        if line.endswith(b"\n") or self._head or len(line) == size:
            return line
        return line + self.readline(size - len(line) if size >= 0 else -1)

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Read the remaining lines."""
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        """Nothing to close: the server owns the original stream."""


class _Bounded:
    """A stream that refuses to yield more than ``limit`` bytes in all (413),
    or to end before its declared ``length`` (400: a truncated body)."""

    def __init__(self, stream: Any, limit: int, length: int | None = None) -> None:
        self._stream = stream
        self._left = limit
        self._limit = limit
        self._owed = length

    def _count(self, data: bytes, size: int) -> bytes:
        self._left -= len(data)
        if self._left < 0:
            raise _too_large(self._limit)
        if self._owed is not None:
            self._owed -= len(data)
            if self._owed > 0 and (size < 0 or (size and not data)):
                raise _Failure(400, "The request body ended before its Content-Length")
        return data

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self._count(_read_to_end(self._stream, self._limit), size)
        return self._count(bytes(self._stream.read(size)), size)

    def readline(self, size: int = -1) -> bytes:
        size = size if size >= 0 else _CHUNK_SIZE
        return self._count(bytes(self._stream.readline(size)), size)


# -- Security ---------------------------------------------------------------


def _normal_host(host: str) -> str:
    """``host[:port]`` lowercased, without a default port. Both are dropped
    whatever the scheme: behind a TLS proxy an ``http`` app sees ``:443``."""
    host = host.strip().lower()
    for port in (":80", ":443"):
        if host.endswith(port):
            return host[: -len(port)]
    return host


def _origin_pattern(pattern: str) -> Callable[[str], bool]:
    """A matcher for one ``allowed_origins`` entry: a host with optional port,
    whose leftmost label may be ``*`` (one label) or ``**`` (one or more)."""
    _, found, rest = pattern.partition("://")
    host = _normal_host(rest if found else pattern)
    first, dot, tail = host.partition(".")
    if "*" in tail or (first not in ("*", "**") and "*" in first):
        raise ValueError(
            f"allowed_origins: only the leftmost label may be a wildcard: {pattern!r}"
        )
    if first in ("*", "**") and not tail.strip(".:0123456789"):
        # A wildcard with no domain after it would let every site call.
        raise ValueError(f"allowed_origins: a wildcard needs a domain: {pattern!r}")
    if first == "*":
        regex = r"[^.:]+" + re.escape(dot + tail)
    elif first == "**":
        regex = r"[^.:]+(?:\.[^.:]+)*" + re.escape(dot + tail)
    else:
        return host.__eq__
    return re.compile(regex).fullmatch  # type: ignore[return-value]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- ServerActions ----------------------------------------------------------

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ServerActions:
    """WSGI middleware that answers action calls and passes everything else
    to ``app``.

    ::

        app = serveract.ServerActions(flask_app, secret=os.environ["SECRET"])
        waitress.serve(app, host="127.0.0.1", port=8080)

    :param app: the wrapped WSGI application.
    :param registry: the actions served; the default registry if omitted.
    :param secret: key (str or bytes, or a list whose first item signs and all
        verify, for rotation) for signing values bound into forms; defaults to
        the ``SERVERACT_SECRET`` environment variable.
    :param allowed_origins: other hosts allowed to call actions, e.g.
        ``["app.example.com", "*.example.com", "localhost:3000"]``.
    :param max_body_size: largest request body an action call may send.
    :param header: the request header naming the action of a header call.
    :param field: the form field naming the action of a form call.
    :param client_path: where the browser client script is served.
    :param context: called with the environ, returns a context manager every
        action call runs inside (``lambda environ: app.request_context(environ)``).
    :param debug: put exception text and traceback in 500 answers.
    :param trusted_proxy: trust ``X-Forwarded-Host`` for the same-origin check
        (only behind a proxy that sets it).
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
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application, not {app!r}")
        if registry is not None and not isinstance(registry, Registry):
            raise TypeError(f"registry must be a serveract.Registry, not {registry!r}")
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 0
        ):
            raise ValueError(
                f"max_body_size must be a non-negative int, not {max_body_size!r}"
            )
        if not header or not field or not client_path.startswith("/"):
            raise ValueError(
                "header and field must be non-empty, client_path must start with /"
            )
        if isinstance(allowed_origins, str):
            raise TypeError("allowed_origins must be a list of hosts, not one string")
        if context is not None and not callable(context):
            raise TypeError("context must be callable: environ -> context manager")
        self.app = app
        self.registry = _default_registry if registry is None else registry
        for known in self.registry._actions.values():
            known.prepared()  # hints that named later definitions resolve now
        self.max_body_size = max_body_size
        self.header = header
        self.field = field
        self.client_path = client_path
        self.context = context
        self.debug = debug
        self.trusted_proxy = trusted_proxy
        self._header_key = "HTTP_" + header.upper().replace("-", "_")
        self._skip_fields = (field, _BOUND_FIELD)  # serveract's own form fields
        self._origin_matchers = [_origin_pattern(p) for p in allowed_origins]
        # What a form's first bytes look like when it names an action: the
        # field urlencoded (browsers write $ as %24), or a multipart part header.
        quoted = quote_plus(field, safe="*").encode()
        self._form_markers = (field.encode() + b"=", quoted + b"=")
        self._part_name = b'name="' + field.encode() + b'"'
        self._part_marker = re.compile(rb"[;\s]" + re.escape(self._part_name))
        # Their common ending ("action="), found with one scan of the peek.
        raw, quoted = self._form_markers
        size = 1  # both end with "="
        while size < min(len(raw), len(quoted)) and raw[-size - 1] == quoted[-size - 1]:
            size += 1
        self._form_tail = raw[-size:]
        if secret is None:
            secret = os.environ.get("SERVERACT_SECRET") or None
        if secret is None:
            keys: list[bytes] = []
        elif isinstance(secret, (str, bytes)):
            keys = [_key_bytes(secret)]
        else:
            keys = [_key_bytes(s) for s in secret]
        if any(not key for key in keys):
            raise ValueError("secret must not be empty")
        self._keys = keys
        script = _CLIENT_SCRIPT.replace('"__SERVERACT_HEADER__"', json.dumps(header))
        self._script = script.replace(
            '"__SERVERACT_FIELD__"', json.dumps(field)
        ).encode()
        self._script_etag = '"' + hashlib.sha256(self._script).hexdigest()[:20] + '"'

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self._header_key in environ:
            return self._header_call(environ, start_response)
        method = environ["REQUEST_METHOD"]
        if method == "GET" or method == "HEAD":
            if environ.get("PATH_INFO") == self.client_path:
                return self._serve_script(environ, start_response)
        elif method == "POST":
            media = environ.get("CONTENT_TYPE", "")
            if media != "application/x-www-form-urlencoded":  # as browsers send it
                media = _media_type(media)
            if media in _FORM_TYPES:
                return self._maybe_form_call(environ, start_response, media)
        return self.app(environ, start_response)

    def hidden_field(self, name: str, **bound: Any) -> _Markup:
        """The hidden input(s) naming action ``name``, with values ``bound``
        signed so the browser cannot change them (Next.js's ``action.bind``).

        ::

            {{ actions.hidden_field("delete_todo", todo_id=todo.id) }}

        The action receives ``todo_id`` with its JSON type; a changed,
        foreign or other-action signature is refused with 400.

        :raises KeyError: no action ``name`` is registered.
        :raises TypeError: a value the action declares ``bound`` is missing.
        :raises RuntimeError: values are bound but no secret is configured.
        """
        action = self.registry._actions.get(name)
        if action is None:
            raise KeyError(f"no action named {name!r} is registered")
        if not action.bound <= bound.keys():
            missing = ", ".join(sorted(action.bound - bound.keys()))
            raise TypeError(f"hidden_field({name!r}) needs the bound values {missing}")
        markup = _hidden_input(self.field, name)
        if bound:
            if not self._keys:
                raise RuntimeError(
                    "binding values into a form needs a secret: pass "
                    "ServerActions(..., secret=...) or set SERVERACT_SECRET"
                )
            markup += _hidden_input(_BOUND_FIELD, self._sign(name, bound))
        return _Markup(markup)

    # -- routing branches

    def _header_call(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self.context is not None:
            start_response = _with_context_headers(environ, start_response)
        name = environ[self._header_key]
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise _Failure(
                    405, "Actions are called with POST", headers=[("Allow", "POST")]
                )
            if "HTTP_ORIGIN" in environ or "HTTP_SEC_FETCH_SITE" in environ:
                self._check_origin(environ)
            found = self.registry._actions.get(name)
            if found is None:
                raise _Failure(404, f"No action named {name!r}")
            action = found.prepared()
            needs_request = action.wants_request or self.context is not None
            content_type = environ.get("CONTENT_TYPE", "")
            media = _media_type(content_type) if content_type else ""
            if media in _FORM_TYPES:
                fields = self._read_form(environ, media, b"", needs_request)
                bound = self._verify_bound(action, fields.get(_BOUND_FIELD))
                args, kwargs = action.bind_form(
                    fields, bound, environ, self._skip_fields
                )
            else:
                if action.bound:
                    raise _unbound(action)
                body = self._read_body(environ)
                if needs_request:
                    _replace_body(environ, body)
                if not body:
                    payload: Any = []
                elif media == "application/json" or not media:
                    payload = _decode_json(body)
                else:
                    raise _Failure(
                        415,
                        f"Cannot decode {media}: send application/json or a form",
                    )
                args, kwargs = action.bind_json(payload, environ)
            value = self._invoke(action, environ, args, kwargs)
        except _Failure as failure:
            return self._answer_error(start_response, failure)
        finally:
            if _FILES_KEY in environ:  # only a multipart body has files
                _close_files(environ)
        return self._answer_value(environ, start_response, name, value)

    def _maybe_form_call(
        self, environ: WSGIEnvironment, start_response: StartResponse, media: str
    ) -> Iterable[bytes]:
        try:
            length = _content_length(environ)
        except _Failure:
            return self.app(environ, start_response)  # not ours to judge
        if length == 0:
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        want = _PEEK_SIZE if length is None or length > _PEEK_SIZE else length
        try:  # a seekable input (waitress's) is read and wound back
            start = stream.tell() if stream.seekable() else None
        except (AttributeError, OSError, ValueError):
            start = None
        head = stream.read(want)
        while len(head) < want:  # a short read: the server returned part of it
            more = stream.read(want - len(head))
            if not more:
                break
            head += more
        if media == "multipart/form-data":
            found = self._names_part(head, environ["CONTENT_TYPE"])
        else:  # one scan rules out most bodies before the exact check
            found = self._form_tail in head and self._names_field(head)
        if found:
            return self._form_call(environ, start_response, media, head)
        if start is not None:
            stream.seek(start)  # the server's own file: no copy, no wrapper
        elif length is not None and len(head) >= length:
            environ["wsgi.input"] = io.BytesIO(head)  # all of it, as it came
        else:
            rest = None if length is None else length - len(head)
            environ["wsgi.input"] = _Replay(head, stream, rest)
        return self.app(environ, start_response)

    def _form_call(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        media: str,
        head: bytes,
    ) -> Iterable[bytes]:
        if self.context is not None:
            start_response = _with_context_headers(environ, start_response)
        try:
            self._check_origin(environ)
            body = None
            if media == "multipart/form-data":
                fields = self._read_form(environ, media, head, True)
            else:
                body = self._read_urlencoded(environ, head)
                fields = _parse_form(body)
            names = fields.get(self.field)
            name = names[-1] if names else None  # a submitter button's value is last
            if not isinstance(name, str):
                raise _Failure(400, f"The {self.field} field must be text")
            found = self.registry._actions.get(name)
            if found is None:
                raise _Failure(404, f"No action named {name!r}")
            action = found.prepared()
            tokens = fields.get(_BOUND_FIELD)
            bound = self._verify_bound(action, tokens) if tokens or action.bound else {}
            if body is not None and (action.wants_request or self.context is not None):
                _replace_body(environ, body)  # the action's request reads it again
        except _Failure as failure:
            if _FILES_KEY in environ:
                _close_files(environ)
            return self._answer_error(start_response, failure)
        try:
            args, kwargs = action.bind_form(fields, bound, environ, self._skip_fields)
            value = self._invoke(action, environ, args, kwargs)
        except _Failure as failure:
            outcome = _Result(name, False, None, failure, fields, self._skip_fields)
        else:
            if isinstance(value, redirect):
                target = html.escape(value.url)
                body = f'<a href="{target}">{target}</a>'.encode()
                return _answer(
                    start_response,
                    _status_line(value.status),
                    body,
                    [("Location", value.url)],
                    "text/html; charset=utf-8",
                )
            if isinstance(value, webob.Response):
                return value(environ, start_response)
            outcome = _Result(name, True, value, None, fields, self._skip_fields)
        finally:
            if _FILES_KEY in environ:  # only a multipart body has files
                _close_files(environ)
        return self._render(environ, start_response, outcome)

    def _render(
        self, environ: WSGIEnvironment, start_response: StartResponse, outcome: _Result
    ) -> Iterable[bytes]:
        """Have the wrapped app render the same URL as a GET, with the outcome.

        The GET gets a copy of the environ: the server and outer middleware
        (an access log) still see the POST they handed over."""
        get = environ.copy()
        for key in _POST_ONLY_KEYS:
            get.pop(key, None)
        get["REQUEST_METHOD"] = "GET"
        get["wsgi.input"] = io.BytesIO(b"")
        get[_RESULT_KEY] = environ[_RESULT_KEY] = outcome
        added = environ.get(_HEADERS_KEY)
        if added:  # cookies set inside the action: the page shows their effect
            cookies = [v for k, v in added if k.lower() == "set-cookie"]
            if cookies:
                cookie = get.get("HTTP_COOKIE", "")
                get["HTTP_COOKIE"] = _with_cookies(cookie, cookies)

        def start_no_store(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            # The page shows one user's outcome: no cache may keep it.
            kept = [h for h in headers if h[0].lower() != "cache-control"]
            kept.append(("Cache-Control", "no-store"))
            return start_response(status, kept, exc_info)

        return self.app(get, start_no_store)

    def _serve_script(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        headers = [("ETag", self._script_etag), ("Cache-Control", "no-cache")]
        tags = environ.get("HTTP_IF_NONE_MATCH", "")
        if tags and (
            tags.strip() == "*"
            or self._script_etag
            in (t.strip().removeprefix("W/") for t in tags.split(","))
        ):
            start_response("304 Not Modified", headers)
            return [b""]
        headers += [
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("Content-Length", str(len(self._script))),
        ]
        start_response("200 OK", headers)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [self._script]

    # -- helpers of the branches

    def _names_part(self, head: bytes, content_type: str) -> bool:
        """Whether a multipart body's first bytes hold the action field."""
        if self._part_name not in head:  # most uploads: one scan, no parsing
            return False
        # The boundary never occurs inside a part's data, so each delimiter
        # found starts a part header, which is searched for the field's name
        # up to the blank line ending it.
        boundary = cgi.parse_header(content_type)[1].get("boundary", "")
        if not boundary or not boundary.isascii():
            return False
        delimiter = b"--" + boundary.encode()
        start = head.find(delimiter)
        while start >= 0:
            end = head.find(b"\r\n\r\n", start)
            if end < 0:
                return False
            if self._part_marker.search(head, start, end):
                return True
            start = head.find(delimiter, end)
        return False

    def _names_field(self, head: bytes) -> bool:
        """Whether an urlencoded body's first bytes hold the action field."""
        if head.startswith(self._form_markers):
            return True  # first, as hidden_field renders it
        tail = self._form_tail
        at = head.find(tail)
        while at >= 0:
            end = at + len(tail)
            for marker in self._form_markers:
                start = end - len(marker)
                if (start == 0 or (start > 0 and head[start - 1] == 0x26)) and (
                    head.startswith(marker, start)  # 0x26 is "&"
                ):
                    return True
            at = head.find(tail, end)
        return False

    def _read_body(self, environ: WSGIEnvironment) -> bytes:
        length = _content_length(environ)
        if length is None:
            return _read_to_end(environ["wsgi.input"], self.max_body_size)
        if length > self.max_body_size:
            raise _too_large(self.max_body_size)
        return _read_exactly(environ["wsgi.input"], length) if length else b""

    def _read_form(
        self, environ: WSGIEnvironment, media: str, head: bytes, keep: bool
    ) -> dict[str, list[Any]]:
        """Fields of a form body (name → values in order), of which ``head``
        was already read. With ``keep`` the body stays readable for the
        action's request and the framework context."""
        if media == "application/x-www-form-urlencoded":
            body = self._read_urlencoded(environ, head)
            if keep:
                _replace_body(environ, body)
            return _parse_form(body)
        length = _content_length(environ)
        if length is not None and length > self.max_body_size:
            raise _too_large(self.max_body_size)
        stream: Any = environ["wsgi.input"]
        # Bounded by Content-Length even with nothing peeked: a server's raw
        # socket file blocks on a read past the end of the body.
        if length is not None and len(head) >= length:
            stream = io.BytesIO(head[:length])
        elif head or length is not None:
            rest = None if length is None else length - len(head)
            stream = _Replay(head, stream, rest)
        fields: dict[str, list[Any]] = {}
        stream = _Bounded(stream, self.max_body_size, length)
        files = environ.setdefault(_FILES_KEY, [])
        if keep:
            # Spool the body once (memory, or a temporary file past 1 MiB) so
            # the action's request and the framework can read it again.
            spool = _spool(stream)
            files.append(spool)
            environ["wsgi.input"] = spool
            environ["webob.is_body_seekable"] = True  # WebOb need not copy it
            environ["CONTENT_LENGTH"] = str(spool.seek(0, io.SEEK_END))
            spool.seek(0)
            stream = spool
            length = int(environ["CONTENT_LENGTH"])
        fs_environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": environ["CONTENT_TYPE"]}
        if length is not None:
            fs_environ["CONTENT_LENGTH"] = str(length)
        try:
            parsed = cgi.FieldStorage(
                fp=stream,
                environ=fs_environ,
                keep_blank_values=True,
                encoding="utf-8",
                max_num_fields=_MAX_FIELDS,
            )
        except ValueError as error:
            if "Max number of fields" in str(error):
                raise _Failure(
                    413, f"The form has more than {_MAX_FIELDS} fields"
                ) from None
            raise _Failure(400, f"Malformed multipart body: {error}") from None
        if keep:
            stream.seek(0)
        for part in parsed.list or ():
            if part.file is not None:
                files.append(part.file)
            if part.name is None:
                continue
            item: Any
            if part.filename:
                item = _Upload(part)
            elif part.filename is not None:
                item = ""  # a file input left empty: the browser sends filename=""
            else:
                item = part.value
                if isinstance(item, bytes):
                    item = item.decode("utf-8", "replace")
            fields.setdefault(part.name, []).append(item)
        return fields

    def _read_urlencoded(self, environ: WSGIEnvironment, head: bytes) -> bytes:
        """The whole body of an urlencoded form, of which ``head`` was read."""
        length = _content_length(environ)
        if length is None:
            stream = _Replay(head, environ["wsgi.input"], None)
            return _read_to_end(stream, self.max_body_size)
        if length > self.max_body_size:
            raise _too_large(self.max_body_size)
        if len(head) >= length:
            return head[:length]  # the peek already holds it all
        return head + _read_exactly(environ["wsgi.input"], length - len(head))

    def _check_origin(self, environ: WSGIEnvironment) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None:
            # A browser calling its own site sends exactly scheme://Host:
            # accept that before normalizing hosts and ports.
            host = environ.get("HTTP_HOST")
            if (
                host
                and not self.trusted_proxy
                and origin == environ.get("wsgi.url_scheme", "http") + "://" + host
                and environ.get("HTTP_SEC_FETCH_SITE") != "cross-site"
            ):
                return
            if origin == "null":
                raise _Failure(
                    403, "Cross-site action calls are refused (Origin: null)"
                )
            host = _normal_host(origin.partition("://")[2])
            if any(match(host) for match in self._origin_matchers):
                return
            if (
                host == self._request_host(environ)
                and environ.get("HTTP_SEC_FETCH_SITE") != "cross-site"
            ):
                return
            raise _Failure(
                403, f"Cross-site action calls are refused (Origin: {origin})"
            )
        if environ.get("HTTP_SEC_FETCH_SITE") == "cross-site":
            raise _Failure(403, "Cross-site action calls are refused (Sec-Fetch-Site)")

    def _request_host(self, environ: WSGIEnvironment) -> str:
        forwarded = environ.get("HTTP_X_FORWARDED_HOST") if self.trusted_proxy else None
        if forwarded:
            return _normal_host(forwarded.split(",")[0])
        host = environ.get("HTTP_HOST")
        if not host:
            host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        return _normal_host(host)

    def _sign(self, name: str, bound: dict[str, Any]) -> str:
        payload = _b64encode(_encode_json(bound))
        return payload + "." + _b64encode(self._mac(self._keys[0], name, payload))

    @staticmethod
    def _mac(key: bytes, name: str, payload: str) -> bytes:
        message = _SIGNATURE_SALT + name.encode() + b"\x00" + payload.encode()
        return hmac.new(key, message, hashlib.sha256).digest()

    def _verify_bound(
        self, action: _Action, tokens: list[Any] | None
    ) -> dict[str, Any]:
        """The values bound by a token signed for ``action``; 400 if a token
        is there but none is valid for it, or if the action requires bound
        values the request does not carry."""
        name = action.name
        for token in tokens or ():
            if not isinstance(token, str) or not token.isascii():
                continue
            payload, _, signature = token.partition(".")
            try:
                given = _b64decode(signature)
            except ValueError:
                continue
            if any(
                hmac.compare_digest(self._mac(k, name, payload), given)
                for k in self._keys
            ):
                bound = json.loads(_b64decode(payload))
                if isinstance(bound, dict) and action.bound <= bound.keys():
                    return bound
        if tokens:
            raise _Failure(
                400, f"The bound values of this form are not signed for {name!r}"
            )
        if action.bound:
            raise _unbound(action)
        return {}

    def _invoke(
        self,
        action: _Action,
        environ: WSGIEnvironment,
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> Any:
        """Call the action (inside ``context``); failures become ``_Failure``."""
        try:
            if self.context is None:
                value = action.func(*args, **kwargs)
                if action.is_async or type(value) is types.CoroutineType:
                    value = _run_coroutine(value)
            else:
                with self.context(environ):
                    value = action.func(*args, **kwargs)
                    if action.is_async or inspect.iscoroutine(value):
                        value = _run_coroutine(value)
        except redirect as target:
            return target
        except ActionError as error:
            raise _Failure(
                error.status, error.message, error.data, "action_error"
            ) from None
        except Exception as error:
            error_id = secrets.token_hex(6)
            logger.exception("action %r failed (error id %s)", action.name, error_id)
            message = f"The action failed unexpectedly (error id {error_id})"
            data: dict[str, Any] = {"error_id": error_id}
            if self.debug:
                import traceback

                message = f"{type(error).__name__}: {error} (error id {error_id})"
                data["traceback"] = traceback.format_exc()
            raise _Failure(500, message, data) from None
        return value

    # -- answers

    def _answer_value(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        name: str,
        value: Any,
    ) -> Iterable[bytes]:
        if type(value) in _PLAIN_JSON:
            try:
                return _answer(start_response, "200 OK", _encode_json(value))
            except (TypeError, ValueError, RecursionError):
                pass  # reported below, with an error id
        if isinstance(value, redirect):
            headers = [("Serveract-Redirect", value.url)]
            if "HTTP_HX_REQUEST" in environ:
                headers.append(("HX-Redirect", value.url))
            return _answer(
                start_response, "200 OK", _encode_json({"redirect": value.url}), headers
            )
        if isinstance(value, webob.Response):
            value.cache_control = "no-store"
            return value(environ, start_response)
        if hasattr(value, "__html__"):
            body = str(value.__html__()).encode()
            return _answer(
                start_response, "200 OK", body, (), "text/html; charset=utf-8"
            )
        try:
            body = _encode_json(value)
        except (TypeError, ValueError, RecursionError) as error:
            error_id = secrets.token_hex(6)
            logger.error(
                "action %r returned a value that cannot be encoded as JSON "
                "(error id %s): %s: %s",
                name,
                error_id,
                type(error).__name__,
                error,
            )
            failure = _Failure(
                500,
                f"The action's answer could not be encoded (error id {error_id})",
                {"error_id": error_id},
            )
            return self._answer_error(start_response, failure)
        return _answer(start_response, "200 OK", body)

    @staticmethod
    def _answer_error(
        start_response: StartResponse, failure: _Failure
    ) -> Iterable[bytes]:
        try:
            body = _encode_json({"error": failure.as_json()})
        except (TypeError, ValueError, RecursionError):
            logger.error("ActionError data cannot be encoded as JSON: %r", failure.data)
            body = _encode_json({"error": {**failure.as_json(), "data": None}})
        return _answer(
            start_response, _status_line(failure.status), body, failure.headers
        )


def _with_context_headers(
    environ: WSGIEnvironment, start_response: StartResponse
) -> StartResponse:
    """Give the call a fresh ``serveract.response_headers`` list, whose
    headers go out with the answer: first, so that on a re-rendered page the
    app's own cookies, set after the action's, win."""
    added: list[tuple[str, str]] = []
    environ[_HEADERS_KEY] = added

    def start(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is None:
            return start_response(status, [*added, *headers])
        return start_response(status, [*added, *headers], exc_info)

    return start


def _with_cookies(header: str, set_cookies: list[str]) -> str:
    """The ``Cookie`` header the browser sends once it stored ``set_cookies``."""
    jar = dict(
        pair.strip().partition("=")[::2] for pair in header.split(";") if "=" in pair
    )
    for set_cookie in set_cookies:
        pair, *attributes = set_cookie.split(";")
        name, _, value = pair.strip().partition("=")
        expired = any(
            key.strip().lower() == "max-age"
            and age.strip().lstrip("-").isdigit()
            and int(age) <= 0
            for key, _, age in (a.partition("=") for a in attributes)
        )
        if expired:
            jar.pop(name, None)
        else:
            jar[name] = value
    return "; ".join(f"{name}={value}" for name, value in jar.items())


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


_PLAIN_JSON = frozenset({dict, list, str, int, float, bool, type(None)})


def _unbound(action: _Action) -> _Failure:
    names = ", ".join(sorted(action.bound))
    return _Failure(
        400,
        f"{action.name} takes {names} only from a form the server signed "
        "(ServerActions.hidden_field)",
    )


def _key_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _replace_body(environ: WSGIEnvironment, body: bytes) -> None:
    """Make an already-read body readable again by the action's request."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["webob.is_body_seekable"] = True


def _spool(stream: Any) -> Any:
    import tempfile

    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - returned
    try:
        while chunk := stream.read(_CHUNK_SIZE):
            spool.write(chunk)
    except BaseException:  # too large, or cut short: nobody will read it
        spool.close()
        raise
    spool.seek(0)
    return spool


def _close_files(environ: WSGIEnvironment) -> None:
    """Close the copy of a multipart body and the files of its parts once the
    call is over (uploads are readable during the call, as in Werkzeug): no
    temporary file waits for the garbage collector."""
    files = environ.pop(_FILES_KEY)
    if files:
        for file in files:
            file.close()
        if any(environ.get("wsgi.input") is file for file in files):
            environ["wsgi.input"] = io.BytesIO(b"")  # the call consumed the body


# -- Answers ----------------------------------------------------------------


def _encode_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)  # a string keeps every digit of a Decimal
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# NaN and infinities are no JSON (browsers' JSON.parse refuses them): a 500.
_ENCODER = json.JSONEncoder(
    default=_encode_default, separators=(",", ":"), allow_nan=False
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# 1e999 would decode to infinity: refused like the NaN and Infinity literals.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite(float))


def _encode_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("ascii")


def _decode_json(body: bytes) -> Any:
    try:
        payload = _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Failure(400, "The request body is not valid UTF-8") from None
    except RecursionError:
        raise _Failure(400, "The JSON body is nested too deeply") from None
    except ValueError as error:  # includes integers too long to convert
        raise _Failure(400, f"The request body is not valid JSON: {error}") from None
    if type(payload) is not list and type(payload) is not dict:
        raise _Failure(
            400, "The JSON body must be an array (positional) or an object (keywords)"
        )
    if body.count(b"[") + body.count(b"{") > _MAX_DEPTH:
        _check_depth(payload)
    return payload


def _check_depth(value: Any) -> None:
    level = [value]
    for _ in range(_MAX_DEPTH):
        level = [
            child
            for item in level
            if isinstance(item, (list, dict))
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return
    if any(isinstance(item, (list, dict)) and item for item in level):
        raise _Failure(400, f"The JSON body is nested deeper than {_MAX_DEPTH} levels")


_STATUS_LINES: dict[int, str] = {}


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error" if status >= 400 else "Redirect"
        line = _STATUS_LINES[status] = f"{status} {phrase}"
    return line


def _answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (),
    content_type: str = "application/json",
) -> list[bytes]:
    start_response(
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


# -- hidden_field -----------------------------------------------------------


class _Markup(str):
    """Markup that templates (Jinja2, Django, Chameleon, Mako) insert as is."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def _hidden_input(name: str, value: str) -> str:
    return (
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
    )


def hidden_field(name: str) -> _Markup:
    """The hidden ``<input>`` naming action ``name``, for any template.

    Put it first in the form: it is how a form posted without JavaScript is
    recognised. ``str()`` of it is the markup; it has ``__html__``, so Jinja2
    and Django insert it unescaped. For values the browser may not change,
    use :meth:`ServerActions.hidden_field`.

    >>> str(hidden_field("add_todo"))
    '<input type="hidden" name="$action" value="add_todo">'
    """
    return _Markup(_hidden_input("$action", name))


# -- Command line -----------------------------------------------------------


def _main(argv: list[str] | None = None) -> int:
    """``python -m serveract [--host H] [--port P] [--threads N] [--list] module:app``

    Imports ``app`` from ``module`` (the current directory first on the path,
    as ``waitress-serve`` does), wraps it in :class:`ServerActions` unless it
    (or a Flask app's ``wsgi_app``) already is one, and serves it with waitress.
    """
    import argparse
    import functools

    parser = argparse.ArgumentParser(
        prog="python -m serveract", description="Serve a WSGI app and its actions."
    )
    parser.add_argument("app", metavar="module:app", help="e.g. myproject.web:app")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080")
    parser.add_argument("--threads", type=int, default=4, help="default: 4")
    parser.add_argument(
        "--list", action="store_true", help="print the actions with their signatures"
    )
    args = parser.parse_args(argv)
    module_name, _, attribute = args.app.partition(":")
    if not module_name or not attribute:
        parser.error(f"expected module:app, not {args.app!r}")
    if not 0 <= args.port <= 65535 or args.threads < 1:
        parser.error("the port must be 0-65535 and threads at least 1")

    def fail(message: str) -> int:
        print(f"python -m serveract: error: {message}", file=sys.stderr)
        return 1

    # Under ``python -m`` this file runs as ``__main__``, but the app imports
    # ``serveract``: that module's ServerActions and registry are the real ones.
    import serveract

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return fail(f"cannot import {module_name!r}: {error}")
    try:
        app: Any = functools.reduce(getattr, attribute.split("."), module)
    except AttributeError:
        return fail(f"module {module_name!r} has no attribute {attribute!r}")
    if not callable(app):
        return fail(f"{args.app} is not a WSGI application")
    actions: serveract.ServerActions
    if isinstance(app, serveract.ServerActions):
        actions = app
    elif isinstance(getattr(app, "wsgi_app", None), serveract.ServerActions):
        actions = app.wsgi_app  # Flask's way: app.wsgi_app = ServerActions(...)
    else:
        app = actions = serveract.ServerActions(app)
    if args.list:
        for name in actions.registry:
            func = actions.registry.get(name)
            if func is None:
                continue
            try:
                signature = inspect.signature(func, eval_str=True)
            except NameError:  # a hint imported only under TYPE_CHECKING
                signature = inspect.signature(func)
            prefix = "async " if inspect.iscoroutinefunction(func) else ""
            bound = sorted(actions.registry._actions[name].bound)
            suffix = f"  [bound: {', '.join(bound)}]" if bound else ""
            print(f"{prefix}{name}{signature}{suffix}")
        return 0
    try:
        from waitress.server import create_server
    except ImportError:
        return fail("serving needs waitress: pip install waitress")
    try:
        server = create_server(
            app, host=args.host, port=args.port, threads=args.threads
        )
    except OSError as error:
        reason = error.strerror or error
        return fail(f"cannot listen on {args.host}:{args.port}: {reason}")
    logging.basicConfig(level=logging.INFO)
    server.print_listen("Serving on http://{}:{}/")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(_main())


# -- Browser client ---------------------------------------------------------
#
# Served at ``client_path``. The middleware replaces the quoted placeholders
# "__SERVERACT_HEADER__" and "__SERVERACT_FIELD__" (quotes included) with the
# configured header and field names as JSON strings.

_CLIENT_SCRIPT = r"""/* serveract browser client: call server actions from the page.
 *
 *   const sum = await serveract.call("add", 2, 3);        // positional
 *   const user = await serveract.callWith("users.create", {name: "Ada"});  // keywords
 *
 * Forms holding the hidden "$action" field submit over fetch (no reload) and
 * dispatch "serveract:result" or "serveract:error" on the form.
 */
(() => {
  "use strict";
  // The middleware writes its configured names over these placeholders.
  const HEADER = "__SERVERACT_HEADER__";
  const FIELD = "__SERVERACT_FIELD__";
  // Calls go back to the URL this script came from: the middleware that
  // served it answers header calls on any path it wraps.
  const script = document.currentScript;
  const endpoint = (script && script.src) || location.href.split("#")[0];

  function failure(status, error) {
    const err = new Error(error.message || `HTTP ${status}`);
    err.name = "ServeractError";
    err.status = status;
    err.type = error.type || "http_error";
    err.data = error.data === undefined ? null : error.data;
    return err;
  }

  // One round trip: resolves to {value} or {redirect}, rejects with failure().
  async function send(url, name, body, headers) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: Object.assign({[HEADER]: name, Accept: "application/json"}, headers),
        body,
      });
    } catch (err) {
      throw failure(0, {type: "network_error", message: err.message});
    }
    const redirect = response.headers.get("Serveract-Redirect");
    if (redirect) return {redirect};
    const json = /json/i.test(response.headers.get("Content-Type") || "");
    let payload;
    try {
      // An action may answer HTML (a value with __html__): that comes as text.
      payload = json ? await response.json() : await response.text();
    } catch (err) {
      throw failure(response.status, {message: `Unreadable answer: ${err.message}`});
    }
    if (response.ok) return {value: payload};
    // A proxy's own error page has no JSON error body.
    const error = json && payload && payload.error;
    const status = `${response.status} ${response.statusText}`;
    throw failure(response.status, error || {message: status});
  }

  async function callJSON(name, args) {
    const headers = {"Content-Type": "application/json"};
    const answer = await send(endpoint, name, JSON.stringify(args), headers);
    if (answer.redirect) {
      location.assign(answer.redirect);
      return new Promise(() => {}); // the page is going away: run nothing after
    }
    return answer.value;
  }

  /** Call action `name` with positional arguments; resolves to its return value. */
  function call(name, ...args) {
    return callJSON(name, args);
  }

  /** Call action `name` with keyword arguments taken from one plain object. */
  function callWith(name, kwargs) {
    return callJSON(name, kwargs || {});
  }

  const pending = new WeakSet();

  function formData(form, submitter) {
    const data = new FormData(form);
    // The clicked button goes last, as without JavaScript, where it follows the
    // hidden field: so <button name="$action" value="other"> picks the action.
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    return data;
  }

  async function submit(form, submitter, name, data) {
    const override = submitter && submitter.hasAttribute("formaction");
    const url = override ? submitter.formAction : form.action;
    const buttons = Array.from(form.elements).filter(
      (el) => (el.type === "submit" || el.type === "image") && !el.disabled);
    pending.add(form);
    form.setAttribute("aria-busy", "true");
    buttons.forEach((button) => { button.disabled = true; });
    let type = "serveract:result";
    let detail;
    try {
      const answer = await send(url, name, data);
      if (answer.redirect) return location.assign(answer.redirect);
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
    const form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    const data = formData(form, event.submitter);
    const name = data.getAll(FIELD).pop();
    if (name === undefined) return;
    event.preventDefault();
    if (!pending.has(form)) submit(form, event.submitter, name, data);
  });

  window.serveract = {call, callWith, header: HEADER, field: FIELD};
})();
"""
