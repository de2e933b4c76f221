"""serveract's core, through WebTest and ``wsgiref.validate``: the registry,
binding arguments, decoding bodies, answers, the status table, forms without
JavaScript, pass-through byte for byte, options and the client script.

The harness (``Client``, ``Recorder``) and the fixtures (``reg``,
``middleware``, ``recorder``) are in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import dataclasses
import datetime
import decimal
import enum
import functools
import gc
import http.client
import io
import json
import sys
import textwrap
import threading
import time
import types
import typing
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any, Literal, Optional
from urllib.parse import quote, urlencode, urlsplit
from wsgiref.validate import validator

import pytest
import webob
import webob.multidict
import webtest

import serveract
from conftest import (
    BOUNDARY,
    FORM,
    MULTIPART,
    Client,
    Recorder,
    Response,
    ServerBody,
    environ_for,
    multipart_of,
    part,
    serving,
)

# -- Registry -----------------------------------------------------------------


class Connection:
    """A type no request can produce."""


@dataclasses.dataclass
class Unfillable:
    name: str
    callback: Callable[[], int]


@dataclasses.dataclass
class Wrapper:
    inner: Unfillable


@pytest.fixture
def restore_default_registry() -> Iterator[None]:
    """The default registry as it was before the test (a registry has no
    public way to remove an action)."""
    before = dict(serveract.registry._actions)
    yield
    serveract.registry._actions.clear()
    serveract.registry._actions.update(before)


SHOP_ACTIONS = """
from os.path import join          # imported: not registered
import json

class Cart: ...                   # a class: not registered

def add_item(sku: str, qty: int = 1) -> dict:
    return {"sku": sku, "qty": qty}

async def checkout() -> str:
    return "done"

def _helper() -> None: ...        # private: not registered
"""


class TestRegistry:
    def test_bare_and_named_decorators_register_and_return_the_function(self, reg):
        @reg.action
        def one() -> int:
            return 1

        @reg.action(name="users.two")
        def two() -> int:
            return 2

        assert one() == 1 and two() == 2
        assert reg.get("one") is one
        assert reg.get("users.two") is two
        assert reg.get("two") is None
        assert "one" in reg and "nope" not in reg
        assert len(reg) == 2
        assert sorted(reg) == ["one", "users.two"]
        assert repr(reg) == "<Registry ['one', 'users.two']>"
        # A partial has no __name__ to go by; a name must be text.
        with pytest.raises(ValueError, match="non-empty name"):
            reg.action(functools.partial(two))
        with pytest.raises(ValueError, match="non-empty name"):
            reg.action(two, name=2)  # type: ignore[call-overload]
        assert reg.action(functools.partial(two), name="three") is not None
        assert len(reg) == 3

    @pytest.mark.parametrize("name", [".", ".."])
    def test_a_dot_segment_is_no_action_name(self, reg, name):
        # Browsers and servers drop "/_serveract/.." from a URL: no path call.
        with pytest.raises(ValueError, match="non-empty name other than"):
            reg.action(lambda: None, name=name)
        assert name not in reg
        reg.action(lambda: None, name="...")  # no dot segment: fine

    def test_action_registers_in_the_default_registry(self, restore_default_registry):
        def unique_default_action() -> str:
            return "ok"

        assert serveract.action(unique_default_action) is unique_default_action
        found = serveract.registry.get("unique_default_action")
        assert found is unique_default_action

    def test_one_name_cannot_hold_two_functions_but_one_may_register_twice(self, reg):
        @reg.action
        def dup() -> None: ...

        reg.action(dup)  # the same function again is fine

        def other() -> None: ...

        with pytest.raises(ValueError, match="already taken"):
            reg.action(other, name="dup")

        def unbuildable(db: Connection) -> None: ...  # taken says more than its hint

        with pytest.raises(ValueError, match="already taken"):
            reg.action(unbuildable, name="dup")

    def test_registering_again_with_other_options_is_refused(self, reg):
        def pay(amount: int, account: int = 0) -> None: ...

        reg.action(pay, limit="5/minute")
        reg.action(pay, limit="5/minute")  # the same options again: harmless
        with pytest.raises(ValueError, match="other bound= or limit="):
            reg.action(pay, limit="50/minute")
        with pytest.raises(ValueError, match="other bound= or limit="):
            reg.action(pay, limit="5/minute", bound=["account"])
        assert reg._actions["pay"].limit == (5, 60)

    def test_registering_a_class_or_a_value_is_a_type_error(self, reg):
        with pytest.raises(TypeError):
            reg.action(type("Thing", (), {}))
        with pytest.raises(TypeError):
            reg.action(42, name="answer")  # type: ignore[call-overload]

    def test_a_parameter_no_request_can_fill_fails_at_registration(self, reg):
        def needs_connection(db: Connection) -> None: ...

        with pytest.raises(TypeError, match="db"):
            reg.action(needs_connection)
        assert "needs_connection" not in reg

    @pytest.mark.parametrize(
        "hint",
        [
            pytest.param(Unfillable, id="field"),
            pytest.param(Wrapper, id="field-of-a-field"),
            pytest.param(list[Unfillable], id="list-of"),
            pytest.param(typing.Optional[Unfillable], id="optional"),
            pytest.param(dict[str, Unfillable], id="dict-of"),
        ],
    )
    def test_a_dataclass_field_no_request_can_fill_fails_at_registration(
        self, reg, hint
    ):
        def take(value: Any) -> None:
            raise AssertionError("never called")

        take.__annotations__["value"] = hint
        with pytest.raises(TypeError, match="Callable"):
            reg.action(take)
        assert "take" not in reg

    @pytest.mark.parametrize("key", [float, bytes, datetime.date, tuple[int, int]])
    def test_a_dict_keyed_by_what_json_keys_cannot_be_fails_at_registration(
        self, reg, key
    ):
        def count(values: Any) -> None: ...

        count.__annotations__["values"] = dict[key, int]  # type: ignore[valid-type]
        with pytest.raises(TypeError, match="JSON object keys are text"):
            reg.action(count)
        assert "count" not in reg

    def test_register_module_makes_only_the_public_functions_defined_there_callable(
        self, reg, middleware, tmp_path, monkeypatch
    ):
        (tmp_path / "shop_actions.py").write_text(textwrap.dedent(SHOP_ACTIONS))
        monkeypatch.syspath_prepend(str(tmp_path))
        names = serveract.register_module("shop_actions", reg)
        assert names == ["add_item", "checkout"]
        assert sorted(reg) == ["add_item", "checkout"]
        module = sys.modules["shop_actions"]
        assert reg.get("add_item") is module.add_item
        client = middleware()
        assert client.call("add_item", {"sku": "A1"}).json == {"sku": "A1", "qty": 1}
        assert client.call("checkout").json == "done"
        for name in ("join", "json", "json.loads", "Cart", "_helper"):
            assert client.call(name, status=404).error["type"] == "not_found"
        # A module object works too, and registering again is harmless.
        assert serveract.register_module(module, reg) == names

    def test_register_module_keeps_the_options_of_a_function_the_module_decorated(
        self, restore_default_registry, tmp_path, monkeypatch
    ):
        # "use server" for the file, @action for the options of one of them.
        (tmp_path / "limited_actions.py").write_text(
            textwrap.dedent(
                """
                import serveract

                @serveract.action(limit="5/minute", bound=["user_id"])
                def delete_user(user_id: int) -> None: ...

                @serveract.action(name="users.rename", bound=["user_id"])
                def rename_user(user_id: int, name: str) -> None: ...
                """
            )
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        names = serveract.register_module("limited_actions")
        assert names == ["delete_user", "users.rename"]
        # Not also under its __name__, without the bound= that keeps the
        # client from choosing user_id.
        assert sorted(serveract.registry) == names
        registered = serveract.registry._actions["delete_user"]
        assert registered.bound == {"user_id"}
        assert registered.limit is not None


# -- Binding JSON values ------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.Enum):
    NONE = None
    BIG = "big"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Holiday(enum.Enum):
    NEW_YEAR = datetime.date(2026, 1, 1)


@dataclasses.dataclass
class Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a span ends after it starts")


@dataclasses.dataclass
class Address:
    street: str
    zip: int
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Node:
    """Refers to itself: its hints resolve once the class exists."""

    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


class Mixed(enum.Enum):
    NUMBER = 1
    TEXT = "1"


@functools.cache
def slow_enum() -> type[enum.Enum]:
    """An enum whose lookup table takes a while to build: the window in
    which a lazily built dataclass check was half done."""
    return enum.Enum("Slow", [(f"m{i}", i) for i in range(30_000)])  # type: ignore[return-value]


def first_calls_at_once(client: Client, body: Any, name: str) -> list[Response]:
    """Two first calls of action ``name``, the second arriving while the first
    is binding its arguments."""
    barrier = threading.Barrier(2)
    answers: list[Response] = []

    def call(delay: float) -> None:
        barrier.wait()
        time.sleep(delay)
        answers.append(client.call(name, body, status="*"))

    threads = [threading.Thread(target=call, args=(d,)) for d in (0, 0.01)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


class TestJsonBinding:
    @pytest.mark.parametrize(
        ("hint", "good", "bad"),
        [
            pytest.param(int, 5, "5", id="int-rejects-string"),
            pytest.param(int, 7, True, id="int-rejects-bool"),
            pytest.param(float, 2, "2.5", id="float-accepts-int"),
            pytest.param(str, "hi", 3, id="str-rejects-number"),
            pytest.param(bool, False, 0, id="bool-rejects-int"),
            pytest.param(list[int], [1, 2], [1, "2"], id="list-items-checked"),
            pytest.param(dict[str, int], {"a": 1}, {"a": "1"}, id="dict-values"),
            pytest.param(Optional[int], None, "x", id="optional"),
            pytest.param(Literal["a", "b"], "a", "c", id="literal"),
            # Annotated metadata (a FastAPI or Pydantic habit) is not serveract's.
            pytest.param(typing.Annotated[int, "id"], 5, "5", id="annotated"),
            pytest.param(
                list[typing.Annotated[int, "id"]], [5], ["5"], id="annotated-item"
            ),
            pytest.param(
                frozenset[typing.Annotated[Color, "c"]],
                ["red"],
                ["green"],
                id="annotated-in-a-set",
            ),
        ],
    )
    def test_a_value_must_fit_the_hint_or_the_call_is_422(
        self, reg, middleware, hint, good, bad
    ):
        def echo(value):  # the hint is set below
            return value

        echo.__annotations__ = {"value": hint}
        reg.action(echo)
        client = middleware()
        assert client.call("echo", [good]).json == (
            float(good) if hint is float else good
        )
        error = client.call("echo", [bad], status=422).error
        assert error["type"] == "invalid_arguments"
        keyword = client.call("echo", {"value": bad}, status=422).error
        assert len(keyword["data"]) == len(error["data"]) == 1
        assert error["data"][0]["field"] == "value"
        assert error["data"][0]["message"].startswith(("expected", "["))

    def test_rich_types_are_built_from_their_json_form(self, reg, middleware):
        @reg.action
        def rich(
            when: datetime.date,
            at: datetime.datetime,
            price: decimal.Decimal,
            ident: uuid.UUID,
            color: Color,
            level: Level,
            address: Address,
            pair: tuple[int, str],
        ) -> dict[str, Any]:
            return {
                "types": [
                    type(v).__name__
                    for v in (when, at, price, ident, color, level, address, pair)
                ],
                "address": address,
                "next_day": when + datetime.timedelta(days=1),
            }

        answer = (
            middleware()
            .call(
                "rich",
                {
                    "when": "2026-01-31",
                    "at": "2026-01-31T10:00:00+00:00",
                    "price": "10.10",
                    "ident": "12345678-1234-5678-1234-567812345678",
                    "color": "blue",
                    "level": 2,
                    "address": {"street": "Main", "zip": 12345},
                    "pair": [1, "a"],
                },
            )
            .json
        )
        assert answer["types"] == [
            "date",
            "datetime",
            "Decimal",
            "UUID",
            "Color",
            "Level",
            "Address",
            "tuple",
        ]
        assert answer["address"] == {"street": "Main", "zip": 12345, "tags": []}
        assert answer["next_day"] == "2026-02-01"

    def test_a_bad_nested_value_names_its_place(self, reg, middleware):
        @reg.action
        def ship(address: Address) -> None: ...

        client = middleware()
        error = client.call("ship", [{"street": "x", "zip": "no"}], status=422).error
        assert error["data"] == [
            {"field": "address", "message": "['zip']: expected an integer"}
        ]
        extra = client.call("ship", [{"street": "x", "zip": 1, "evil": 1}], status=422)
        assert "unexpected field 'evil'" in extra.error["data"][0]["message"]

    def test_a_dataclass_its_post_init_refuses_is_a_422(self, reg, middleware):
        @reg.action
        def measure(span: Span) -> int:
            return span.end - span.start

        client = middleware()
        assert client.call("measure", [{"start": 1, "end": 3}]).json == 2
        error = client.call("measure", [{"start": 3, "end": 1}], status=422).error
        assert error["data"] == [{"field": "span", "message": "expected a valid Span"}]

    def test_missing_unexpected_and_too_many_arguments_are_422(self, reg, middleware):
        @reg.action
        def pair(a: int, b: int) -> int:
            return a + b

        client = middleware()
        missing = client.call("pair", {"a": 1}, status=422).error
        assert missing["data"] == [{"field": "b", "message": "required"}]
        extra = client.call("pair", {"a": 1, "b": 2, "c": 3}, status=422).error
        assert extra["data"] == [{"field": "c", "message": "unexpected argument"}]
        many = client.call("pair", [1, 2, 3], status=422).error
        assert "takes 2 positional arguments but 3 were given" in many["message"]

    def test_positional_only_star_args_and_star_kwargs_bind_as_python_does(
        self, reg, middleware
    ):
        @reg.action
        def posonly(a: int, /, b: int = 10) -> list[int]:
            return [a, b]

        @reg.action
        def star(first: str, *rest: int, **options: bool) -> dict[str, Any]:
            return {"first": first, "rest": list(rest), "options": options}

        client = middleware()
        assert client.call("posonly", [1]).json == [1, 10]
        assert client.call("posonly", {"a": 2, "b": 3}).json == [2, 3]
        assert client.call("star", ["x", 1, 2]).json == {
            "first": "x",
            "rest": [1, 2],
            "options": {},
        }
        assert client.call("star", {"first": "y", "loud": True}).json == {
            "first": "y",
            "rest": [],
            "options": {"loud": True},
        }
        client.call("star", ["x", "not-int"], status=422)

    def test_star_args_fill_after_an_injected_request_parameter(self, reg, middleware):
        # The request is a positional parameter too: the client's values go
        # after it, not into its place ("multiple values for 'request'").
        @reg.action
        def delete(request: webob.Request, *ids: int) -> list[Any]:
            return [request.method, list(ids)]

        @reg.action
        def tag(request: webob.Request, /, label: str, *ids: int) -> list[Any]:
            return [request.method, label, list(ids)]

        client = middleware()
        assert client.call("delete", [1, 2, 3]).json == ["POST", [1, 2, 3]]
        assert client.call("tag", ["x", 4, 5]).json == ["POST", "x", [4, 5]]

    def test_a_request_parameter_is_injected_never_taken_from_the_client(
        self, reg, middleware
    ):
        @reg.action
        def whoami(req: webob.Request, greeting: str = "hi") -> dict[str, Any]:
            return {
                "greeting": greeting,
                "agent": req.headers.get("User-Agent"),
                "body": req.json_body,
            }

        client = middleware()
        answer = client.call(
            "whoami", {"greeting": "yo"}, headers={"User-Agent": "pytest"}
        ).json
        assert answer == {
            "greeting": "yo",
            "agent": "pytest",
            "body": {"greeting": "yo"},
        }
        client.call("whoami", {"req": "forged"}, status=422)
        assert client.call("whoami", ["hello"]).json["greeting"] == "hello"

    def test_an_annotated_request_parameter_is_injected_too(self, reg, middleware):
        @reg.action
        def whoami(req: typing.Annotated[webob.Request, "injected"]) -> str:
            return req.method

        assert middleware().call("whoami", {}).json == "POST"

    def test_hints_defined_later_in_the_module_are_resolved_by_the_first_call(
        self, reg, middleware
    ):
        namespace: dict[str, Any] = {}
        exec(
            textwrap.dedent(
                """
                from __future__ import annotations
                import dataclasses

                def make_point(p: Point) -> int:
                    return p.x + p.y

                @dataclasses.dataclass
                class Point:
                    x: int
                    y: int
                """
            ),
            namespace,
        )
        reg.action(namespace["make_point"])
        assert middleware().call("make_point", [{"x": 1, "y": 2}]).json == 3

    def test_a_dataclass_that_refers_to_itself_registers_and_binds(
        self, reg, middleware
    ):
        @reg.action
        def count(tree: Node) -> int:
            return 1 + sum(count(child) for child in tree.children)

        tree = {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}
        assert middleware().call("count", [tree]).json == 3

    def test_calls_made_while_a_dataclass_is_built_get_their_own_values(
        self, reg, middleware
    ):
        """What each dataclass built is kept while a union checks a value,
        by the id of its JSON object: a call made from a ``__post_init__``
        got an object built of an earlier call's, freed, whose id it reused."""
        answers: list[int] = []

        @dataclasses.dataclass
        class Audit:
            n: int

            def __post_init__(self) -> None:
                for n in range(300):
                    answers.append(client.call("start", [{"start": n, "end": n}]).json)

        @reg.action
        def start(span: Span | Address) -> Any:
            return getattr(span, "start", None)

        def audit(audit: Any) -> int:
            return typing.cast("int", audit.n)

        audit.__annotations__["audit"] = Audit | Span  # local: no name to resolve
        reg.action(audit)
        client = middleware()
        assert client.call("audit", [{"n": 7}]).json == 7
        assert answers == list(range(300))

    def test_two_concurrent_first_calls_are_both_right(self):
        """The old code filled a dataclass's field checks on the first call,
        and a second call arriving meanwhile saw half of them: a wrong 422."""
        body = {"point": {"x": 1, "kind": 7, "y": 2}}
        for _ in range(3):
            reg = serveract.Registry()
            # Built with real types: the hints must not name this function's locals.
            point = dataclasses.make_dataclass(
                "Point", [("x", int), ("kind", slow_enum()), ("y", int)]
            )

            def move(point: Any) -> int:
                return typing.cast("int", point.x + point.y)

            move.__annotations__["point"] = point
            reg.action(move)
            answers = first_calls_at_once(Client(reg, validate=False), body, "move")
            assert [(a.status_int, a.json) for a in answers] == [(200, 3), (200, 3)]

    def test_dict_of_int_to_int_checks_and_converts_its_keys(self, reg, middleware):
        seen: list[dict[Any, Any]] = []

        @reg.action
        def tally(counts: dict[int, int]) -> int:
            seen.append(counts)
            return sum(counts)

        client = middleware()
        assert client.call("tally", {"counts": {"1": 2, "-3": 4}}).json == -2
        assert seen == [{1: 2, -3: 4}]
        assert all(type(key) is int for key in seen[0])
        # "-0" is refused: as "0" again, one of the two values would be lost.
        for bad in (
            {"counts": {"a": 1}},
            {"counts": {"1.5": 1}},
            {"counts": {"-0": 1}},
        ):
            error = client.call("tally", bad, status=422).error
            assert error["type"] == "invalid_arguments"
            assert [entry["field"] for entry in error["data"]] == ["counts"]
        assert len(seen) == 1

    @pytest.mark.parametrize(("choice", "member"), [(1, "NUMBER"), ("1", "TEXT")])
    def test_an_enum_binds_json_numbers_and_strings_to_their_own_members(
        self, reg, middleware, choice, member
    ):
        @reg.action
        def pick(choice: Mixed) -> str:
            return choice.name

        assert middleware().call("pick", {"choice": choice}).json == member


# -- Binding form fields ------------------------------------------------------


class TestFormBinding:
    @pytest.fixture
    def client(self, reg, middleware):
        @reg.action
        def profile(
            name: str,
            age: int,
            height: float,
            newsletter: bool,
            tags: list[str],
            scores: list[int],
            nickname: str | None = None,
            rank: int | None = None,
            color: Color = Color.RED,
            born: datetime.date | None = None,
            limit: int = 5,
        ) -> dict[str, Any]:
            return {
                "name": name,
                "age": age,
                "height": height,
                "newsletter": newsletter,
                "tags": tags,
                "scores": scores,
                "nickname": nickname,
                "rank": rank,
                "color": color,
                "born": born,
                "limit": limit,
            }

        return middleware()

    def submit(self, client: Client, fields: list[tuple[str, str]]) -> Any:
        return client.post(
            "/",
            [("$action", "profile"), *fields],
            headers={"Serveract-Action": "profile"},
        )

    def test_field_strings_are_coerced_by_the_hints(self, client):
        answer = self.submit(
            client,
            [
                ("name", "Ada"),
                ("age", " 36 "),
                ("height", "1.7"),
                ("newsletter", "on"),
                ("tags", "a"),
                ("tags", "b"),
                ("scores", "1"),
                ("scores", "2"),
                ("rank", "3"),
                ("color", "blue"),
                ("born", "1815-12-10"),
                ("ignored", "not a parameter"),
            ],
        ).json
        assert answer == {
            "name": "Ada",
            "age": 36,
            "height": 1.7,
            "newsletter": True,
            "tags": ["a", "b"],
            "scores": [1, 2],
            "nickname": None,
            "rank": 3,
            "color": "blue",
            "born": "1815-12-10",
            "limit": 5,
        }

    @pytest.mark.parametrize(
        ("word", "expected"),
        [
            ("on", True),
            ("true", True),
            ("1", True),
            ("TRUE", True),
            ("off", False),
            ("false", False),
            ("0", False),
        ],
    )
    def test_a_bool_field_reads_checkbox_and_boolean_words(
        self, client, word, expected
    ):
        answer = self.submit(
            client, [("name", "x"), ("age", "1"), ("height", "1"), ("newsletter", word)]
        )
        assert answer.json["newsletter"] is expected

    def test_missing_fields_are_defaults_false_empty_lists_and_none(self, client):
        # An unchecked checkbox, an empty multi-select, blank optional inputs.
        answer = self.submit(
            client, [("name", ""), ("age", "2"), ("height", "3"), ("rank", "")]
        ).json
        assert answer["name"] == ""
        assert answer["newsletter"] is False
        assert answer["tags"] == [] and answer["scores"] == []
        assert answer["nickname"] is None and answer["rank"] is None
        assert answer["limit"] == 5

    def test_every_bad_and_missing_field_is_listed_in_the_422(self, client):
        error = client.post(
            "/",
            [("age", "old"), ("height", ""), ("newsletter", "maybe"), ("scores", "x")],
            headers={"Serveract-Action": "profile"},
            status=422,
        ).json["error"]
        assert sorted((e["field"], e["message"]) for e in error["data"]) == [
            ("age", "expected an integer"),
            ("height", "required"),
            ("name", "required"),
            ("newsletter", "expected true or false"),
            ("scores", "[0]: expected an integer"),
        ]

    def test_an_uploaded_file_is_readable_with_its_name_and_type(self, reg, middleware):
        @reg.action
        def upload(
            title: str,
            document: typing.BinaryIO,
            extra: typing.BinaryIO | None = None,
        ) -> dict[str, Any]:
            return {
                "title": title,
                "filename": document.filename,  # type: ignore[attr-defined]
                "type": document.content_type,  # type: ignore[attr-defined]
                "content": document.read().decode(),
                "again": [document.seek(6), *document],  # file-like throughout
                "repr": repr(document),
                "extra": extra,
            }

        client = middleware()
        answer = client.post(
            "/",
            [("title", "Report")],
            upload_files=[("document", "report.txt", b"hello world", "text/plain")],
            headers={"Serveract-Action": "upload"},
        ).json
        assert answer == {
            "title": "Report",
            "filename": "report.txt",
            "type": "text/plain",
            "content": "hello world",
            "again": [6, "world"],
            "repr": "<Upload 'report.txt' text/plain>",
            "extra": None,
        }
        # A text value where a file is expected is a 422, not a crash.
        error = client.post(
            "/",
            [("title", "x"), ("document", "not a file")],
            headers={"Serveract-Action": "upload"},
            content_type="multipart/form-data",
            status=422,
        ).json["error"]
        assert error["data"] == [
            {"field": "document", "message": "expected a file upload"}
        ]

    @pytest.mark.parametrize(
        "hint", [typing.BinaryIO, typing.IO[bytes], io.BufferedReader, serveract.Upload]
    )
    def test_an_uploaded_file_is_a_serveract_upload(self, reg, middleware, hint):
        received: list[Any] = []

        def upload(document: Any) -> None:
            received.append(document)

        upload.__annotations__["document"] = hint
        reg.action(upload)
        middleware().post(
            "/", {"$action": "upload"}, upload_files=[("document", "a.txt", b"x")]
        )
        assert len(received) == 1
        assert isinstance(received[0], serveract.Upload)

    def test_an_empty_field_is_missing_but_for_text_even_optional_text(
        self, reg, middleware
    ):
        @reg.action
        def edit(
            title: str | None = "kept", count: int | None = 5, note: str | None = None
        ) -> list[Any]:
            return [title, count, note]

        client = middleware()
        empty = {"title": "", "count": "", "note": ""}
        answer = client.post("/", empty, headers={"Serveract-Action": "edit"})
        assert answer.json == ["", 5, ""]
        form = "application/x-www-form-urlencoded"
        answer = client.post(
            "/", {}, headers={"Serveract-Action": "edit"}, content_type=form
        )
        assert answer.json == ["kept", 5, None]

    def test_a_true_or_false_choice_takes_the_text_its_error_asks_for(
        self, reg, middleware
    ):
        # The 422 says "expected one of true, false": a form (a radio button,
        # a select) sends that text, the JSON spelling, not Python's "True".
        @reg.action
        def vote(agree: Literal[True, False], sure: Literal[True] | None = None) -> Any:
            return [agree, sure]

        client = middleware()
        headers = {"Serveract-Action": "vote"}
        fields = {"agree": "true", "sure": "true"}
        assert client.post("/", fields, headers=headers).json == [True, True]
        fields = {"agree": "false"}
        assert client.post("/", fields, headers=headers).json == [False, None]
        refused = client.post("/", {"agree": "yes!"}, headers=headers, status=422)
        assert refused.json["error"]["data"] == [
            {"field": "agree", "message": "expected one of true, false"}
        ]

    def test_a_choice_holding_none_left_out_of_a_form_is_none(self, reg, middleware):
        # Literal["a", None] is Literal["a"] | None (PEP 586): absent, None.
        @reg.action
        def pick(kind: Literal["a", None], size: Size) -> Any:
            return [kind, size.name]

        fields = {"note": "not a parameter"}
        answer = middleware().post("/", fields, headers={"Serveract-Action": "pick"})
        assert answer.json == [None, "NONE"]

    def test_a_choice_holding_none_in_a_union_left_out_of_a_form_is_none(
        self, reg, middleware
    ):
        # Literal["a", None] | int is Literal["a"] | None | int: absent, None.
        @reg.action
        def pick(kind: Literal["a", None] | int, size: Size | int) -> Any:
            return [kind, size.name]

        fields = {"note": "not a parameter"}
        answer = middleware().post("/", fields, headers={"Serveract-Action": "pick"})
        assert answer.json == [None, "NONE"]

    @pytest.mark.parametrize(
        ("text", "value"),
        [(".5", "0.5"), ("-.5", "-0.5"), (".25e2", "25"), ("1.50", "1.50")],
    )
    def test_a_decimal_takes_what_a_number_input_sends(
        self, reg, middleware, text, value
    ):
        # HTML's valid floating-point numbers include ".5" (no leading
        # digit), which <input type="number"> sends as typed; a float field
        # took it, a Decimal one answered 422.
        @reg.action
        def pay(amount: decimal.Decimal) -> Any:
            return amount

        headers = {"Serveract-Action": "pay"}
        answer = middleware().post("/", {"amount": text}, headers=headers)
        assert answer.json == value  # as text: every digit kept

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("10:05", "10:05:00"),
            ("10:05:30", "10:05:30"),
            ("10:05:30.5", "10:05:30.500000"),  # HTML's 1 to 3 digits
            ("10:05:30.25", "10:05:30.250000"),
            ("10:05:30.125", "10:05:30.125000"),
            ("10:05:30.123456789Z", "10:05:30.123456+00:00"),  # RFC 3339's any
        ],
    )
    def test_a_time_takes_a_fraction_of_any_length(self, reg, middleware, text, value):
        @reg.action
        def alarm(at: datetime.time) -> Any:
            return at

        headers = {"Serveract-Action": "alarm"}
        client = middleware()
        assert client.post("/", {"at": text}, headers=headers).json == value
        if text.endswith("Z"):  # JSON takes RFC 3339 times only (an offset)
            assert client.call("alarm", {"at": text}).json == value

    def test_an_empty_choice_is_chosen_not_missing(self, reg, middleware):
        # <select><option value="">any</option>...: "" is one of the values,
        # so an empty field is that value, as it is for text.
        @reg.action
        def search(
            order: Literal["", "asc", "desc"], kinds: list[Literal["", "a"]]
        ) -> list[Any]:
            return [order, kinds]

        headers = {"Serveract-Action": "search"}
        fields = [("$action", "search"), ("order", ""), ("kinds", ""), ("kinds", "a")]
        answer = middleware().post("/", fields, headers=headers)
        assert answer.json == ["", ["", "a"]]

    def test_star_kwargs_receive_the_other_fields(self, reg, middleware):
        @reg.action
        def anything(**fields: str) -> dict[str, str]:
            return fields

        answer = middleware().post(
            "/",
            {"$action": "anything", "a": "1", "b": "2"},
            headers={"Serveract-Action": "anything"},
        )
        assert answer.json == {"a": "1", "b": "2"}

    def test_a_structured_value_arrives_as_json_text_in_a_field(self, reg, middleware):
        @reg.action
        def ship(address: Address) -> str:
            return f"{address.street} {address.zip}"

        answer = middleware().post(
            "/",
            {"address": '{"street": "Main", "zip": 1}'},
            headers={"Serveract-Action": "ship"},
        )
        assert answer.json == "Main 1"

    def test_a_list_of_dataclasses_arrives_as_json_text_in_a_field(
        self, reg, middleware
    ):
        # As a list of dicts does, and as the forms guide says.
        @reg.action
        def ship_all(addresses: list[Address], extra: list[dict[str, int]]) -> Any:
            return [[a.street for a in addresses], extra]

        answer = middleware().post(
            "/",
            {
                "addresses": '[{"street": "Main", "zip": 1},'
                ' {"street": "S", "zip": 2}]',
                "extra": '[{"a": 1}]',
            },
            headers={"Serveract-Action": "ship_all"},
        )
        assert answer.json == [["Main", "S"], [{"a": 1}]]

    def test_a_structured_field_that_is_no_json_text_is_listed_in_the_422(
        self, reg, middleware
    ):
        @reg.action
        def ship(address: Address) -> str:
            return address.street

        client = middleware()
        headers = {"Serveract-Action": "ship"}
        error = client.post("/", {"address": "Main 1"}, headers=headers, status=422)
        assert error.json["error"]["data"] == [
            {"field": "address", "message": "expected an object (Address) as JSON"}
        ]
        uploaded = client.post(
            "/",
            {},
            upload_files=[("address", "address.json", b'{"street": "Main", "zip": 1}')],
            headers=headers,
            status=422,
        )
        assert uploaded.json["error"]["data"] == [
            {
                "field": "address",
                "message": "expected an object (Address) as JSON, not a file",
            }
        ]

    @pytest.mark.parametrize(
        ("hint", "wanted"),
        [
            (Address | None, "an object (Address)"),
            (list[list[int]] | None, "a list of a list of an integer"),
        ],
    )
    def test_an_optional_structured_field_that_is_no_json_text_says_as_json(
        self, reg, middleware, hint, wanted
    ):
        # As the field's type alone says it: a union of it and None too.
        def take(value: Any = None) -> None:
            pass

        take.__annotations__["value"] = hint
        reg.action(take)
        client = middleware()
        headers = {"Serveract-Action": "take"}
        error = client.post("/", {"value": "Main 1"}, headers=headers, status=422)
        assert error.json["error"]["data"] == [
            {"field": "value", "message": f"expected {wanted} as JSON"}
        ]

    def test_the_action_field_sent_as_a_file_is_a_400(self, reg, middleware, pings):
        client = middleware()
        answer = client.post(
            "/",
            [("note", "x")],
            upload_files=[("$action", "ping.txt", b"ping")],
            status=400,
        )
        assert answer.error["message"] == "The $action field must be text"
        assert pings == [] and client.calls == []

    # -- Decoding bodies ----------------------------------------------------------

    def test_an_optional_list_takes_every_value_of_its_field(self, reg, middleware):
        @reg.action
        def pick(ids: list[int] | None = None) -> Any:
            return ids

        client = middleware()

        def call(*fields: tuple[str, str]) -> Any:
            headers = {"Serveract-Action": "pick"}
            return client.post(
                "/", [("$action", "pick"), *fields], headers=headers
            ).json

        assert call(("ids", "12")) == [12]
        assert call(("ids", "1"), ("ids", "2")) == [1, 2]
        assert call() is None

    def test_keyword_extras_from_a_form_are_converted_by_their_hint(
        self, reg, middleware
    ):
        @reg.action
        def tally(**counts: int) -> dict[str, int]:
            return counts

        client = middleware()
        headers = {"Serveract-Action": "tally"}
        fields = [("$action", "tally"), ("apples", "3"), ("pears", "")]
        assert client.post("/", fields, headers=headers).json == {"apples": 3}
        refused = client.post(
            "/", [("$action", "tally"), ("apples", "many")], headers=headers, status=422
        )
        assert refused.json["error"]["data"] == [
            {"field": "apples", "message": "expected an integer"}
        ]


class TestDecoding:
    @pytest.mark.parametrize("name", ["日本語", "créer", "plain"])
    def test_an_action_name_in_the_header_is_utf8_as_in_the_path(
        self, reg, middleware, name
    ):
        """WSGI hands headers over as Latin-1, paths too: a name sent as UTF-8
        (curl, the browser client) is found either way; a Latin-1 one too."""

        @reg.action(name=name)
        def named() -> str:
            return "reached"

        client = middleware()
        utf8 = name.encode().decode("latin-1")
        assert client.send(action=utf8).json == "reached"
        assert client.send(path="/_serveract/" + quote(name)).json == "reached"
        if name.isascii() or name == "créer":
            assert client.send(action=name).json == "reached"

    def test_a_json_array_is_positional_an_object_keywords_an_empty_body_none(
        self, reg, middleware
    ):
        @reg.action
        def pair(a: int, b: str = "x") -> list[Any]:
            return [a, b]

        @reg.action
        def nothing() -> str:
            return "none"

        client = middleware()
        assert client.call("pair", [1, "y"]).json == [1, "y"]
        assert client.call("pair", {"b": "z", "a": 2}).json == [2, "z"]
        assert client.call("pair", [3]).json == [3, "x"]
        assert client.call("nothing").json == "none"
        assert client.send(action="nothing").json == "none"  # no content type

    def test_the_json_media_type_matches_in_any_case(self, reg, middleware):
        @reg.action
        def echo(text: str) -> str:
            return text

        json_type = "Application/JSON; charset=utf-8"
        assert middleware().send(b'["a"]', json_type, action="echo").json == "a"

    @pytest.mark.parametrize(
        "content_type",
        [
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8",
            f"MULTIPART/FORM-DATA; boundary={BOUNDARY}",
            f"Multipart/Form-Data; BOUNDARY={BOUNDARY}",
            f'multipart/form-data; boundary="{BOUNDARY}"; charset=utf-8',
        ],
    )
    def test_form_media_types_and_their_parameters_match_in_any_case(
        self, reg, middleware, content_type
    ):
        seen: list[dict[str, str]] = []

        @reg.action
        def take(**fields: str) -> int:
            seen.append(fields)
            return len(fields)

        def body(*fields: tuple[str, str]) -> bytes:
            if content_type.lower().startswith("multipart"):
                return multipart_of(*(part(name, value) for name, value in fields))
            return urlencode(fields).encode()

        client = middleware()
        assert client.send(body(("note", "hi")), content_type, action="take").json == 1
        answer = client.send(body(("$action", "take"), ("note", "there")), content_type)
        assert answer.status_int == 200 and answer.from_app
        assert client.rendered.ok and client.rendered.form.get("note") == "there"
        assert seen == [{"note": "hi"}, {"note": "there"}]

    @pytest.mark.parametrize(
        "text",
        [
            '{"a": 1}',
            ' {"a": 1}',
            '{"a": 1}\r\n',
            '\t[1, 2.5, "\\u00e9", null, true] ',
            "[]",
            "[1] [2]",
            "[1,]",
            '{"a" 1}',
            " ",
            "",
            "nul",
            "[NaN]",
            "[1e999]",
            '"text"',
            "123",
        ],
    )
    def test_json_text_decodes_as_json_loads_has_it_and_what_it_refuses_fails(
        self, text
    ):
        try:
            expected = json.loads(text)
        except ValueError:
            expected = ValueError
        if text in ("[NaN]", "[1e999]"):  # json.loads takes them; serveract not
            expected = ValueError
        try:
            decoded = serveract._loads(text)
        except ValueError:
            decoded = ValueError
        assert decoded == expected

    def test_a_json_body_with_whitespace_around_it_binds(self, reg, middleware):
        @reg.action
        def pair(a: int, b: str) -> list[Any]:
            return [a, b]

        body = b'\r\n  {"a": 1, "b": "x"}  \n'
        assert middleware().send(body, "application/json", action="pair").json == [
            1,
            "x",
        ]

    def test_escaped_characters_in_a_form_value_arrive_as_typed(self, reg, middleware):
        @reg.action
        def echo(text: str) -> str:
            return text

        response = middleware().post("/", {"$action": "echo", "text": "a+b=c%"})
        assert response.json["result"]["value"] == "a+b=c%"


# -- Answers ------------------------------------------------------------------


@dataclasses.dataclass
class User:
    id: uuid.UUID
    name: str
    joined: datetime.datetime


class Html(str):
    """Markup, as markupsafe's ``Markup`` is."""

    def __html__(self) -> str:
        return str(self)


@dataclasses.dataclass
class Page(collections.abc.Sequence):  # type: ignore[type-arg]
    """A dataclass that is a Sequence of its items too."""

    items: list[int]
    total: int

    def __getitem__(self, index: Any) -> Any:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)


class TestAnswers:
    def test_return_values_are_encoded_the_obvious_way(self, reg, middleware):
        ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

        @reg.action
        def everything() -> dict[str, Any]:
            return {
                "none": None,
                "datetime": datetime.datetime(2026, 1, 2, 3, 4, 5),
                "date": datetime.date(2026, 1, 2),
                "time": datetime.time(3, 4),
                "decimal": decimal.Decimal("10.10"),
                "uuid": ident,
                "user": User(ident, "Ada", datetime.datetime(2026, 1, 1)),
                "enum": Color.BLUE,
                "intenum": Level.HIGH,
                "set": {3, 1, 2},
                "tuple": (1, "a"),
            }

        response = middleware().call("everything")
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.json == {
            "none": None,
            "datetime": "2026-01-02T03:04:05",
            "date": "2026-01-02",
            "time": "03:04:00",
            "decimal": "10.10",
            "uuid": str(ident),
            "user": {"id": str(ident), "name": "Ada", "joined": "2026-01-01T00:00:00"},
            "enum": "blue",
            "intenum": 2,
            "set": [1, 2, 3],
            "tuple": [1, "a"],
        }

    def test_what_its_hint_describes_as_a_list_or_an_object_is_answered_so(
        self, reg, middleware
    ):
        # -> Sequence[int], Mapping[str, int], list[str]: a range, a deque, a
        # read-only dict view and dict.values() fit them.
        @reg.action
        def collections_() -> dict[str, Any]:
            counts = {"b": 2, "a": 1}
            return {
                "range": range(3),
                "deque": collections.deque([1, 2]),
                "proxy": types.MappingProxyType(counts),
                "keys": counts.keys(),
                "values": counts.values(),
                "bytearray": bytearray(b"caf\xc3\xa9"),
            }

        assert middleware().call("collections_").json == {
            "range": [0, 1, 2],
            "deque": [1, 2],
            "proxy": {"b": 2, "a": 1},
            "keys": ["a", "b"],
            "values": [2, 1],
            "bytearray": "caf\u00e9",
        }

    def test_a_dataclass_that_is_also_a_sequence_is_answered_by_its_fields(
        self, reg, middleware
    ):
        # Its returns schema is the dataclass's object: a page that also
        # iterates its items was answered as a list, its total lost.
        @reg.action
        def page() -> Page:
            return Page([1, 2], 10)

        assert middleware().call("page").json == {"items": [1, 2], "total": 10}

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "t\u00e9xt",
            {"a": [1, 2.5, True, None], "b": {"c": "d"}, 3: "int key"},
            [datetime.date(2026, 1, 2), decimal.Decimal("1.10"), Color.BLUE, {2, 1}],
            Level.HIGH,
        ],
    )
    def test_the_prebuilt_c_encoder_writes_what_json_encoder_writes(
        self, value, monkeypatch
    ):
        fast = serveract._encode_json(value)
        monkeypatch.setattr(serveract, "_C_ENCODER", None)  # a Python without it
        assert serveract._encode_json(value) == fast
        assert json.loads(fast) == json.loads(serveract._ENCODER.encode(value))

    def test_dict_keys_are_encoded_as_their_values_are(self, reg, middleware):
        ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
        day = datetime.date(2026, 1, 2)

        @reg.action
        def keyed() -> dict[str, Any]:
            return {
                "enum": collections.Counter([Color.RED, Color.RED, Level.HIGH]),
                "date": {day: [day]},
                "uuid": {ident: decimal.Decimal("1.5")},
                "nested": [User(ident, "Ada", datetime.datetime(2026, 1, 1))],
                "in_a_dataclass_or_set": ({decimal.Decimal("2"): "two"},),
                "markup_beside_a_date": {serveract.Markup("<b>"): 1, day: 2},
                "enum_of_dates": {Holiday.NEW_YEAR: "closed"},
            }

        assert middleware().call("keyed").json == {
            "enum": {"red": 2, "2": 1},
            "date": {"2026-01-02": ["2026-01-02"]},
            "uuid": {str(ident): "1.5"},
            "nested": [
                {"id": str(ident), "name": "Ada", "joined": "2026-01-01T00:00:00"}
            ],
            "in_a_dataclass_or_set": [{"2": "two"}],
            "markup_beside_a_date": {"<b>": 1, "2026-01-02": 2},
            "enum_of_dates": {"2026-01-01": "closed"},
        }

    def test_bytes_are_answered_as_the_utf8_text_a_bytes_argument_takes(
        self, reg, middleware
    ):
        @reg.action
        def echo(data: bytes) -> bytes:
            return data

        @reg.action
        def binary() -> bytes:
            return b"\xff"

        client = middleware()
        assert client.call("echo", {"data": "caf\u00e9"}).json == "caf\u00e9"
        answer = client.call("binary", status=500)
        assert "cannot be encoded as JSON" in answer.error["message"]

    def test_a_set_that_cannot_be_sorted_is_answered_unsorted(self, reg, middleware):
        @reg.action
        def odd() -> set[Any]:
            return {decimal.Decimal("NaN"), decimal.Decimal(1)}  # NaN < 1 raises

        assert sorted(middleware().call("odd").json) == ["1", "NaN"]

    @pytest.mark.parametrize("key", [(1, 2), object()])
    def test_a_key_with_no_json_text_is_still_a_500(self, reg, middleware, key):
        @reg.action
        def tupled() -> dict[Any, int]:
            return {key: 1}

        answer = middleware().call("tupled", status=500)
        assert "cannot be encoded as JSON" in answer.error["message"]

    def test_a_cyclic_or_non_finite_answer_is_a_500(self, reg, middleware):
        @reg.action
        def cycle() -> list[Any]:
            loop: list[Any] = []
            loop.append(loop)
            return loop

        @reg.action
        def infinite() -> float:
            return float("inf")

        client = middleware()
        for name in ("cycle", "infinite"):
            answer = client.call(name, status=500)
            assert answer.error["type"] == "internal_error"
            assert "cannot be encoded as JSON" in answer.error["message"]

    def test_none_is_answered_as_null(self, reg, middleware):
        @reg.action
        def nothing() -> None:
            return None

        assert middleware().call("nothing").body == b"null"

    def test_answers_tell_the_browser_not_to_sniff(self, reg, middleware):
        @reg.action
        def ping() -> str:
            return "<script>alert(1)</script>"

        client = middleware()
        assert client.call("ping").headers["X-Content-Type-Options"] == "nosniff"
        missing = client.call("<script>", status=404)
        assert missing.headers["X-Content-Type-Options"] == "nosniff"

    def test_async_actions_run_to_completion_in_every_kind_of_call(
        self, reg, middleware
    ):
        @reg.action
        async def slow_add(a: int, b: int) -> int:
            await asyncio.sleep(0.01)
            return a + b

        @reg.action
        async def refuse() -> None:
            await asyncio.sleep(0)
            raise serveract.ActionError("nope", 409)

        client = middleware()
        assert client.call("slow_add", [2, 3]).json == 5
        assert client.call("refuse", status=409).error["message"] == "nope"
        form = client.post("/", {"$action": "slow_add", "a": "4", "b": "5"})
        assert form.json["result"]["value"] == 9

    def test_async_actions_run_when_the_caller_runs_an_event_loop(
        self, reg, middleware
    ):
        """An async test or a notebook calling the WSGI app has a running
        loop, where ``asyncio.run`` refuses to start: that was a 500."""
        marker = contextvars.ContextVar("marker", default="unset")

        @reg.action
        async def slow_add(a: int, b: int) -> list[Any]:
            await asyncio.sleep(0)
            return [a + b, marker.get()]

        @reg.action
        async def leave() -> None:
            await asyncio.sleep(0)
            raise serveract.redirect("/done")

        @reg.action
        async def refuse() -> None:
            raise serveract.ActionError("nope", 409)

        client = middleware()

        async def from_a_loop() -> list[Any]:
            marker.set("the caller's")
            return [
                client.call("slow_add", [2, 3]).json,
                client.call("leave").headers["Serveract-Redirect"],
                client.call("refuse", status=409).error["message"],
                client.post("/", {"$action": "slow_add", "a": "4", "b": "5"}).json,
            ]

        added, left, refused, form = asyncio.run(from_a_loop())
        assert (added, left, refused) == ([5, "the caller's"], "/done", "nope")
        assert form["result"]["value"] == [9, "the caller's"]

    def test_html_values_are_text_html_and_responses_are_sent_as_they_are(
        self, reg, middleware
    ):
        @reg.action
        def fragment() -> Html:
            return Html("<li>new</li>")

        @reg.action
        def custom() -> webob.Response:
            return webob.Response("plain", content_type="text/plain", status=201)

        client = middleware()
        html_answer = client.call("fragment")
        assert html_answer.content_type == "text/html"
        assert html_answer.text == "<li>new</li>"
        custom_answer = client.call("custom", status=201)
        assert custom_answer.text == "plain"
        assert custom_answer.headers["Cache-Control"] == "no-store"

    @pytest.mark.parametrize("style", ["header", "form"])
    def test_an_action_returning_a_response_is_never_cached(
        self, reg, middleware, style
    ):
        @reg.action
        def report() -> webob.Response:
            return webob.Response("saved", cache_control="public, max-age=3600")

        client = middleware()
        if style == "header":
            answer = client.call("report", [], status=200)
        else:
            answer = client.form([("$action", "report")], status=200)
        assert answer.body == b"saved"
        assert answer.headers["Cache-Control"] == "no-store"


# -- The status table ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A header call the middleware refuses, and the error it answers with."""

    id: str
    status: int
    type: str
    words: str  # in the error's message
    action: str = "add"
    body: bytes = b"[]"
    content_type: str = "application/json"
    method: str = "POST"
    origin: str | None = None


TOO_LARGE = b"[" + b"1," * 600 + b"1]"  # past max_body_size=1000

REFUSALS = [
    Refusal("400-malformed-body", 400, "bad_request", "not valid JSON", body=b"[1,"),
    Refusal("403-cross-site", 403, "forbidden", "evil.net", origin="http://evil.net"),
    Refusal("404-no-such-action", 404, "not_found", "os.system", action="os.system"),
    Refusal("405-not-post", 405, "method_not_allowed", "POST", method="GET"),
    Refusal("409-action-error", 409, "action_error", "Email taken", action="refuse"),
    Refusal("413-too-large", 413, "payload_too_large", "1000", body=TOO_LARGE),
    Refusal("415-csv", 415, "unsupported_media_type", "csv", content_type="text/csv"),
    Refusal("422-unfit", 422, "invalid_arguments", "a (expected", body=b'["x", 1]'),
    Refusal("500-crash", 500, "internal_error", "error id", action="crash"),
]


class TestStatusTable:
    @pytest.fixture
    def client(self, reg, middleware):
        @reg.action
        def add(a: int, b: int) -> int:
            return a + b

        @reg.action
        def refuse() -> None:
            raise serveract.ActionError("Email taken", 409, {"email": "taken"})

        @reg.action
        def crash() -> None:
            raise RuntimeError("database password is hunter2")

        @reg.action
        def leave() -> None:
            raise serveract.redirect("/elsewhere")

        @reg.action
        def leave_by_return() -> serveract.redirect:
            return serveract.redirect("/returned")

        @reg.action
        def swallow() -> None:
            try:
                raise serveract.redirect("/not-swallowed")
            except Exception:  # must not catch a redirect
                pass

        return middleware(max_body_size=1000)

    def test_200_with_the_return_value_as_json(self, client):
        response = client.call("add", [2, 3])
        assert (response.status_int, response.json) == (200, 5)
        assert response.headers["Cache-Control"] == "no-store"

    @pytest.mark.parametrize(
        ("name", "url"),
        [
            pytest.param("leave", "/elsewhere", id="raised"),
            pytest.param("leave_by_return", "/returned", id="returned"),
            pytest.param("swallow", "/not-swallowed", id="not-an-Exception"),
        ],
    )
    def test_200_with_serveract_redirect_when_the_action_redirects(
        self, client, name, url
    ):
        response = client.call(name)
        assert response.status_int == 200
        assert response.json == {"redirect": url}
        assert response.headers["Serveract-Redirect"] == url
        assert response.headers["Cache-Control"] == "no-store"
        assert "HX-Redirect" not in response.headers
        htmx = client.call(name, headers={"HX-Request": "true"})
        assert htmx.headers["HX-Redirect"] == url

    @pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.id)
    def test_a_refused_call_answers_its_status_and_the_error_body(self, client, case):
        response = client.send(
            case.body,
            case.content_type,
            action=case.action,
            method=case.method,
            headers={"Origin": case.origin} if case.origin else {},
            status=case.status,
        )
        error = response.error  # checks the body's shape and no-store
        assert error["type"] == case.type
        assert case.words in error["message"]
        assert "hunter2" not in response.text

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
    def test_405_names_post_in_allow(self, client, method):
        response = client.send(action="add", method=method, status=405)
        assert response.headers["Allow"] == "POST"

    def test_an_action_error_sends_its_status_message_and_data(self, client):
        assert client.call("refuse", status=409).error == {
            "type": "action_error",
            "message": "Email taken",
            "data": {"email": "taken"},
        }

    def test_an_action_error_or_redirect_cannot_have_a_success_status(self):
        with pytest.raises(ValueError):
            serveract.ActionError("ok?", 200)
        with pytest.raises(ValueError):
            serveract.redirect("/x", 200)
        assert not isinstance(serveract.redirect("/x"), Exception)

    @pytest.mark.parametrize("status", [300, 304, 305, 306, 309, 399])
    def test_a_redirect_status_is_one_browsers_follow(self, status):
        # 304 Not Modified with a Location would show the user an empty page.
        with pytest.raises(ValueError, match="301, 302, 303, 307 or 308"):
            serveract.redirect("/x", status)
        for status in (301, 302, 303, 307, 308):
            assert serveract.redirect("/x", status).status == status

    def test_an_action_error_or_redirect_status_is_a_whole_number(
        self, reg, middleware
    ):
        # "400.5 Error" would be the status line the server sends.
        with pytest.raises(TypeError):
            serveract.ActionError("half", 400.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            serveract.redirect("/x", 303.5)  # type: ignore[arg-type]
        assert serveract.ActionError("taken", HTTPStatus.CONFLICT).status == 409

        @reg.action
        def taken() -> None:
            raise serveract.ActionError("taken", HTTPStatus.CONFLICT)

        assert middleware().call("taken", status=409).error["message"] == "taken"


# -- Redirects ----------------------------------------------------------------


def post(url: str, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    connection.request("POST", "/page", body, headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


class TestRedirects:
    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("javascript:alert(document.cookie)", id="javascript"),
            pytest.param("JavaScript:alert(1)", id="javascript-mixed-case"),
            pytest.param(" javascript:alert(1)", id="javascript-after-a-space"),
            pytest.param("\tjavascript:alert(1)", id="javascript-after-a-tab"),
            pytest.param("java\tscript:alert(1)", id="javascript-split-by-a-tab"),
            pytest.param("java\nscript:alert(1)", id="javascript-split-by-a-newline"),
            pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
            pytest.param("vbscript:msgbox(1)", id="vbscript"),
            pytest.param("file:///etc/passwd", id="file"),
            pytest.param("/next\r\nSet-Cookie: session=stolen", id="crlf"),
            pytest.param("/next\nLocation: https://evil.example", id="lf"),
            pytest.param("/next\rX: y", id="cr"),
            pytest.param("/a\x00b", id="nul"),
            pytest.param("/a\x7fb", id="del"),
        ],
    )
    def test_a_redirect_refuses_other_schemes_and_control_characters(self, url):
        with pytest.raises(ValueError):
            serveract.redirect(url)

    @pytest.mark.parametrize(
        "url",
        [
            "/",
            "/todos?page=2#top",
            "?fresh=1",
            "#section",
            "../up",
            "done",
            "https://example.com/next",
            "http://example.com",
            "HTTPS://Example.com/x",
            "/search?q=a%20b",
        ],
    )
    def test_a_redirect_keeps_relative_and_http_urls_as_given(self, url):
        assert serveract.redirect(url).url == url

    @pytest.mark.parametrize(
        ("url", "encoded"),
        [
            ("/search?q=日本", "/search?q=%E6%97%A5%E6%9C%AC"),
            ("/café", "/caf%C3%A9"),
            (
                "https://example.com/ü?x=ö#ä",
                "https://example.com/%C3%BC?x=%C3%B6#%C3%A4",
            ),
            ("/already%20encoded/é", "/already%20encoded/%C3%A9"),
        ],
    )
    def test_a_redirect_percent_encodes_non_ascii(self, url, encoded):
        assert serveract.redirect(url).url == encoded

    def test_a_client_chosen_javascript_url_never_reaches_a_redirect_header(
        self, reg, middleware
    ):
        """``?next=`` from the client: making the redirect fails inside the
        action, a logged 500 with an id; no header carries the URL."""

        @reg.action
        def sign_in(next: str = "/") -> None:
            raise serveract.redirect(next)

        client = middleware()
        body = {"next": "javascript:alert(document.cookie)"}
        answer = client.call(
            "sign_in", body, headers={"HX-Request": "true"}, status=500
        )
        error = answer.error
        assert error["type"] == "internal_error"
        assert error["data"]["error_id"] in error["message"]
        assert b"javascript" not in answer.body
        for name in ("serveract-redirect", "hx-redirect", "location"):
            assert name not in answer.headers
        answer = client.form([("$action", "sign_in"), ("next", "javascript:alert(1)")])
        assert answer.status_int == 200 and "location" not in answer.headers
        assert client.rendered.error.status == 500

    def test_non_ascii_redirects_go_through_waitress_as_ascii(self, reg, middleware):
        """Before, waitress failed with ``UnicodeEncodeError`` on these."""

        @reg.action
        def search() -> None:
            raise serveract.redirect("/search?q=日本")

        encoded = "/search?q=%E6%97%A5%E6%9C%AC"
        with serving(middleware().app) as url:
            headers = {"Serveract-Action": "search", "HX-Request": "true"}
            answer = post(url, b"", headers)
            assert answer.status == 200
            assert answer.getheader("Serveract-Redirect") == encoded
            assert answer.getheader("HX-Redirect") == encoded
            answer = post(url, b"%24action=search", {"Content-Type": FORM})
            assert answer.status == 303
            assert answer.getheader("Location") == encoded
        for name, value in answer.getheaders():
            assert value.isascii(), (name, value)


# -- Forms without JavaScript -------------------------------------------------


class TestNoJavaScriptForms:
    @pytest.fixture
    def client(self, reg, middleware):
        @reg.action
        def create_user(name: str, email: str, age: int) -> dict[str, Any]:
            if "@" not in email:
                raise serveract.ActionError(
                    "Check the form", 400, {"email": "invalid email"}
                )
            return {"id": 1, "name": name}

        @reg.action
        def sign_out() -> None:
            raise serveract.redirect("/goodbye", 303)

        return middleware()

    def test_success_renders_the_same_url_as_a_get_with_the_value(self, client):
        response = client.post(
            "/signup?step=2",
            [
                ("$action", "create_user"),
                ("name", "Ada"),
                ("email", "a@x"),
                ("age", "36"),
            ],
        )
        assert response.status_int == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.json == {
            "method": "GET",
            "body_length": 0,
            "result": {
                "name": "create_user",
                "ok": True,
                "value": {"id": 1, "name": "Ada"},
                "status": None,
                "message": None,
                "fields": None,
                "form": {"name": "Ada", "email": "a@x", "age": "36"},
            },
        }
        assert (client.calls[-1].path, client.calls[-1].query) == ("/signup", "step=2")

    def test_the_outcome_is_a_serveract_result_with_the_form_as_a_multidict(
        self, client
    ):
        client.post("/", [("$action", "create_user"), ("name", "A"), ("name", "B")])
        outcome = client.calls[-1].result
        assert isinstance(outcome, serveract.Result)
        assert isinstance(outcome.form, webob.multidict.MultiDict)
        assert outcome.form.getall("name") == ["A", "B"]

    def test_an_action_error_shows_its_message_and_field_errors_and_keeps_the_form(
        self, client
    ):
        result = client.post(
            "/signup",
            [
                ("$action", "create_user"),
                ("name", "Ada"),
                ("email", "nope"),
                ("age", "1"),
            ],
        ).json["result"]
        assert result["ok"] is False
        assert result["status"] == 400
        assert result["message"] == "Check the form"
        assert result["fields"] == {"email": "invalid email"}
        assert result["form"]["email"] == "nope"

    def test_bad_arguments_show_an_error_per_field(self, client):
        result = client.post(
            "/signup", [("$action", "create_user"), ("name", "Ada"), ("age", "old")]
        ).json["result"]
        assert result["status"] == 422
        assert result["fields"] == {"age": "expected an integer", "email": "required"}

    def test_a_multipart_form_calls_the_action_too(self, client):
        response = client.post(
            "/signup",
            [
                ("$action", "create_user"),
                ("name", "Ada"),
                ("email", "a@x"),
                ("age", "2"),
            ],
            upload_files=[("avatar", "me.png", b"\x89PNG...")],
        )
        assert response.json["result"]["value"] == {"id": 1, "name": "Ada"}

    def test_the_server_still_sees_the_post(self, reg, recorder):
        @reg.action
        def ping() -> str:
            return "pong"

        seen: list[str] = []
        actions = serveract.ServerActions(validator(recorder), reg)

        def access_log(environ: dict[str, Any], start_response: Any) -> Any:
            answer = actions(environ, start_response)
            seen.append(environ["REQUEST_METHOD"])  # read after, as logs do
            return answer

        response = webtest.TestApp(access_log).post("/", {"$action": "ping"})
        assert response.json["method"] == "GET"  # what the app rendered
        assert seen == ["POST"]

    @pytest.mark.parametrize("how", ["urlencoded", "multipart"])
    def test_the_request_and_the_context_read_the_whole_submitted_body(
        self, reg, middleware, how
    ):
        # The form is read once to find the action; an action taking the
        # request, and a framework's context, still get the whole body.
        seen: list[Any] = []

        @reg.action
        def rename(request: webob.Request, title: str) -> str:
            whole = len(request.body) == request.content_length
            seen.append(("action", request.POST.get("title"), whole))
            return title.upper()

        @contextlib.contextmanager
        def framework(environ: dict[str, Any]) -> Iterator[None]:
            seen.append(("context", webob.Request(environ).POST.get("title")))
            yield

        client = middleware(context=framework)
        fields = [("$action", "rename"), ("title", "héllo wörld & more")]
        if how == "urlencoded":
            response = client.post("/", fields)
        else:
            response = client.post("/", fields, upload_files=[("f", "a.txt", b"x")])
        assert response.json["result"]["value"] == "HÉLLO WÖRLD & MORE"
        assert seen == [
            ("context", "héllo wörld & more"),
            ("action", "héllo wörld & more", True),
        ]

    @pytest.mark.parametrize(
        ("set_cookie", "seen"),
        [
            pytest.param("session=new; Path=/", "session=new; theme=dark", id="set"),
            pytest.param("session=; Max-Age=0", "theme=dark", id="max-age-0"),
            # Werkzeug's set_cookie(name, "", expires=0), Bottle's and
            # http.cookies' deletions: a date that has passed, no Max-Age.
            pytest.param(
                "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
                "theme=dark",
                id="expires-passed",
            ),
            pytest.param(
                "session=; expires=Thursday, 01-Jan-70 00:00:01 GMT",
                "theme=dark",
                id="expires-rfc850",
            ),
            # Max-Age wins over Expires (RFC 6265, 5.3).
            pytest.param(
                "session=new; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "session=new; theme=dark",
                id="max-age-wins",
            ),
            pytest.param(
                "session=new; Expires=Fri, 31 Dec 9999 23:59:59 GMT",
                "session=new; theme=dark",
                id="expires-later",
            ),
            # Not a number: ignored, as browsers ignore it (it was a crash).
            pytest.param(
                "session=new; Max-Age=\xb2", "session=new; theme=dark", id="odd"
            ),
            # A date past what the clock can count is far in the future.
            pytest.param(
                "session=new; Expires=Fri, 31 Dec 99999999999 23:59:59 GMT",
                "session=new; theme=dark",
                id="expires-past-the-clock",
            ),
            # No name, or no "=": a cookie the browser ignores (RFC 6265).
            pytest.param("=new", "session=old; theme=dark", id="no-name"),
            pytest.param("session", "session=old; theme=dark", id="no-value"),
        ],
    )
    def test_the_page_rendered_again_sees_the_cookies_the_action_set(
        self, reg, middleware, recorder, set_cookie, seen
    ):
        added = [("Set-Cookie", set_cookie)]
        _, response = self.render_with(
            reg, middleware, "session=old; theme=dark", added
        )
        assert response.headers.getall("Set-Cookie") == [set_cookie]
        assert recorder.calls[-1].headers["HTTP_COOKIE"] == seen

    @pytest.mark.parametrize(
        ("added", "seen"),
        [
            # The app read a=1 (the first) when the browser sent both.
            pytest.param(
                [("Set-Cookie", "flash=hi")],
                "a=1; a=2; theme=dark; lone; flash=hi",
                id="another-cookie",
            ),
            pytest.param([("Set-Cookie", "a=3")], "a=3; theme=dark; lone", id="same"),
            pytest.param([("X-Frame-Options", "DENY")], "a=1; a=2; theme=dark; lone"),
        ],
    )
    def test_cookies_the_action_did_not_set_reach_the_page_as_they_were_sent(
        self, reg, middleware, recorder, added, seen
    ):
        client, _ = self.render_with(
            reg, middleware, "a=1; a=2; theme=dark; lone", added
        )
        assert recorder.calls[-1].headers["HTTP_COOKIE"] == seen
        client.post("/", {"$action": "note"})
        if added[0][0] == "Set-Cookie":
            assert recorder.calls[-1].headers["HTTP_COOKIE"] == added[0][1]
        else:  # no cookie sent, none set: no Cookie header made up
            assert "HTTP_COOKIE" not in recorder.calls[-1].headers

    @staticmethod
    def render_with(
        reg: Any, middleware: Any, cookie: str, added: list[tuple[str, str]]
    ) -> Any:
        """A no-JS form call sent with ``Cookie: cookie`` whose framework adds
        the headers ``added`` (as Flask's session does); its answer, the page
        rendered again as a GET, and the client that sent it."""

        @reg.action
        def note() -> None:
            pass

        @contextlib.contextmanager
        def framework(environ: dict[str, Any]) -> Iterator[None]:
            yield
            environ["serveract.response_headers"].extend(added)

        client = middleware(context=framework)
        response = client.post("/", {"$action": "note"}, headers={"Cookie": cookie})
        assert response.json["method"] == "GET"
        return client, response

    def test_a_redirect_answers_303_see_other(self, client):
        response = client.post("/account", {"$action": "sign_out"}, status=303)
        assert response.headers["Location"].endswith("/goodbye")
        assert response.headers["Cache-Control"] == "no-store"

    def test_a_submitter_button_naming_an_action_overrides_the_hidden_field(
        self, client
    ):
        response = client.post(
            "/account",
            [("$action", "create_user"), ("$action", "sign_out")],
            status=303,
        )
        assert response.headers["Location"].endswith("/goodbye")

    def test_the_result_is_none_for_requests_that_call_no_action(self, client):
        assert client.get("/").json["result"] is None
        assert serveract.result({}) is None

    @pytest.mark.parametrize("body", [b"%24action=ping&note=slow", b"note=slow"])
    def test_a_form_handed_over_a_few_bytes_per_read_is_read_whole(
        self, middleware, pings, body
    ):
        class Trickle(ServerBody):  # a server returning what has arrived so far
            def read(self, size: int = -1) -> bytes:
                return self._data.read(size if size < 0 else min(size, 5))

        client = middleware()
        client.send(body, FORM, stream=Trickle(body))
        if body.startswith(b"%24action"):
            assert pings == ["slow"]
        else:
            assert pings == [] and client.calls[-1].body == body

    @pytest.mark.parametrize("how", ["form", "header", "header-multipart"])
    def test_a_body_an_outer_webob_middleware_already_read_is_still_an_action_call(
        self, reg, recorder, how
    ):
        # A CSRF check reads request.POST: WebOb leaves the input seekable, at
        # its end, and flagged webob.is_body_seekable; its readers seek to 0.
        @reg.action
        def add(title: str) -> str:
            return f"added {title}"

        inner = serveract.ServerActions(recorder, reg)

        def outer(environ: dict[str, Any], start_response: Any) -> Any:
            assert webob.Request(environ).POST.get("title") == "milk"
            return inner(environ, start_response)

        fields = {"$action": "add", "title": "milk"}
        request = webob.Request.blank("/todos?page=2", POST=fields)
        if how == "header-multipart":
            body, content_type = multipart_of(part("title", "milk")), MULTIPART
            request = webob.Request.blank("/todos?page=2", method="POST")
            request.body, request.content_type = body, content_type
        if how != "form":
            request.headers["Serveract-Action"] = "add"
        answer = request.get_response(outer)
        if how == "form":
            (seen,) = recorder.calls
            assert seen.method == "GET" and seen.query == "page=2"
            assert seen.result is not None and seen.result.value == "added milk"
        else:
            assert answer.json == "added milk" and recorder.calls == []

    def test_a_body_flagged_as_not_seekable_is_read_as_it_comes(self, reg, middleware):
        # WebOb's flag may be False too: the server's own stream, never rewound.
        @reg.action
        def add(title: str) -> str:
            return f"added {title}"

        body = b"title=milk"
        headers = {"Serveract-Action": "add"}
        environ = environ_for("POST", body, FORM, headers, stream=ServerBody(body))
        environ["webob.is_body_seekable"] = False
        assert middleware().serve(environ, status=200).json == "added milk"

    def test_a_page_that_fails_while_rendering_again_answers_its_error_page(
        self, reg, middleware
    ):
        # PEP 3333: an app may call start_response again, with exc_info,
        # until it has sent a byte; the error page must not be cached either.
        @reg.action
        def note() -> str:
            return "noted"

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/html")])
            try:
                raise RuntimeError("the template is broken")
            except RuntimeError:
                start_response(
                    "500 Internal Server Error",
                    [("Content-Type", "text/plain"), ("Cache-Control", "max-age=60")],
                    sys.exc_info(),
                )
            return [b"sorry"]

        response = middleware(app).post("/", {"$action": "note"}, status=500)
        assert response.body == b"sorry"
        assert response.headers.getall("Cache-Control") == ["no-store"]


# -- Pass-through, byte for byte ----------------------------------------------


def read_all(readinto: Callable[[Any], int], buffer: Any) -> bytes:
    """All of a stream, read into ``buffer`` piece by piece."""
    data, view = bytearray(), memoryview(buffer).cast("B")
    while count := readinto(buffer):
        data += view[:count]
    return bytes(data)


class TestPassThrough:
    @pytest.fixture
    def client(self, reg, middleware):
        @reg.action
        def add(a: int, b: int) -> int:
            return a + b

        return middleware()

    def test_a_get_keeps_its_path_query_and_headers(self, client):
        client.get("/items/7?sort=desc&q=%24action", headers={"X-Custom": "kept"})
        seen = client.calls[-1]
        assert (seen.method, seen.body) == ("GET", b"")
        assert (seen.path, seen.query) == ("/items/7", "sort=desc&q=%24action")
        assert seen.headers["HTTP_X_CUSTOM"] == "kept"
        assert seen.result is None

    def test_a_get_naming_an_action_in_its_query_is_the_apps(self, client):
        response = client.get("/page?%24action=add&a=1&b=2")
        assert response.headers["X-From"] == "the app"
        assert client.calls[-1].result is None

    def test_a_json_post_without_the_header_is_the_apps(self, client):
        body = json.dumps({"$action": "add", "a": 1}).encode()
        client.post("/api", body, content_type="application/json")
        seen = client.calls[-1]
        assert (seen.method, seen.content_type, seen.body) == (
            "POST",
            "application/json",
            body,
        )

    def test_a_urlencoded_post_without_the_field_is_the_apps(self, client):
        body = b"name=Ada&note=%24action%3Dadd&x=" + b"y" * 20000
        client.post("/form", body, content_type="application/x-www-form-urlencoded")
        assert (client.calls[-1].path, client.calls[-1].body) == ("/form", body)

    def test_a_form_naming_an_action_past_its_first_bytes_is_the_apps(self, client):
        # The hidden field goes first in a form; one found later is data.
        body = urlencode([("text", "y" * 20000), ("$action", "add")]).encode()
        response = client.post("/", body, content_type=FORM)
        assert response.json["result"] is None
        assert client.calls[-1].body == body

    def test_a_two_megabyte_multipart_upload_arrives_whole(self, client):
        payload = bytes(range(256)) * 8192  # 2 MiB, every byte value
        response = client.post(
            "/upload",
            [("title", "big"), ("note", 'name="$action"')],
            upload_files=[("file", "big.bin", payload)],
        )
        seen = client.calls[-1]
        assert response.json["body_length"] == len(seen.body) > len(payload)
        assert payload in seen.body
        assert seen.content_type.startswith("multipart/form-data; boundary=")

    def test_a_multipart_body_reaches_the_app_byte_for_byte(self, client):
        body = (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
            + bytes(range(256)) * 4000
            + b"\r\n--XyZ--\r\n"
        )
        client.send(body, "multipart/form-data; boundary=XyZ", path="/u")
        assert (client.calls[-1].path, client.calls[-1].body) == ("/u", body)

    def test_a_look_alike_part_header_passes_through(self, client):
        body = (
            b'--B\r\nContent-Disposition: form-data; xname="$action"; '
            b'name="a"\r\n\r\nadd\r\n--B--\r\n'
        )
        client.send(body, "multipart/form-data; boundary=B")
        assert client.calls[-1].body == body

    def test_an_empty_form_post_and_other_methods_pass_through(self, client):
        client.post("/empty", b"", content_type=FORM)
        assert (client.calls[-1].method, client.calls[-1].body) == ("POST", b"")
        client.put("/thing", b"a=1", content_type=FORM)
        assert (client.calls[-1].method, client.calls[-1].body) == ("PUT", b"a=1")

    def test_a_body_read_line_by_line_arrives_whole(self, middleware):
        lines: list[bytes] = []

        def line_reader(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            lines.extend(iter(environ["wsgi.input"].readline, b""))
            start_response("204 No Content", [])
            return []

        body = b"a=1\n" * 5000
        middleware(line_reader).post("/", body, content_type=FORM, status=204)
        assert b"".join(lines) == body
        assert len(lines) == 5000

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            pytest.param(b"title=milk&done=on", FORM, id="urlencoded"),
            pytest.param(
                b"title=" + b"m" * 20_000, FORM, id="urlencoded-past-the-peek"
            ),
            pytest.param(
                multipart_of(part("title", "milk")), MULTIPART, id="multipart"
            ),
            pytest.param(
                multipart_of(part("title", "m" * 20_000)),
                MULTIPART,
                id="multipart-long",
            ),
        ],
    )
    @pytest.mark.parametrize("length", ["exact", "chunked"])
    def test_a_passed_through_form_keeps_the_servers_own_input_stream(
        self, middleware, recorder, pings, body, content_type, length
    ):
        """The app still finds what the server put on ``wsgi.input`` (the
        validator would hide it: not used here), and reads the body as sent."""
        found: dict[str, Any] = {}

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            stream = environ["wsgi.input"]
            found["reader"] = stream.reader
            found["server_only"] = stream.server_only()
            return recorder(environ, start_response)

        client = middleware(app, validate=False)
        stream = ServerBody(body)
        answer = client.send(body, content_type, length=length, stream=stream)
        assert answer.status_int == 200 and answer.from_app
        assert recorder.calls[-1].body == body
        assert found == {
            "reader": "the server's reader",
            "server_only": "a method of the server's stream",
        }
        assert pings == []

    @pytest.mark.parametrize("sent", [b"", b"title=mi"], ids=["at-once", "midway"])
    def test_an_input_that_fails_while_peeked_at_fails_for_the_app_not_the_server(
        self, middleware, sent
    ):
        """A body that breaks off (a client that stops sending, a timeout)
        raises in the app's own read, as without the middleware."""

        class Breaking(io.RawIOBase):
            def __init__(self) -> None:
                self._sent = io.BytesIO(sent)

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                count = self._sent.readinto(buffer)
                if count:
                    return count
                raise TimeoutError("timed out")

        met: list[Exception] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            try:
                environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            except TimeoutError as error:
                met.append(error)
            start_response("408 Request Timeout", [("Content-Type", "text/plain")])
            return [b"the app's own answer"]

        client = middleware(app, validate=False)
        answer = client.send(b"title=milk&done=on", FORM, stream=Breaking(), status=408)
        assert answer.body == b"the app's own answer"
        assert len(met) == 1

    @pytest.mark.parametrize("length", ["exact", "chunked"])
    @pytest.mark.parametrize("reader", ["readinto", "read1"])
    def test_a_passed_through_form_read_by_the_buffer_protocol_arrives_whole(
        self, middleware, pings, length, reader
    ):
        """Werkzeug (Flask) reads a body with ``readinto``, ``io.TextIOWrapper``
        with ``read1``, when the stream has them, as the socket file of
        wsgiref or Werkzeug's own server has: the peeked bytes come first."""

        class SocketFile(ServerBody):
            def readinto(self, buffer: Any) -> int:
                return self._data.readinto(buffer)

            def read1(self, size: int = -1) -> bytes:
                return self._data.read1(size)

            closed = False

            def readable(self) -> bool:
                return True

            def writable(self) -> bool:
                return False

        seen: list[bytes] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            stream, data = environ["wsgi.input"], bytearray()
            if reader == "readinto":
                buffer = bytearray(4096)  # as werkzeug.wsgi.LimitedStream reads
                while count := stream.readinto(buffer):
                    data += buffer[:count]
            else:
                for line in io.TextIOWrapper(stream, encoding="latin-1", newline=""):
                    data += line.encode("latin-1")
            seen.append(bytes(data))
            start_response("204 No Content", [])
            return []

        body = b"title=milk\n&done=on&note=" + b"n" * 10_000
        for data in (body[:18], body):  # all of it peeked, or not all
            client = middleware(app, validate=False)
            client.send(data, FORM, length=length, stream=SocketFile(data), status=204)
            assert seen.pop() == data
        assert pings == []

    @pytest.mark.parametrize(
        "use",
        [
            pytest.param(lambda s: s.peek(4)[:4], id="peek"),
            pytest.param(lambda s: read_all(s.readinto1, bytearray(6)), id="readinto1"),
            pytest.param(lambda s: (next(s), next(s)), id="next"),
            pytest.param(lambda s: [line for line in s][:2], id="iteration"),
            pytest.param(
                lambda s: read_all(s.readinto, memoryview(bytearray(8)).cast("I")),
                id="readinto-wide-buffer",
            ),
        ],
    )
    def test_a_passed_through_form_reads_the_same_by_every_file_method(
        self, middleware, pings, use
    ):
        """Whatever buffered-file method the app reads the body with, the
        peeked bytes come first, as from the server's socket file."""

        class Socket(io.RawIOBase):  # a socket: not seekable, read in pieces
            def __init__(self, data: bytes) -> None:
                self._data = io.BytesIO(data)

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                return self._data.readinto(memoryview(buffer)[:5])

        body = b"title=milk\n&done=on\n&note=" + b"n" * 100
        seen: list[Any] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            seen.append(use(environ["wsgi.input"]))
            start_response("204 No Content", [])
            return []

        client = middleware(app, validate=False)
        stream = io.BufferedReader(Socket(body))
        client.send(body, FORM, stream=stream, status=204)
        assert seen == [use(io.BufferedReader(Socket(body)))]
        assert pings == []

    @pytest.mark.parametrize("length", ["exact", "chunked"])
    @pytest.mark.parametrize(
        "use",
        [
            pytest.param(lambda s: s.read(), id="read"),
            pytest.param(lambda s: b"".join(iter(s.readline, b"")), id="readline"),
            pytest.param(lambda s: b"".join(s), id="iteration"),
            pytest.param(lambda s: b"".join(s.readlines()), id="readlines"),
            pytest.param(lambda s: b"".join(iter(s.read1, b"")), id="read1"),
        ],
    )
    def test_a_passed_through_form_read_with_no_size_asks_the_server_for_none(
        self, middleware, pings, length, use
    ):
        """PEP 3333 has servers take ``read()`` and ``readline()`` with no
        argument, and no more: cheroot (CherryPy's server) takes a size of
        -1 as a size, and reads its socket on past the body, into the next
        request, or reads nothing of a chunked body."""

        class PEP3333Body(ServerBody):
            def read(self, size: int | None = None) -> bytes:
                assert size is None or size >= 0, f"read({size}) of a WSGI input"
                return self._data.read(size)

            def readline(self) -> bytes:  # PEP 3333: "size" is not supported
                return self._data.readline()

        seen: list[bytes] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            seen.append(use(environ["wsgi.input"]))
            start_response("204 No Content", [])
            return []

        body = b"title=milk\n&note=" + b"n" * 10_000 + b"\n&done=on"
        client = middleware(app, validate=False)
        client.send(body, FORM, length=length, stream=PEP3333Body(body), status=204)
        assert seen == [body]
        assert pings == []

    def test_a_passed_through_form_body_is_a_context_manager(self, middleware, pings):
        closed: list[bool] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with environ["wsgi.input"] as body:
                data = body.read()
            closed.append(body.closed)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [data]

        body = b"title=milk&done=on"
        stream = io.BufferedReader(io.BytesIO(body))
        stream.seekable = lambda: False  # type: ignore[method-assign]
        answer = middleware(app, validate=False).send(body, FORM, stream=stream)
        assert answer.body == body and closed == [True]
        assert pings == []

    def test_a_passed_through_form_body_is_left_to_the_server_to_close(
        self, middleware, pings
    ):
        """The app's input holds bytes the server's stream no longer has: it
        cannot seek, tell or give a file descriptor (a read through any of
        them would skip those bytes). Closing it closes the server's stream;
        collecting it does not (the server may read on from it)."""
        closes: list[bool] = []
        inputs: list[Any] = []

        class SocketFile(ServerBody):
            def fileno(self) -> int:
                return 3

            def tell(self) -> int:
                return 18

            def close(self) -> None:
                closes.append(True)

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            inputs.append(environ["wsgi.input"])
            start_response("204 No Content", [])
            return []

        body = b"title=milk&done=on"
        client = middleware(app, validate=False)
        client.send(body, FORM, stream=SocketFile(body), status=204)
        replay = inputs.pop()
        assert (replay.readable(), replay.seekable(), replay.closed) == (
            True,
            False,
            False,
        )
        with pytest.raises(io.UnsupportedOperation):
            replay.fileno()
        with pytest.raises(io.UnsupportedOperation):
            replay.tell()
        assert replay.read() == body and replay.server_only()
        collected = weakref.ref(replay)
        del replay
        gc.collect()
        assert collected() is None and closes == []
        client.send(body, FORM, stream=SocketFile(body), status=204)
        inputs.pop().close()
        assert closes == [True]
        # A stream with no close() of its own (gunicorn's Body) is closed as
        # far as the app can tell: with, then closed.
        client.send(body, FORM, stream=ServerBody(body), status=204)
        with inputs.pop() as replay:
            assert replay.read() == body
        assert replay.closed
        assert pings == []

    def test_an_environ_without_request_method_passes_through(self, middleware, pings):
        client = middleware(validate=False)
        environ = environ_for("POST", b"%24action=ping", FORM)
        del environ["REQUEST_METHOD"]
        assert client.serve(environ, status=200).from_app
        assert pings == []
        assert client.calls[-1].method is None

    @pytest.mark.parametrize(
        "missing",
        ["REQUEST_METHOD", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING", "SERVER_NAME"],
    )
    def test_a_get_missing_an_optional_key_passes_through(
        self, middleware, pings, missing
    ):
        client = middleware(validate=False)
        environ = environ_for("GET")
        del environ[missing]
        assert client.serve(environ, status=200).from_app
        assert pings == []


# -- Options, the client script, hidden fields --------------------------------


class TestOptions:
    def test_the_header_field_and_client_path_can_be_renamed(self, reg, middleware):
        @reg.action
        def ping() -> str:
            return "pong"

        client = middleware(header="X-Call", field="_do", client_path="/static/sa.js")
        assert client.post("/", b"", headers={"X-Call": "ping"}).json == "pong"
        form = client.post("/", {"_do": "ping"}).json
        assert form["result"]["value"] == "pong"
        # The default names are now the app's own.
        passed = client.post("/", b"", headers={"Serveract-Action": "ping"}).json
        assert passed["result"] is None and passed["method"] == "POST"
        client.post("/", {"$action": "ping"})
        assert client.calls[-1].body == b"%24action=ping"
        script = client.get("/static/sa.js")
        assert '"X-Call"' in script.text and '"_do"' in script.text
        assert client.get("/serveract.js").json["method"] == "GET"

    @pytest.mark.parametrize(
        ("field", "body"),
        [
            # Browsers write a space as +, encode ~ and leave * as it is
            # (the WHATWG urlencoded serializer), unlike urllib's quote().
            pytest.param("my action", b"my+action=ping", id="space"),
            pytest.param("act~ion", b"act%7Eion=ping", id="tilde"),
            pytest.param("act*ion", b"act*ion=ping", id="star"),
            pytest.param("act~ion", b"act~ion=ping", id="tilde-unencoded"),
        ],
    )
    def test_a_renamed_field_is_found_as_a_browser_encodes_it(
        self, reg, middleware, pings, field, body
    ):
        client = middleware(field=field)
        outcome = client.post("/", body, content_type=FORM).json["result"]
        assert outcome is not None and outcome["ok"]
        assert pings == [""]

    @pytest.mark.parametrize(
        ("field", "body"),
        [
            # "a+b=" is the field "a b", "a%41=" the field "aA": not ours.
            pytest.param("a+b", b"a+b=ping&note=x", id="plus"),
            pytest.param("a%41", b"a%41=ping&note=x", id="escape"),
        ],
    )
    def test_a_form_field_only_spelled_like_the_renamed_field_passes_through(
        self, reg, middleware, pings, field, body
    ):
        client = middleware(field=field)
        passed = client.post("/", body, content_type=FORM).json
        assert passed["result"] is None and passed["method"] == "POST"
        assert client.calls[-1].body == body and pings == []

    def test_bad_configuration_fails_when_the_middleware_is_built(self, reg):
        app = Recorder()
        with pytest.raises(TypeError):
            serveract.ServerActions("not an app", reg)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            serveract.ServerActions(app, reg, max_body_size=-1)
        with pytest.raises(ValueError):
            serveract.ServerActions(app, reg, client_path="serveract.js")
        with pytest.raises(ValueError, match="client_path"):
            serveract.ServerActions(app, reg, client_path=None)  # type: ignore[arg-type]
        # A header no client can send (HTTP names are tokens: no spaces).
        for header in ("My Action", "", "X-Action:", "Aktion\u00e9"):
            with pytest.raises(ValueError, match="header"):
                serveract.ServerActions(app, reg, header=header)
        # Names that are no str at all: the option named, not re's TypeError.
        for names in ({"header": None}, {"header": b"X-Action"}, {"field": 3}):
            with pytest.raises(TypeError, match="header and field must be str"):
                serveract.ServerActions(app, reg, **names)  # type: ignore[arg-type]
        # A limiter is checked when it is given, not at the first call (a 500).
        with pytest.raises(TypeError, match="limiter"):
            serveract.ServerActions(app, reg, limiter=object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="registry"):
            serveract.ServerActions(app, {"ping": print})  # type: ignore[arg-type]
        for action_path in ("/_serveract", "_serveract/", ""):
            with pytest.raises(ValueError, match="action_path"):
                serveract.ServerActions(app, reg, action_path=action_path)
        # A script under the action path would be taken for a call (a 405).
        with pytest.raises(ValueError, match="client_path must not be under"):
            serveract.ServerActions(app, reg, client_path="/_serveract/client.js")
        assert serveract.ServerActions(
            app, reg, client_path="/_serveract/client.js", action_path=None
        )

    def test_a_hint_naming_nothing_defined_fails_when_the_middleware_is_built(
        self, reg
    ):
        # At registration the name may still be defined later in the module.
        def save(item: Later) -> None: ...  # type: ignore[name-defined]  # noqa: F821

        reg.action(save)
        with pytest.raises(
            TypeError, match="'save': a type hint names something undefined"
        ):
            serveract.ServerActions(Recorder(), reg)

    def test_the_client_script_is_served_with_an_etag_and_answers_304(self, middleware):
        client = middleware()
        response = client.get("/serveract.js")
        assert response.content_type == "text/javascript"
        assert "serveract" in response.text and "callWith" in response.text
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "no-cache"
        again = client.get("/serveract.js", headers={"If-None-Match": etag}, status=304)
        assert again.body == b""
        assert again.headers["ETag"] == etag
        weak = {"If-None-Match": f'"other", W/{etag}'}
        assert client.get("/serveract.js", headers=weak, status=304).body == b""
        packed = {"If-None-Match": f'"other",W/{etag}'}  # no space: still a list
        assert client.get("/serveract.js", headers=packed, status=304).body == b""
        # "*" matches any version the client holds (RFC 9110, 13.1.2).
        anything = {"If-None-Match": " * "}
        assert client.get("/serveract.js", headers=anything, status=304).body == b""
        assert client.head("/serveract.js", headers=anything, status=304).body == b""
        other = {"If-None-Match": '"other"'}
        assert client.get("/serveract.js", headers=other, status=200).body
        head = client.head("/serveract.js")
        assert head.headers["ETag"] == etag and head.body == b""
        assert head.headers["Content-Length"] == response.headers["Content-Length"]

    def test_hidden_field_is_escaped_markup_naming_the_action(self, reg):
        @reg.action(name='say"hi"<>')
        def say() -> None: ...

        markup = serveract.hidden_field('say"hi"<>')
        assert str(markup) == (
            '<input type="hidden" name="$action" value="say&quot;hi&quot;&lt;&gt;">'
        )
        assert markup.__html__() == str(markup)
        actions = serveract.ServerActions(Recorder(), reg, field="_do")
        assert 'name="_do"' in actions.hidden_field('say"hi"<>')
        with pytest.raises(KeyError):
            actions.hidden_field("unknown")

    def test_hidden_field_returns_serveract_markup(self, reg):
        @reg.action
        def say() -> None: ...

        assert isinstance(serveract.hidden_field("say"), serveract.Markup)
        actions = serveract.ServerActions(Recorder(), reg)
        assert isinstance(actions.hidden_field("say"), serveract.Markup)


# -- PEP 3333 -----------------------------------------------------------------


def test_every_kind_of_request_passes_the_wsgi_validator(reg, middleware):
    """Every path through the middleware, inside ``validator`` on both sides
    (the harness), whose warnings are errors (pyproject's filterwarnings)."""

    @reg.action
    def add(a: int, b: int) -> int:
        return a + b

    client = middleware()
    client.call("add", [1, 2])
    client.call("add", ["x"], status=422)
    client.call("nope", status=404)
    client.post("/", {"$action": "add", "a": "1", "b": "2"})
    client.post("/", {"other": "1"})
    client.get("/serveract.js")
    client.get("/anything")
    client.post("/", b"raw", content_type="application/octet-stream")
    assert [seen.method for seen in client.calls] == ["GET", "POST", "GET", "POST"]
