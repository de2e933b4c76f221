"""Flask + serveract: actions that use ``flask.request``, ``session``, ``g``.

Run it from this folder: ``python -m serveract recipe_flask:app``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, render_template_string, request, session

import serveract
from serveract import ActionError, Registry, ServerActions

app = Flask(__name__)
app.secret_key = os.environ.get("FLASK_SECRET_KEY", "dev only: set FLASK_SECRET_KEY")
notes = Registry()


@contextmanager
def flask_context(environ: dict[str, Any]) -> Iterator[None]:
    """Run an action the way Flask runs a view; the cookies it sets are sent."""
    with app.request_context(environ):
        try:
            yield
        finally:
            # after_request hooks run and the session is saved, as for a view.
            response = app.process_response(app.response_class())
            environ["serveract.response_headers"].extend(
                ("Set-Cookie", cookie)
                for cookie in response.headers.getlist("Set-Cookie")
            )


app.wsgi_app = actions = ServerActions(
    app.wsgi_app, notes, secret=app.secret_key, context=flask_context
)
app.jinja_env.globals["actions"] = actions


@notes.action
def add_note(text: str) -> list[str]:
    if not text.strip():
        raise ActionError("Write something first.", data={"text": "required"})
    session["notes"] = [*session.get("notes", []), text.strip()]
    return session["notes"]


@notes.action(bound=["index"])
def rename_note(index: int, text: str) -> list[str]:
    """``index`` is bound by the page (signed), ``text`` comes from the form."""
    changed = list(session.get("notes", []))
    if not 0 <= index < len(changed):
        raise ActionError("No such note.", status=404)
    changed[index] = text.strip()
    session["notes"] = changed
    return changed


@notes.action
def whoami() -> dict[str, Any]:
    g.asked = True
    return {
        "app": current_app.name,
        "path": request.path,
        "agent": request.headers.get("User-Agent", ""),
        "notes": len(session.get("notes", [])),
        "asked": g.asked,
    }


PAGE = """<!doctype html>
<title>Notes</title>
{% if outcome and not outcome.ok %}
  <p class="error">{{ outcome.error.message }}</p>
{% endif %}
<ul>
{% for note in notes %}
  <li><form method="post">{{ actions.hidden_field("rename_note", index=loop.index0) }}
    <input name="text" value="{{ note }}"><button>Rename</button></form></li>
{% endfor %}
</ul>
<form method="post">{{ actions.hidden_field("add_note") }}
  <input name="text"><button>Add</button></form>
<p id="said" role="status"></p>
<script src="/serveract.js"></script>
<script>
  // With JavaScript on, the forms go over fetch and the page stays: draw it
  // again after an action, and say why a call was refused.
  document.addEventListener("serveract:result", () => location.replace(location.href));
  document.addEventListener("serveract:error", (event) => {
    document.querySelector("#said").textContent = event.detail.message;
  });
</script>
"""


@app.get("/")
def index() -> str:
    outcome = serveract.result(request.environ)
    return render_template_string(PAGE, notes=session.get("notes", []), outcome=outcome)
