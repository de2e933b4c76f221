"""serveract's quick start: a Flask app whose form works with JavaScript on and off."""

from __future__ import annotations

from dataclasses import dataclass

import flask

import serveract

app = flask.Flask(__name__)
# Wrap the WSGI callable, not the Flask object, so that every way of serving
# `app` (flask run, python -m serveract, waitress) serves the actions too.
app.wsgi_app = serveract.ServerActions(app.wsgi_app)
app.jinja_env.globals["hidden_field"] = serveract.hidden_field


@dataclass
class Todo:
    title: str
    priority: int


todos: list[Todo] = []


@serveract.action
def add_todo(title: str, priority: int = 1) -> Todo:
    if not title.strip():
        raise serveract.ActionError(
            "The todo was not added.", data={"title": "Write what needs doing."}
        )
    todo = Todo(title.strip(), priority)
    todos.append(todo)
    return todo


@serveract.action
def count_todos() -> int:
    return len(todos)


@app.get("/")
def index() -> str:
    # After a form posted without JavaScript: what the action did, else None.
    outcome = serveract.result(flask.request.environ)
    return flask.render_template("index.html", todos=todos, outcome=outcome)
