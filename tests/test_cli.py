"""``python -m serveract``: real subprocesses serving on 127.0.0.1.

Every server gets ``--port 0`` and prints the port the system chose; every
wait is bounded and every process is killed on the way out.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import webob
from framework_support import (
    RECIPES,
    SERVING,
    cli_args,
    fetch,
    running,
    serve_cli,
    subprocess_env,
)

import serveract

APP = """
import serveract

@serveract.action
def add(a: int, b: int = 2) -> int:
    return a + b

@serveract.action(name="users.create")
async def create_user(name: str, admin: bool = False) -> dict[str, object]:
    return {"name": name, "admin": admin}

def app(environ, start_response):
    body = ("plain app at " + environ["PATH_INFO"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

class NotAnApp:
    pass

not_an_app = NotAnApp()
"""

WRAPPED = """
import serveract
from cliapp import app

own = serveract.Registry()

@own.action
def shout(text: str) -> str:
    return text.upper()

application = serveract.ServerActions(app, own, header="X-Act")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with two modules, importable only from that folder."""
    (tmp_path / "cliapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "wrapped.py").write_text(textwrap.dedent(WRAPPED))
    return tmp_path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serveract", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def cli(*argv: str) -> int:
    """The command line run in this process: what ``python -m serveract``
    runs, its exit status returned (usage errors raise ``SystemExit``)."""
    return serveract._main(list(argv))


def call(
    url: str, name: str, payload: object, header: str = "Serveract-Action"
) -> object:
    reply = fetch(
        url + "/",
        "POST",
        json.dumps(payload).encode(),
        {header: name, "Content-Type": "application/json"},
    )
    assert reply.status == 200, reply.text
    return json.loads(reply.body)


def test_serves_a_plain_app_from_the_current_directory_with_its_actions(
    project: Path,
) -> None:
    with serve_cli("cliapp:app", "--threads", "2", cwd=project) as server:
        assert server.url.startswith("http://127.0.0.1:")
        page = fetch(server.url + "/hello")
        assert (page.status, page.text) == (200, "plain app at /hello")
        assert call(server.url, "add", [2, 3]) == 5
        assert call(server.url, "users.create", {"name": "Ada"}) == {
            "name": "Ada",
            "admin": False,
        }
        form = fetch(
            server.url + "/form",
            "POST",
            b"%24action=add&a=40",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (form.status, form.text) == (200, "plain app at /form")
        script = fetch(server.url + "/serveract.js")
        assert script.status == 200
        assert script.headers["Content-Type"].startswith("text/javascript")
        missing = fetch(server.url + "/", "POST", b"[]", {"Serveract-Action": "nope"})
        assert missing.status == 404


def test_an_app_already_wrapped_is_served_as_it_is(project: Path) -> None:
    with serve_cli("wrapped:application", cwd=project) as server:
        # Wrapped twice, the outer default middleware would answer 404 here.
        assert call(server.url, "shout", ["hi"], header="X-Act") == "HI"
        reply = fetch(server.url + "/", "POST", b"[1]", {"Serveract-Action": "add"})
        assert (reply.status, reply.text) == (200, "plain app at /")


def test_a_flask_app_with_a_wrapped_wsgi_app_is_not_wrapped_again() -> None:
    with serve_cli("recipe_flask:app", cwd=RECIPES) as server:
        reply = fetch(
            server.url + "/",
            "POST",
            b'["served"]',
            {"Serveract-Action": "add_note", "Content-Type": "application/json"},
        )
        assert (reply.status, json.loads(reply.body)) == (200, ["served"])
        assert reply.headers["Set-Cookie"].startswith("session=")  # via context=
        page = fetch(server.url + "/")
        assert '<input type="hidden" name="$action" value="add_note">' in page.text


BEHIND_MIDDLEWARE = """
import serveract

todos = serveract.Registry()

@todos.action(bound=["todo_id"])
def delete_todo(todo_id: int) -> str:
    return f"deleted {todo_id}"

def page(environ, start_response):
    outcome = serveract.result(environ)
    form = actions.hidden_field("delete_todo", todo_id=7)
    body = str(outcome.value if outcome else form)
    start_response("200 OK", [("Content-Type", "text/html")])
    return [body.encode()]

actions = serveract.ServerActions(page, todos, secret="a long random string")

class Middleware:  # WhiteNoise, ProxyFix, Sentry's: any WSGI middleware
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)

app = Middleware(actions)
"""


def test_an_app_wrapped_inside_another_middleware_is_not_wrapped_again(
    in_project: Path,
) -> None:
    # Wrapped again, a ServerActions without the secret would answer first:
    # the signed form would be a 400.
    (in_project / "cli_fixture_behind.py").write_text(BEHIND_MIDDLEWARE)
    try:
        served, actions = serveract._load("cli_fixture_behind", "app", False)
        assert served is sys.modules["cli_fixture_behind"].app
        assert actions is sys.modules["cli_fixture_behind"].actions
        page = webob.Request.blank("/").get_response(served).text
        token = re.search(r'name="\$bound" value="([^"]*)"', page)
        assert token is not None
        form = {"$action": "delete_todo", "$bound": token[1]}
        answer = webob.Request.blank("/", POST=form).get_response(served)
        assert (answer.status_int, answer.text) == (200, "deleted 7")
    finally:
        sys.modules.pop("cli_fixture_behind", None)


def test_list_prints_each_action_with_its_signature(project: Path) -> None:
    done = run_cli("--list", "cliapp:app", cwd=project)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "add(a: int, b: int = 2) -> int",
        "async users.create(name: str, admin: bool = False) -> dict[str, object]",
    ]


def test_list_marks_bound_parameters(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(RECIPES.parent))  # examples/, with todo.py
    assert cli("--list", "todo:app") == 0
    listed = capsys.readouterr().out.splitlines()
    assert "delete_todo(todo_id: int) -> dict[str, typing.Any]  [bound: todo_id]" in (
        listed
    )
    assert "add_todo(title: str) -> dict[str, typing.Any]" in listed


def test_list_shows_the_registry_of_an_already_wrapped_app(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli("--list", "recipe_flask:app") == 0
    assert capsys.readouterr().out.splitlines() == [
        "add_note(text: str) -> list[str]",
        "rename_note(index: int, text: str) -> list[str]  [bound: index]",
        "whoami() -> dict[str, typing.Any]",
    ]


def test_a_missing_module_is_one_line_on_stderr_without_traceback(
    project: Path,
) -> None:
    done = run_cli("nosuchmodule:app", cwd=project)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "python -m serveract: error: cannot import 'nosuchmodule': "
        "No module named 'nosuchmodule'\n"
    )


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The current directory holds a module without actions; ``sys.path`` and
    ``sys.modules`` are restored afterwards."""
    (tmp_path / "cli_fixture_plain.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('204 No Content', [])\n"
        "    return []\n"
        "not_an_app = 42\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    sys.modules.pop("cli_fixture_plain", None)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param(
            "cli_fixture_plain:nosuchapp",
            "module 'cli_fixture_plain' has no attribute 'nosuchapp'",
            id="missing-attribute",
        ),
        pytest.param(
            "cli_fixture_plain:app.nested",
            "module 'cli_fixture_plain' has no attribute 'app.nested'",
            id="missing-nested-attribute",
        ),
        pytest.param(
            "cli_fixture_plain:not_an_app",
            "cli_fixture_plain:not_an_app is not a WSGI application",
            id="not-callable",
        ),
        pytest.param(
            "cli_fixture_missing:app",
            "cannot import 'cli_fixture_missing': "
            "No module named 'cli_fixture_missing'",
            id="missing-module",
        ),
        pytest.param(  # import_module() raised a TypeError with a traceback
            ".cli_fixture_plain:app",
            "cannot import '.cli_fixture_plain': not a relative name",
            id="relative-module",
        ),
    ],
)
def test_a_bad_target_is_one_line_on_stderr(
    in_project: Path,
    capsys: pytest.CaptureFixture[str],
    target: str,
    message: str,
) -> None:
    assert cli(target) == 1
    assert capsys.readouterr() == ("", f"python -m serveract: error: {message}\n")


def test_a_busy_port_is_one_line_on_stderr(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli("--port", str(port), "cli_fixture_plain:app") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        f"python -m serveract: error: cannot listen on 127.0.0.1:{port}: "
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize("reload", [[], ["--reload"]], ids=["serve", "reload"])
def test_a_host_that_names_no_address_is_one_line_on_stderr(
    in_project: Path, capsys: pytest.CaptureFixture[str], reload: list[str]
) -> None:
    # "a..b" fails in Python's IDNA codec, before any DNS lookup.
    assert cli(*reload, "--host", "a..b", "--port", "0", "cli_fixture_plain:app") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("python -m serveract: error: cannot listen on a..b")
    assert err.count("\n") == 1


def test_usage_errors_exit_2_and_help_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("cli_fixture_plain")
    assert exited.value.code == 2
    assert "expected module:app, not 'cli_fixture_plain'" in capsys.readouterr().err
    for bad in (["--port", "70000", "m:app"], ["--threads", "0", "m:app"]):
        with pytest.raises(SystemExit) as exited:
            cli(*bad)
        assert exited.value.code == 2
        assert "port must be 0-65535 and threads at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli("--help")
    assert exited.value.code == 0
    usage = capsys.readouterr().out
    for option in ("--host", "--port", "--threads", "--list", "module:app"):
        assert option in usage


def test_ctrl_c_stops_the_server_quietly(project: Path) -> None:
    with running(cli_args("cliapp:app"), cwd=project, env=subprocess_env()) as server:
        found = server.wait_for(SERVING, 15)
        assert fetch(found.group(1)).status == 200
        server.popen.send_signal(signal.SIGINT)
        assert server.popen.wait(timeout=10) == 0
    assert "Traceback" not in server.text()
