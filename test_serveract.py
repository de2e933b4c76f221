"""Tests of serveract's core: registry, binding, decoding, the status table,
no-JS forms, pass-through, through WebTest and ``wsgiref.validate``."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import decimal
import enum
import io
import json
import logging
import sys
import textwrap
import typing
import uuid
import warnings
from typing import Any, Literal, Optional
from wsgiref.validate import WSGIWarning, validator

import pytest
import webob
import webtest

import serveract

JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def _validator_warnings_are_errors() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        yield


class Recorder:
    """A WSGI app that records what it receives and answers with JSON: the
    method, path, query, body and what ``serveract.result`` holds."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = environ.get("CONTENT_LENGTH")
        body = environ["wsgi.input"].read(int(length)) if length else b""
        outcome = serveract.result(environ)
        seen = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "content_type": environ.get("CONTENT_TYPE", ""),
            "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
            "body": body,
        }
        self.calls.append(seen)
        answer = {
            "method": seen["method"],
            "body_length": len(body),
            "result": None
            if outcome is None
            else {
                "name": outcome.name,
                "ok": outcome.ok,
                "value": outcome.value,
                "status": outcome.error and outcome.error.status,
                "message": outcome.error and outcome.error.message,
                "fields": outcome.error and outcome.error.fields,
                "form": dict(outcome.form),
            },
        }
        data = json.dumps(answer, default=str).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]


@pytest.fixture
def reg() -> serveract.Registry:
    return serveract.Registry()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make(reg: serveract.Registry, app: Any = None, **options: Any) -> webtest.TestApp:
    """The middleware over ``app``, both inside ``wsgiref.validate``."""
    inner = validator(app or Recorder())
    return webtest.TestApp(validator(serveract.ServerActions(inner, reg, **options)))


def call(client: webtest.TestApp, name: str, body: Any = None, **kw: Any) -> Any:
    """A header call with a JSON body; returns the webtest response."""
    data = b"" if body is None else json.dumps(body).encode()
    headers = {"Serveract-Action": name, **JSON, **kw.pop("headers", {})}
    return client.post("/", data, headers=headers, **kw)


# -- Registry ---------------------------------------------------------------


class Connection:
    """A type no request can produce."""


class TestRegistry:
    def test_bare_and_named_decorators_return_the_function(self, reg):
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

    def test_default_registry_and_action(self):
        def unique_default_action() -> str:
            return "ok"

        try:
            assert serveract.action(unique_default_action) is unique_default_action
            assert (
                serveract.registry.get("unique_default_action") is unique_default_action
            )
        finally:
            serveract.registry._actions.pop("unique_default_action")

    def test_two_functions_under_one_name_is_an_error(self, reg):
        @reg.action
        def dup() -> None: ...

        reg.action(dup)  # the same function again is fine

        def other() -> None: ...

        with pytest.raises(ValueError, match="already taken"):
            reg.action(other, name="dup")

    def test_registering_a_class_or_a_value_fails(self, reg):
        with pytest.raises(TypeError):
            reg.action(type("Thing", (), {}))
        with pytest.raises(TypeError):
            reg.action(42, name="answer")  # type: ignore[call-overload]

    def test_a_parameter_that_can_never_be_bound_fails_at_import(self, reg):
        def needs_connection(db: Connection) -> None: ...

        with pytest.raises(TypeError, match="db"):
            reg.action(needs_connection)
        assert "needs_connection" not in reg

    def test_register_module_takes_public_functions_defined_there(
        self, reg, tmp_path, monkeypatch
    ):
        (tmp_path / "shop_actions.py").write_text(
            textwrap.dedent(
                """
                from os.path import join          # imported: not registered
                import json

                class Cart: ...                   # a class: not registered

                def add_item(sku: str, qty: int = 1) -> dict:
                    return {"sku": sku, "qty": qty}

                async def checkout() -> str:
                    return "done"

                def _helper() -> None: ...        # private: not registered
                """
            )
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        names = serveract.register_module("shop_actions", reg)
        assert names == ["add_item", "checkout"]
        assert sorted(reg) == ["add_item", "checkout"]
        module = sys.modules["shop_actions"]
        assert reg.get("add_item") is module.add_item
        client = make(reg)
        assert call(client, "add_item", {"sku": "A1"}).json == {"sku": "A1", "qty": 1}
        assert call(client, "checkout").json == "done"
        # A module object works too, and registering again is harmless.
        assert serveract.register_module(module, reg) == ["add_item", "checkout"]


# -- Binding ----------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Address:
    street: str
    zip: int
    tags: list[str] = dataclasses.field(default_factory=list)


class TestJsonBinding:
    def test_array_is_positional_object_is_keywords_empty_is_none(self, reg):
        @reg.action
        def pair(a: int, b: str = "x") -> list[Any]:
            return [a, b]

        @reg.action
        def nothing() -> str:
            return "none"

        client = make(reg)
        assert call(client, "pair", [1, "y"]).json == [1, "y"]
        assert call(client, "pair", {"b": "z", "a": 2}).json == [2, "z"]
        assert call(client, "pair", [3]).json == [3, "x"]
        assert call(client, "nothing").json == "none"
        empty = client.post("/", b"", headers={"Serveract-Action": "nothing"})
        assert empty.json == "none"

    @pytest.mark.parametrize(
        ("hint", "good", "bad"),
        [
            pytest.param(int, 5, "5", id="int-rejects-string"),
            pytest.param(int, 7, True, id="int-rejects-bool"),
            pytest.param(float, 2, "2.5", id="float-accepts-int"),
            pytest.param(str, "hi", 3, id="str-rejects-number"),
            pytest.param(bool, False, 0, id="bool-rejects-int"),
            pytest.param(list[int], [1, 2], [1, "2"], id="list-items-checked"),
            pytest.param(
                dict[str, int], {"a": 1}, {"a": "1"}, id="dict-values-checked"
            ),
            pytest.param(Optional[int], None, "x", id="optional"),
            pytest.param(Literal["a", "b"], "a", "c", id="literal"),
        ],
    )
    def test_values_are_checked_against_hints(self, reg, hint, good, bad):
        def echo(value):  # the hint is set below
            return value

        echo.__annotations__ = {"value": hint}
        reg.action(echo)
        client = make(reg)
        ok = call(client, "echo", [good])
        assert ok.json == (float(good) if hint is float else good)
        error = call(client, "echo", [bad], status=422).json["error"]
        assert error["type"] == "invalid_arguments"
        keyword = call(client, "echo", {"value": bad}, status=422).json["error"]
        assert len(keyword["data"]) == len(error["data"]) == 1
        assert error["data"][0]["field"] == "value"
        assert error["data"][0]["message"].startswith(("expected", "["))

    def test_rich_types_are_built_from_json(self, reg):
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

        answer = call(
            make(reg),
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
        ).json
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

    def test_bad_nested_values_name_the_place(self, reg):
        @reg.action
        def ship(address: Address) -> None: ...

        client = make(reg)
        error = call(client, "ship", [{"street": "x", "zip": "no"}], status=422).json
        assert error["error"]["data"] == [
            {"field": "address", "message": "['zip']: expected an integer"}
        ]
        extra = call(client, "ship", [{"street": "x", "zip": 1, "evil": 1}], status=422)
        assert "unexpected field 'evil'" in extra.json["error"]["data"][0]["message"]

    def test_missing_extra_and_too_many_arguments_are_422(self, reg):
        @reg.action
        def pair(a: int, b: int) -> int:
            return a + b

        client = make(reg)
        missing = call(client, "pair", {"a": 1}, status=422).json["error"]
        assert missing["data"] == [{"field": "b", "message": "required"}]
        extra = call(client, "pair", {"a": 1, "b": 2, "c": 3}, status=422).json["error"]
        assert extra["data"] == [{"field": "c", "message": "unexpected argument"}]
        many = call(client, "pair", [1, 2, 3], status=422).json["error"]
        assert "takes 2 positional arguments but 3 were given" in many["message"]

    def test_positional_only_varargs_and_kwargs(self, reg):
        @reg.action
        def posonly(a: int, /, b: int = 10) -> list[int]:
            return [a, b]

        @reg.action
        def star(first: str, *rest: int, **options: bool) -> dict[str, Any]:
            return {"first": first, "rest": list(rest), "options": options}

        client = make(reg)
        assert call(client, "posonly", [1]).json == [1, 10]
        assert call(client, "posonly", {"a": 2, "b": 3}).json == [2, 3]
        assert call(client, "star", ["x", 1, 2]).json == {
            "first": "x",
            "rest": [1, 2],
            "options": {},
        }
        assert call(client, "star", {"first": "y", "loud": True}).json == {
            "first": "y",
            "rest": [],
            "options": {"loud": True},
        }
        call(client, "star", ["x", "not-int"], status=422)

    def test_request_parameter_is_injected_not_taken_from_client(self, reg):
        @reg.action
        def whoami(req: webob.Request, greeting: str = "hi") -> dict[str, Any]:
            return {
                "greeting": greeting,
                "agent": req.headers.get("User-Agent"),
                "body": req.json_body,
            }

        client = make(reg)
        answer = call(
            client, "whoami", {"greeting": "yo"}, headers={"User-Agent": "pytest"}
        ).json
        assert answer == {
            "greeting": "yo",
            "agent": "pytest",
            "body": {"greeting": "yo"},
        }
        call(client, "whoami", {"req": "forged"}, status=422)
        assert call(client, "whoami", ["hello"]).json["greeting"] == "hello"

    def test_hints_defined_later_in_the_module_are_resolved_on_first_call(self, reg):
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
        assert call(make(reg), "make_point", [{"x": 1, "y": 2}]).json == 3


class TestFormBinding:
    @pytest.fixture
    def client(self, reg):
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

        return make(reg)

    def submit(self, client: webtest.TestApp, fields: list[tuple[str, str]]) -> Any:
        return client.post(
            "/",
            [("$action", "profile"), *fields],
            headers={"Serveract-Action": "profile"},
        )

    def test_strings_are_coerced_by_hints(self, client):
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
    def test_bool_words(self, client, word, expected):
        answer = self.submit(
            client, [("name", "x"), ("age", "1"), ("height", "1"), ("newsletter", word)]
        )
        assert answer.json["newsletter"] is expected

    def test_missing_fields_use_defaults_false_empty_and_none(self, client):
        # An unchecked checkbox, an empty multi-select, blank optional inputs.
        answer = self.submit(
            client, [("name", ""), ("age", "2"), ("height", "3"), ("rank", "")]
        ).json
        assert answer["name"] == ""
        assert answer["newsletter"] is False
        assert answer["tags"] == [] and answer["scores"] == []
        assert answer["nickname"] is None and answer["rank"] is None
        assert answer["limit"] == 5

    def test_bad_and_missing_values_list_every_field(self, client):
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

    def test_file_uploads_are_readable_with_name_and_type(self, reg):
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
                "extra": extra,
            }

        client = make(reg)
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

    def test_kwargs_receive_the_other_fields(self, reg):
        @reg.action
        def anything(**fields: str) -> dict[str, str]:
            return fields

        answer = make(reg).post(
            "/",
            {"$action": "anything", "a": "1", "b": "2"},
            headers={"Serveract-Action": "anything"},
        )
        assert answer.json == {"a": "1", "b": "2"}

    def test_structured_values_arrive_as_json_text_in_a_field(self, reg):
        @reg.action
        def ship(address: Address) -> str:
            return f"{address.street} {address.zip}"

        client = make(reg)
        ok = client.post(
            "/",
            {"address": '{"street": "Main", "zip": 1}'},
            headers={"Serveract-Action": "ship"},
        )
        assert ok.json == "Main 1"


# -- Decoding and answers ---------------------------------------------------


@dataclasses.dataclass
class User:
    id: uuid.UUID
    name: str
    joined: datetime.datetime


class Html(str):
    """Markup, as markupsafe's ``Markup`` is."""

    def __html__(self) -> str:
        return str(self)


class TestAnswers:
    def test_return_values_encode_the_obvious_way(self, reg):
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

        response = call(make(reg), "everything")
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

    def test_none_is_null(self, reg):
        @reg.action
        def nothing() -> None:
            return None

        assert call(make(reg), "nothing").body == b"null"

    def test_a_value_that_cannot_be_encoded_is_a_logged_500(self, reg, caplog):
        @reg.action
        def opaque() -> object:
            return object()

        with caplog.at_level(logging.ERROR, logger="serveract"):
            error = call(make(reg), "opaque", status=500).json["error"]
        assert error["type"] == "internal_error"
        assert error["data"]["error_id"] in caplog.text
        assert "cannot be encoded as JSON" in caplog.text
        assert "object is not JSON serializable" in caplog.text

    def test_nan_is_no_json_so_it_is_a_500(self, reg):
        @reg.action
        def ratio() -> float:
            return float("nan")

        error = call(make(reg), "ratio", status=500).json["error"]
        assert error["type"] == "internal_error"

    def test_answers_are_not_sniffed(self, reg):
        @reg.action
        def ping() -> str:
            return "<script>alert(1)</script>"

        client = make(reg)
        assert call(client, "ping").headers["X-Content-Type-Options"] == "nosniff"
        missing = call(client, "<script>", status=404)
        assert missing.headers["X-Content-Type-Options"] == "nosniff"

    def test_async_actions_run_to_completion(self, reg):
        import asyncio

        @reg.action
        async def slow_add(a: int, b: int) -> int:
            await asyncio.sleep(0.01)
            return a + b

        @reg.action
        async def refuse() -> None:
            await asyncio.sleep(0)
            raise serveract.ActionError("nope", 409)

        client = make(reg)
        assert call(client, "slow_add", [2, 3]).json == 5
        assert call(client, "refuse", status=409).json["error"]["message"] == "nope"
        form = client.post("/", {"$action": "slow_add", "a": "4", "b": "5"})
        assert form.json["result"]["value"] == 9

    def test_html_values_and_responses_are_sent_as_such(self, reg):
        @reg.action
        def fragment() -> Html:
            return Html("<li>new</li>")

        @reg.action
        def custom() -> webob.Response:
            return webob.Response("plain", content_type="text/plain", status=201)

        client = make(reg)
        html_answer = call(client, "fragment")
        assert html_answer.content_type == "text/html"
        assert html_answer.text == "<li>new</li>"
        custom_answer = call(client, "custom", status=201)
        assert custom_answer.text == "plain"
        assert custom_answer.headers["Cache-Control"] == "no-store"


class TestStatusTable:
    @pytest.fixture
    def client(self, reg):
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

        return make(reg, max_body_size=1000)

    def test_200(self, client):
        response = call(client, "add", [2, 3])
        assert (response.status_int, response.json) == (200, 5)

    @pytest.mark.parametrize(
        ("name", "url"),
        [
            pytest.param("leave", "/elsewhere", id="raised"),
            pytest.param("leave_by_return", "/returned", id="returned"),
            pytest.param("swallow", "/not-swallowed", id="not-an-Exception"),
        ],
    )
    def test_200_redirect(self, client, name, url):
        response = call(client, name)
        assert response.status_int == 200
        assert response.json == {"redirect": url}
        assert response.headers["Serveract-Redirect"] == url
        assert "HX-Redirect" not in response.headers
        htmx = call(client, name, headers={"HX-Request": "true"})
        assert htmx.headers["HX-Redirect"] == url

    @pytest.mark.parametrize(
        ("status", "body", "headers", "kind", "message"),
        [
            pytest.param(
                400, b"[1,", JSON, "bad_request", "not valid JSON", id="400-json"
            ),
            pytest.param(
                400, b'["\xff"]', JSON, "bad_request", "not valid UTF-8", id="400-utf8"
            ),
            pytest.param(
                400,
                b"[" * 100 + b"]" * 100,
                JSON,
                "bad_request",
                "nested",
                id="400-deep",
            ),
            pytest.param(400, b"5", JSON, "bad_request", "array", id="400-scalar"),
            pytest.param(
                413,
                b"[" + b"1," * 600 + b"1]",
                JSON,
                "payload_too_large",
                "1000",
                id="413",
            ),
            pytest.param(
                415,
                b"a,b",
                {"Content-Type": "text/csv"},
                "unsupported_media_type",
                "text/csv",
                id="415",
            ),
            pytest.param(
                422, b'["x", 1]', JSON, "invalid_arguments", "a (expected", id="422"
            ),
        ],
    )
    def test_client_errors(self, client, status, body, headers, kind, message):
        response = client.post(
            "/",
            body,
            headers={"Serveract-Action": "add", **headers},
            status=status,
        )
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        error = response.json["error"]
        assert set(error) == {"type", "message", "data"}
        assert error["type"] == kind
        assert message in error["message"]

    def test_400_action_error_carries_status_and_data(self, client):
        error = call(client, "refuse", status=409).json["error"]
        assert error == {
            "type": "action_error",
            "message": "Email taken",
            "data": {"email": "taken"},
        }

    def test_403_cross_site(self, client):
        error = call(
            client,
            "add",
            [1, 2],
            headers={"Origin": "https://evil.example"},
            status=403,
        ).json["error"]
        assert error["type"] == "forbidden"

    def test_404_no_such_action(self, client):
        error = call(client, "os.system", ["ls"], status=404).json["error"]
        assert error["type"] == "not_found"
        assert "os.system" in error["message"]

    def test_405_not_post_with_allow(self, client):
        for method in ("get", "put", "delete"):
            response = getattr(client, method)(
                "/", headers={"Serveract-Action": "add"}, status=405
            )
            assert response.headers["Allow"] == "POST"
            assert response.json["error"]["type"] == "method_not_allowed"

    def test_500_hides_the_exception_and_logs_it_with_an_id(self, client, caplog):
        with caplog.at_level(logging.ERROR, logger="serveract"):
            error = call(client, "crash", status=500).json["error"]
        assert "hunter2" not in json.dumps(error)
        assert error["type"] == "internal_error"
        error_id = error["data"]["error_id"]
        assert error_id in error["message"]
        record = next(r for r in caplog.records if error_id in r.getMessage())
        assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])

    def test_500_in_debug_shows_the_exception(self, reg):
        @reg.action
        def crash() -> None:
            raise RuntimeError("visible in debug")

        error = call(make(reg, debug=True), "crash", status=500).json["error"]
        assert "RuntimeError: visible in debug" in error["message"]
        assert "Traceback" in error["data"]["traceback"]

    def test_action_error_status_must_be_an_error(self):
        with pytest.raises(ValueError):
            serveract.ActionError("ok?", 200)
        with pytest.raises(ValueError):
            serveract.redirect("/x", 200)
        assert not isinstance(serveract.redirect("/x"), Exception)


# -- Form calls without JavaScript --------------------------------------------


class TestNoJavaScriptForms:
    @pytest.fixture
    def client(self, reg):
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

        return make(reg)

    def test_success_renders_the_same_url_as_get_with_the_value(self, client):
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

    def test_action_error_shows_message_and_field_errors_and_keeps_the_form(
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

    def test_bad_arguments_show_per_field_errors(self, client):
        result = client.post(
            "/signup", [("$action", "create_user"), ("name", "Ada"), ("age", "old")]
        ).json["result"]
        assert result["status"] == 422
        assert result["fields"] == {"age": "expected an integer", "email": "required"}

    def test_multipart_form_call(self, client):
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

    def test_the_server_still_sees_the_post(self, reg):
        @reg.action
        def ping() -> str:
            return "pong"

        seen: list[str] = []
        actions = serveract.ServerActions(validator(Recorder()), reg)

        def access_log(environ: dict[str, Any], start_response: Any) -> Any:
            answer = actions(environ, start_response)
            seen.append(environ["REQUEST_METHOD"])  # read after, as logs do
            return answer

        response = webtest.TestApp(access_log).post("/", {"$action": "ping"})
        assert response.json["method"] == "GET"  # what the app rendered
        assert seen == ["POST"]

    @pytest.mark.parametrize("how", ["urlencoded", "multipart"])
    def test_the_request_and_the_context_read_the_submitted_body(self, reg, how):
        # The form is read once to find the action; an action taking the
        # request, and a framework's context, still get the whole body.
        seen: list[Any] = []

        @reg.action
        def rename(request: webob.Request, title: str) -> str:
            whole = len(request.body) == request.content_length
            seen.append(("action", request.POST.get("title"), whole))
            return title.upper()

        @contextlib.contextmanager
        def framework(environ: dict[str, Any]) -> Any:
            seen.append(("context", webob.Request(environ).POST.get("title")))
            yield

        client = make(reg, context=framework)
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

    def test_an_action_without_the_request_needs_no_body_replay(self, reg):
        @reg.action
        def echo(text: str) -> str:
            return text

        response = make(reg).post("/", {"$action": "echo", "text": "a+b=c%"})
        assert response.json["result"]["value"] == "a+b=c%"

    def test_redirect_answers_303(self, client):
        response = client.post("/account", {"$action": "sign_out"}, status=303)
        assert response.headers["Location"].endswith("/goodbye")
        assert response.headers["Cache-Control"] == "no-store"

    def test_a_submitter_button_overrides_the_hidden_field(self, client):
        response = client.post(
            "/account",
            [("$action", "create_user"), ("$action", "sign_out")],
            status=303,
        )
        assert response.headers["Location"].endswith("/goodbye")

    def test_unknown_action_in_a_form_is_404(self, client):
        response = client.post("/", {"$action": "nope"}, status=404)
        assert response.json["error"]["type"] == "not_found"

    def test_the_result_is_none_for_ordinary_requests(self, client):
        assert client.get("/").json["result"] is None
        assert serveract.result({}) is None


# -- Pass-through -------------------------------------------------------------


class TestPassThrough:
    @pytest.fixture
    def client(self, reg, recorder):
        @reg.action
        def add(a: int, b: int) -> int:
            return a + b

        return make(reg, recorder)

    def check(
        self, recorder: Recorder, method: str, body: bytes, **expected: Any
    ) -> None:
        seen = recorder.calls[-1]
        assert seen["method"] == method
        assert seen["body"] == body
        for key, value in expected.items():
            assert seen[key] == value

    def test_get_with_query_and_headers(self, client, recorder):
        client.get("/items/7?sort=desc&q=%24action", headers={"X-Custom": "kept"})
        self.check(recorder, "GET", b"", path="/items/7", query="sort=desc&q=%24action")
        assert recorder.calls[-1]["headers"]["HTTP_X_CUSTOM"] == "kept"

    def test_json_post(self, client, recorder):
        body = json.dumps({"$action": "add", "a": 1}).encode()
        client.post("/api", body, headers=JSON)
        self.check(recorder, "POST", body, content_type="application/json")

    def test_urlencoded_post_without_the_field(self, client, recorder):
        body = b"name=Ada&note=%24action%3Dadd&x=" + b"y" * 20000
        client.post("/form", body, content_type="application/x-www-form-urlencoded")
        self.check(recorder, "POST", body, path="/form")

    def test_two_megabyte_multipart_upload(self, client, recorder):
        payload = bytes(range(256)) * 8192  # 2 MiB, every byte value
        response = client.post(
            "/upload",
            [("title", "big"), ("note", 'name="$action"')],
            upload_files=[("file", "big.bin", payload)],
        )
        seen = recorder.calls[-1]
        assert response.json["body_length"] == len(seen["body"]) > len(payload)
        assert payload in seen["body"]
        assert seen["content_type"].startswith("multipart/form-data; boundary=")

    def test_multipart_bytes_are_identical(self, reg, recorder):
        body = (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
            + bytes(range(256)) * 4000
            + b"\r\n--XyZ--\r\n"
        )
        client = make(reg, recorder)
        client.request(
            "/u",
            method="POST",
            body=body,
            content_type="multipart/form-data; boundary=XyZ",
        )
        self.check(recorder, "POST", body, path="/u")

    def test_a_look_alike_part_header_passes_through(self, reg, recorder):
        body = (
            b'--B\r\nContent-Disposition: form-data; xname="$action"; '
            b'name="a"\r\n\r\nadd\r\n--B--\r\n'
        )
        make(reg, recorder).request(
            "/",
            method="POST",
            body=body,
            content_type="multipart/form-data; boundary=B",
        )
        self.check(recorder, "POST", body)

    def test_form_post_without_body_and_other_methods(self, client, recorder):
        client.post("/empty", b"", content_type="application/x-www-form-urlencoded")
        self.check(recorder, "POST", b"")
        client.put("/thing", b"a=1", content_type="application/x-www-form-urlencoded")
        self.check(recorder, "PUT", b"a=1")

    def test_a_stream_read_line_by_line_replays_the_peek(self, reg):
        lines: list[bytes] = []

        def line_reader(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            stream = environ["wsgi.input"]
            lines.extend(iter(stream.readline, b""))
            start_response("204 No Content", [])
            return []

        body = b"a=1\n" * 5000
        make(reg, line_reader).post(
            "/", body, content_type="application/x-www-form-urlencoded", status=204
        )
        assert b"".join(lines) == body
        assert len(lines) == 5000


# -- Options, the script, hidden fields -----------------------------------------


class TestOptions:
    def test_renamed_header_field_and_client_path(self, reg, recorder):
        @reg.action
        def ping() -> str:
            return "pong"

        client = make(
            reg, recorder, header="X-Call", field="_do", client_path="/static/sa.js"
        )
        assert client.post("/", b"", headers={"X-Call": "ping"}).json == "pong"
        form = client.post("/", {"_do": "ping"}).json
        assert form["result"]["value"] == "pong"
        # The default names are now the app's own.
        passed = client.post("/", b"", headers={"Serveract-Action": "ping"}).json
        assert passed["result"] is None and passed["method"] == "POST"
        client.post("/", {"$action": "ping"})
        assert recorder.calls[-1]["body"] == b"%24action=ping"
        script = client.get("/static/sa.js")
        assert '"X-Call"' in script.text and '"_do"' in script.text
        assert client.get("/serveract.js").json["method"] == "GET"

    def test_bad_configuration_fails_at_init(self, reg):
        app = Recorder()
        with pytest.raises(TypeError):
            serveract.ServerActions("not an app", reg)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            serveract.ServerActions(app, reg, max_body_size=-1)
        with pytest.raises(ValueError):
            serveract.ServerActions(app, reg, client_path="serveract.js")
        with pytest.raises(ValueError):
            serveract.ServerActions(app, reg, allowed_origins=["app.*.example.com"])
        for everything in ("*", "**", "**:8080", "https://*"):
            with pytest.raises(ValueError, match="wildcard"):
                serveract.ServerActions(app, reg, allowed_origins=[everything])
        with pytest.raises(TypeError):
            serveract.ServerActions(app, reg, allowed_origins="example.com")  # type: ignore[arg-type]

    def test_client_script_is_served_with_etag_and_304(self, reg):
        client = make(reg)
        response = client.get("/serveract.js")
        assert response.content_type == "text/javascript"
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "no-cache"
        assert "serveract" in response.text
        again = client.get("/serveract.js", headers={"If-None-Match": etag}, status=304)
        assert again.body == b""
        assert client.head("/serveract.js").headers["ETag"] == etag

    def test_hidden_field_markup(self, reg):
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


class TestBoundValues:
    def test_bound_values_reach_the_action_with_json_types(self, reg):
        @reg.action
        def delete(item_id: int, owner: str, confirm: bool = False) -> list[Any]:
            return [item_id, owner, confirm]

        actions = serveract.ServerActions(Recorder(), reg, secret="s3cret")
        markup = str(actions.hidden_field("delete", item_id=7, owner="ada"))
        fields = dict(
            (
                part.split('name="')[1].split('"')[0],
                part.split('value="')[1].split('"')[0],
            )
            for part in markup.split("><")
        )
        client = webtest.TestApp(validator(actions))
        body = {**fields, "confirm": "on", "item_id": "999"}  # the client tries 999
        answer = client.post("/", body, headers={"Serveract-Action": "delete"})
        assert answer.json == [7, "ada", True]
        form = client.post("/", body).json["result"]
        assert form["value"] == [7, "ada", True]
        assert "$bound" not in form["form"] and "$action" not in form["form"]

    def test_declared_bound_parameters_only_come_from_a_signed_form(self, reg):
        @reg.action(bound=["item_id"])
        def archive(item_id: int, reason: str = "") -> list[Any]:
            return [item_id, reason]

        actions = serveract.ServerActions(Recorder(), reg, secret="s3cret")
        client = webtest.TestApp(validator(actions))
        markup = str(actions.hidden_field("archive", item_id=7))
        token = markup.split('name="$bound" value="')[1].split('"')[0]
        signed = {"$action": "archive", "$bound": token, "reason": "old"}
        assert client.post("/", signed).json["result"]["value"] == [7, "old"]
        header = client.post("/", signed, headers={"Serveract-Action": "archive"})
        assert header.json == [7, "old"]
        # Without the signed field the client cannot choose item_id at all.
        for response in (
            client.post("/", {"$action": "archive", "item_id": "8"}, status=400),
            call(client, "archive", {"item_id": 8}, status=400),
            call(client, "archive", [8], status=400),
        ):
            error = response.json["error"]
            assert error["type"] == "bad_request"
            assert "item_id only from a form the server signed" in error["message"]
        with pytest.raises(TypeError, match="item_id"):
            actions.hidden_field("archive")
        with pytest.raises(ValueError, match="bound names no parameter"):
            reg.action(lambda x: x, name="bad", bound=["y"])

    def test_binding_without_a_secret_fails_when_rendering(self, reg, monkeypatch):
        monkeypatch.delenv("SERVERACT_SECRET", raising=False)

        @reg.action
        def delete(item_id: int) -> None: ...

        actions = serveract.ServerActions(Recorder(), reg)
        assert "$bound" not in actions.hidden_field("delete")
        with pytest.raises(RuntimeError, match="secret"):
            actions.hidden_field("delete", item_id=1)


# -- PEP 3333 -----------------------------------------------------------------


def test_every_kind_of_request_passes_the_wsgi_validator(reg):
    """Every path through the middleware, with validator on both sides and
    its warnings as errors (the autouse fixture)."""

    @reg.action
    def add(a: int, b: int) -> int:
        return a + b

    client = make(reg)
    call(client, "add", [1, 2])
    call(client, "add", ["x"], status=422)
    call(client, "nope", status=404)
    client.post("/", {"$action": "add", "a": "1", "b": "2"})
    client.post("/", {"other": "1"})
    client.get("/serveract.js")
    client.get("/anything")
    client.post("/", io.BytesIO(b"raw").read(), content_type="application/octet-stream")
