"""Bottle + serveract: actions that use ``bottle.request`` and ``bottle.response``.

Run it from this folder: ``python -m serveract recipe_bottle:application``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bottle

import serveract
from serveract import ActionError, Registry, ServerActions

app = bottle.Bottle()
SECRET = os.environ.get("BOTTLE_SECRET", "dev only: set BOTTLE_SECRET")
greetings = Registry()


@contextmanager
def bottle_context(environ: dict[str, Any]) -> Iterator[None]:
    """Bind ``bottle.request``/``response`` as Bottle does for a route."""
    environ["bottle.app"] = app
    bottle.request.bind(environ)
    bottle.response.bind()
    try:
        yield
    finally:
        environ["serveract.response_headers"].extend(
            header for header in bottle.response.headerlist if header[0] == "Set-Cookie"
        )


application = actions = ServerActions(
    app, greetings, secret=SECRET, context=bottle_context
)


@greetings.action
def remember(name: str) -> str:
    if not name.strip():
        raise ActionError("Tell me your name.", data={"name": "required"})
    bottle.response.set_cookie("name", name.strip(), path="/", httponly=True)
    return f"Nice to meet you, {name.strip()}."


@greetings.action
def greet(greeting: str = "Hello") -> str:
    """The page's form signs ``greeting`` in (``hidden_field``); a call
    without it may pick its own, or gets "Hello"."""
    name = bottle.request.get_cookie("name", "stranger")
    return f"{greeting}, {name}! ({bottle.request.path})"


PAGE = bottle.SimpleTemplate("""<!doctype html>
<title>Greetings</title>
% if outcome is not None:
<p class="{{'ok' if outcome.ok else 'error'}}">
  {{outcome.value if outcome.ok else outcome.error.message}}</p>
% end
<p>Known as: {{name}}</p>
<form method="post">{{!actions.hidden_field("remember")}}
  <input name="name"><button>Remember me</button></form>
<form method="post">{{!actions.hidden_field("greet", greeting="Howdy")}}
  <button>Greet me</button></form>
<p id="said" role="status"></p>
<script src="/serveract.js"></script>
<script>
  // With JavaScript on, the forms go over fetch and the page stays: say what
  // the action answered, or why it was refused.
  document.addEventListener("serveract:result", (event) => {
    document.querySelector("#said").textContent = event.detail;
  });
  document.addEventListener("serveract:error", (event) => {
    document.querySelector("#said").textContent = event.detail.message;
  });
</script>
""")


@app.get("/")
def index() -> str:
    outcome = serveract.result(bottle.request.environ)
    name = bottle.request.get_cookie("name", "stranger")
    return PAGE.render(actions=actions, outcome=outcome, name=name)
