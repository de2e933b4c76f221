"""A todo list on server actions, in one file of plain WSGI and WebOb.

Every form works twice: with JavaScript off the browser posts it and the page
is rendered again from :func:`serveract.result`; with ``/serveract.js``
loaded the same form goes over ``fetch`` and the page updates itself from the
``serveract:result`` and ``serveract:error`` events. ``/htmx`` shows the same
actions driven by htmx.

Run it::

    python examples/todo.py            # http://127.0.0.1:8080/
    python examples/todo.py --port 0   # any free port

The htmx page loads htmx from the demo itself: the copy ``.ci/install``
vendors from npm into ``tests/fixtures/vendor/htmx.min.js``, so it works
offline. Set ``TODO_HTMX_URL`` to load htmx from elsewhere instead.
"""

from __future__ import annotations

import argparse
import datetime
import html
import ipaddress
import itertools
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webob import Request, Response

import serveract

if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_TITLE = 80
SEED = ("Read the serveract docstring", "Turn JavaScript off and try again")
#: htmx as ``.ci/install`` vendors it from npm; the demo serves it itself.
HTMX_FILE = Path(__file__).resolve().parent.parent / "tests/fixtures/vendor/htmx.min.js"
#: Where the demo serves ``HTMX_FILE``.
HTMX_PATH = "/vendor/htmx.min.js"
#: Load htmx from this URL instead (a CDN, your own static files).
HTMX_URL = os.environ.get("TODO_HTMX_URL", "")
#: Action calls must name one of these hosts when the demo serves on a
#: loopback address: a page on another site cannot reach it through a DNS
#: name that resolves to 127.0.0.1 (DNS rebinding).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
#: One process can pick its own secret; several behind one balancer share it.
SECRET = os.environ.get("SERVERACT_SECRET") or secrets.token_urlsafe(32)


# -- The store ----------------------------------------------------------------


@dataclass
class Todo:
    id: int
    title: str
    done: bool = False


class TodoStore:
    """The list in memory; waitress calls actions from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self, titles: Iterable[str] = SEED) -> None:
        with self._lock:
            self._ids = itertools.count(1)
            self._todos = {
                i: Todo(i, t) for i, t in zip(self._ids, titles, strict=False)
            }

    def add(self, title: str) -> Todo:
        with self._lock:
            todo = Todo(next(self._ids), title)
            self._todos[todo.id] = todo
            return todo

    def toggle(self, todo_id: int) -> None:
        with self._lock:
            if todo := self._todos.get(todo_id):
                todo.done = not todo.done

    def delete(self, todo_id: int) -> None:
        with self._lock:
            self._todos.pop(todo_id, None)

    def complete_all(self) -> None:
        with self._lock:
            for todo in self._todos.values():
                todo.done = True

    def clear_done(self) -> None:
        with self._lock:
            self._todos = {i: t for i, t in self._todos.items() if not t.done}

    def all(self) -> list[Todo]:
        with self._lock:
            return [Todo(t.id, t.title, t.done) for t in self._todos.values()]


store = TodoStore()


# -- The actions --------------------------------------------------------------
# Each one is a plain function; serveract calls it from fetch, from a form
# (with or without JavaScript) and from htmx. Mutations answer the new state,
# so a page with JavaScript redraws the list without asking again.

registry = serveract.Registry()
action = registry.action


def _check_title(title: str) -> str:
    title = title.strip()
    if not title:
        message = "Write what needs doing."
    elif len(title) > MAX_TITLE:
        message = f"Keep it under {MAX_TITLE} characters (this one has {len(title)})."
    else:
        return title
    raise serveract.ActionError("The todo was not added.", data={"title": message})


@action
def add_todo(title: str) -> dict[str, Any]:
    todo = store.add(_check_title(title))
    return _state(f"Added “{todo.title}”.")


@action(bound=["todo_id"])  # only from the signed form: the page chose it
def toggle_todo(todo_id: int) -> dict[str, Any]:
    store.toggle(todo_id)
    return _state()


@action(bound=["todo_id"])  # only from the signed form: the page chose it
def delete_todo(todo_id: int) -> dict[str, Any]:
    store.delete(todo_id)
    return _state("Deleted.")


@action
def complete_all() -> dict[str, Any]:
    store.complete_all()
    return _state("Everything is done.")


@action
def clear_done() -> dict[str, Any]:
    store.clear_done()
    return _state("Cleared the finished ones.")


@action
def stats() -> dict[str, Any]:
    todos = store.all()
    done = sum(todo.done for todo in todos)
    return {
        "open": len(todos) - done,
        "done": done,
        "server_time": datetime.datetime.now(datetime.timezone.utc),
    }


@action
def start_over() -> None:
    store.reset()
    raise serveract.redirect("/?fresh=1")


class HTML(str):
    """Markup to answer as ``text/html`` (anything with ``__html__`` is, like
    ``markupsafe.Markup``), for htmx to swap in; other values answer JSON."""

    def __html__(self) -> str:
        return str(self)


@action
def add_todo_html(title: str) -> HTML:
    """The htmx flavour of ``add_todo``: answers the new list as HTML."""
    store.add(_check_title(title))
    return HTML(_htmx_list())


# -- The pages ----------------------------------------------------------------


def _state(message: str = "") -> dict[str, Any]:
    todos = store.all()
    return {
        "message": message,
        "open": sum(not t.done for t in todos),
        "html": _list(todos),
    }


def _list(todos: list[Todo]) -> str:
    items = "".join(_item(todo) for todo in todos) or (
        '<li class="empty">Nothing to do. Enjoy the day.</li>'
    )
    done = sum(todo.done for todo in todos)
    return f"""<section id="list">
  <ul class="todos">{items}</ul>
  <footer>
    <span class="count">{len(todos) - done} open · {done} done</span>
    <form method="post" action="/" class="bulk">
      {serveract.hidden_field("complete_all")}
      <button>Complete all</button>
      <button name="$action" value="clear_done">Clear completed</button>
    </form>
  </footer>
</section>"""


def _item(todo: Todo) -> str:
    title = html.escape(todo.title)
    state = "done" if todo.done else "open"
    label = f"Mark “{title}” as {'open' if todo.done else 'done'}"
    return f"""
    <li class="todo {state}">
      <form method="post" action="/">
        {app.hidden_field("toggle_todo", todo_id=todo.id)}
        <button class="check" aria-label="{label}" title="{label}"></button>
      </form>
      <span class="title">{title}</span>
      <form method="post" action="/">
        {app.hidden_field("delete_todo", todo_id=todo.id)}
        <button class="delete" aria-label="Delete “{title}”">&times;</button>
      </form>
    </li>"""


def _index(outcome: Any, fresh: bool) -> str:
    """The whole page; ``outcome`` is the no-JavaScript form call, if any."""
    message, error, title = "", "", ""
    if fresh:
        message = "Started over with a fresh list."
    if outcome is not None and outcome.ok:
        message = _said(outcome.value)
    elif outcome is not None:
        error = _field_error(outcome, "title")
        title = outcome.form.get("title", "")
    invalid = ' aria-invalid="true"' if error else ""
    body = f"""
<header>
  <h1>Todo</h1>
  <form method="post" action="/" class="start-over">
    {serveract.hidden_field("start_over")}
    <button class="link">Start over</button>
  </form>
</header>
<p class="mode" id="mode">JavaScript is off: each form loads the page again.</p>
<form method="post" action="/" class="add" novalidate>
  {serveract.hidden_field("add_todo")}
  <label for="title">What needs doing?</label>
  <div class="row">
    <input id="title" name="title" value="{html.escape(title)}" autocomplete="off"
           placeholder="Call the plumber" aria-describedby="title-error"{invalid}>
    <button>Add</button>
  </div>
  <p class="field-error" id="title-error">{html.escape(error)}</p>
</form>
<p id="flash" role="status">{html.escape(message)}</p>
{_list(store.all())}
<p class="extra">
  <button type="button" id="stats" class="link" hidden>How many are open?</button>
  <output id="stats-out"></output>
  <a href="/htmx">The same with htmx →</a>
</p>
<script src="/serveract.js"></script>
<script>{_PAGE_SCRIPT}</script>"""
    return _page("Todo · serveract", body)


def _htmx_list() -> str:
    items = "".join(
        f'<li class="todo {"done" if t.done else "open"}">'
        f'<span class="title">{html.escape(t.title)}</span></li>'
        for t in store.all()
    )
    return f'<ul class="todos" id="htmx-list">{items}</ul>'


def _htmx_script() -> str:
    """The script tag loading htmx, or a plain note that it is missing."""
    url = HTMX_URL or (HTMX_PATH if HTMX_FILE.is_file() else "")
    if url:
        return f'<script src="{html.escape(url)}"></script>'
    return (
        '<p class="missing" role="alert">htmx is missing, so this page works '
        "as the plain form only: run <code>.ci/install</code> (it puts htmx in "
        "<code>tests/fixtures/vendor/</code>) or set <code>TODO_HTMX_URL</code> "
        "to a copy of <code>htmx.min.js</code>.</p>"
    )


def _htmx(outcome: Any) -> str:
    message, error = "", ""
    if outcome is not None and outcome.ok:
        message = _said(outcome.value)
    elif outcome is not None:
        error = _field_error(outcome, "title")
    body = f"""
<header><h1>Todo, with htmx</h1><a href="/">← back</a></header>
<p class="mode">htmx posts the form with the action header and swaps in the HTML
the action returns.</p>
<form method="post" action="/htmx" class="add" hx-post="/htmx"
      hx-headers='{{"Serveract-Action": "add_todo_html"}}'
      hx-target="#htmx-list" hx-swap="outerHTML">
  {serveract.hidden_field("add_todo_html")}
  <label for="title">What needs doing?</label>
  <div class="row">
    <input id="title" name="title" autocomplete="off" placeholder="Call the plumber"
           aria-describedby="title-error">
    <button>Add</button>
  </div>
  <p class="field-error" id="title-error">{html.escape(error)}</p>
</form>
<p id="flash" role="status">{html.escape(message)}</p>
{_htmx_list()}
<form method="post" action="/htmx" class="extra">
  {serveract.hidden_field("start_over")}
  <button class="link" hx-post="/htmx"
          hx-headers='{{"Serveract-Action": "start_over"}}'>Start over</button>
</form>
<script src="/serveract.js"></script>
{_htmx_script()}
<script>{_HTMX_SCRIPT}</script>"""
    return _page("Todo · htmx · serveract", body)


def _said(value: Any) -> str:
    """What the page says after a form without JavaScript called an action
    that returned ``value``: a form may name any action, not only the ones
    this page's forms name."""
    if isinstance(value, dict):
        if isinstance(value.get("message"), str):
            return value["message"]
        if {"open", "done"} <= value.keys():
            return f"{value['open']} open, {value['done']} done."
    return "Done."


def _field_error(outcome: Any, field: str) -> str:
    """The message to show next to ``field`` after a failed no-JS form call."""
    return outcome.error.fields.get(field) or outcome.error.message


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}</style>
</head>
<body><main>{body}</main></body>
</html>"""


def pages(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """The wrapped app: it only renders, the actions changed the store."""
    request = Request(environ)
    outcome = serveract.result(environ)
    if request.path == "/":
        response = Response(_index(outcome, "fresh" in request.GET))
    elif request.path == "/htmx":
        response = Response(_htmx(outcome))
    elif request.path == HTMX_PATH and HTMX_FILE.is_file():
        response = Response(
            HTMX_FILE.read_bytes(),
            content_type="text/javascript",
            charset="utf-8",
            cache_control="no-cache",
            conditional_response=True,
        )
        response.md5_etag()
    else:
        response = Response("Not found", status=404, content_type="text/plain")
    return response(environ, start_response)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without
    brackets) only ever reaches this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_app(host: str | None = None) -> serveract.ServerActions:
    """The pages wrapped in their actions, for serving on ``host``.

    On a loopback address only loopback host names may call actions. All
    instances share ``SECRET``, so the forms any of them rendered verify.
    """
    hosts = LOOPBACK_HOSTS if host is not None and is_loopback(host) else None
    return serveract.ServerActions(
        pages, registry=registry, secret=SECRET, allowed_hosts=hosts
    )


app = make_app()


_PAGE_SCRIPT = """
const addForm = document.querySelector("form.add");
const flash = document.getElementById("flash");
const titleError = document.getElementById("title-error");
const stats = document.getElementById("stats");
stats.hidden = false;
document.getElementById("mode").textContent =
  "JavaScript is on: forms update the page in place.";

// Every action of this page answers the whole new state: draw it.
document.addEventListener("serveract:result", (event) => {
  const state = event.detail;
  if (!state || typeof state.html !== "string") return;
  document.getElementById("list").outerHTML = state.html;
  flash.textContent = state.message;
  if (event.target === addForm) {
    addForm.reset();
    showError("");
  }
});

document.addEventListener("serveract:error", (event) => {
  const error = event.detail;
  if (event.target === addForm && error.data && error.data.title) {
    showError(error.data.title);
  } else {
    flash.textContent = error.message;
  }
});

function showError(message) {
  titleError.textContent = message;
  const input = document.getElementById("title");
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

stats.addEventListener("click", async () => {
  const counts = await serveract.call("stats");
  const time = new Date(counts.server_time).toLocaleTimeString();
  document.getElementById("stats-out").textContent =
    `${counts.open} open, ${counts.done} done (server time ${time})`;
});
"""

_HTMX_SCRIPT = """
document.body.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (!form.matches("form.add")) return;
  let message = "";
  if (!event.detail.successful) {
    try {
      const error = JSON.parse(event.detail.xhr.responseText).error;
      message = (error.data && error.data.title) || error.message;
    } catch (err) {
      message = "Something went wrong; try again.";
    }
  }
  document.getElementById("title-error").textContent = message;
  if (!message) form.reset();
});
"""

_CSS = """
:root { --accent: #4f46e5; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb;
        --bad: #b91c1c; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; background: #f3f4f6; color: var(--ink);
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 34rem; margin: 3rem auto; padding: 1.75rem 2rem; background: #fff;
       border-radius: 14px; box-shadow: 0 1px 3px #0000001a, 0 12px 32px #0000000f; }
header { display: flex; align-items: baseline; justify-content: space-between; }
h1 { margin: 0; font-size: 1.75rem; letter-spacing: -0.02em; }
header a { color: var(--accent); text-decoration: none; }
.mode { margin: .25rem 0 1.25rem; color: var(--muted); font-size: .9rem; }
label { display: block; font-weight: 600; margin-bottom: .35rem; }
.row { display: flex; gap: .5rem; }
input { flex: 1; font: inherit; padding: .55rem .75rem; border: 1px solid #d1d5db;
        border-radius: 8px; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
input[aria-invalid="true"] { border-color: var(--bad); background: #fef2f2; }
button { font: inherit; font-weight: 600; cursor: pointer; border: 0;
         border-radius: 8px; padding: .55rem 1rem;
         background: var(--accent); color: #fff; }
button:hover { filter: brightness(1.1); }
button:disabled { opacity: .5; cursor: progress; }
button.link { background: none; color: var(--accent); padding: 0; font-weight: 500; }
.field-error { color: var(--bad); font-size: .9rem; margin: .35rem 0 0;
               min-height: 1.35em; }
#flash { min-height: 1.5em; margin: .25rem 0 .75rem; color: #047857; }
[aria-busy="true"] { opacity: .6; cursor: progress; }
.todos { list-style: none; margin: 0; padding: 0; border-top: 1px solid var(--line); }
.todo { display: flex; align-items: center; gap: .75rem; padding: .6rem .25rem;
        border-bottom: 1px solid var(--line); }
.todo form { margin: 0; }
.todo .title { flex: 1; overflow-wrap: anywhere; }
.todo.done .title { color: var(--muted); text-decoration: line-through; }
.check { display: grid; place-items: center; width: 1.4rem; height: 1.4rem;
         padding: 0; border-radius: 50%; background: #fff; border: 2px solid #c7d2fe; }
.check:hover { border-color: var(--accent); }
.todo.done .check { background: var(--accent); border-color: var(--accent); }
.todo.done .check::after { content: ""; width: .35rem; height: .65rem;
                           margin-top: -.15rem; border: solid #fff;
                           border-width: 0 2px 2px 0; transform: rotate(45deg); }
.delete { background: none; color: #9ca3af; font-size: 1.3rem; line-height: 1;
          padding: .1rem .4rem; }
.delete:hover { color: var(--bad); }
.empty { padding: 1rem .25rem; color: var(--muted); }
footer { display: flex; justify-content: space-between; align-items: center;
         gap: .5rem; margin-top: 1rem; color: var(--muted); font-size: .9rem; }
.bulk { display: flex; gap: .5rem; margin: 0; }
.bulk button { background: #eef2ff; color: var(--accent); padding: .35rem .75rem; }
.extra { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap;
         margin: 1.5rem 0 0; font-size: .9rem; }
.extra a { margin-left: auto; color: var(--accent); text-decoration: none; }
output { color: var(--muted); }
.missing { padding: .75rem 1rem; border-radius: 8px; background: #fef2f2;
           color: var(--bad); }
"""


def main() -> None:
    import waitress

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    served = make_app(args.host)
    server = waitress.create_server(served, host=args.host, port=args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Todo demo on http://{host}:{server.effective_port}/", flush=True)
    if not HTMX_URL and not HTMX_FILE.is_file():
        print(f"htmx is missing: /htmx needs {HTMX_FILE} (.ci/install)", flush=True)
    server.run()


if __name__ == "__main__":
    main()
