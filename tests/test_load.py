"""Load on a real server: concurrent keep-alive clients calling one action,
and garbage from another connection meanwhile. Only results are checked
(every answer right, the counts exact), never timing or overlap."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import webob

import serveract
from conftest import Client, serving

LIMIT = 100_000
CLIENTS, CALLS = 8, 100


def test_concurrent_calls_on_a_real_server_each_get_their_own_exact_answer(
    reg: serveract.Registry,
) -> None:
    lock = threading.Lock()
    counter = {"value": 0}

    @reg.action
    def increment(by: int) -> int:
        time.sleep(0.001)  # hold the call open, so that other calls may overlap it
        with lock:
            counter["value"] += by
            return counter["value"]

    app = Client(reg, max_body_size=LIMIT).app  # validated on both sides
    answers: list[list[tuple[int, Any, str]]] = [[] for _ in range(CLIENTS)]
    hostile_answers: list[int] = []
    errors: list[BaseException] = []

    with serving(app) as url:
        port = urlsplit(url).port
        assert port is not None

        def client(index: int) -> None:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for _ in range(CALLS):
                    connection.request(
                        "POST",
                        "/",
                        body=b"[1]",
                        headers={
                            "Serveract-Action": "increment",
                            "Content-Type": "application/json",
                            "Origin": url,
                        },
                    )
                    response = connection.getresponse()
                    answers[index].append(
                        (
                            response.status,
                            json.loads(response.read()),
                            response.getheader("Content-Type", ""),
                        )
                    )
                connection.close()
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        def hostile() -> None:
            # Garbage from another connection meanwhile: each gets its 4xx.
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for body, extra in [
                    (b"[1,", {}),
                    (b"[" * 5000, {}),
                    (b"[1]", {"Origin": "http://evil.net"}),
                    (b"x" * (LIMIT + 1), {}),
                    (b"[NaN]", {}),
                ] * 4:
                    connection.request(
                        "POST",
                        "/",
                        body=body,
                        headers={"Serveract-Action": "increment", **extra},
                    )
                    response = connection.getresponse()
                    response.read()
                    hostile_answers.append(response.status)
                connection.close()
            except BaseException as error:
                errors.append(error)

        workers = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        workers.append(threading.Thread(target=hostile))
        for worker in workers:
            worker.start()
        for worker in workers:
            # Every request has its own 10 s socket timeout: this only keeps
            # a hung server from hanging the suite.
            worker.join(timeout=600)
        assert not any(worker.is_alive() for worker in workers), "a client hung"

    assert errors == []
    assert counter["value"] == CLIENTS * CALLS
    every = [answer for per_client in answers for answer in per_client]
    assert len(every) == CLIENTS * CALLS
    assert {status for status, _, _ in every} == {200}
    assert {content_type for _, _, content_type in every} == {"application/json"}
    # Each call saw its own count: no increment lost or counted twice.
    assert sorted(value for _, value, _ in every) == list(range(1, len(every) + 1))
    for per_client in answers:  # and each client's counts only went up
        values = [value for _, value, _ in per_client]
        assert values == sorted(values)
    assert hostile_answers == [400, 400, 403, 413, 400] * 4


def calls_at_once(
    app: Any, path: str, body: bytes, count: int
) -> list[tuple[int, str]]:
    """``count`` JSON calls started together from as many threads: each
    status and body."""
    start = threading.Barrier(count)
    answers: list[tuple[int, str]] = []

    def call() -> None:
        start.wait(timeout=30)
        request = webob.Request.blank(
            path, method="POST", body=body, content_type="application/json"
        )
        answer = request.get_response(app)
        answers.append((answer.status_int, answer.text))

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_first_calls_from_many_threads_agree_on_a_lazily_prepared_dataclass() -> None:
    """An action whose hint names a dataclass defined after the middleware
    was built is prepared by its first call. A dataclass's record is known
    before its fields are built (it may hold itself): another thread's first
    call must not bind against the fields built so far."""
    import dataclasses
    import typing

    wrong: list[tuple[int, str]] = []
    for attempt in range(5):
        shop = serveract.Registry()
        calls = serveract.ServerActions(lambda environ, start: [], shop)
        namespace: dict[str, Any] = {}
        # Compiled apart from this module's "from __future__ import
        # annotations", so that the hint is the name, resolved when prepared.
        source = "def save(p: 'Big') -> int:\n    return len(vars(p))"
        exec(compile(source, "<actions>", "exec", dont_inherit=True), namespace)
        shop.action(namespace["save"])
        choices = tuple(f"v{i}" for i in range(50))
        namespace["Big"] = dataclasses.make_dataclass(  # slow to build: 200 fields
            f"Big{attempt}",
            [(f"f{i}", typing.Literal[(*choices, f"x{i}")]) for i in range(200)],
        )
        body = json.dumps({"p": {f"f{i}": "v1" for i in range(200)}}).encode()
        answers = calls_at_once(calls, "/_serveract/save", body, 8)
        assert len(answers) == 8
        wrong += [answer for answer in answers if answer != (200, "200")]
    assert wrong == []
