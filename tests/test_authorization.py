"""Authorization is the app's job: the patterns the README shows, an action
taking the request, or a ``context`` that signs the user in, refusing with
``ActionError`` before anything happens."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import webob

import serveract
from conftest import Client


def test_an_action_taking_the_request_can_refuse_the_caller(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    seen = []

    @reg.action
    def delete_account(request: webob.Request, account_id: int) -> str:
        user = request.cookies.get("session")
        if user is None:
            raise serveract.ActionError("Sign in first", 401)
        if request.headers.get("X-Role") != "admin" and user != f"user{account_id}":
            raise serveract.ActionError("Not allowed", 403, {"account_id": account_id})
        seen.append((user, account_id))
        return "deleted"

    client = middleware()
    assert client.call("delete_account", [5], status=401).error == {
        "type": "action_error",
        "message": "Sign in first",
        "data": None,
    }
    other_user = {"Cookie": "session=user6"}
    assert client.call("delete_account", [5], headers=other_user, status=403).error == {
        "type": "action_error",
        "message": "Not allowed",
        "data": {"account_id": 5},
    }
    # The client cannot pass the request as an argument.
    forged = {"account_id": 5, "request": {"cookies": {}}}
    client.call("delete_account", forged, status=422)
    assert seen == []
    client.call("delete_account", [5], headers={"Cookie": "session=user5"})
    # A form posted without JavaScript gets the refusal in the rendered page.
    client.form([("$action", "delete_account"), ("account_id", "5")])
    outcome = client.calls[-1].result
    assert outcome is not None
    assert (outcome.ok, outcome.error.status, outcome.error.message) == (
        False,
        401,
        "Sign in first",
    )
    assert seen == [("user5", 5)]


def test_a_context_can_sign_the_user_in_or_refuse_the_call(
    reg: serveract.Registry, middleware: Callable[..., Client]
) -> None:
    seen = []
    users = {"token-ann": "ann"}
    current_user: list[str] = []

    @contextlib.contextmanager
    def signed_in(environ: dict[str, Any]) -> Iterator[None]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        user = users.get(auth.removeprefix("Bearer "))
        if user is None:
            raise serveract.ActionError("Sign in first", 401)
        current_user.append(user)
        try:
            yield
        finally:
            current_user.pop()

    @reg.action
    def whoami() -> str:
        seen.append(current_user[-1])
        return current_user[-1]

    client = middleware(context=signed_in)
    assert client.call("whoami", status=401).error == {
        "type": "action_error",
        "message": "Sign in first",
        "data": None,
    }
    client.call("whoami", headers={"Authorization": "Bearer nope"}, status=401)
    assert seen == []
    answer = client.call("whoami", headers={"Authorization": "Bearer token-ann"})
    assert answer.json == "ann"
    assert seen == ["ann"] and current_user == []
