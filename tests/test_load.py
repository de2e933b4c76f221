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
