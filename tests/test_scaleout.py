"""Several server processes, one app: forms rendered by one are accepted by
another when they share ``SERVERACT_SECRET``, refused (400) when they do not.

Real processes on 127.0.0.1: ``python -m serveract`` (waitress) and gunicorn
with two workers; ``tests/scaleout_app.py`` says which process answered.
"""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from urllib.parse import urlencode

import gunicorn.config
from framework_support import (
    TESTS,
    Reply,
    cli_args,
    fetch,
    hidden_fields,
    running,
    serving,
    started,
)
from framework_support import subprocess_env as env_for

SHARED = "shared secret for every process"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PID = re.compile(r'<p id="pid">(\d+)</p>')
RESULT = re.compile(r'<p id="result">(.*)</p>')


def render(url: str) -> tuple[int, list[tuple[str, str]]]:
    """The process id that rendered the page, and its form's hidden fields."""
    page = fetch(url + "/")
    assert page.status == 200, page.text
    found = PID.search(page.text)
    assert found
    return int(found.group(1)), hidden_fields(page.text)


def submit(
    url: str, fields: list[tuple[str, str]], *, header: bool = True, **more: str
) -> Reply:
    """Post the form: as the client script does (header call) or with no JS."""
    body = urlencode([*fields, *more.items()]).encode()
    headers = {**FORM, "Serveract-Action": "transfer"} if header else FORM
    return fetch(url + "/", "POST", body, headers)


def test_waitress_processes_sharing_the_secret_accept_each_others_forms() -> None:
    with ExitStack() as stack:
        # Started together, then each awaited: their imports overlap.
        first, second, foreign = [
            started(process)
            for process in [
                stack.enter_context(
                    running(
                        cli_args("scaleout_app:application"),
                        cwd=TESTS,
                        env=env_for(SERVERACT_SECRET=key),
                    )
                )
                for key in (SHARED, SHARED, "another secret")
            ]
        ]
        rendered_by, fields = render(first.url)
        assert [name for name, _ in fields] == ["$action", "$bound"]

        answer = submit(second.url, fields, amount="5")
        assert answer.status == 200, answer.text
        value = json.loads(answer.body)
        assert value["pid"] != rendered_by  # another process accepted the form
        assert value == {"account": "acct-7", "amount": 5, "pid": value["pid"]}

        page = submit(second.url, fields, header=False, amount="6")
        assert page.status == 200
        found = RESULT.search(page.text)
        assert found, page.text
        shown = json.loads(found.group(1))
        assert shown == {"account": "acct-7", "amount": 6, "pid": value["pid"]}

        refused = submit(foreign.url, fields, amount="5")
        assert refused.status == 400
        error = json.loads(refused.body)["error"]
        assert "not signed" in error["message"]
        assert submit(foreign.url, fields, header=False, amount="5").status == 400

        # A field cannot override a bound value, on any process.
        tampered = [*fields, ("account", "acct-1")]
        kept = submit(second.url, tampered, amount="5")
        assert json.loads(kept.body)["account"] == "acct-7"


def gunicorn_args() -> list[str]:
    args = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind"]
    args += ["127.0.0.1:0", "--graceful-timeout", "2"]
    if any(s.name == "control_socket_disable" for s in gunicorn.config.KNOWN_SETTINGS):
        args.append("--no-control-socket")  # gunicorn 25+: one shared path otherwise
    return [*args, "scaleout_app:application"]


def test_gunicorn_workers_accept_each_others_forms() -> None:
    with serving(
        gunicorn_args(), cwd=TESTS, env=env_for(SERVERACT_SECRET=SHARED)
    ) as server:
        rendered_by, fields = render(server.url)
        # Each sync worker serves one request at a time, so calls held open
        # and sent together spread over both workers, sooner or later: send
        # batches until both have answered (how soon is not the question).
        values: list[dict[str, object]] = []
        for _ in range(20):
            with ThreadPoolExecutor(4) as pool:
                answers = list(
                    pool.map(
                        lambda amount: submit(
                            server.url, fields, amount=amount, hold="0.2"
                        ),
                        ["1", "2", "3", "4"],
                    )
                )
            assert [a.status for a in answers] == [200] * 4
            batch = [json.loads(a.body) for a in answers]
            assert [v["amount"] for v in batch] == [1, 2, 3, 4]
            assert {v["account"] for v in batch} == {"acct-7"}
            values += batch
            if len({v["pid"] for v in values}) == 2:
                break
        pids = {v["pid"] for v in values}
        assert len(pids) == 2
        assert pids - {rendered_by}  # a worker that did not render the form
