"""The binder and the published schema, hint by hint: a differential property.

SPEC (Typed descriptions): "a JSON object a client may send validates
against [the parameters schema] exactly when the action would accept it".
``test_typed.py`` checks that for its example actions; this module checks it
for a broad table of hints, each the one parameter ``x`` of an action that
answers what it was given. Every edge value (huge integers, extreme floats,
texts at the edges of the formats, lone surrogates, integer keys), then
values hypothesis draws -- any JSON, and values shaped by the hint, valid or
nearly -- go as ``{"x": value}`` through the middleware, and:

- the answer is a 200 or a 422, and a 200 exactly when the value validates
  (draft 2020-12, formats asserted, patterns as ECMA-262: ``test_typed``'s
  validator);
- an accepted value's answer validates against the ``returns`` schema;
- both schemas are valid draft 2020-12, and JSON (no NaN, no Infinity).

Hints refused at registration (sets that may hold unhashable items, choices
no JSON holds) are tested in ``test_typed.py``. ``PROPERTY_EXAMPLES=1000``
searches deeper; examples are derandomized, so every run draws the same.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import json
import os
import typing
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence, Set
from typing import Any, Literal, Optional, Union

import hypothesis.strategies as st
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from test_typed import errors_of, is_valid

import serveract
from conftest import Client

# -- The hints ----------------------------------------------------------------

Decimal = decimal.Decimal
Date: typing.TypeAlias = datetime.date
Time: typing.TypeAlias = datetime.time
DateTime: typing.TypeAlias = datetime.datetime


class Color(enum.Enum):
    RED = "red"
    BLANK = ""


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Odd(enum.Enum):
    """Values of every JSON scalar type, 1 and 1.0 and true among them."""

    ONE = 1
    HALF = 0.5
    YES = True
    NONE = None
    TEXT = "1"


class Big(enum.Enum):
    HUGE = 2**64
    NEGATIVE = -1


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0


@dataclasses.dataclass
class Labelled:
    name: str
    point: Optional[Point] = None
    tags: list[str] = dataclasses.field(default_factory=list)
    when: Optional[datetime.date] = None
    kind: Literal["a", "b", ""] = "a"


@dataclasses.dataclass
class Node:
    value: int
    children: list[Node] = dataclasses.field(default_factory=list)
    parent: Optional[Node] = None


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: int
    b: str = ""


@dataclasses.dataclass
class Computed:
    name: str
    size: int = dataclasses.field(default=0, init=False)


@dataclasses.dataclass(kw_only=True)
class Keywords:
    a: Decimal
    b: uuid.UUID | None = None


# fmt: off
HINTS: dict[str, Any] = {
    # Scalars
    "str": str, "int": int, "float": float, "bool": bool, "Decimal": Decimal,
    "UUID": uuid.UUID, "datetime": DateTime, "date": Date, "time": Time,
    "bytes": bytes, "Any": Any, "object": object,
    # Choices
    "Literal[str]": Literal["a", "b"], "Literal[int]": Literal[1, 2],
    "Literal[blank]": Literal["", "x"], "Literal[mixed]": Literal[1, "1", True, None],
    "Literal[float]": Literal[0.5, 0, -1], "Literal[False,0]": Literal[False, 0],
    "Literal[None]": Literal[None], "Literal[huge]": Literal[2**53 + 1, 2**64],
    "Enum[str]": Color, "IntEnum": Level, "Enum[mixed]": Odd, "Enum[big]": Big,
    # Optional and unions, in several orders
    "Optional[int]": Optional[int], "None|int": Union[None, int],
    "int|str": Union[int, str], "str|int": Union[str, int],
    "float|int": Union[float, int], "int|float": Union[int, float],
    "bool|int": Union[bool, int], "int|bool": Union[int, bool],
    "Decimal|None": Optional[Decimal], "float|Decimal": Union[float, Decimal],
    "int|Decimal": Union[int, Decimal], "date|Decimal": Union[Date, Decimal],
    "date|str": Union[Date, str], "str|date": Union[str, Date],
    "datetime|date": Union[DateTime, Date], "date|datetime": Union[Date, DateTime],
    "time|None": Optional[Time], "UUID|int": Union[uuid.UUID, int],
    "bytes|None": Optional[bytes], "str|bytes": Union[str, bytes],
    "Literal|int": Union[Literal["a"], int], "Enum|None": Optional[Color],
    "Point|None": Optional[Point], "Point|Labelled": Union[Point, Labelled],
    "list|dict": Union[list[int], dict[str, int]],
    "Optional[list[int]]": Optional[list[int]], "int|list[int]": Union[int, list[int]],
    "Any|None": Optional[Any], "int|Any": Union[int, Any],
    # Sequences
    "list[int]": list[int], "list[str]": list[str], "list": list,
    "list[Any]": list[Any], "list[float]": list[float], "list[bool]": list[bool],
    "list[Optional[int]]": list[Optional[int]], "list[list[int]]": list[list[int]],
    "list[date]": list[Date], "list[Point]": list[Point], "list[bytes]": list[bytes],
    "list[Literal|None]": list[Optional[Literal["", "a"]]],
    "set[int]": set[int], "set[str]": set[str], "set": set, "set[Any]": set[Any],
    "set[float]": set[float], "set[Decimal]": set[Decimal], "set[UUID]": set[uuid.UUID],
    "set[Enum]": set[Color], "set[Literal]": set[Literal[1, "a"]],
    "set[Optional[int]]": set[Optional[int]], "set[Frozen]": set[Frozen],
    "frozenset[int]": frozenset[int], "frozenset": frozenset,
    "tuple[int,str]": tuple[int, str], "tuple[int,...]": tuple[int, ...],
    "tuple[()]": tuple[()], "tuple": tuple, "typing.Tuple": typing.Tuple,  # noqa: UP006
    "tuple[Point,int|None]": tuple[Point, Optional[int]],
    "tuple[date,...]": tuple[Date, ...], "list[tuple[int,str]]": list[tuple[int, str]],
    "Sequence[int]": Sequence[int], "Iterable[str]": Iterable[str],
    "Collection": Collection, "Set[int]": Set[int],
    # Mappings
    "dict[str,int]": dict[str, int], "dict[int,str]": dict[int, str],
    "dict": dict, "dict[Any,int]": dict[Any, int], "dict[str,Any]": dict[str, Any],
    "Mapping[str,float]": Mapping[str, float], "dict[int,Point]": dict[int, Point],
    "dict[str,list[int]]": dict[str, list[int]],
    "dict[str,Optional[date]]": dict[str, Optional[Date]],
    # Dataclasses
    "Point": Point, "Labelled": Labelled, "Node": Node, "Frozen": Frozen,
    "Computed": Computed, "Keywords": Keywords,
}
# fmt: on


@functools.cache
def client_for(hint: Any) -> tuple[Client, dict[str, Any]]:
    """A client of an app with one action, ``take(x: hint) -> hint``, which
    answers its argument; and that action's schemas."""
    reg = serveract.Registry()

    def take(x: Any) -> Any:
        return x

    take.__annotations__ = {"x": hint, "return": hint}
    reg.action(take)
    client = Client(reg)
    return client, client.actions.schema()["actions"]["take"]


# -- Values ---------------------------------------------------------------------

HUGE = [10**308, 10**309, -(10**400), 2**1024, 2**1024 - 2**970, 2**53 + 1, 2**64]
#: Floats at the edges: negative zero, the largest, integral ones.
FLOATS = [-0.0, 0.0, 1.0, 0.5, 1e308, -1e308, 1.7976931348623157e308, 5e-324, 1e16]
#: Text Python's parsers take and JSON Schema's formats (or patterns) may not;
#: lone surrogates decode from JSON's \\ud800 escapes.
# fmt: off
TEXTS = [
    "", " ", "a", "x", "1", "-1", "01", "+1", " 1", "1 ", "1_0", "\u0661", "1.5",
    ".5", "1.", "1e3", "1E+3", "1e10000", "-0", "NaN", "Infinity", "red", "RED",
    "\ud800", "a\udfff", "\ud83d\ude00", "\x00", "1\n", "true", "null",
    "2024-02-29", "2024-02-30", "0000-01-01", "2024-1-01", "20240229",
    "2024-W09-4", "2024-02-29\n", "2024-02-29T10:00:00Z", "2024-02-29t10:00:00z",
    "2024-02-29 10:00:00Z", "2024-02-29T10:00:00", "2024-02-29T10:00:00.5Z",
    "2024-02-29T10:00:00.123+05:30", "2024-02-29T10:00:00.123456-23:59",
    "2024-02-29T10:00:00.1234567Z", "2024-02-29T23:59:60Z",
    "2024-02-29T24:00:00Z", "2024-02-29T10:00:00+24:00", "2024-02-29T10:00Z",
    "2024-02-29T10:00:00+0100", "2024-02-29T10:00:00+01",
    "10:00", "10:00:00", "10:00:00Z", "10:00:00z", "10:00:00.5Z", "10:00:00.123Z",
    "10:00:00+01:60", "24:00:00Z", "23:59:60Z", "10:00:00-00:00", "T10:00:00Z",
    "12345678-1234-5678-1234-567812345678", "12345678-1234-5678-1234-56781234567G",
    "12345678123456781234567812345678", "{12345678-1234-5678-1234-567812345678}",
    "urn:uuid:12345678-1234-5678-1234-567812345678",
    "ABCDEF01-ABCD-ABCD-ABCD-ABCDEF012345",
    # the most digits a Decimal has each side of its point, and one more
    "9" * 4300 + "." + "9" * 4300 + "e-9999", "9" * 4301, "0." + "9" * 4301,
]
# fmt: on
KEYS = ["", "0", "1", "-1", "-0", "01", "+1", " 1", "1_0", "\u0661", "1.5", "a"]
KEYS += ["9" * 4300, "9" * 4301, "x"]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(HUGE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(FLOATS)
    | st.text(max_size=6)
    | st.sampled_from(TEXTS)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=3) | st.sampled_from(KEYS), inner, max_size=3
        )
    ),
    max_leaves=6,
)

OFFSETS = st.none() | st.integers(-1439, 1439).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)


def near(hint: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values shaped by ``hint``: mostly valid, often just not."""
    if depth > 3:
        return JSON_VALUES
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (str, bytes):
        return st.text(max_size=6) | st.sampled_from(TEXTS)
    if hint is int:
        return st.integers() | st.integers().map(float) | st.sampled_from(HUGE + FLOATS)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
            HUGE + FLOATS
        )
    if hint is bool:
        return st.booleans() | st.sampled_from([0, 1, "true", None])
    if hint is Decimal:
        digits = st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{0,3})?([eE][+-]?[0-9]{0,5})?")
        return st.decimals(allow_nan=False, allow_infinity=False).map(str) | digits
    if hint is uuid.UUID:
        return st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
    if hint is Date:
        return st.dates().map(Date.isoformat)
    if hint is DateTime:
        return st.datetimes(timezones=OFFSETS).map(
            lambda moment: moment.isoformat(sep=" " if moment.second == 1 else "T")
        )
    if hint is Time:
        return st.times(timezones=OFFSETS).map(Time.isoformat)
    if origin is Literal:
        values = list(args)
        return st.sampled_from(values) | st.sampled_from(values).map(variant)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        return st.sampled_from(values) | st.sampled_from(values).map(variant)
    if origin is Union:
        return st.one_of([near(arg, depth) for arg in args])
    if hint is type(None):
        return st.none()
    if dataclasses.is_dataclass(hint):
        return dataclass_values(hint, depth)
    if origin is tuple and not (len(args) == 2 and args[1] is ...):
        exact = st.tuples(*(near(arg, depth + 1) for arg in args)).map(list)
        return exact | exact.map(lambda items: items[:-1]) | exact.map(lambda i: i * 2)
    if (origin or hint) in (dict, Mapping):
        key, value = args or (str, Any)
        keys = st.sampled_from(KEYS) | (
            st.integers().map(str) if key is int else st.text(max_size=3)
        )
        return st.dictionaries(keys, near(value, depth + 1), max_size=3)
    if (origin or hint) in (list, set, frozenset, tuple, Sequence, Iterable, Set):
        item = near(args[0] if args else Any, depth + 1)
        return st.lists(item, max_size=3) | st.lists(item, max_size=2).map(
            lambda items: items * 2
        )
    if (origin or hint) is Collection:
        return st.lists(JSON_VALUES, max_size=3)
    return JSON_VALUES


def variant(value: Any) -> Any:
    """A choice's value as another JSON type: 1 -> 1.0, "1" or true."""
    if type(value) is int:
        return float(value)
    if type(value) is float:
        return int(value) if value.is_integer() else str(value)
    if type(value) is bool:
        return int(value)
    if type(value) is str:
        return value.upper() or " "
    return 0


def dataclass_values(cls: Any, depth: int) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    required = {
        f.name: near(hints[f.name], depth + 1)
        for f in fields
        if f.default is f.default_factory is dataclasses.MISSING
    }
    optional = {f.name: near(hints[f.name], depth + 1) for f in fields}
    optional = {k: v for k, v in optional.items() if k not in required}
    exact = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(st.sampled_from(["z", "size", ""]), JSON_VALUES, max_size=1)
    with_extra = st.tuples(exact, extra).map(lambda both: {**both[0], **both[1]})
    without_first = exact.map(lambda value: dict(list(value.items())[1:]))
    return exact | with_extra | without_first


@functools.cache
def values_for(hint: Any) -> st.SearchStrategy[Any]:
    """Half shaped by the hint, half any JSON or an edge value."""
    edges = st.sampled_from(HUGE + FLOATS + TEXTS)
    return near(hint) | near(hint) | JSON_VALUES | edges


# -- The property -------------------------------------------------------------------


def check_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(schema, allow_nan=False)  # JSON itself: no NaN, no Infinity


@pytest.mark.parametrize("hint", HINTS.values(), ids=HINTS.keys())
def test_the_schemas_of_each_hint_are_valid_draft_2020_12_json(hint: Any) -> None:
    _, schemas = client_for(hint)
    check_schema(schemas["parameters"])
    check_schema(schemas["returns"])


EDGES: list[Any] = [*HUGE, *FLOATS, *TEXTS, None, True, False, [], [None], {}]
EDGES += [{key: ""} for key in KEYS]


@pytest.mark.parametrize("hint", HINTS.values(), ids=HINTS.keys())
def test_each_edge_value_is_accepted_exactly_when_it_validates(hint: Any) -> None:
    # Every edge value, where a random draw would pick each only now and then.
    client, schemas = client_for(hint)
    for value in EDGES:
        accepted(client, schemas, value)


@pytest.mark.parametrize("hint", HINTS.values(), ids=HINTS.keys())
@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 50)),
    deadline=None,
    derandomize=True,  # the same examples in every run: CI reproduces them
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_a_value_is_accepted_exactly_when_it_validates(
    hint: Any, data: st.DataObject
) -> None:
    client, schemas = client_for(hint)
    accepted(client, schemas, data.draw(values_for(hint), label="x"))


def accepted(client: Client, schemas: dict[str, Any], value: Any) -> None:
    """Send ``{"x": value}``: a 200 exactly when it validates, and then an
    answer the returns schema describes; a 422 otherwise."""
    body = json.dumps({"x": value})  # \ud800 as an escape: JSON text, if odd
    payload = json.loads(body)
    valid = is_valid(schemas["parameters"], payload)
    answer = client.send(body.encode(), "application/json", action="take", status="*")
    assert answer.status_int in (200, 422), answer.text
    assert (answer.status_int == 200) is valid, (
        f"{body[:300]}: the binder answered {answer.status} {answer.text[:300]}; "
        f"the schema says {errors_of(schemas['parameters'], payload) or 'valid'}"
    )
    if valid:
        returns = schemas["returns"]
        assert is_valid(returns, answer.json), errors_of(returns, answer.json)


# -- Answers of types sent as text ----------------------------------------------------

UUID_TEXT = "ABCDEF01-ABCD-ABCD-ABCD-ABCDEF012345"


@pytest.mark.parametrize(
    ("hint", "sent", "answered"),
    [
        pytest.param(Decimal, "1.50", "1.50", id="Decimal-keeps-its-digits"),
        pytest.param(Decimal, 1e16, "1E+16", id="Decimal-sent-as-a-number"),
        pytest.param(Decimal, "-1e-9999", "-1E-9999", id="Decimal-tiny"),
        pytest.param(Date, "2024-02-29", "2024-02-29", id="date"),
        pytest.param(Time, "10:00:00.123+01:00", "10:00:00.123000+01:00", id="time"),
        pytest.param(
            DateTime, "2024-02-29t10:00:00z", "2024-02-29T10:00:00+00:00", id="datetime"
        ),
        pytest.param(uuid.UUID, UUID_TEXT, UUID_TEXT.lower(), id="UUID"),
    ],
)
def test_an_answer_fits_the_returns_schema_and_can_be_sent_back(
    hint: Any, sent: Any, answered: str
) -> None:
    client, schemas = client_for(hint)
    assert client.call("take", {"x": sent}).json == answered
    assert is_valid(schemas["returns"], answered), errors_of(
        schemas["returns"], answered
    )
    assert is_valid(schemas["parameters"], {"x": answered})


def test_a_bytes_answer_is_what_its_returns_schema_says() -> None:
    client, schemas = client_for(bytes)
    answer = client.call("take", {"x": "abc"}, status="*")
    assert answer.status_int == 200, answer.text
    assert is_valid(schemas["returns"], answer.json)
