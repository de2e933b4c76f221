"""serveract installs and type-checks the way Python users expect.

``python -m build`` makes an sdist and a wheel that ``twine check --strict``
accepts; the wheel, installed into a fresh virtualenv, serves the quick start
over a real socket; ``mypy --strict`` on a user's app sees the real types
through the ``serveract-stubs`` package the wheel ships; and ``mypy.stubtest``
keeps those stubs equal to the module.
"""

from __future__ import annotations

import ast
import email
import io
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest
from framework_support import serving

import serveract

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str | Path, **options: object) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail the test with its output if it fails."""
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=300,
        **options,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def clean_environ() -> dict[str, str]:
    """The environment without anything that would point Python at this
    checkout instead of what was installed."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "MYPYPATH", "VIRTUAL_ENV")
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("serveract-*-py3-none-any.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh virtualenv holding the wheel and what the quick start needs;
    returns its python."""
    home = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", home)
    python = home / "bin" / "python"
    # This environment's pip installs into the venv: no ensurepip, faster.
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--disable-pip-version-check",
        f"{wheel}[demo]",  # waitress, to serve it with python -m serveract
        "flask",  # the quick start is a Flask app
        "types-WebOb",  # so that mypy sees webob's types too
        env=clean_environ(),
    )
    return python


# -- The distributions ---------------------------------------------------------


def test_build_makes_an_sdist_and_a_wheel_twine_accepts(dist):
    names = sorted(path.name for path in dist.iterdir())
    version = serveract.__version__
    assert names == [
        f"serveract-{version}-py3-none-any.whl",
        f"serveract-{version}.tar.gz",
    ]
    run(sys.executable, "-m", "twine", "check", "--strict", *dist.iterdir())


def test_wheel_holds_the_module_its_stubs_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    version = serveract.__version__
    assert {
        "serveract.py",
        "serveract-stubs/__init__.pyi",
        f"serveract-{version}.dist-info/licenses/LICENSE",
    } <= names
    assert not any(name.startswith(("tests/", "examples/", "docs/")) for name in names)


def test_wheel_metadata_states_license_dependencies_and_extras(wheel):
    version = serveract.__version__
    metadata = email.message_from_bytes(
        zipfile.ZipFile(wheel).read(f"serveract-{version}.dist-info/METADATA")
    )
    assert metadata["License-Expression"] == "MIT"
    assert not any("License ::" in c for c in metadata.get_all("Classifier"))
    assert set(metadata.get_all("Requires-Dist")) >= {"WebOb>=1.8", "multipart>=2.0"}
    assert set(metadata.get_all("Provides-Extra")) >= {
        "redis",
        "dev",
        "demo",
        "bench",
        "docs",
        "test",
    }
    assert metadata.get_payload().startswith("serveract\n=========")  # the README


# -- The installed wheel -------------------------------------------------------


def test_installed_wheel_is_the_serveract_that_imports(venv, tmp_path):
    done = run(
        venv,
        "-c",
        "import serveract, multipart; print(serveract.__file__, serveract.__version__)",
        cwd=tmp_path,
        env=clean_environ(),
    )
    where, version = done.stdout.split()
    assert Path(where).is_relative_to(venv.parent.parent)
    assert version == serveract.__version__


def test_installed_wheel_serves_the_quick_start(venv, tmp_path):
    app_dir = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", app_dir)
    args = [str(venv), "-m", "serveract", "--port", "0", "app:app"]
    env = {**clean_environ(), "PYTHONUNBUFFERED": "1"}
    with serving(args, cwd=app_dir, env=env) as server:
        url = server.url
        form = urllib.parse.urlencode({"$action": "add_todo", "title": "Milk"})
        with urllib.request.urlopen(url + "/", form.encode(), timeout=10) as page:
            assert "<li>Milk (1)</li>" in page.read().decode()
        call = urllib.request.Request(
            url + "/_serveract/add_todo",
            b'{"title": "Eggs", "priority": 2}',
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(call, timeout=10) as answer:
            assert answer.read() == b'{"title":"Eggs","priority":2}'


# -- Types ---------------------------------------------------------------------

USER_APP = '''
"""A user's app: actions, the middleware, a page reading the outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

import serveract

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@serveract.action
def add(a: int, b: int) -> int:
    return a + b


@serveract.action(name="users.delete", bound=["user_id"], limit="5/minute")
def delete_user(user_id: int) -> None:
    if user_id < 0:
        raise serveract.ActionError("No such user", 404, {"user_id": "unknown"})


def page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    outcome = serveract.result(environ)
    reveal_type(outcome)
    if outcome is not None and outcome.error is not None:
        reveal_type(outcome.error.fields)
        reveal_type(outcome.form)
    start_response("200 OK", [("Content-Type", "text/html")])
    return [str(serveract.hidden_field("add")).encode()]


app = serveract.ServerActions(
    page, secret="s3cret", limiter=serveract.MemoryLimiter(), allowed_hosts=["local"]
)
reveal_type(add)
reveal_type(app)
reveal_type(app.hidden_field("users.delete", user_id=7))
reveal_type(app.openapi())
# Unused, and so an error under --strict, if `add` had lost its types:
add("two", 3)  # type: ignore[arg-type]
'''


def test_mypy_strict_sees_the_types_of_the_installed_wheel(venv, tmp_path):
    (tmp_path / "user_app.py").write_text(USER_APP)
    done = run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        venv,  # its site-packages: the wheel's module and serveract-stubs
        "user_app.py",
        cwd=tmp_path,
        env=clean_environ(),
    )
    revealed = [
        line.split("Revealed type is ", 1)[1].strip('"')
        for line in done.stdout.splitlines()
        if "Revealed type is" in line
    ]
    assert revealed == [
        "serveract.Result | None",
        "dict[str, str]",
        "webob.multidict.MultiDict[str, str]",
        "def (a: int, b: int) -> int",
        "serveract.ServerActions",
        "serveract.Markup",
        "dict[str, Any]",
    ]
    assert "Success: no issues found" in done.stdout


def test_stubs_match_the_module(tmp_path):
    # stubtest imports serveract.py from this checkout and compares it with
    # the stubs, laid out as the module they describe.
    stubs = tmp_path / "stubs" / "serveract"
    stubs.mkdir(parents=True)
    shutil.copy(ROOT / "serveract-stubs" / "__init__.pyi", stubs / "__init__.pyi")
    environ = {
        **clean_environ(),
        "MYPYPATH": str(stubs.parent),
        "PYTHONPATH": str(ROOT),
    }
    run(sys.executable, "-m", "mypy.stubtest", "serveract", cwd=tmp_path, env=environ)


def test_stubs_declare_every_public_attribute_of_the_objects_users_hold():
    # stubtest sees class attributes only, not what __init__ sets.
    stub = ast.parse((ROOT / "serveract-stubs" / "__init__.pyi").read_text())
    declared = {
        node.name: {
            item.target.id for item in node.body if isinstance(item, ast.AnnAssign)
        }
        for node in stub.body
        if isinstance(node, ast.ClassDef)
    }
    held = [
        serveract.ServerActions(lambda environ, start_response: []),
        serveract.ActionError("m"),
        serveract.redirect("/"),
        serveract.Result("n"),
        serveract.Upload(io.BytesIO(), "f", "text/plain"),
        serveract.MemoryLimiter(),
    ]
    for value in held:
        names = [*getattr(value, "__dict__", ()), *getattr(value, "__slots__", ())]
        public = {name for name in names if not name.startswith("_")}
        assert public <= declared[type(value).__name__], type(value).__name__


def test_stubs_are_strict_clean(tmp_path):
    done = run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        ROOT / "serveract-stubs" / "__init__.pyi",
        cwd=tmp_path,
        env=clean_environ(),
    )
    assert "Success" in done.stdout
