"""The README and the docs say what the code does, and the code stays clean.

- README.rst shows the quick-start files as they are, its test command is the
  one CI runs, and the quick start works as it says with each of the three
  servers it names, curl included (and in a real browser with JavaScript on);
- the Sphinx site builds with warnings as errors and its doctests pass;
- the error table names every error type with the status the middleware
  answers;
- ruff and mypy are clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_support import chromium
from framework_support import free_port, serving
from playwright.sync_api import expect

import serveract
from conftest import Client, Response

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
QUICKSTART = ROOT / "examples" / "quickstart"
#: The error types of SPEC's status table, the contract clients are written to.
SPEC_ERROR_TYPES = {
    "bad_request",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "invalid_arguments",
    "too_many_requests",
    "unavailable",
    "internal_error",
    "action_error",
}


def literal_block(text: str, start: int) -> str:
    """The first literal block after ``start`` in reST ``text``, dedented."""
    match = re.compile(r"::[^\n]*\n\n((?:    .*\n|\n)+)").search(text, start)
    assert match, f"no literal block after offset {start}"
    lines = [line[4:] for line in match.group(1).splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def readme_shell_line(starting: str) -> tuple[str, str]:
    """The README's shell command that starts with ``starting`` (continuation
    lines joined), and the line shown after it (its output)."""
    match = re.search(
        rf"^    ({re.escape(starting)}(?:.*\\\n)*.*)\n    (.*)$", README, re.MULTILINE
    )
    assert match, f"README has no command starting {starting!r}"
    return re.sub(r"\\\n\s*", " ", match.group(1)), match.group(2)


# -- README -----------------------------------------------------------------


def test_readme_is_short_enough_to_read_on_pypi():
    assert len(README.splitlines()) <= 200


@pytest.mark.parametrize(
    "path", ["examples/quickstart/app.py", "examples/quickstart/templates/index.html"]
)
def test_readme_shows_each_quick_start_file_exactly(path):
    # PyPI renders README.rst without Sphinx (no literalinclude): the files are
    # copied into it, and this keeps the copies true.
    marker = f".. literal-file: {path}\n"
    assert marker in README
    shown = literal_block(README, README.index(marker))
    assert shown == (ROOT / path).read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    printed = subprocess.run(
        ["bash", str(ROOT / ".ci/run"), "--print"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == "bash .ci/install && python -m pytest -q"
    # The two commands a newcomer meets first: the demo, then the tests.
    opening = README[: README.index("Quick start (Flask)")]
    demo = "    pip install -e '.[demo]' && python examples/todo.py\n"
    assert demo in opening
    assert opening.index(demo) < opening.index(f"    {printed}\n")


def test_readme_links_point_at_files_that_exist():
    targets = re.findall(r"`[^`<]+<([^>]+)>`_", README)
    assert targets
    for target in targets:
        assert (ROOT / target).is_file(), target


def test_changes_has_a_section_for_this_version():
    changes = (ROOT / "CHANGES.rst").read_text(encoding="utf-8")
    assert re.search(
        rf"^{re.escape(serveract.__version__)} \(", changes, re.MULTILINE
    ), serveract.__version__


# -- The quick start, served as the README says ------------------------------


#: How the README serves the quick start, as arguments to ``python``.
SERVERS = {
    "python -m serveract": ["-m", "serveract", "--port", "{port}", "app:app"],
    "flask run": ["-m", "flask", "--app", "app", "run", "--port", "{port}"],
    "waitress-serve": ["-m", "waitress", "--listen=127.0.0.1:{port}", "app:app"],
}


@contextlib.contextmanager
def serve_quick_start(server: str) -> Iterator[str]:
    """Run ``examples/quickstart`` with ``server`` on a free port; yield its URL."""
    port = str(free_port())
    args = [sys.executable, *(part.format(port=port) for part in SERVERS[server])]
    # This checkout's serveract.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    with serving(args, cwd=QUICKSTART, env=env) as process:
        yield process.url


def post_form(url: str, fields: dict[str, str]) -> str:
    """What a browser with JavaScript off gets back for a form post."""
    body = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, body), timeout=10) as page:
        assert page.status == 200
        return str(page.read().decode())


def run_readme_curl(url: str, body: str | None = None) -> tuple[int, Any]:
    """The README's curl example against ``url`` (optionally another body):
    the HTTP status and the decoded answer."""
    command = shlex.split(readme_shell_line("curl ")[0])
    command = [part.replace("http://127.0.0.1:8080", url) for part in command]
    if body is not None:
        command[command.index("-d") + 1] = body
    done = subprocess.run(
        [*command, "--silent", "--write-out", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(answer)


@pytest.mark.parametrize("server", list(SERVERS))
def test_quick_start_works_as_the_readme_says(server):
    with serve_quick_start(server) as url:
        with urllib.request.urlopen(url + "/", timeout=10) as first:
            assert '<input type="hidden" name="$action" value="add_todo">' in (
                first.read().decode()
            )
        # JavaScript off: the error next to the field, what was typed kept.
        refused = post_form(url + "/", {"$action": "add_todo", "title": "  "})
        assert '<p class="error">Write what needs doing.</p>' in refused
        added = post_form(url + "/", {"$action": "add_todo", "title": "Milk"})
        assert "<li>Milk (1)</li>" in added
        # Any HTTP client: the README's curl, its answer as the README shows it.
        shown = readme_shell_line("curl ")[1]
        assert run_readme_curl(url) == (200, json.loads(shown))
        refused_text = re.search(r"answers ``400`` with\n``(.*?)``", README, re.S)
        assert refused_text
        assert run_readme_curl(url, '{"title": " "}') == (
            400,
            json.loads(refused_text.group(1).replace("\n", " ")),
        )
        with urllib.request.urlopen(url + "/serveract.js", timeout=10) as script:
            assert "serveract" in script.read().decode()


def test_quick_start_form_works_with_javascript_on():
    with serve_quick_start("python -m serveract") as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url + "/")
        page.evaluate("window.__marker = 1")
        page.get_by_role("button", name="Add").click()
        expect(page.locator(".error")).to_have_text("Write what needs doing.")
        page.locator("input[name=title]").fill("Buy milk")
        page.get_by_role("button", name="Add").click()
        expect(page.locator("#todos li")).to_have_text(["Buy milk (1)"])
        expect(page.locator(".error")).to_have_text("")
        page.get_by_role("button", name="How many?").click()
        expect(page.locator("output")).to_have_text("1")
        assert page.evaluate("window.__marker") == 1  # the page never reloaded


# -- The Sphinx site ----------------------------------------------------------


@pytest.fixture(scope="module")
def doctrees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One parsed copy of the docs, shared by both builders."""
    return tmp_path_factory.mktemp("doctrees")


def sphinx(builder: str, doctrees: Path, out: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = ["-W", "--keep-going", "-q", "-b", builder, "-d", str(doctrees)]
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *command, str(DOCS), str(out)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


def test_docs_build_without_a_warning(doctrees, tmp_path):
    done = sphinx("html", doctrees, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ["index", "quickstart", "api", "errors", "changes", "guides/security"]:
        assert (tmp_path / f"{page}.html").is_file(), page


def test_docs_doctests_pass(doctrees, tmp_path):
    done = sphinx("doctest", doctrees, tmp_path)
    report = (tmp_path / "output.txt").read_text(encoding="utf-8")
    assert done.returncode == 0, report + done.stdout + done.stderr
    assert " 0 failed" in report or "0 failures" in report


def test_docs_toctree_picks_up_every_guide():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    assert "   :glob:\n" in index and "   guides/*\n" in index


def test_api_reference_documents_every_public_name():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. \w+:: (\w+)", api, re.MULTILINE))
    assert set(serveract.__all__) <= documented


def test_client_guide_names_the_credentials_the_script_sends():
    guide = (DOCS / "guides" / "client.rst").read_text(encoding="utf-8")
    [sent] = re.findall(r'credentials: "([\w-]+)"', serveract._CLIENT_SCRIPT)
    assert re.findall(r'``credentials: "([\w-]+)"``', guide) == [sent]


def test_cross_origin_guide_points_at_the_flask_recipe_where_it_is():
    guide = (DOCS / "guides" / "cross-origin.rst").read_text(encoding="utf-8")
    recipe = (ROOT / "examples" / "frameworks" / "recipe_flask.py").read_text()
    assert "context=" in recipe and "context=" not in README
    assert "recipe in the README" not in guide
    assert ":doc:`frameworks`" in guide


# -- The error table ----------------------------------------------------------

ERRORS_PAGE = (DOCS / "errors.rst").read_text(encoding="utf-8")
TABLE = dict(re.findall(r"^   \* - ``(\w+)``\n     - (\d+|yours)$", ERRORS_PAGE, re.M))


def test_error_table_names_every_error_type():
    assert set(TABLE) == SPEC_ERROR_TYPES


@dataclass(frozen=True)
class Provoke:
    """A request that gets one error type from ``error_app``."""

    action: str
    body: bytes = b"{}"
    content_type: str = "application/json"
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()


PROVOKE = {
    "bad_request": Provoke("echo", body=b"{not json"),
    "forbidden": Provoke("echo", headers=(("Origin", "https://evil.example"),)),
    "not_found": Provoke("nothing_by_that_name"),
    "method_not_allowed": Provoke("echo", method="PUT"),
    "payload_too_large": Provoke("echo", body=b'{"text": "' + b"x" * 2000 + b'"}'),
    "unsupported_media_type": Provoke("echo", content_type="application/pickle"),
    "invalid_arguments": Provoke("echo", body=b'{"text": 5}'),
    "too_many_requests": Provoke("once"),
    "unavailable": Provoke("limited_by_redis"),
    "internal_error": Provoke("crash"),
    "action_error": Provoke("refuse"),
}


def error_client(provoke: Provoke) -> Client:
    """A middleware with an action that fails the way ``provoke`` needs."""
    actions = serveract.Registry()
    options: dict[str, Any] = {"max_body_size": 1000}

    @actions.action
    def echo(text: str = "") -> str:
        return text

    @actions.action
    def crash() -> None:
        raise RuntimeError("a bug")

    @actions.action
    def refuse() -> None:
        raise serveract.ActionError("No.", 409)

    if provoke.action in ("once", "limited_by_redis"):  # rate limits: rev. 2

        @actions.action(name="once", limit="1/hour")
        def once() -> None:
            pass

        @actions.action(name="limited_by_redis", limit="5/minute")
        def limited() -> None:
            pass

        if provoke.action == "limited_by_redis":
            # Nothing listens on port 1: the limiter's Redis cannot be reached.
            options["limiter"] = serveract.RedisLimiter("redis://127.0.0.1:1/0")

    return Client(actions, host="shop.example", **options)


@pytest.mark.parametrize("error_type", sorted(SPEC_ERROR_TYPES))
def test_error_table_gives_the_status_each_type_is_answered_with(error_type):
    provoke = PROVOKE[error_type]
    client = error_client(provoke)

    def call() -> Response:
        return client.send(
            provoke.body,
            provoke.content_type,
            action=provoke.action,
            headers=dict(provoke.headers),
            method=provoke.method,
            status="*",
        )

    answer = call()
    if provoke.action == "once":  # the first call is allowed, the second not
        answer = call()
    assert answer.error["type"] == error_type
    expected = "409" if TABLE[error_type] == "yours" else TABLE[error_type]
    assert str(answer.status_code) == expected
    assert answer.headers["Cache-Control"] == "no-store"


# -- Lint and types -----------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "."], id="ruff-check"),
        pytest.param(["ruff", "format", "--check", "."], id="ruff-format"),
        pytest.param(
            [sys.executable, "-m", "mypy", "--strict", "serveract.py"], id="mypy"
        ),
    ],
)
def test_code_is_clean(command):
    if command[0] == "ruff":
        command[0] = shutil.which("ruff") or "ruff"
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


OWN_LIMITER = '''
import serveract


class Unlimited:
    """A limiter of one's own, as the API reference describes one."""

    def acquire(self, key: str, limit: int, window: float) -> float:
        return 0.0

    def peek(self, key: str, limit: int, window: float) -> float:
        return 0.0


app = serveract.ServerActions(lambda environ, start: [], limiter=Unlimited())
'''


def test_mypy_strict_takes_a_limiter_of_your_own_from_the_module_copied(tmp_path):
    # serveract.py copied into a project (no stubs then): limiter= is typed
    # as the API reference says, any object with acquire() and peek().
    shutil.copy(ROOT / "serveract.py", tmp_path)
    (tmp_path / "app.py").write_text(OWN_LIMITER)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
    done = subprocess.run(
        [*mypy, "--no-incremental", "app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
