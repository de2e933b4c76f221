"""Pyramid + serveract: actions that use the Pyramid request and registry.

Run it from this folder: ``python -m serveract recipe_pyramid:application``.
Templates are Chameleon (``pip install pyramid_chameleon``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.scripting import prepare
from pyramid.session import SignedCookieSessionFactory
from pyramid.threadlocal import get_current_registry, get_current_request

import serveract
from serveract import ActionError, Registry, ServerActions

SECRET = os.environ.get("PYRAMID_SECRET", "dev only: set PYRAMID_SECRET")
todos = Registry()


@todos.action
def add_todo(title: str) -> list[str]:
    request = get_current_request()
    if not title.strip():
        raise ActionError("A todo needs a title.", data={"title": "required"})
    request.session["todos"] = [*request.session.get("todos", []), title.strip()]
    return request.session["todos"]


@todos.action(bound=["index"])
def finish(index: int) -> list[str]:
    """``index`` is bound by the page (signed)."""
    request = get_current_request()
    remaining = list(request.session.get("todos", []))
    if not 0 <= index < len(remaining):
        raise ActionError("No such todo.", status=404)
    del remaining[index]
    request.session["todos"] = remaining
    return remaining


@todos.action
def about() -> dict[str, Any]:
    request = get_current_request()
    return {
        "title": get_current_registry().settings["todos.title"],
        "path": request.path,
        "route_url": request.route_url("home"),
        "todos": len(request.session.get("todos", [])),
    }


def home(request: Request) -> dict[str, Any]:
    return {
        "actions": actions,
        "outcome": serveract.result(request.environ),
        "title": request.registry.settings["todos.title"],
        "todos": request.session.get("todos", []),
    }


with Configurator(settings={"todos.title": "Today"}) as config:
    config.include("pyramid_chameleon")
    config.set_session_factory(SignedCookieSessionFactory(SECRET))
    config.add_route("home", "/")
    config.add_view(
        home, route_name="home", request_method="GET", renderer="templates/todos.pt"
    )
    pyramid_app = config.make_wsgi_app()


@contextmanager
def pyramid_context(environ: dict[str, Any]) -> Iterator[Request]:
    """Make the request and registry current, as Pyramid does for a view."""
    request = pyramid_app.request_factory(environ)
    with prepare(request=request, registry=pyramid_app.registry):
        try:
            yield request
        finally:
            # Response callbacks set the session cookie, as after a view.
            callbacks = request.response_callbacks
            while callbacks:
                callbacks.popleft()(request, request.response)
            environ["serveract.response_headers"].extend(
                ("Set-Cookie", cookie)
                for cookie in request.response.headers.getall("Set-Cookie")
            )


application = actions = ServerActions(
    pyramid_app, todos, secret=SECRET, context=pyramid_context
)
