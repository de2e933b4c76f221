"""The README's code runs as written, and the code stays lint- and type-clean."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import webtest

import serveract

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def code_block(after_heading: str, language: str) -> str:
    """The first ``.. code-block:: language`` after a heading, dedented."""
    section = README[README.index(after_heading) :]
    match = re.search(
        rf"^\.\. code-block:: {language}\n\n((?:    .*\n|\n)+)", section, re.MULTILINE
    )
    assert match, f"no {language} block after {after_heading!r}"
    return "\n".join(line[4:] for line in match.group(1).splitlines()) + "\n"


@pytest.fixture
def clean_default_registry() -> Any:
    before = dict(serveract.registry._actions)
    yield
    serveract.registry._actions.clear()
    serveract.registry._actions.update(before)


def test_quick_start_runs_as_written(clean_default_registry):
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    exec(
        compile(code_block("Quick start (Flask)", "python"), "README", "exec"),
        namespace,
    )
    client = webtest.TestApp(namespace["app"])
    # The fetch example's request, as the README shows it.
    fetch = code_block("or with nothing but", "javascript")
    body = json.loads(
        re.search(r"JSON.stringify\((.*)\),", fetch)
        .group(1)
        .replace("title", '"title"')
        .replace("priority", '"priority"')
    )
    answer = client.post(
        "/",
        json.dumps(body),
        headers={"Serveract-Action": "add_todo", "Content-Type": "application/json"},
    )
    assert answer.json == {"title": "Buy milk", "priority": 2}
    # The positional call serveract.call("add_todo", "Buy milk", 2) sends.
    headers = {"Serveract-Action": "add_todo", "Content-Type": "application/json"}
    positional = client.post("/", '["Buy milk", 2]', headers=headers)
    assert positional.json == {"title": "Buy milk", "priority": 2}
    refused = client.post("/", '["  "]', headers=headers, status=422)
    assert refused.json["error"]["data"] == {"title": "required"}
    # Everything else still reaches Flask (which has no routes: its 404).
    assert client.get("/", status=404).content_type == "text/html"


def test_ci_runs_the_readme_test_command():
    printed = subprocess.run(
        ["bash", str(ROOT / ".ci/run"), "--print"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == "bash .ci/install && python -m pytest -q"
    # It is the second command the README opens with.
    opening = README[: README.index("Why\n---")]
    assert opening.count("    ") >= 2 and f"    {printed}\n" in opening


def test_readme_documents_every_public_name():
    reference = README[README.index("API reference") :]
    for name in serveract.__all__:
        assert f"``{name}" in reference, name


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
