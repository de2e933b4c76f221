"""Actions covering every type hint serveract binds, for the typed-description
tests (``tests/test_typed.py``) and for ``python -m serveract schema
typed_actions:app`` run from this folder.

Every action answers what it was given (or what it saw of it), so a test can
check both sides of a call: the arguments the binder accepted and the answer
against the action's ``returns`` schema. None of them fails on purpose: an
accepted call is a 200, a refused one a 422 (or a 400 for the bound one).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO, Literal, Optional, Union

import webob

import serveract

registry = serveract.Registry()
action = registry.action


# -- The types ------------------------------------------------------------------


class Color(enum.Enum):
    """An enum with text members: a union of strings."""

    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Priority(enum.Enum):
    """An enum with integer members: a union of numbers."""

    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: float
    y: float


@dataclasses.dataclass
class Tag:
    name: str
    color: Color = Color.RED


@dataclasses.dataclass
class Shape:
    """A dataclass holding dataclasses, a list of them and an optional one."""

    name: str
    points: list[Point]
    tags: list[Tag] = dataclasses.field(default_factory=list)
    origin: Optional[Point] = None


@dataclasses.dataclass
class Node:
    """A dataclass that holds itself: a tree."""

    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


class Rank(enum.IntEnum):
    """An IntEnum: its members are ints too."""

    FIRST = 1
    SECOND = 2


class Html(str):
    """Markup: answered as ``text/html``, not JSON."""

    def __html__(self) -> str:
        return str(self)


# -- Scalars --------------------------------------------------------------------


@action
def text(value: str) -> str:
    """Text as it came. (A docstring may say */ or </script>: the TypeScript
    declarations quote it as a comment, never as code.)"""
    return value


@action
def raw(data: bytes) -> int:
    """``bytes`` come as JSON text; answers how many bytes arrived."""
    return len(data)


@action
def integer(value: int) -> int:
    return value


@action
def int_type(value: int) -> str:
    """The Python type the action received for an ``int`` parameter."""
    return type(value).__name__


@action
def number(value: float) -> float:
    return value


@action
def flag(value: bool) -> bool:
    return value


@action
def money(amount: decimal.Decimal) -> decimal.Decimal:
    return amount


@action
def day(value: datetime.date) -> datetime.date:
    return value


@action
def moment(value: datetime.datetime) -> datetime.datetime:
    return value


@action
def clock(value: datetime.time) -> datetime.time:
    return value


@action
def ident(value: uuid.UUID) -> uuid.UUID:
    return value


@action
def color(value: Color) -> Color:
    return value


@action
def priority(value: Priority) -> Priority:
    return value


@action
def choice(mode: Literal["fast", "slow"], level: Literal[1, 2, 3] = 1) -> str:
    return f"{mode}:{level}"


@action
def anything(value: Any) -> Any:
    return value


@action
def rank(value: Rank) -> Rank:
    return value


@action
def mixed(value: Literal["a", 1, True, None]) -> str:
    """A Literal of several JSON types: ``1`` and ``true`` stay apart."""
    return repr(value)


# -- Optional values and unions -------------------------------------------------


@action
def maybe(value: Optional[int] = None) -> Optional[int]:
    """Optional and defaulted: may be left out or sent as null."""
    return value


@action
def nullable(value: int | None) -> int | None:
    """Required, but null is a value."""
    return value


@action
def either(value: Union[int, str]) -> Union[int, str]:
    return value


@action
def when(value: datetime.date | int) -> str:
    """A union of a text-encoded type and a number."""
    return repr(value)


# -- Collections ----------------------------------------------------------------


@action
def items(values: list[int]) -> list[int]:
    return values


@action
def pair(value: tuple[int, str]) -> tuple[int, str]:
    """A fixed-length tuple: exactly two items of these types."""
    return value


@action
def many(values: tuple[float, ...]) -> tuple[float, ...]:
    """A variadic tuple: any number of numbers."""
    return values


@action
def prices(values: list[decimal.Decimal]) -> list[decimal.Decimal]:
    """Decimals inside an answer are text too, as a Decimal answer is."""
    return values


@action
def unique(values: set[str]) -> set[str]:
    return values


@action
def sequence(values: Sequence[int]) -> list[int]:
    return list(values)


@action
def frozen(values: frozenset[int]) -> frozenset[int]:
    return values


@action
def table(values: dict[str, int]) -> dict[str, int]:
    return values


@action
def mapping(values: Mapping[str, float]) -> dict[str, float]:
    return dict(values)


@action
def by_id(values: dict[int, int]) -> dict[int, int]:
    """Integer keys: JSON writes them as text, the action gets ints."""
    return values


@action
def key_types(values: dict[int, int]) -> list[str]:
    """The Python types of the keys the action received."""
    return sorted({type(key).__name__ for key in values})


@action
def grouped(values: dict[str, list[Point]]) -> dict[str, list[Point]]:
    return values


# -- Dataclasses ----------------------------------------------------------------


@action
def shape(shape: Shape) -> Shape:
    return shape


@action
def tree(root: Node) -> int:
    """How many nodes the tree has."""
    return 1 + sum(tree(child) for child in root.children)


@action(name="shapes.area")
def area(points: list[Point]) -> float:
    """A dotted name: a path call to ``/_serveract/shapes.area``."""
    doubled = sum(
        a.x * b.y - b.x * a.y
        for a, b in zip(points, points[1:] + points[:1], strict=True)
    )
    area = abs(doubled) / 2
    # Coordinates near the float limit overflow; JSON has no infinity.
    return area if math.isfinite(area) else sys.float_info.max


# -- Uploads --------------------------------------------------------------------


@action
def upload(note: str, file: BinaryIO) -> int:
    """A required upload: only a multipart form can call it, never JSON."""
    return len(file.read())


@action
def maybe_upload(note: str, file: Optional[BinaryIO] = None) -> str:
    """An optional upload: JSON can call it, without the file."""
    return note if file is None else f"{note}: {len(file.read())} bytes"


# -- Signatures -----------------------------------------------------------------


@action
def defaults(
    a: int, b: str = "b", c: Optional[list[int]] = None, d: float = 1.5
) -> dict[str, Any]:
    return {"a": a, "b": b, "c": c, "d": d}


@action
def positional(x: int, /, y: str = "") -> str:
    """A positional-only parameter, still sent by name in a JSON object."""
    return f"{x}{y}"


@action
def options(name: str, **extra: int) -> dict[str, int]:
    """Typed ``**kwargs``: any other key, each an integer."""
    return {name: len(extra), **extra}


@action
def loose(name: str, **extra: Any) -> list[str]:
    """Untyped ``**kwargs``: any other key, any value."""
    return sorted(extra)


@action
def greet(request: webob.Request, greeting: str = "hello") -> str:
    """The request is the server's, never the client's: not described."""
    return f"{greeting} from {request.method}"


@action(bound=["owner"])
def rename(owner: int, title: str) -> str:
    """``owner`` only comes signed by the server: not described."""
    return f"{owner}:{title}"


# -- Answers --------------------------------------------------------------------


@action
def nothing() -> None:
    return None


@action
def page(title: str) -> Html:
    return Html(f"<h1>{title}</h1>")


@action
def summary(shape: Shape) -> dict[str, Any]:
    """Rich values inside a plain answer: encoded the obvious way."""
    return {
        "name": shape.name,
        "colors": sorted({tag.color for tag in shape.tags}, key=lambda c: c.value),
        "count": len(shape.points),
    }


# -- The app --------------------------------------------------------------------

#: Actions no JSON object can call successfully: a required upload, and a
#: parameter that only a server-signed value fills.
JSON_UNCALLABLE = frozenset({"upload", "rename"})


def pages(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """The wrapped app: one page loading the client, relative to the mount."""
    script = environ.get("SCRIPT_NAME", "") + "/serveract.js"
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>typed actions</title><script src="{script}"></script>'
        "</head><body><p>typed actions</p></body></html>"
    ).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


app = serveract.ServerActions(pages, registry, secret="typed-actions-test-secret")
