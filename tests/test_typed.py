"""Typed descriptions of the actions: JSON Schema, OpenAPI 3.1, TypeScript.

The proof that the descriptions and the runtime checks cannot disagree:
every schema is valid draft 2020-12, the OpenAPI document is valid 3.1,
objects generated from (and mutated away from) each parameters schema are
accepted by the middleware exactly when they validate, schemathesis finds
no answer the demo's document does not describe, ``tsc --strict`` accepts
right calls and refuses wrong ones, and a real browser calls an action
through ``serveract.actions`` with a path call. The actions under test are
``tests/typed_actions.py`` (every hint) and the demo (``examples/todo.py``).

Validation follows draft 2020-12 with the ``format`` keyword asserted
(``date``, ``date-time``, ``time``, ``uuid``): the binder checks those
formats, so a description that only annotates them would be looser than
the action. ``pattern`` is matched as the spec says, as an ECMA-262 regex.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import importlib.util
import inspect
import json
import math
import re
import subprocess
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Literal
from wsgiref.validate import validator

import hypothesis.strategies as st
import jsonschema
import pytest
import schemathesis
import typed_actions
import webob
import webtest
from browser_support import RequestLog, chromium, load_demo
from framework_support import subprocess_env
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

import serveract
from conftest import serving

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DEMO_DIR = ROOT / "examples"
TYPESCRIPT = TESTS / "typescript"
TSC = TESTS / "fixtures" / "node_modules" / ".bin" / "tsc"
ACTION_PATH = "/_serveract/"
NAMES = sorted(typed_actions.registry)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_STATUSES = {"400", "403", "413", "415", "422", "500"}


def ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """``pattern`` as JSON Schema means it, an ECMA-262 regex: there ``$``
    matches at the very end only, where Python's also matches before a final
    newline (so ``"^[0-9]+$"`` would take ``"1\\n"``)."""
    at_end = re.sub(r"(?<!\\)\$", r"\\Z", pattern)
    if validator.is_type(instance, "string") and not re.search(at_end, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


#: Draft 2020-12 as the spec reads: formats asserted, patterns ECMA-262.
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": ecma_pattern}
)


def validator_for(schema: Any) -> Any:
    """A validator of ``Validator``'s kind, rooted at ``schema``."""
    return Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def is_valid(schema: Any, instance: Any) -> bool:
    return validator_for(schema).is_valid(instance)


def errors_of(schema: Any, instance: Any) -> list[str]:
    return [error.message for error in validator_for(schema).iter_errors(instance)]


def refs(schema: Any) -> Iterator[str]:
    """Every ``$ref`` in a schema, at any depth."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from refs(value)


def resolve(root: Any, ref: str) -> Any:
    """The node a local ``#/…`` reference names within ``root``."""
    assert ref.startswith("#"), f"{ref!r} is not a reference within the schema"
    node = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def walk(document: dict[str, Any], *parts: str) -> Any:
    """The node at ``parts`` of an OpenAPI document, following references
    (a response or a request body may be one) on the way."""
    node: Any = document
    for part in parts:
        while isinstance(node, dict) and "$ref" in node and part not in node:
            node = resolve(document, node["$ref"])
        node = node[part]
    return node


def in_document(document: dict[str, Any], *parts: str) -> Any:
    """The schema at ``parts`` of an OpenAPI document, carrying the document's
    components so that its ``#/components/…`` references resolve."""
    schema = walk(document, *parts)
    if not isinstance(schema, dict):
        return schema
    return {**schema, "components": document.get("components", {})}


def call(client: webtest.TestApp, name: str, payload: Any) -> webtest.TestResponse:
    """A path call with ``payload`` as its JSON body."""
    return client.post(
        ACTION_PATH + name,
        json.dumps(payload),
        content_type="application/json",
        expect_errors=True,
    )


def header_call(client: webtest.TestApp, name: str, body: str) -> webtest.TestResponse:
    """A header call with ``body`` sent as it is written (``1e3`` stays ``1e3``)."""
    return client.post(
        "/",
        body,
        headers={"Serveract-Action": name},
        content_type="application/json",
        expect_errors=True,
    )


def fresh_demo() -> ModuleType:
    """A fresh import of ``examples/todo.py``: only the demo's own actions, as
    ``python -m serveract … todo:app`` sees them (other test modules add
    test-only actions to the copy ``browser_support.load_demo`` shares)."""
    name = "serveract_todo_typed"
    spec = importlib.util.spec_from_file_location(name, DEMO_DIR / "todo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_cli(command: str, target: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serveract", command, target],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def roundtrip(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples become lists)."""
    return json.loads(json.dumps(value))


# -- Fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> webtest.TestApp:
    return webtest.TestApp(validator(typed_actions.app))


@pytest.fixture(scope="module")
def described() -> dict[str, Any]:
    return typed_actions.app.schema()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return typed_actions.app.openapi()


def parameters_of(described: dict[str, Any], name: str) -> Any:
    return described["actions"][name]["parameters"]


def returns_of(described: dict[str, Any], name: str) -> Any:
    return described["actions"][name]["returns"]


# -- Examples: objects each action accepts, and objects it refuses --------------
# One line per object (the bound action, ``rename``, has its own test): a JSON
# object the action must accept validates, one it must refuse does not.

OK, NO = True, False  # the action accepts the object / refuses it
POINT = {"x": 0, "y": 1.5}
TAGS = [{"name": "t", "color": "blue"}]
SHAPE = {"name": "s", "points": [POINT], "tags": TAGS}
TRIANGLE = [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 0, "y": 1}]
UUID = "12345678-1234-5678-1234-567812345678"
# fmt: off
EXAMPLES: list[tuple[str, dict[str, Any], bool]] = [
    ("text", {"value": "a"}, OK),
    ("text", {"value": ""}, OK),
    ("text", {"value": 1}, NO),
    ("text", {}, NO),
    ("text", {"value": "a", "x": 1}, NO),
    ("raw", {"data": "bytes"}, OK),
    ("raw", {"data": 1}, NO),
    ("integer", {"value": 1}, OK),
    ("integer", {"value": 1.0}, OK),
    ("integer", {"value": -5}, OK),
    ("integer", {"value": 1.5}, NO),
    ("integer", {"value": True}, NO),
    ("integer", {"value": "1"}, NO),
    ("int_type", {"value": 1000.0}, OK),
    ("int_type", {"value": False}, NO),
    ("number", {"value": 1.5}, OK),
    ("number", {"value": 2}, OK),
    ("number", {"value": True}, NO),
    ("number", {"value": "1.5"}, NO),
    ("number", {"value": None}, NO),
    ("flag", {"value": True}, OK),
    ("flag", {"value": False}, OK),
    ("flag", {"value": 1}, NO),
    ("flag", {"value": "true"}, NO),
    ("money", {"amount": "1.50"}, OK),
    ("money", {"amount": True}, NO),
    ("money", {"amount": "abc"}, NO),
    ("money", {"amount": "NaN"}, NO),
    ("day", {"value": "2024-02-29"}, OK),
    ("day", {"value": "20240229"}, NO),
    ("day", {"value": 20240229}, NO),
    ("day", {"value": "2024-02-30"}, NO),
    ("moment", {"value": "2024-02-29T10:00:00Z"}, OK),
    ("moment", {"value": "2024-02-29T10:00:00+05:30"}, OK),
    ("moment", {"value": "20240229T100000Z"}, NO),
    ("moment", {"value": "2024-02-29"}, NO),
    ("moment", {"value": 1709200800}, NO),
    ("moment", {"value": "2024-02-29T10:00:00+01:60"}, NO),
    ("clock", {"value": 100000}, NO),
    ("clock", {"value": "1000"}, NO),
    ("clock", {"value": "10:00:00Z"}, OK),
    ("clock", {"value": "10:00:00+01:60"}, NO),
    ("ident", {"value": UUID}, OK),
    ("ident", {"value": UUID.replace("-", "")}, NO),
    ("ident", {"value": "urn:uuid:" + UUID}, NO),
    ("ident", {"value": "nope"}, NO),
    ("color", {"value": "red"}, OK),
    ("color", {"value": "RED"}, NO),
    ("color", {"value": 1}, NO),
    ("priority", {"value": 1}, OK),
    ("priority", {"value": 1.0}, OK),
    ("priority", {"value": "1"}, NO),
    ("priority", {"value": 3}, NO),
    ("priority", {"value": True}, NO),
    ("priority", {"value": "LOW"}, NO),
    ("rank", {"value": 2}, OK),
    ("rank", {"value": 2.0}, OK),
    ("rank", {"value": "2"}, NO),
    ("rank", {"value": "SECOND"}, NO),
    ("mixed", {"value": "a"}, OK),
    ("mixed", {"value": 1}, OK),
    ("mixed", {"value": True}, OK),
    ("mixed", {"value": None}, OK),
    ("mixed", {"value": False}, NO),
    ("mixed", {"value": "1"}, NO),
    ("choice", {"mode": "fast"}, OK),
    ("choice", {"mode": "slow", "level": 3}, OK),
    ("choice", {"mode": "medium"}, NO),
    ("choice", {"level": 1}, NO),
    ("choice", {"mode": "fast", "level": True}, NO),
    ("choice", {"mode": "fast", "level": "1"}, NO),
    ("anything", {"value": None}, OK),
    ("anything", {"value": [1, {"a": "b"}]}, OK),
    ("anything", {}, NO),
    ("maybe", {}, OK),
    ("maybe", {"value": None}, OK),
    ("maybe", {"value": 3}, OK),
    ("maybe", {"value": "3"}, NO),
    ("nullable", {"value": None}, OK),
    ("nullable", {"value": 3}, OK),
    ("nullable", {}, NO),
    ("either", {"value": 1}, OK),
    ("either", {"value": "a"}, OK),
    ("either", {"value": 1.5}, NO),
    ("either", {"value": None}, NO),
    ("either", {"value": True}, NO),
    ("when", {"value": "2024-02-29"}, OK),
    ("when", {"value": 20240229}, OK),
    ("when", {"value": "20240229"}, NO),
    ("items", {"values": []}, OK),
    ("items", {"values": [1, 2]}, OK),
    ("items", {"values": [1, "2"]}, NO),
    ("items", {"values": 1}, NO),
    ("pair", {"value": [1, "a"]}, OK),
    ("pair", {"value": [1]}, NO),
    ("pair", {"value": [1, "a", 2]}, NO),
    ("pair", {"value": ["a", 1]}, NO),
    ("many", {"values": []}, OK),
    ("many", {"values": [1, 2.5]}, OK),
    ("many", {"values": [True]}, NO),
    ("prices", {"values": [1.5, "2.50"]}, OK),
    ("prices", {"values": ["abc"]}, NO),
    ("unique", {"values": ["a", "b"]}, OK),
    ("unique", {"values": [1]}, NO),
    ("unique", {"values": "ab"}, NO),
    ("sequence", {"values": [1, 2]}, OK),
    ("sequence", {"values": "12"}, NO),
    ("frozen", {"values": [1, 1]}, OK),
    ("frozen", {"values": [1.5]}, NO),
    ("mapping", {"values": {"a": 1.5, "b": 2}}, OK),
    ("mapping", {"values": {"a": "1.5"}}, NO),
    ("table", {"values": {}}, OK),
    ("table", {"values": {"a": 1}}, OK),
    ("table", {"values": {"a": "1"}}, NO),
    ("table", {"values": [1]}, NO),
    ("by_id", {"values": {"1": 2, "-3": 4}}, OK),
    ("by_id", {"values": {"a": 2}}, NO),
    ("by_id", {"values": {"1": "2"}}, NO),
    ("by_id", {"values": {"1.5": 2}}, NO),
    ("key_types", {"values": {"1": 2}}, OK),
    ("key_types", {"values": {"x": 2}}, NO),
    ("grouped", {"values": {"a": [POINT]}}, OK),
    ("grouped", {"values": {"a": [{"x": 1}]}}, NO),
    ("shape", {"shape": {"name": "s", "points": []}}, OK),
    ("shape", {"shape": SHAPE | {"origin": None}}, OK),
    ("shape", {"shape": SHAPE | {"origin": POINT}}, OK),
    ("shape", {"shape": {"name": "s"}}, NO),
    ("shape", {"shape": SHAPE | {"x": 1}}, NO),
    ("shape", {"shape": SHAPE | {"tags": [{"name": "t", "color": "pink"}]}}, NO),
    ("tree", {"root": {"name": "r"}}, OK),
    ("tree", {"root": {"name": "r", "children": [{"name": "c", "children": []}]}}, OK),
    ("tree", {"root": {"name": "r", "children": [{"children": []}]}}, NO),
    ("shapes.area", {"points": TRIANGLE}, OK),
    ("shapes.area", {"points": [{"x": "0", "y": 0}]}, NO),
    ("upload", {"note": "n"}, NO),
    ("upload", {"note": "n", "file": "data"}, NO),
    ("upload", {"note": "n", "file": None}, NO),
    ("maybe_upload", {"note": "n"}, OK),
    ("maybe_upload", {"note": "n", "file": None}, OK),
    ("maybe_upload", {"note": "n", "file": "data"}, NO),
    ("defaults", {"a": 1}, OK),
    ("defaults", {"a": 1, "b": "x", "c": [1], "d": 2}, OK),
    ("defaults", {"a": 1, "c": None}, OK),
    ("defaults", {"b": "x"}, NO),
    ("defaults", {"a": 1, "e": 1}, NO),
    ("positional", {"x": 1}, OK),
    ("positional", {"x": 1, "y": "z"}, OK),
    ("positional", {"y": "z"}, NO),
    ("options", {"name": "n"}, OK),
    ("options", {"name": "n", "x": 1, "y": 2}, OK),
    ("options", {"name": "n", "x": "1"}, NO),
    ("options", {"x": 1}, NO),
    ("loose", {"name": "n", "x": [1], "y": None}, OK),
    ("loose", {"x": 1}, NO),
    ("greet", {}, OK),
    ("greet", {"greeting": "hi"}, OK),
    ("greet", {"request": "r"}, NO),
    ("greet", {"greeting": 1}, NO),
    ("nothing", {}, OK),
    ("nothing", {"x": 1}, NO),
    ("page", {"title": "t"}, OK),
    ("page", {}, NO),
    ("summary", {"shape": SHAPE}, OK),
    ("summary", {"shape": None}, NO),
]
# fmt: on
EXAMPLE_CASES = [
    pytest.param(
        name, payload, ok, id=f"{name} {'accepts' if ok else 'refuses'} {payload}"
    )
    for name, payload, ok in EXAMPLES
]


def test_the_examples_name_every_action_but_the_bound_one() -> None:
    assert {name for name, _, _ in EXAMPLES} == set(NAMES) - {"rename"}


# -- JSON Schema ------------------------------------------------------------------


def test_the_schema_describes_each_action_by_parameters_and_returns(
    described: dict[str, Any],
) -> None:
    assert set(described) == {"actions"}
    assert sorted(described["actions"]) == NAMES
    for name, description in described["actions"].items():
        assert set(description) == {"parameters", "returns"}, name


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_is_a_self_contained_draft_2020_12_schema(
    described: dict[str, Any], name: str
) -> None:
    for part in ("parameters", "returns"):
        schema = described["actions"][name][part]
        jsonschema.Draft202012Validator.check_schema(schema)
        for ref in refs(schema):
            resolve(schema, ref)  # raises when it points nowhere
        json.dumps(schema)  # plain JSON: what the CLI prints


def client_parameters(name: str) -> tuple[set[str], set[str]]:
    """The names a client may send to action ``name``, and those it must."""
    action = typed_actions.registry._actions[name]
    signature = inspect.signature(action.func, eval_str=True)
    names, required = set(), set()
    for parameter in signature.parameters.values():
        if (
            parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
            or parameter.annotation is webob.Request
            or parameter.name in action.bound
        ):
            continue
        names.add(parameter.name)
        if parameter.default is parameter.empty:
            required.add(parameter.name)
    return names, required


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"upload"}))
def test_parameters_is_an_object_schema_requiring_those_without_defaults(
    described: dict[str, Any], name: str
) -> None:
    parameters = parameters_of(described, name)
    names, required = client_parameters(name)
    assert parameters.get("type") == "object"
    assert set(parameters.get("properties", {})) == names
    assert set(parameters.get("required", [])) == required


def test_the_request_and_bound_parameters_are_not_described(
    described: dict[str, Any],
) -> None:
    assert "request" not in parameters_of(described, "greet").get("properties", {})
    rename = parameters_of(described, "rename")
    assert set(rename["properties"]) == {"title"}
    assert rename.get("required") == ["title"]


def test_a_bound_action_leaves_no_json_object_valid(
    described: dict[str, Any], client: webtest.TestApp
) -> None:
    # Only a form the server signed can call it: every JSON call is a 400.
    parameters = parameters_of(described, "rename")
    jsonschema.Draft202012Validator.check_schema(parameters)
    for payload in ({}, {"title": "x"}, {"title": "x", "owner": 1}):
        assert not is_valid(parameters, payload), payload
        assert call(client, "rename", payload).status_int == 400


def test_a_required_upload_leaves_no_json_object_valid(
    described: dict[str, Any],
) -> None:
    parameters = parameters_of(described, "upload")
    jsonschema.Draft202012Validator.check_schema(parameters)
    for payload in ({}, {"note": "n"}, {"note": "n", "file": "x"}, {"file": None}):
        assert not is_valid(parameters, payload), payload


def test_int_keys_are_described_by_property_names_with_an_integer_pattern(
    described: dict[str, Any],
) -> None:
    values = parameters_of(described, "by_id")["properties"]["values"]
    if "$ref" in values:
        values = resolve(parameters_of(described, "by_id"), values["$ref"])
    names = values["propertyNames"]
    assert "pattern" in names
    for key in ("0", "1", "-3", "20240229"):
        assert is_valid(names, key), key
    for key in ("a", "", "1.5", "1e3", " 1", "1 "):
        assert not is_valid(names, key), key


@pytest.mark.parametrize(("name", "payload", "accepted"), EXAMPLE_CASES)
def test_an_example_validates_exactly_when_the_action_accepts_it(
    client: webtest.TestApp,
    described: dict[str, Any],
    name: str,
    payload: Any,
    accepted: bool,
) -> None:
    parameters = parameters_of(described, name)
    answer = call(client, name, payload)
    assert (answer.status_int == 200) is accepted, answer.text
    assert is_valid(parameters, payload) is accepted, errors_of(parameters, payload)
    if not accepted:
        assert answer.status_int == 422, answer.text
    elif answer.content_type == "application/json":
        returns = returns_of(described, name)
        assert is_valid(returns, answer.json), errors_of(returns, answer.json)


def test_none_is_described_as_null(described: dict[str, Any]) -> None:
    returns = returns_of(described, "nothing")
    assert is_valid(returns, None)
    for other in (0, "", False, {}, []):
        assert not is_valid(returns, other), other


# -- The property: generated and mutated objects ----------------------------------
# A small strategy of our own: hypothesis-jsonschema knows drafts 4 to 7, not
# 2020-12 (prefixItems, $defs). It need not be exact: every object it draws
# is judged by jsonschema, and the property is only that the middleware agrees.

TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)
#: Values at the edges of the hints: numbers that are and are not integers,
#: texts that Python's parsers take and JSON Schema's formats refuse.
# fmt: off
TRICKY = [
    None, True, False, 0, 1, -1, 2, 3, 1.0, 1000.0, 1.5, -0.0, 2**53 + 1, 1e300,
    "", "a", "1", "01", "+1", " 1", "1_0", "\u0661", "1.5", "1e3", "NaN",
    "Infinity", "red", "RED", "green", "fast", "2024-02-29", "2024-02-30",
    "20240229", "2024-W09-4", "2024-060", "2024-02-29T10:00:00Z",
    "2024-02-29t10:00:00z", "2024-02-29 10:00:00+00:00", "2024-02-29T10:00:00",
    "2024-02-29T10:00:00.5+05:30", "2024-02-29T23:59:60Z", "10:00", "10:00:00",
    "10:00:00Z", "10:00:00.123+01:00", "10:00:00+01:60", "10:00:00.5Z",
    "2024-02-29T10:00:00+01:60", "1e+1000000000000000000", "-1E-99999999999",
    UUID, UUID.replace("-", ""),
    "{" + UUID + "}", "urn:uuid:" + UUID, [], {}, [1], [1, "a"], ["a", "a"],
    {"x": 1, "y": 2}, {"1": 2}, {"a": 1},
]
TRICKY_KEYS = [
    "", "1", "-1", "01", "+1", " 1", "1_0", "\u0661", "1.5", "a", "$bound",
    "request", "owner", "file", "x",
]
# fmt: on


OFFSETS = st.none() | st.integers(-1439, 1439).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)
FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date": st.dates().map(datetime.date.isoformat),
    "date-time": st.datetimes(timezones=OFFSETS).map(datetime.datetime.isoformat),
    "time": st.times(timezones=OFFSETS).map(datetime.time.isoformat),
    "uuid": st.uuids().map(str),
}


def strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Text in the schema's ``format``, or matching its ``pattern`` (Python's
    way: sometimes with a final newline; lone surrogates too, which JSON's
    ``\\ud800`` escapes carry, for a pattern that speaks of them), or any."""
    options = [FORMATS[schema["format"]]] if schema.get("format") in FORMATS else []
    if "pattern" in schema:
        anything = st.characters(exclude_categories=())
        options.append(st.from_regex(schema["pattern"], alphabet=anything))
    return st.one_of(options) if options else TEXT


def from_schema(schema: Any, root: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped by ``schema`` (mostly valid; jsonschema has the last word)."""
    if not isinstance(schema, dict) or depth > 6:
        return JSON_VALUES
    if "$ref" in schema:
        return from_schema(resolve(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, root, depth + 1) for s in schema[key]])
    if "allOf" in schema:
        return from_schema(schema["allOf"][0], root, depth + 1)
    kinds = schema.get("type")
    if kinds is None:
        kinds = (
            "object"
            if "properties" in schema
            else "array"
            if "items" in schema or "prefixItems" in schema
            else None
        )
    if kinds is None:
        return JSON_VALUES
    if isinstance(kinds, list):
        return st.one_of([of_type(schema, k, root, depth) for k in kinds])
    return of_type(schema, kinds, root, depth)


def of_type(
    schema: dict[str, Any], kind: str, root: Any, depth: int
) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        integers = st.integers(low, high)
        return integers | integers.map(float)
    if kind == "number":
        return st.integers(low, high) | st.floats(
            low, high, allow_nan=False, allow_infinity=False
        )
    if kind == "string":
        return strings(schema)
    if kind == "array":
        return arrays(schema, root, depth)
    if kind == "object":
        return objects(schema, root, depth)
    return JSON_VALUES


def arrays(schema: dict[str, Any], root: Any, depth: int) -> st.SearchStrategy[Any]:
    head = st.tuples(
        *(from_schema(s, root, depth + 1) for s in schema.get("prefixItems", []))
    ).map(list)
    rest_schema = schema.get("items", True)
    if rest_schema is False:
        return head
    low = max(0, schema.get("minItems", 0) - len(schema.get("prefixItems", [])))
    rest = st.lists(
        from_schema(rest_schema, root, depth + 1),
        min_size=low,
        max_size=low + 3,
        unique_by=(lambda v: json.dumps(v, sort_keys=True))
        if schema.get("uniqueItems")
        else None,
    )
    return st.tuples(head, rest).map(lambda parts: parts[0] + parts[1])


def objects(schema: dict[str, Any], root: Any, depth: int) -> st.SearchStrategy[Any]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fixed = st.fixed_dictionaries(
        {
            k: from_schema(s, root, depth + 1)
            for k, s in properties.items()
            if k in required
        },
        optional={
            k: from_schema(s, root, depth + 1)
            for k, s in properties.items()
            if k not in required
        },
    )
    extra_schema = schema.get("additionalProperties", True)
    if extra_schema is False:
        return fixed
    keys = (
        from_schema(schema["propertyNames"], root, depth + 1)
        if "propertyNames" in schema
        else TEXT
    ).filter(lambda key: isinstance(key, str) and key not in properties)
    extra = st.dictionaries(
        keys, from_schema(extra_schema, root, depth + 1), max_size=2
    )
    return st.tuples(fixed, extra).map(lambda parts: {**parts[1], **parts[0]})


def mutated(data: st.DataObject, value: Any, top: bool = False) -> Any:
    """``value`` with one change somewhere inside: a part replaced by an edge
    value, an entry dropped, an entry added, or a part wrapped in a list. The
    outermost object stays an object (it is the call's keyword arguments)."""
    containers = isinstance(value, (dict, list)) and value
    if containers and data.draw(st.integers(0, 2), label="descend") > 0:
        if isinstance(value, dict):
            key = data.draw(st.sampled_from(sorted(value)), label="into key")
            return {**value, key: mutated(data, value[key])}
        index = data.draw(st.integers(0, len(value) - 1), label="into index")
        return [*value[:index], mutated(data, value[index]), *value[index + 1 :]]
    edge = st.sampled_from(TRICKY) | JSON_VALUES
    changes = ["drop", "add"] if top else ["replace", "replace", "drop", "add", "wrap"]
    change = data.draw(st.sampled_from(changes), label="change")
    if change == "drop" and containers:
        if isinstance(value, dict):
            key = data.draw(st.sampled_from(sorted(value)), label="drop key")
            return {k: v for k, v in value.items() if k != key}
        index = data.draw(st.integers(0, len(value) - 1), label="drop index")
        return value[:index] + value[index + 1 :]
    if change == "add" and isinstance(value, dict):
        key = data.draw(st.sampled_from(TRICKY_KEYS) | TEXT, label="add key")
        return {**value, key: data.draw(edge, label="add value")}
    if change == "add" and isinstance(value, list):
        return [*value, data.draw(edge, label="append")]
    if change == "wrap":
        return [value]
    if top:
        return value
    return data.draw(edge, label="replace")


PROPERTY_NAMES = sorted(set(NAMES) - {"rename"})


@pytest.mark.parametrize("name", PROPERTY_NAMES)
def test_each_edge_value_is_accepted_exactly_when_it_validates(
    client: webtest.TestApp, described: dict[str, Any], name: str
) -> None:
    # Every edge value in every parameter, the others as an accepted example.
    parameters = parameters_of(described, name)
    base = next((p for n, p, ok in EXAMPLES if n == name and ok), {})
    disagreements = []
    for key in parameters.get("properties", {}):
        for value in TRICKY:
            payload = {**base, key: value}
            valid = is_valid(parameters, payload)
            answer = call(client, name, payload)
            if answer.status_int not in (200, 422) or (
                (answer.status_int == 200) is not valid
            ):
                disagreements.append(
                    f"{json.dumps(payload)}: {answer.status} {answer.text[:80]}; "
                    f"the schema says {'valid' if valid else 'invalid'}"
                )
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize("name", PROPERTY_NAMES)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        # conftest's autouse fixture only clears SERVERACT_SECRET: no state.
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.data())
def test_a_generated_object_is_accepted_exactly_when_it_validates(
    client: webtest.TestApp,
    described: dict[str, Any],
    name: str,
    data: st.DataObject,
) -> None:
    parameters = parameters_of(described, name)
    payload = data.draw(from_schema(parameters, parameters), label="generated")
    if not isinstance(payload, dict):
        payload = {}
    for _ in range(data.draw(st.sampled_from([0, 0, 1, 2]), label="mutations")):
        payload = mutated(data, payload, top=True)
    valid = is_valid(parameters, payload)
    answer = call(client, name, payload)
    assert answer.status_int in (200, 422), answer.text
    assert (answer.status_int == 200) is valid, (
        f"{name} {json.dumps(payload)}: the middleware answered "
        f"{answer.status} {answer.text}; the schema says "
        f"{'valid' if valid else errors_of(parameters, payload)}"
    )
    if valid and answer.content_type == "application/json":
        returns = returns_of(described, name)
        assert is_valid(returns, answer.json), errors_of(returns, answer.json)


# -- SPEC rev. 2: JSON's data model ---------------------------------------------------
# Header calls with bodies written out, so ``1e3`` reaches the server as ``1e3``.

# fmt: off
DATA_MODEL = [
    pytest.param("int_type", '{"value": 1.0}', 200, "int", id="1.0 is an int"),
    pytest.param("int_type", '{"value": 1e3}', 200, "int", id="1e3 is an int"),
    pytest.param("integer", '{"value": 1e3}', 200, 1000, id="1e3 is 1000"),
    pytest.param("integer", '{"value": 1.5}', 422, None, id="1.5 is no int"),
    pytest.param("integer", '{"value": true}', 422, None, id="true is no int"),
    pytest.param("number", '{"value": true}', 422, None, id="true is no float"),
    pytest.param("number", '{"value": false}', 422, None, id="false is no float"),
    pytest.param("money", '{"amount": true}', 422, None, id="true is no Decimal"),
    pytest.param("priority", '{"value": true}', 422, None, id="true is no enum 1"),
    pytest.param(
        "choice", '{"mode": "fast", "level": true}', 422, None, id="true is no 1"
    ),
    pytest.param("day", '{"value": "20240229"}', 422, None, id="basic date"),
    pytest.param("day", '{"value": 20240229}', 422, None, id="number as date"),
    pytest.param("day", '{"value": "2024-02-29"}', 200, "2024-02-29", id="date"),
    pytest.param(
        "moment", '{"value": "20240229T100000Z"}', 422, None, id="basic date-time"
    ),
    pytest.param(
        "moment", '{"value": "2024-02-29T10:00:00Z"}', 200, None, id="date-time"
    ),
    pytest.param(
        "when", '{"value": 20240229}', 200, "20240229", id="date | int: the int"
    ),
    pytest.param("by_id", '{"values": {"1": 2}}', 200, {"1": 2}, id="int keys"),
    pytest.param(
        "key_types", '{"values": {"1": 2}}', 200, ["int"], id="int keys as ints"
    ),
    pytest.param("by_id", '{"values": {"a": 2}}', 422, None, id="text key"),
]
# fmt: on


@pytest.mark.parametrize(("name", "body", "status", "value"), DATA_MODEL)
def test_json_values_are_checked_by_json_data_model(
    client: webtest.TestApp, name: str, body: str, status: int, value: Any
) -> None:
    answer = header_call(client, name, body)
    assert answer.status_int == status, answer.text
    if status == 422:
        assert answer.json["error"]["type"] == "invalid_arguments"
    elif value is not None:
        assert answer.json == value
        assert type(answer.json) is type(value)


# -- Path calls ------------------------------------------------------------------------


def test_a_path_call_is_a_header_call(client: webtest.TestApp) -> None:
    body = json.dumps({"value": [1, "a"]})
    by_path = client.post(ACTION_PATH + "pair", body, content_type="application/json")
    by_header = header_call(client, "pair", body)
    assert (by_path.status_int, by_path.json) == (200, [1, "a"])
    assert (by_path.status, by_path.body) == (by_header.status, by_header.body)
    assert by_path.headers["Cache-Control"] == "no-store"
    dotted = call(client, "shapes.area", {"points": TRIANGLE})
    assert (dotted.status_int, dotted.json) == (200, 0.5)


def test_a_path_call_is_relative_to_script_name() -> None:
    mounted = webtest.TestApp(
        validator(typed_actions.app), extra_environ={"SCRIPT_NAME": "/mount"}
    )
    answer = mounted.post(
        "/mount" + ACTION_PATH + "integer",
        json.dumps({"value": 7}),
        content_type="application/json",
    )
    assert answer.json == 7


def test_a_path_call_with_another_method_is_405_allowing_post(
    client: webtest.TestApp,
) -> None:
    answer = client.get(ACTION_PATH + "text", expect_errors=True)
    assert answer.status_int == 405
    assert answer.headers["Allow"] == "POST"
    assert answer.json["error"]["type"] == "method_not_allowed"


# -- OpenAPI 3.1 ---------------------------------------------------------------------


def operation(document: dict[str, Any], name: str) -> dict[str, Any]:
    return walk(document, "paths", ACTION_PATH + name, "post")


def answer_schema(
    document: dict[str, Any], name: str, status: str, media: str = "application/json"
) -> Any:
    path = ("paths", ACTION_PATH + name, "post", "responses", status, "content")
    return in_document(document, *path, media, "schema")


def documents(responses: dict[str, Any], status: str) -> str | None:
    """The key of ``responses`` that describes ``status`` (``422``, ``4XX``
    or ``default``), if any."""
    for key in (status, status[0] + "XX", "default"):
        if key in responses:
            return key
    return None


def test_the_openapi_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)
    json.dumps(document)


def test_each_openapi_document_is_its_own_to_edit_with_no_shared_nodes() -> None:
    first = typed_actions.app.openapi()
    seen: set[int] = set()

    def visit(node: Any) -> None:
        if isinstance(node, (dict, list)):
            assert id(node) not in seen, "a node appears twice (YAML would alias it)"
            seen.add(id(node))
            for child in node.values() if isinstance(node, dict) else node:
                visit(child)

    visit(first)
    first["components"]["schemas"]["Error"]["properties"].clear()
    first["paths"].clear()
    again = typed_actions.app.openapi()
    assert again["components"]["schemas"]["Error"]["properties"]
    assert sorted(again["paths"]) == sorted(ACTION_PATH + n for n in NAMES)


def test_the_openapi_title_and_version_are_the_callers(
    document: dict[str, Any],
) -> None:
    info = document["info"]
    assert (info["title"], info["version"]) == ("serveract actions", "1.0.0")
    named = typed_actions.app.openapi(title="Typed", version="2.5.0")
    assert (named["info"]["title"], named["info"]["version"]) == ("Typed", "2.5.0")


def test_each_action_is_one_post_at_its_path_call_url_named_by_operation_id(
    document: dict[str, Any],
) -> None:
    assert sorted(document["paths"]) == sorted(ACTION_PATH + n for n in NAMES)
    for name in NAMES:
        item = document["paths"][ACTION_PATH + name]
        assert set(item) & HTTP_METHODS == {"post"}, name
        assert item["post"]["operationId"] == name


def test_the_document_follows_a_custom_action_path() -> None:
    rpc = serveract.ServerActions(
        typed_actions.pages, typed_actions.registry, action_path="/rpc/"
    )
    document = rpc.openapi()
    assert sorted(document["paths"]) == sorted("/rpc/" + n for n in NAMES)
    answer = webtest.TestApp(rpc).post(
        "/rpc/integer", json.dumps({"value": 7}), content_type="application/json"
    )
    assert answer.json == 7


@pytest.mark.parametrize(("name", "payload", "accepted"), EXAMPLE_CASES)
def test_the_request_body_schema_agrees_with_the_parameters_schema(
    document: dict[str, Any], name: str, payload: Any, accepted: bool
) -> None:
    body = walk(document, "paths", ACTION_PATH + name, "post", "requestBody")
    assert set(body["content"]) == {"application/json"}
    path = ("paths", ACTION_PATH + name, "post", "requestBody", "content")
    schema = in_document(document, *path, "application/json", "schema")
    assert is_valid(schema, payload) is accepted, errors_of(schema, payload)


def test_the_200_answer_is_described_by_the_returns_schema(
    client: webtest.TestApp, document: dict[str, Any]
) -> None:
    for name, payload, _ in filter(lambda example: example[2], EXAMPLES):
        answer = call(client, name, payload)
        media = answer.content_type
        content = operation(document, name)["responses"]["200"]["content"]
        assert media in content, (name, media, sorted(content))
        if media == "application/json":
            schema = answer_schema(document, name, "200")
            assert is_valid(schema, answer.json), (name, answer.json)


def test_an_html_action_answers_text_html_as_documented(
    client: webtest.TestApp, document: dict[str, Any]
) -> None:
    answer = call(client, "page", {"title": "Hi"})
    assert answer.content_type == "text/html"
    assert answer.text == "<h1>Hi</h1>"
    assert "text/html" in operation(document, "page")["responses"]["200"]["content"]


def test_every_error_answer_is_described_by_the_error_schema(
    document: dict[str, Any],
) -> None:
    reference = answer_schema(document, "text", "422")
    for name in NAMES:
        responses = operation(document, name)["responses"]
        for status in ERROR_STATUSES:
            assert documents(responses, status), (name, status, sorted(responses))
        for key in set(responses) - {"200"}:
            assert answer_schema(document, name, key) == reference, (name, key)


def error_answers() -> Iterator[webtest.TestResponse]:
    """One real answer per error status, from the typed actions' middleware."""
    client = webtest.TestApp(typed_actions.app)
    json_type = "application/json"
    url = ACTION_PATH + "text"
    yield client.post(url, "{", content_type=json_type, status=400)
    cross_site = {"Origin": "https://elsewhere.example"}
    yield client.post(url, "{}", content_type=json_type, headers=cross_site, status=403)
    yield client.post(ACTION_PATH + "nope", "{}", content_type=json_type, status=404)
    yield client.get(url, status=405)
    small = webtest.TestApp(
        serveract.ServerActions(
            typed_actions.pages, typed_actions.registry, max_body_size=16
        )
    )
    big = json.dumps({"value": "x" * 64})
    yield small.post(url, big, content_type=json_type, status=413)
    yield client.post(url, "value", content_type="text/plain", status=415)
    yield client.post(url, "{}", content_type=json_type, status=422)
    failing = serveract.Registry()

    @failing.action
    def explode() -> None:
        raise RuntimeError("secret detail")

    broken = webtest.TestApp(serveract.ServerActions(typed_actions.pages, failing))
    yield broken.post(ACTION_PATH + "explode", "{}", content_type=json_type, status=500)


def test_real_error_answers_validate_against_the_documented_error_schema(
    document: dict[str, Any],
) -> None:
    schema = answer_schema(document, "text", "422")
    for answer in error_answers():
        assert is_valid(schema, answer.json), (answer.status, answer.json)
    for not_an_error in ({}, {"error": "text"}, {"message": "x"}):
        assert not is_valid(schema, not_an_error), not_an_error


def test_a_rate_limited_action_documents_429() -> None:
    limited = serveract.Registry()

    @limited.action(limit="5/minute")
    def ping() -> str:
        return "pong"

    document = serveract.ServerActions(typed_actions.pages, limited).openapi()
    validate(document, cls=OpenAPIV31SpecValidator)
    assert documents(operation(document, "ping")["responses"], "429")


def test_the_middleware_serves_no_description(client: webtest.TestApp) -> None:
    # Descriptions come from the CLI or a method the app calls, never a URL.
    for path in (ACTION_PATH + "openapi.json", ACTION_PATH + "schema", ACTION_PATH):
        answer = client.get(path, expect_errors=True)
        assert answer.status_int in (404, 405), (path, answer.status)
        assert b"openapi" not in answer.body and b"$schema" not in answer.body
    for path in ("/openapi.json", "/schema.json", "/serveract.d.ts"):
        answer = client.get(path)
        assert b"<p>typed actions</p>" in answer.body, path  # the wrapped app


# -- schemathesis against the demo --------------------------------------------------


@pytest.fixture
def demo() -> Iterator[ModuleType]:
    todo = load_demo()
    todo.store.reset()
    yield todo
    todo.store.reset()


def fuzz(
    operation: Any,
    mode: Any,
    url: str,
    checks: list[Any],
    object_checks: tuple[Any, ...] = (),
) -> None:
    """Send ``operation`` a bounded number of schemathesis cases; each answer
    must pass ``checks``, and ``object_checks`` too when the body sent is a
    JSON object (an array is positional arguments, which the SPEC allows
    and the description, of keyword arguments, leaves out)."""

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Any) -> None:
        extra = list(object_checks) if isinstance(case.body, dict) else []
        case.call_and_validate(base_url=url, checks=checks + extra)

    send()


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer() -> None:
    # A fresh copy of the demo: its own store, and only its own actions (the
    # browser tests add a test-only upload action to the shared copy).
    demo = fresh_demo()
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        negative_data_rejection,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    conformance = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_dict(demo.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.path for op in operations) == sorted(
        ACTION_PATH + name for name in demo.registry
    )
    log = RequestLog(demo.app)
    with serving(log) as url:
        for operation in operations:
            fuzz(operation, GenerationMode.POSITIVE, url, conformance)
            # Objects the schema refuses must be refused (4xx), never run.
            fuzz(
                operation,
                GenerationMode.NEGATIVE,
                url,
                conformance,
                object_checks=(negative_data_rejection,),
            )
    sent = {seen.path for seen in log.requests("POST")}
    assert sent == {operation.path for operation in operations}


# -- TypeScript ------------------------------------------------------------------------


def tsc(*files: Path) -> subprocess.CompletedProcess[str]:
    assert TSC.exists(), (
        "TypeScript is missing: npm install --no-save --prefix tests/fixtures "
        "typescript@5 (.ci/install does it)"
    )
    return subprocess.run(
        [
            str(TSC),
            "--noEmit",
            "--strict",
            "--pretty",
            "false",
            "--target",
            "es2020",
            "--lib",
            "es2020,dom",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def errors_by_file(output: str) -> dict[str, list[str]]:
    """``{file name: [error codes]}`` from tsc's output."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(
        r"^(?:.*/)?([\w.]+\.ts)\(\d+,\d+\): error (TS\d+)", output, re.M
    ):
        found.setdefault(match.group(1), []).append(match.group(2))
    return found


@pytest.fixture(scope="module")
def declarations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The generated ``.d.ts`` of the demo (by the CLI) and of the typed actions."""
    folder = tmp_path_factory.mktemp("declarations")
    demo = run_cli("typescript", "todo:app", cwd=DEMO_DIR)
    assert demo.returncode == 0, demo.stderr
    (folder / "demo.d.ts").write_text(demo.stdout)
    (folder / "typed.d.ts").write_text(typed_actions.app.typescript())
    return {"demo": folder / "demo.d.ts", "typed": folder / "typed.d.ts"}


# Each file makes one wrong call, and tsc must report one error, with one of
# these codes: TS2322 not assignable, TS2345 argument missing a property,
# TS2353 unknown property, TS2339 no such member, TS2741 property missing.
# toggle_todo's todo_id is bound (only a signed form fills it): declared
# without parameters, the call is TS2353 or, for a `{[key: string]: never}`
# argument, TS2322; left out as form-only, it is TS2339. An argument typed
# `{}` would let the call through.
# fmt: off
WRONG_CALLS = [
    ("demo_wrong_type.ts", {"TS2322"}),
    ("demo_missing_required.ts", {"TS2345"}),
    ("demo_unknown_parameter.ts", {"TS2353"}),
    ("demo_bound_parameter.ts", {"TS2353", "TS2322", "TS2339"}),
    ("demo_unknown_action.ts", {"TS2339"}),
    ("typed_wrong_literal.ts", {"TS2322"}),
    ("typed_wrong_enum.ts", {"TS2322"}),
    ("typed_wrong_nested.ts", {"TS2741"}),
    ("typed_wrong_tuple.ts", {"TS2322"}),
    ("typed_request_parameter.ts", {"TS2353"}),
    ("typed_wrong_return.ts", {"TS2322"}),
    ("typed_wrong_decimal_list.ts", {"TS2322"}),
    ("typed_wrong_optional_upload.ts", {"TS2322"}),
]
# fmt: on


@pytest.mark.parametrize(
    ("which", "good"), [("demo", "demo_calls.ts"), ("typed", "typed_calls.ts")]
)
def test_tsc_strict_accepts_right_calls_through_the_declarations(
    declarations: dict[str, Path], which: str, good: str
) -> None:
    done = tsc(declarations[which], TYPESCRIPT / good)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("wrong", "codes"), WRONG_CALLS)
def test_tsc_strict_refuses_a_wrong_call(
    declarations: dict[str, Path], wrong: str, codes: set[str]
) -> None:
    done = tsc(declarations[wrong.split("_")[0]], TYPESCRIPT / wrong)
    assert done.returncode != 0
    found = errors_by_file(done.stdout)
    assert set(found) == {wrong} and len(found[wrong]) == 1, done.stdout
    assert found[wrong][0] in codes, done.stdout


# Dataclasses named as the declarations' own types (Serveract.Client, .Error,
# .Actions) or the global ones they use (Promise, Record, File, Blob): common
# names in an app, each must stay a type of its own.
@dataclasses.dataclass
class Client:
    name: str


@dataclasses.dataclass
class Record:
    id: int


@dataclasses.dataclass
class Error:
    code: int


@dataclasses.dataclass
class Promise:
    done: bool


CLASHING_CALLS = """\
async function useClashingNames(): Promise<void> {
  const record = await serveract.actions.add_client({ client: { name: "Ada" } });
  const id: number = record.id;
  const error = await serveract.actions.check({ error: { code: 1 } });
  const done: boolean = error.done;
  const any: unknown = await serveract.callWith("add_client", { client: {} });
}
"""


def test_dataclasses_named_as_typescript_types_do_not_merge_with_them(
    tmp_path: Path,
) -> None:
    clashing = serveract.Registry()

    @clashing.action
    def add_client(client: Client) -> Record:
        return Record(1)

    @clashing.action
    def check(error: Error) -> Promise:
        return Promise(True)

    app = serveract.ServerActions(lambda environ, start: [], clashing)
    (tmp_path / "clashing.d.ts").write_text(app.typescript())
    (tmp_path / "clashing.ts").write_text(CLASHING_CALLS)
    done = tsc(tmp_path / "clashing.d.ts", tmp_path / "clashing.ts")
    assert done.returncode == 0, done.stdout + done.stderr
    # The schema still describes the same objects, under their own names.
    schema = app.schema()["actions"]["add_client"]["parameters"]
    assert is_valid(schema, {"client": {"name": "Ada"}})
    assert not is_valid(schema, {"client": {"id": 1}})


def test_an_action_named_new_is_a_method_of_the_declarations(tmp_path: Path) -> None:
    # In an interface, new(...) is a construct signature: actions.new was
    # no member at all.
    reg = serveract.Registry()

    @reg.action(name="new")
    def create(title: str) -> int:
        return 1

    app = serveract.ServerActions(lambda environ, start: [], reg)
    (tmp_path / "new.d.ts").write_text(app.typescript())
    (tmp_path / "new.ts").write_text(
        "async function useNew(): Promise<void> {\n"
        '  const id: number = await serveract.actions.new({ title: "a" });\n'
        "}\n"
    )
    done = tsc(tmp_path / "new.d.ts", tmp_path / "new.ts")
    assert done.returncode == 0, done.stdout + done.stderr


def test_dataclasses_named_as_typescript_keywords_are_valid_declarations(
    tmp_path: Path,
) -> None:
    # "interface default {" or "interface 3D {" is no TypeScript: tsc
    # refused the whole file. Lowercase names are rare in Python, not wrong.
    reg = serveract.Registry()
    for index, name in enumerate(["default", "new", "switch", "typeof", "3D"]):
        kind = dataclasses.make_dataclass(name, [("size", int)])

        def echo(value: Any) -> Any:
            return value

        echo.__annotations__ = {"value": kind, "return": kind}
        reg.action(name=f"echo{index}")(echo)
    app = serveract.ServerActions(lambda environ, start: [], reg)
    (tmp_path / "keywords.d.ts").write_text(app.typescript())
    done = tsc(tmp_path / "keywords.d.ts")
    assert done.returncode == 0, done.stdout + done.stderr
    validate(app.openapi(), cls=OpenAPIV31SpecValidator)


@dataclasses.dataclass
class Figure_returns:  # an app's name, and the name of the answers' Figure
    sides: str


@dataclasses.dataclass
class Figure:
    corners: int


def test_a_dataclass_named_as_an_answer_variant_keeps_a_name_of_its_own() -> None:
    reg = serveract.Registry()

    @reg.action
    def draw(outline: Figure_returns) -> Figure:
        return Figure(len(outline.sides))

    app = serveract.ServerActions(lambda environ, start: [], reg)
    answered = call(webtest.TestApp(app), "draw", {"outline": {"sides": "abc"}}).json
    # The answer was described by Figure_returns's own schema, under the
    # name the OpenAPI document gives the answers' Figure.
    schema = answer_schema(app.openapi(), "draw", "200")
    assert is_valid(schema, answered), errors_of(schema, answered)
    request = app.schema()["actions"]["draw"]["parameters"]
    assert is_valid(request, {"outline": {"sides": "abc"}})


class Markup(str):
    def __html__(self) -> str:
        return str(self)


@pytest.mark.parametrize("hint", [decimal.Decimal, Markup, None])
def test_an_annotated_answer_is_described_as_its_type(hint: Any) -> None:
    reg = serveract.Registry()
    for name, returns in [("plain", hint), ("annotated", typing.Annotated[hint, "x"])]:

        def action() -> Any:
            return None

        action.__annotations__ = {"return": returns}
        reg.action(name=name)(action)
    app = serveract.ServerActions(lambda environ, start: [], reg)
    described = app.schema()["actions"]
    assert described["annotated"]["returns"] == described["plain"]["returns"]
    promised = dict(re.findall(r"(\w+)\(.*Promise<(.*)>;", app.typescript()))
    assert promised["annotated"] == promised["plain"]


@dataclasses.dataclass
class Priced:
    price: decimal.Decimal
    note: str = ""


# What the answers hold, typed as tight as TypeScript allows: a Decimal is
# text wherever it is, and a returned dataclass has every field.
ANSWERS = """\
async function useAnswers(): Promise<void> {
  const priced = await serveract.actions.echo({ priced: { price: 1.5 } });
  const price: string = priced.price;
  const note: string = priced.note;
  const named: Serveract.Priced_returns = priced;
  const table: Record<string, string> = await serveract.actions.table({});
  const pair: [string, Serveract.Priced_returns] = await serveract.actions.pair({});
  const maybe: string | null = await serveract.actions.maybe({});
  console.log(price, note, named, table, pair, maybe);
}
"""


def test_answers_are_typed_as_they_are_answered_not_as_they_are_sent(
    tmp_path: Path,
) -> None:
    reg = serveract.Registry()

    @reg.action
    def echo(priced: Priced) -> Priced:
        return priced

    @reg.action
    def table() -> dict[str, decimal.Decimal]:
        return {"a": decimal.Decimal("1.50")}

    @reg.action
    def pair() -> tuple[decimal.Decimal, Priced]:
        return decimal.Decimal(1), Priced(decimal.Decimal(2))

    @reg.action
    def maybe() -> decimal.Decimal | None:
        return None

    app = serveract.ServerActions(lambda environ, start: [], reg)
    answered = call(webtest.TestApp(app), "echo", {"priced": {"price": 1.5}}).json
    assert answered == {"price": "1.5", "note": ""}
    assert "Priced_returns" in app.openapi()["components"]["schemas"]  # one name
    (tmp_path / "answers.d.ts").write_text(app.typescript())
    (tmp_path / "answers.ts").write_text(ANSWERS)
    done = tsc(tmp_path / "answers.d.ts", tmp_path / "answers.ts")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_dataclass_named_outside_ascii_has_a_name_openapi_allows(
    tmp_path: Path,
) -> None:
    # OpenAPI's component names are [a-zA-Z0-9._-]+, and a $ref is a URI.
    size = dataclasses.make_dataclass("Gr\u00f6\u00dfe", [("value", int)])
    reg = serveract.Registry()

    def grow(size: Any) -> Any:
        return size

    grow.__annotations__ = {"size": size, "return": size}
    reg.action(grow)
    app = serveract.ServerActions(lambda environ, start: [], reg)
    validate(app.openapi(), cls=OpenAPIV31SpecValidator)
    schema = app.schema()["actions"]["grow"]["parameters"]
    assert is_valid(schema, {"size": {"value": 1}})
    assert not is_valid(schema, {"size": {}})
    (tmp_path / "size.d.ts").write_text(app.typescript())
    assert tsc(tmp_path / "size.d.ts").returncode == 0


@dataclasses.dataclass
class Tagged:
    name: str
    slug: str = dataclasses.field(default="", init=False)


@dataclasses.dataclass
class Derived:
    name: str
    slug: str = dataclasses.field(init=False)  # no default: set after __init__

    def __post_init__(self) -> None:
        self.slug = self.name.lower()


@dataclasses.dataclass
class Mutable:  # eq without frozen: no __hash__
    x: int


@dataclasses.dataclass(frozen=True)
class Point:
    x: int


@dataclasses.dataclass(frozen=True)
class Listed:  # frozen, but its hash is the hash of a list
    items: list[int]


@dataclasses.dataclass(eq=False)
class Identified:  # hashed by identity, whatever it holds
    items: list[int]


@dataclasses.dataclass(frozen=True)
class Span:  # frozen, hashing a tuple and a frozenset: both built hashable
    bounds: tuple[int, int]
    tags: frozenset[str] = frozenset()


def taking(hint: Any) -> serveract.Registry:
    """A registry with one action, ``take(value: hint) -> int``."""
    reg = serveract.Registry()

    def take(value: Any) -> int:
        return 1

    take.__annotations__ = {"value": hint, "return": int}
    reg.action(take)
    return reg


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        pytest.param(set, [[1]], id="set-of-any-holding-a-list"),
        pytest.param(set, [{"a": 1}], id="set-of-any-holding-an-object"),
        pytest.param(set, [1, "a", None, True, 1.5], id="set-of-any-simple-values"),
        pytest.param(frozenset[Any], [[1]], id="frozenset-of-any-holding-a-list"),
        pytest.param(set[Point], [{"x": 1}, {"x": 1}], id="set-of-frozen-dataclass"),
        pytest.param(set[Identified], [{"items": [1]}], id="set-of-identity-hashed"),
        pytest.param(
            set[Span],
            [{"bounds": [1, 2], "tags": ["a"]}, {"bounds": [1, 2], "tags": ["a"]}],
            id="set-of-frozen-dataclass-holding-a-tuple",
        ),
        pytest.param(
            set[tuple[str, int] | None], [["a", 1], None], id="set-of-optional-tuple"
        ),
        pytest.param(frozenset[tuple[int, ...]], [[1], [1, 2]], id="set-of-tuples"),
        pytest.param(Tagged, {"name": "a", "slug": "b"}, id="init-false-field-sent"),
        pytest.param(Tagged, {"name": "a"}, id="init-false-field-left-out"),
        pytest.param(float, 10**309, id="float-beyond-the-largest"),
        pytest.param(float, -(2**1024 - 2**970 - 1), id="float-that-would-round-in"),
        pytest.param(float, int(sys.float_info.max), id="float-the-largest-as-int"),
        pytest.param(dict[int, int], {"9" * 4300: 1}, id="int-key-of-4300-digits"),
        pytest.param(dict[int, int], {"9" * 4301: 1}, id="int-key-int-cannot-read"),
        pytest.param(bytes, "a\udfff", id="bytes-of-a-lone-surrogate"),
        pytest.param(bytes, "\U0001f600", id="bytes-of-a-surrogate-pair"),
    ],
)
def test_the_schema_refuses_what_the_binder_refuses(hint: Any, value: Any) -> None:
    app = serveract.ServerActions(lambda environ, start: [], taking(hint))
    schema = app.schema()["actions"]["take"]["parameters"]
    client = webtest.TestApp(app)
    answer = call(client, "take", {"value": value})
    assert is_valid(schema, {"value": value}) == (answer.status_int == 200)


@pytest.mark.parametrize(
    "hint",
    [
        pytest.param(set[Mutable], id="a-dataclass-without-a-hash"),
        pytest.param(set[Mutable | None], id="optional-dataclass-without-a-hash"),
        pytest.param(set[list[int] | None], id="optional-list"),
        pytest.param(set[int | list[int]], id="int-or-list"),
        pytest.param(set[Any | None], id="optional-any"),
        pytest.param(frozenset[Listed], id="frozen-dataclass-holding-a-list"),
    ],
)
def test_a_set_that_may_hold_what_no_set_holds_is_refused_at_registration(
    hint: Any,
) -> None:
    # The binder refused every JSON list holding such an item (a list, or a
    # dataclass hashing one, goes in no set), which the schema allowed.
    with pytest.raises(TypeError, match="frozen dataclasses"):
        taking(hint)


@dataclasses.dataclass(frozen=True)
class Tree:  # holds itself in a set, then a list: its hash is a list's
    children: frozenset[Tree]
    tags: list[str]


@dataclasses.dataclass(frozen=True)
class Left:  # its list comes after the field that refers to Right
    right: Right | None
    items: list[int]


@dataclasses.dataclass(frozen=True)
class Right:  # hashes a Left, so a list
    left: Left | None


def test_a_dataclass_holding_itself_in_a_set_and_a_list_is_refused() -> None:
    # Decided while the class is still being built: its list comes after
    # the field that holds the set.
    with pytest.raises(TypeError, match="frozen dataclasses"):
        taking(Tree)


def test_a_set_of_a_dataclass_is_refused_whichever_action_built_it_first() -> None:
    taking(Left)  # builds Right before Left's list
    with pytest.raises(TypeError, match="frozen dataclasses"):
        taking(set[Right])


@dataclasses.dataclass
class Memo:  # a helper the class builds itself; no request sends it
    total: Undefined | None = None  # type: ignore[name-defined]  # noqa: F821 - a TYPE_CHECKING-only import


@dataclasses.dataclass(frozen=True)
class Order:
    id: int
    memo: Memo | None = dataclasses.field(default=None, init=False)


def test_the_type_of_a_field_the_class_sets_itself_is_never_built() -> None:
    app = serveract.ServerActions(lambda environ, start: [], taking(Order))
    assert call(webtest.TestApp(app), "take", {"value": {"id": 1}}).status_int == 200


@dataclasses.dataclass
class Holder:  # no request can fill its last field
    held: Held | None
    callback: Callable[[], None]


@dataclasses.dataclass
class Held:  # built while Holder is: it holds a Holder
    holder: Holder | None = None


def test_a_dataclass_holding_one_that_no_request_can_fill_is_refused_too() -> None:
    # Held was built on the way to refusing Holder: it must not stay built,
    # as if a request could fill the Holder it holds (the schema's reference
    # to Holder named no definition, a KeyError).
    with pytest.raises(TypeError, match=r"Holder\.callback"):
        taking(Holder)
    with pytest.raises(TypeError, match=r"Holder\.callback"):
        taking(Held)


@dataclasses.dataclass(frozen=True)
class Marker:
    x: int


ForeignMarker = dataclasses.make_dataclass("Marker", [("lat", float)], frozen=True)
ForeignMarker.__module__ = "elsewhere"  # another module's Marker


@dataclasses.dataclass(frozen=True)
class Pin:
    id: int
    near: ForeignMarker | None = dataclasses.field(default=None, init=False)  # type: ignore[valid-type]


def test_a_field_the_class_sets_itself_takes_no_name_in_the_descriptions() -> None:
    reg = serveract.Registry()

    def pin(value: Pin, marker: Marker) -> int:
        return 1

    reg.action(pin)
    app = serveract.ServerActions(lambda environ, start: [], reg)
    schema = app.schema()["actions"]["pin"]["parameters"]
    assert schema["properties"]["marker"] == {"$ref": "#/$defs/Marker"}
    assert "interface Marker {" in app.typescript()


class Limit(enum.Enum):
    NONE = math.inf
    LOW = 10


@pytest.mark.parametrize(
    "hint",
    [
        pytest.param(Literal[math.nan], id="literal-nan"),
        pytest.param(Literal[1, -math.inf], id="literal-minus-infinity"),
        pytest.param(Limit, id="enum-with-an-infinite-member"),
    ],
)
def test_a_choice_no_json_holds_is_refused_at_registration(hint: Any) -> None:
    # The schema's enum held NaN or Infinity: no JSON (the CLI printed them
    # anyway), and no client could send them.
    with pytest.raises(TypeError, match="only JSON values can be choices"):
        taking(hint)


@dataclasses.dataclass
class Salted:
    name: str
    salt: dataclasses.InitVar[str]  # an argument of __init__, but no field

    def __post_init__(self, salt: str) -> None:
        self.name = salt + self.name


@dataclasses.dataclass
class Scaled:
    size: int
    scale: dataclasses.InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        self.size *= scale


def test_the_empty_tuple_is_described_by_a_valid_schema() -> None:
    app = serveract.ServerActions(lambda environ, start: [], taking(tuple[()]))
    schemas = app.schema()["actions"]["take"]
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    client = webtest.TestApp(app)
    for value in ([], [1], {}):
        answer = call(client, "take", {"value": value})
        valid = is_valid(schemas["parameters"], {"value": value})
        assert valid == (answer.status_int == 200), value


def test_a_bare_typing_tuple_is_any_tuple_as_tuple_is() -> None:
    # It was read as tuple[()]: [] was the one value accepted and described.
    bare = typing.Tuple  # noqa: UP006 (the spelling under test)
    app = serveract.ServerActions(lambda environ, start: [], taking(bare))
    schema = app.schema()["actions"]["take"]["parameters"]
    client = webtest.TestApp(app)
    for value in ([], [1, "a"], [[1], None]):
        assert call(client, "take", {"value": value}).status_int == 200, value
        assert is_valid(schema, {"value": value}), value


def test_an_init_var_without_a_default_is_refused_at_registration() -> None:
    # No request can send it (it is no field): the class could never be
    # built, while the schema said {"name": ...} was accepted.
    with pytest.raises(TypeError, match=r"Salted\.salt"):
        taking(Salted)


def test_an_init_var_with_a_default_is_not_the_clients_to_send() -> None:
    app = serveract.ServerActions(lambda environ, start: [], taking(Scaled))
    schema = app.schema()["actions"]["take"]["parameters"]
    client = webtest.TestApp(app)
    for value in ({"size": 2}, {"size": 2, "scale": 3}):
        answer = call(client, "take", {"value": value})
        assert is_valid(schema, {"value": value}) == (answer.status_int == 200)


def test_a_field_the_dataclass_sets_itself_is_not_the_clients_and_is_answered() -> None:
    reg = serveract.Registry()

    @reg.action
    def tag(name: str) -> Tagged:
        return Tagged(name)

    @reg.action
    def untag(tagged: Tagged) -> str:
        return tagged.name

    @reg.action
    def derive(derived: Derived) -> str:
        return derived.slug

    app = serveract.ServerActions(lambda environ, start: [], reg)
    assert "slug" not in app.typescript()
    actions = app.schema()["actions"]
    assert "slug" not in json.dumps(actions["untag"]["parameters"])
    client = webtest.TestApp(app)
    assert call(client, "untag", {"tagged": {"name": "a"}}).json == "a"
    assert call(client, "derive", {"derived": {"name": "AB"}}).json == "ab"
    assert actions["derive"]["parameters"]["$defs"]["Derived"]["required"] == ["name"]
    answered = call(client, "tag", {"name": "a"}).json
    assert answered == {"name": "a", "slug": ""}
    assert is_valid(actions["tag"]["returns"], answered)


# -- The command line ------------------------------------------------------------------


CLI_TARGETS = [
    pytest.param("typed_actions:app", TESTS, id="typed actions"),
    pytest.param("todo:app", DEMO_DIR, id="demo"),
]


def described_in_process(target: str, command: str) -> Any:
    app = typed_actions.app if target.startswith("typed") else fresh_demo().app
    method: Callable[[], Any] = getattr(app, command)
    return method()


@pytest.mark.parametrize("command", ["schema", "openapi"])
@pytest.mark.parametrize(("target", "cwd"), CLI_TARGETS)
def test_the_cli_prints_the_json_description_the_method_returns(
    command: str, target: str, cwd: Path
) -> None:
    done = run_cli(command, target, cwd)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == roundtrip(described_in_process(target, command))


@pytest.mark.parametrize(("target", "cwd"), CLI_TARGETS)
def test_the_cli_prints_the_typescript_declarations_the_method_returns(
    target: str, cwd: Path
) -> None:
    done = run_cli("typescript", target, cwd)
    assert done.returncode == 0, done.stderr
    expected = described_in_process(target, "typescript")
    assert done.stdout.strip() == expected.strip()
    assert "actions" in expected


def test_the_demo_cli_schema_is_valid_and_names_the_demo_actions() -> None:
    done = run_cli("schema", "todo:app", DEMO_DIR)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert sorted(printed["actions"]) == sorted(fresh_demo().registry)
    for description in printed["actions"].values():
        jsonschema.Draft202012Validator.check_schema(description["parameters"])
        jsonschema.Draft202012Validator.check_schema(description["returns"])
    assert "todo_id" not in printed["actions"]["toggle_todo"]["parameters"].get(
        "properties", {}
    )


# -- A real browser --------------------------------------------------------------------
# Last in the module: playwright's sync API leaves an asyncio loop marked as
# running in this thread (see BROWSER.md).


def mount(
    prefix: str, app: Callable[..., Iterable[bytes]]
) -> Callable[..., Iterable[bytes]]:
    """Serve ``app`` under ``prefix`` (its SCRIPT_NAME), nothing elsewhere."""

    def dispatch(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(prefix + "/"):
            inner = dict(environ, SCRIPT_NAME=prefix, PATH_INFO=path[len(prefix) :])
            return app(inner, start_response)
        start_response(
            "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")]
        )
        return [b""]

    return dispatch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def test_in_a_browser_actions_name_calls_the_action_with_a_path_call(
    browser: Any, demo: ModuleType
) -> None:
    log = RequestLog(demo.app)
    with serving(log) as url:
        page = browser.new_page()
        try:
            page.goto(url + "/")
            log.clear()
            state = page.evaluate(
                "serveract.actions.add_todo({title: 'Typed from the browser'})"
            )
            counts = page.evaluate("serveract.actions.stats({})")
        finally:
            page.close()
    assert state["message"] == "Added “Typed from the browser”."
    assert "Typed from the browser" in [todo.title for todo in demo.store.all()]
    assert counts["open"] == len(demo.SEED) + 1
    posts = log.requests("POST")
    assert [(p.path, p.status) for p in posts] == [
        (ACTION_PATH + "add_todo", "200 OK"),
        (ACTION_PATH + "stats", "200 OK"),
    ]


def test_in_a_browser_a_mounted_app_is_called_under_its_mount(browser: Any) -> None:
    log = RequestLog(mount("/mounted", typed_actions.app))
    with serving(log) as url:
        page = browser.new_page()
        try:
            page.goto(url + "/mounted/")
            log.clear()
            pair = page.evaluate("serveract.actions.pair({value: [1, 'a']})")
            area = page.evaluate(
                "serveract.actions['shapes.area']({points: "
                "[{x: 0, y: 0}, {x: 1, y: 0}, {x: 0, y: 1}]})"
            )
            refused = page.evaluate(
                "serveract.actions.integer({value: 'x'})"
                ".then(() => null, (e) => [e.status, e.type])"
            )
        finally:
            page.close()
    assert (pair, area, refused) == ([1, "a"], 0.5, [422, "invalid_arguments"])
    assert [p.path for p in log.requests("POST")] == [
        "/mounted" + ACTION_PATH + "pair",
        "/mounted" + ACTION_PATH + "shapes.area",
        "/mounted" + ACTION_PATH + "integer",
    ]


def test_an_upload_is_typed_exactly_when_the_client_sends_it(
    browser: Any, declarations: dict[str, Path]
) -> None:
    # The declarations promise nothing the client cannot do: tsc accepts a
    # Blob for a file parameter only if actions.NAME sends it as a file.
    typed = tsc(declarations["typed"], TYPESCRIPT / "typed_upload_call.ts")
    with serving(typed_actions.app) as url:
        page = browser.new_page()
        try:
            page.goto(url + "/")
            outcome = page.evaluate(
                "serveract.actions.upload({note: 'n', file: new Blob(['abc'])})"
                ".then((value) => value, (error) => error.status)"
            )
        finally:
            page.close()
    compiles = typed.returncode == 0
    assert (outcome == 3) is compiles, (
        f"tsc {'accepts' if compiles else 'refuses'} the call; "
        f"the client's call answered {outcome}"
    )
