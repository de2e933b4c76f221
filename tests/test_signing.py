"""Values the server binds into a form (``hidden_field(name, **bound)``):
signed with the secret and the action's name, typed as JSON, never
overridden by the client, refused with 400 when forged, and accepted by any
process that shares the secret, across key rotation."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import pytest
import webob

import serveract
from conftest import FORM, Client, Response, multipart


def register_todos(reg: serveract.Registry) -> list[dict[str, Any]]:
    """``delete_todo`` and ``archive_todo`` on ``reg``; the calls they get."""
    seen: list[dict[str, Any]] = []

    @reg.action
    def delete_todo(todo_id: int, owner: str, note: str = "") -> str:
        seen.append({"todo_id": todo_id, "owner": owner, "note": note})
        return "deleted"

    @reg.action
    def archive_todo(todo_id: int, owner: str) -> str:
        seen.append({"archived": todo_id})
        return "archived"

    return seen


@pytest.fixture
def todos(reg: serveract.Registry) -> list[dict[str, Any]]:
    return register_todos(reg)


def token_of(markup: str) -> str:
    """The signed value in a ``hidden_field`` markup."""
    start = markup.index('name="$bound" value="') + len('name="$bound" value="')
    return markup[start : markup.index('"', start)]


def signed(client: Client, name: str = "delete_todo", **bound: Any) -> str:
    """The token ``client``'s middleware signs for ``name`` and ``bound``."""
    return token_of(str(client.actions.hidden_field(name, **bound)))


def post_bound(
    client: Client,
    name: str,
    token: str | None,
    extra: Iterable[tuple[str, str]] = (),
    how: str = "form",
    status: int | str = "*",
) -> Response:
    """Submit the form: with no JavaScript (``form``), or as a header call
    with the form's fields (``header-urlencoded``, ``header-multipart``)."""
    fields = [("$action", name)]
    if token is not None:
        fields.append(("$bound", token))
    fields += list(extra)
    if how == "form":
        return client.form(fields, status=status)
    if how == "header-urlencoded":
        body, content_type = urlencode(fields).encode(), FORM
    else:
        body, content_type = multipart(fields)
    return client.send(body, content_type, action=name, status=status)


HOW = ["form", "header-urlencoded", "header-multipart"]


# -- Binding ------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
def test_bound_values_arrive_with_their_json_types_and_cannot_be_overridden(
    middleware, todos, how
):
    client = middleware(secret="s3cret")
    markup = str(client.actions.hidden_field("delete_todo", todo_id=7, owner="ann"))
    assert markup.startswith('<input type="hidden" name="$action" value="delete_todo">')
    overrides = [("todo_id", "999"), ("owner", "mallory"), ("note", "bye")]
    post_bound(client, "delete_todo", token_of(markup), overrides, how, status=200)
    assert todos == [{"todo_id": 7, "owner": "ann", "note": "bye"}]
    if how == "form":  # the page shows the fields the user typed, only them
        outcome = client.calls[-1].result
        assert outcome is not None and outcome.ok
        assert "$bound" not in outcome.form and "$action" not in outcome.form


def test_bound_values_of_every_json_type_round_trip(reg, middleware):
    seen = []

    @reg.action
    def keep(**values: Any) -> None:
        seen.append(values)

    client = middleware(secret="k")
    values = {"n": 1, "f": 1.5, "s": "é<>\"'&", "b": False, "z": None, "l": [1, "a"]}
    values["d"] = {"k": [True]}
    markup = str(client.actions.hidden_field("keep", **values))
    assert "<>" not in markup.split('name="$bound"')[1]  # escaped into the attribute
    post_bound(client, "keep", token_of(markup), status=200)
    assert seen == [values]


def test_a_value_the_action_cannot_take_fails_when_the_form_is_rendered(
    reg, middleware, todos
):
    # Signed as they are, each would make every submission of the form a 422.
    @reg.action(bound=["when"])
    def remind(when: datetime.datetime) -> str:
        return when.isoformat()

    client = middleware(secret="s3cret")
    with pytest.raises(ValueError, match="todo_id"):
        client.actions.hidden_field("delete_todo", todo_id="7", owner="ann")
    with pytest.raises(ValueError, match="when"):  # naive: no RFC 3339 offset
        client.actions.hidden_field("remind", when=datetime.datetime(2024, 5, 1, 9))
    with pytest.raises(TypeError, match="colour"):
        client.actions.hidden_field("delete_todo", todo_id=7, owner="a", colour="r")
    when = datetime.datetime(2024, 5, 1, 9, tzinfo=datetime.timezone.utc)
    token = signed(client, "remind", when=when)
    answer = post_bound(client, "remind", token, how="header-urlencoded", status=200)
    assert answer.json == "2024-05-01T09:00:00+00:00"


def test_a_parameter_called_name_or_self_can_be_bound(reg, middleware):
    # hidden_field's own parameters take no keyword: every name is the action's.
    @reg.action(bound=["name", "self"])
    def rename(name: str, self: int) -> list[Any]:
        return [name, self]

    client = middleware(secret="s3cret")
    markup = client.actions.hidden_field("rename", name="a.txt", self=3)
    token = token_of(str(markup))
    answer = post_bound(client, "rename", token, how="header-urlencoded", status=200)
    assert answer.json == ["a.txt", 3]


def test_a_value_for_the_request_parameter_is_refused_when_signed(reg, middleware):
    # With **kwargs it would be signed, then replaced by the request.
    @reg.action
    def note(request: webob.Request, **extra: Any) -> Any:
        return extra

    client = middleware(secret="s3cret")
    with pytest.raises(TypeError, match="request"):
        client.actions.hidden_field("note", request=5)


def test_bound_given_as_one_string_is_refused_with_the_list_it_meant(reg):
    def delete(todo_id: int) -> None: ...

    with pytest.raises(TypeError, match=r"\['todo_id'\]"):
        reg.action(bound="todo_id")(delete)
    assert "delete" not in reg


def test_declared_bound_parameters_come_only_from_a_signed_form(reg, middleware):
    @reg.action(bound=["item_id"])
    def archive(item_id: int, reason: str = "") -> list[Any]:
        return [item_id, reason]

    client = middleware(secret="s3cret")
    token = signed(client, "archive", item_id=7)
    fields = [("reason", "old")]
    form = post_bound(client, "archive", token, fields, status=200)
    assert form.json["result"]["value"] == [7, "old"]
    header = post_bound(client, "archive", token, fields, "header-urlencoded", 200)
    assert header.json == [7, "old"]
    # Without the signed field the client cannot choose item_id at all.
    for response in (
        client.form([("$action", "archive"), ("item_id", "8")], status=400),
        client.call("archive", {"item_id": 8}, status=400),
        client.call("archive", [8], status=400),
    ):
        assert response.error["type"] == "bad_request"
        assert (
            "item_id only from a form the server signed" in (response.error["message"])
        )
    with pytest.raises(TypeError, match="item_id"):
        client.actions.hidden_field("archive")
    with pytest.raises(ValueError, match="bound names no parameter"):
        reg.action(lambda x: x, name="bad", bound=["y"])


# -- Forged tokens ------------------------------------------------------------


def tampered_tokens(token: str, foreign: str, other_action: str) -> dict[str, str]:
    payload, _, signature = token.partition(".")
    forged = base64.urlsafe_b64encode(b'{"todo_id":999,"owner":"ann"}').rstrip(b"=")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    last = "A" if payload[-1] != "A" else "B"
    # Characters a lenient base64 decoder skips, in fours (which keep its
    # padding right): the token as signed, with junk in it.
    head, tail = signature[: len(signature) // 2], signature[len(signature) // 2 :]
    return {
        "bangs-in-signature": f"{payload}.{head}!!!!{tail}",
        "spaces-in-signature": f"{payload}.{head}    {tail}",
        "newlines-in-signature": f"{payload}.{head}\n\n\n\n{tail}",
        "padding-after-signature": f"{payload}.{signature}=",
        "padding-inside-signature": f"{payload}.{head}=={tail}",
        "junk-after-signature": f"{payload}.{signature}$$$$",
        "bang-in-payload": f"{payload[:2]}!{payload[2:]}.{signature}",
        "payload": forged.decode() + "." + signature,
        "payload-byte": payload[:-1] + last + "." + signature,
        "signature": payload + "." + flipped,
        "truncated": payload + "." + signature[:-4],
        "no-signature": payload + ".",
        "no-dot": payload,
        "empty": "",
        "garbage": "!!!.???",
        "non-ascii": payload + "." + signature + "é",
        "foreign-secret": foreign,
        "other-action": other_action,
    }


@pytest.mark.parametrize(
    "kind",
    [
        "bangs-in-signature",
        "spaces-in-signature",
        "newlines-in-signature",
        "padding-after-signature",
        "padding-inside-signature",
        "junk-after-signature",
        "bang-in-payload",
        "payload",
        "payload-byte",
        "signature",
        "truncated",
        "no-signature",
        "no-dot",
        "empty",
        "garbage",
        "non-ascii",
        "foreign-secret",
        "other-action",
    ],
)
@pytest.mark.parametrize("how", HOW)
def test_a_forged_token_is_400_and_reaches_nothing(reg, middleware, todos, kind, how):
    client = middleware(secret="s3cret")
    foreign = Client(reg, secret="another secret")
    bad = tampered_tokens(
        signed(client, todo_id=7, owner="ann"),
        signed(foreign, todo_id=7, owner="ann"),
        signed(client, "archive_todo", todo_id=7, owner="ann"),
    )[kind]
    answer = post_bound(client, "delete_todo", bad, [("note", "x")], how, status=400)
    assert answer.error == {
        "type": "bad_request",
        "message": "The bound values of this form are not signed for 'delete_todo'",
        "data": None,
    }
    assert todos == [] and client.calls == []


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("how", HOW)
def test_a_signature_spelled_another_way_is_400(reg, middleware, todos, how):
    """43 base64 characters hold 258 bits for a 256-bit MAC: the last
    character's two low bits are padding, which a lenient decoder ignores.
    Decoded strictly, only the spelling the server wrote verifies: the
    other three are other tokens, as padding or junk would be."""
    client = middleware(secret="s3cret")
    token = signed(client, todo_id=7, owner="ann")
    payload, _, signature = token.partition(".")
    last = B64URL.index(signature[-1])
    assert last % 4 == 0  # the server writes the padding bits as zeros
    for other in B64URL[last + 1 : last + 4]:
        respelled = f"{payload}.{signature[:-1]}{other}"
        assert base64.urlsafe_b64decode(respelled.partition(".")[2] + "=") == (
            base64.urlsafe_b64decode(signature + "=")
        )
        answer = post_bound(client, "delete_todo", respelled, how=how, status=400)
        assert answer.error["type"] == "bad_request"
    assert todos == [] and client.calls == []
    post_bound(client, "delete_todo", token, how=how, status=200)


# -- Secrets ------------------------------------------------------------------


def test_binding_values_needs_a_secret_naming_the_action_does_not(
    reg, middleware, todos
):
    client = middleware()  # no secret, none in the environment either
    assert "$bound" not in str(client.actions.hidden_field("delete_todo"))
    with pytest.raises(RuntimeError, match="SERVERACT_SECRET"):
        client.actions.hidden_field("delete_todo", todo_id=1)
    with pytest.raises(KeyError):
        client.actions.hidden_field("no_such_action", todo_id=1)
    with pytest.raises(ValueError, match="empty"):
        serveract.ServerActions(lambda e, s: [], reg, secret="")
    # And a token sent to a site without a secret is refused, not trusted.
    token = signed(Client(reg, secret="s"), todo_id=1, owner="a")
    post_bound(client, "delete_todo", token, status=400)
    assert todos == []


def test_the_secret_can_come_from_the_environment(reg, todos, monkeypatch):
    monkeypatch.setenv("SERVERACT_SECRET", "from the environment")
    token = signed(Client(reg), todo_id=3, owner="bo")
    monkeypatch.delenv("SERVERACT_SECRET")
    # Another process configured explicitly with the same key.
    same_key = Client(reg, secret="from the environment")
    post_bound(same_key, "delete_todo", token, status=200)
    assert todos == [{"todo_id": 3, "owner": "bo", "note": ""}]
    wrong = Client(reg, secret=b"something else")
    post_bound(wrong, "delete_todo", token, status=400)


def test_processes_sharing_a_secret_accept_each_others_forms(reg, todos):
    # Two processes: separate registries with the same action, one secret.
    other = serveract.Registry()
    seen_by_other = register_todos(other)
    first, second = Client(reg, secret=b"shared"), Client(other, secret="shared")
    post_bound(second, "delete_todo", signed(first, todo_id=1, owner="a"), status=200)
    post_bound(first, "delete_todo", signed(second, todo_id=2, owner="b"), status=200)
    assert seen_by_other == [{"todo_id": 1, "owner": "a", "note": ""}]
    assert todos == [{"todo_id": 2, "owner": "b", "note": ""}]


def test_key_rotation_signs_with_the_new_key_and_still_verifies_the_old(reg, todos):
    old = Client(reg, secret="old key")
    rotated = Client(reg, secret=["new key", "old key"])
    new_only = Client(reg, secret=["new key"])
    from_old = signed(old, todo_id=1, owner="a")
    from_rotated = signed(rotated, todo_id=2, owner="b")
    post_bound(rotated, "delete_todo", from_old, status=200)
    post_bound(rotated, "delete_todo", from_rotated, status=200)
    # Signed with the new key: verified where the new key is, not by the old.
    post_bound(new_only, "delete_todo", from_rotated, status=200)
    post_bound(old, "delete_todo", from_rotated, status=400)
    # Once the old key is dropped, its forms stop working.
    post_bound(new_only, "delete_todo", from_old, status=400)
    assert [seen["todo_id"] for seen in todos] == [1, 2, 2]


def test_a_bytearray_secret_is_one_key_not_a_list_of_numbers(reg, todos):
    """``bytearray`` and ``memoryview`` are bytes too: taken for a list of
    keys, each byte became ``bytes(n)``, n zero bytes, a key anyone can
    compute, so anyone could sign bound values."""
    for secret in (bytearray(b"a long secret"), memoryview(b"a long secret")):
        site = Client(reg, secret=secret)
        forged = signed(Client(reg, secret=b"\0" * ord("a")), todo_id=6, owner="x")
        post_bound(site, "delete_todo", forged, status=400)
        same_key = Client(reg, secret=b"a long secret")
        post_bound(
            site, "delete_todo", signed(same_key, todo_id=1, owner="a"), status=200
        )
    assert todos == [{"todo_id": 1, "owner": "a", "note": ""}] * 2
    for wrong in ([b"key", 7], 12345, [None], bytes):  # bytes: the class, no key
        with pytest.raises(TypeError, match="secret"):
            serveract.ServerActions(lambda e, s: [], reg, secret=wrong)
