"""Rate limits: ``@action(limit="N/unit")``, the key (client address, the
first ``X-Forwarded-For`` entry behind a trusted proxy, or ``limit_key``),
the 429 answer, a sliding log that allows at most N calls in *any* window
(the clock is driven by the test: ``MemoryLimiter(clock=...)``), exact counts
under threads, bounded memory, the budget for bad signatures, and
``RedisLimiter`` on a real ``redis-server``: shared by two ``python -m
serveract`` processes, a 503 when Redis is down.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import threading
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from access_support import Clock, Counter, RedisServer, redis_server
from framework_support import (
    TESTS,
    cli_args,
    fetch,
    hidden_fields,
    running,
    started,
    subprocess_env,
)

import serveract
from conftest import FORM, JSON, Client, Response

MINUTE = 60.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Api:
    """The middleware under test, and the action counter."""

    client: Client
    ran: Counter


def build(limit: str = "2/minute", **options: Any) -> Api:
    """Actions ``limited`` and ``other`` (each ``limit``), ``free`` (no limit),
    ``rename`` (``todo_id`` bound, signed; no limit); ``ran`` counts runs."""
    registry = serveract.Registry()
    ran = Counter()

    @registry.action(limit=limit)
    def limited() -> str:
        ran()
        return "ran"

    @registry.action(limit=limit)
    def other() -> str:
        ran()
        return "other"

    @registry.action
    def free() -> str:
        ran()
        return "free"

    @registry.action(bound=["todo_id"])
    def rename(todo_id: int, title: str) -> list[Any]:
        ran()
        return [todo_id, title]

    options.setdefault("secret", "a secret for the signature budget")
    return Api(Client(registry, host="api.example.net", **options), ran)


def call(
    api: Api,
    name: str = "limited",
    *,
    kind: str = "path",
    remote_addr: str = "192.0.2.10",
    headers: dict[str, str] | None = None,
) -> Response:
    """Call action ``name`` with no arguments: a path, header or no-JS form call."""
    if kind == "form":
        body, content_type, path = f"%24action={name}".encode(), FORM, "/"
    else:
        body, content_type = b"[]", JSON
        path = f"/_serveract/{name}" if kind == "path" else "/"
    return api.client.send(
        body,
        content_type,
        action=name if kind == "header" else None,
        headers=headers,
        path=path,
        remote_addr=remote_addr,
        status="*",
    )


def assert_ok(answer: Response, value: str = "ran") -> None:
    assert (answer.status_int, answer.json) == (200, value), answer.body


def assert_too_many(answer: Response, retry_after: int) -> None:
    """The 429 SPEC and BRIEF fix: type, ``Retry-After`` and ``data`` agree."""
    assert answer.status_int == 429, answer.body
    assert answer.error["type"] == "too_many_requests"
    assert answer.header("Retry-After") == str(retry_after)
    assert answer.error["data"] == {"retry_after": retry_after}
    assert answer.header("Cache-Control") == "no-store"


# -- Declaring a limit ---------------------------------------------------------


@pytest.mark.parametrize(
    "limit", ["1/second", "10/minute", "100/hour", "5/day", "1000000/day"]
)
def test_a_limit_is_calls_per_second_minute_hour_or_day(limit: str) -> None:
    registry = serveract.Registry()

    def ping() -> str:
        return "pong"

    assert registry.action(limit=limit)(ping) is ping
    assert registry.get("ping") is ping
    assert ping() == "pong"


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param("10", id="no-unit"),
        pytest.param("10/week", id="unknown-unit"),
        pytest.param("ten/minute", id="words"),
        pytest.param("0/minute", id="zero"),
        pytest.param("-1/minute", id="negative"),
        pytest.param("1.5/minute", id="fraction"),
        pytest.param("/minute", id="no-count"),
        pytest.param("10/", id="empty-unit"),
        pytest.param("10/minute/2", id="two-slashes"),
        pytest.param("", id="empty"),
        pytest.param("10 per minute", id="prose"),
    ],
)
def test_a_malformed_limit_is_refused_at_registration(limit: str) -> None:
    registry = serveract.Registry()
    with pytest.raises(ValueError, match="limit"):

        @registry.action(limit=limit)
        def ping() -> None: ...

    assert "ping" not in registry


@pytest.mark.parametrize("limit", [10, 1.5, ("10", "minute"), b"10/minute"])
def test_a_limit_that_is_not_a_string_is_refused_at_registration(limit: Any) -> None:
    registry = serveract.Registry()
    with pytest.raises(TypeError):
        registry.action(limit=limit)(lambda: None)


def test_limit_key_must_be_callable() -> None:
    with pytest.raises(TypeError):
        build(limit_key="REMOTE_ADDR")


def test_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError):
        serveract.MemoryLimiter(max_keys=0)


# -- The 429 -------------------------------------------------------------------


def test_the_call_over_the_limit_is_429_and_the_action_does_not_run(
    clock: Clock,
) -> None:
    api = build("2/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api))
    clock.advance(10)
    assert_ok(call(api))
    clock.advance(20)
    assert_too_many(call(api), 30)  # the first call leaves the window in 30 s
    assert api.ran.count == 2


@pytest.mark.parametrize(
    ("later", "retry_after"),
    [(0.25, 60), (30, 30), (59.5, 1), (59.999, 1)],
)
def test_retry_after_is_whole_seconds_rounded_up(
    clock: Clock, later: float, retry_after: int
) -> None:
    api = build("1/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api))
    clock.advance(later)
    assert_too_many(call(api), retry_after)


def test_the_default_limiter_keeps_counts_in_memory() -> None:
    api = build("1/hour")
    assert_ok(call(api))
    assert call(api).status_int == 429
    assert api.ran.count == 1


def test_a_call_is_allowed_again_once_the_oldest_leaves_the_window(
    clock: Clock,
) -> None:
    api = build("2/minute", limiter=serveract.MemoryLimiter(clock=clock))
    start = clock.now
    assert_ok(call(api))  # t = 0
    clock.now = start + 10
    assert_ok(call(api))  # t = 10
    clock.now = start + 60.5
    assert_ok(call(api))  # the call at 0 has left the window
    clock.now = start + 65
    assert_too_many(call(api), 5)  # calls at 10 and 60.5 are in it
    clock.now = start + 70.5
    assert_ok(call(api))


def test_refused_calls_do_not_count(clock: Clock) -> None:
    api = build("2/minute", limiter=serveract.MemoryLimiter(clock=clock))
    start = clock.now
    assert_ok(call(api))
    assert_ok(call(api))
    for second in range(1, 60):
        clock.now = start + second
        assert call(api).status_int == 429
    clock.now = start + 60.5
    assert_ok(call(api))
    assert api.ran.count == 3


def test_no_window_holds_more_than_n_calls_across_a_minute_boundary(
    clock: Clock,
) -> None:
    # Fixed windows [0, 60) and [60, 120) would let 3 + 3 calls through
    # between 50 s and 63 s; a sliding log lets 3 through in any 60 s.
    api = build("3/minute", limiter=serveract.MemoryLimiter(clock=clock))
    start = clock.now - clock.now % MINUTE  # the start of a clock minute
    for accepted in (50, 55, 59):
        clock.now = start + accepted
        assert_ok(call(api))
    for refused in (61, 62, 63, 100, 109.9):
        clock.now = start + refused
        assert call(api).status_int == 429, refused
    clock.now = start + 110.5
    assert_ok(call(api))


def sliding_log_oracle(times: list[float], limit: int, window: float) -> list[float]:
    """What a strict sliding log answers for calls at ``times``: 0.0 when the
    call is accepted (fewer than ``limit`` accepted in the window before it),
    else the seconds until the oldest accepted call in the window leaves it."""
    accepted: list[float] = []
    answers = []
    for now in times:
        inside = [t for t in accepted if t > now - window]
        if len(inside) < limit:
            accepted.append(now)
            answers.append(0.0)
        else:
            answers.append(inside[-limit] + window - now)
    return answers


def call_times(seed: int, count: int, window: float) -> list[float]:
    """Increasing call times: bursts, pauses and steady stretches."""
    rng = random.Random(seed)
    now, times = 5000.0, []
    for _ in range(count):
        now += rng.choice([0.001, 0.01, 0.5, 2.0, window / 7, window / 2]) * (
            0.5 + rng.random()
        )
        times.append(now)
    return times


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("limit", "window"), [(1, 1.0), (5, 60.0), (30, 3600.0)])
def test_the_memory_limiter_is_a_strict_sliding_log(
    clock: Clock, seed: int, limit: int, window: float
) -> None:
    limiter = serveract.MemoryLimiter(clock=clock)
    times = call_times(seed, 600, window)
    for now, expected in zip(
        times, sliding_log_oracle(times, limit, window), strict=True
    ):
        clock.now = now
        peeked = limiter.peek("client", limit, window)
        got = limiter.acquire("client", limit, window)
        assert got == pytest.approx(expected, abs=1e-6), now
        assert peeked == pytest.approx(expected, abs=1e-6), now


def test_peek_never_records(clock: Clock) -> None:
    limiter = serveract.MemoryLimiter(clock=clock)
    for _ in range(5):
        assert limiter.peek("client", 1, MINUTE) == 0.0
    assert limiter.acquire("client", 1, MINUTE) == 0.0
    clock.advance(15)
    assert limiter.peek("client", 1, MINUTE) == pytest.approx(45)
    assert limiter.acquire("client", 1, MINUTE) == pytest.approx(45)


def test_a_call_a_float_step_inside_the_window_is_refused_with_a_wait(
    clock: Clock,
) -> None:
    # 996.616103757228 is the float just after 1056.6161037572278 - 60, and
    # 996.616103757228 + 60 rounds to 1056.6161037572278: the first call is
    # still in the window, yet its time plus the window is no later than now.
    limiter = serveract.MemoryLimiter(clock=clock)
    clock.now = 996.616103757228
    assert limiter.acquire("client", 1, MINUTE) == 0.0
    clock.now = 1056.6161037572278
    assert limiter.peek("client", 1, MINUTE) > 0
    assert limiter.acquire("client", 1, MINUTE) > 0


# -- Whose calls count together ------------------------------------------------


def test_each_client_address_has_its_own_count(clock: Clock) -> None:
    api = build("1/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api, remote_addr="198.51.100.1"))
    assert call(api, remote_addr="198.51.100.1").status_int == 429
    assert_ok(call(api, remote_addr="198.51.100.2"))


def test_x_forwarded_for_is_ignored_without_trusted_proxy(clock: Clock) -> None:
    api = build("1/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api, headers={"X-Forwarded-For": "203.0.113.5"}))
    answer = call(api, headers={"X-Forwarded-For": "203.0.113.6"})
    assert answer.status_int == 429


def test_behind_a_trusted_proxy_the_first_forwarded_address_is_the_key(
    clock: Clock,
) -> None:
    api = build(
        "1/minute", limiter=serveract.MemoryLimiter(clock=clock), trusted_proxy=True
    )
    proxy = "10.0.0.1"  # every call comes through the proxy
    first = {"X-Forwarded-For": "203.0.113.5, 10.0.0.1"}
    assert_ok(call(api, remote_addr=proxy, headers=first))
    second = {"X-Forwarded-For": "203.0.113.6, 10.0.0.1"}
    assert_ok(call(api, remote_addr=proxy, headers=second))
    again = {"X-Forwarded-For": " 203.0.113.5 ,10.9.9.9"}
    assert call(api, remote_addr=proxy, headers=again).status_int == 429


def test_limit_key_chooses_the_key(clock: Clock) -> None:
    seen: list[str] = []

    def by_api_key(environ: dict[str, Any]) -> str:
        seen.append(environ["PATH_INFO"])
        return str(environ.get("HTTP_X_API_KEY", "anonymous"))

    api = build(
        "1/minute", limiter=serveract.MemoryLimiter(clock=clock), limit_key=by_api_key
    )
    team = {"X-Api-Key": "team-a"}
    assert_ok(call(api, remote_addr="198.51.100.1", headers=team))
    assert call(api, remote_addr="198.51.100.2", headers=team).status_int == 429
    assert_ok(call(api, remote_addr="198.51.100.1", headers={"X-Api-Key": "team-b"}))
    assert "/_serveract/limited" in seen


def test_each_limited_action_counts_its_own_calls(clock: Clock) -> None:
    api = build("1/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api, "limited"))
    assert_ok(call(api, "other"), "other")
    assert call(api, "limited").status_int == 429
    assert call(api, "other").status_int == 429


def test_an_action_name_with_a_colon_shares_no_count_with_another_action(
    clock: Clock,
) -> None:
    # "a" called from 2001:db8::1 and "a:2001" called from db8::1 (IPv6
    # addresses hold colons too) are two actions and two clients.
    registry = serveract.Registry()
    registry.action(lambda: "a", name="a", limit="1/minute")
    registry.action(lambda: "a:2001", name="a:2001", limit="1/minute")
    client = Client(registry, limiter=serveract.MemoryLimiter(clock=clock))
    first = client.send(b"[]", JSON, path="/_serveract/a", remote_addr="2001:db8::1")
    assert first.json == "a"
    second = client.send(
        b"[]", JSON, path="/_serveract/a:2001", remote_addr="db8::1", status="*"
    )
    assert (second.status_int, second.json) == (200, "a:2001"), second.body


def test_two_apps_sharing_a_limiter_count_an_action_name_by_each_limit(
    clock: Clock,
) -> None:
    # "login" at 3/day in one app and 100/second in another: each check
    # dropped the times outside its own window from the one shared log, so
    # the short window's calls erased the long one's.
    limiter = serveract.MemoryLimiter(clock=clock)
    apps = []
    for limit in ("3/day", "100/second"):
        registry = serveract.Registry()
        registry.action(lambda: "in", name="login", limit=limit)
        apps.append(Client(registry, limiter=limiter))
    strict, loose = apps
    for _ in range(3):
        strict.send(b"[]", JSON, path="/_serveract/login")
    clock.advance(2)
    loose.send(b"[]", JSON, path="/_serveract/login")
    refused = strict.send(b"[]", JSON, path="/_serveract/login", status="*")
    assert refused.status_int == 429


def test_an_action_without_a_limit_is_never_refused(clock: Clock) -> None:
    api = build("1/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api))
    assert call(api).status_int == 429
    for _ in range(20):
        assert_ok(call(api, "free"), "free")


def test_every_way_of_calling_counts_against_the_same_limit(clock: Clock) -> None:
    api = build("3/minute", limiter=serveract.MemoryLimiter(clock=clock))
    assert_ok(call(api, kind="header"))
    assert_ok(call(api, kind="path"))
    page = call(api, kind="form")
    assert page.status_int == 200 and page.from_app
    assert api.ran.count == 3
    clock.advance(1)
    assert call(api, kind="header").status_int == 429
    assert call(api, kind="path").status_int == 429
    refused = call(api, kind="form")
    assert refused.status_int == 429
    assert refused.header("Retry-After") == "59"
    assert api.ran.count == 3


def test_cors_preflights_do_not_count(clock: Clock) -> None:
    api = build(
        "1/minute",
        limiter=serveract.MemoryLimiter(clock=clock),
        allowed_origins=["app.example.com"],
    )
    origin = {"Origin": "https://app.example.com"}
    headers = {**origin, "Access-Control-Request-Method": "POST"}
    for _ in range(3):
        api.client.send(
            method="OPTIONS",
            path="/_serveract/limited",
            headers=headers,
            length=None,
            remote_addr="192.0.2.10",
            status=204,
        )
    assert_ok(call(api, headers=origin))


# -- Threads and memory --------------------------------------------------------


def run_together(threads: int, work: Callable[[], None]) -> None:
    """Run ``work`` in ``threads`` threads released at once; re-raise failures."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not errors, errors


def test_the_memory_limiter_counts_exactly_under_threads() -> None:
    limiter = serveract.MemoryLimiter()
    threads, calls, limit = 8, 50, 120
    allowed = Counter()

    def work() -> None:
        for _ in range(calls):
            if limiter.acquire("client", limit, 3600) == 0.0:
                allowed()

    run_together(threads, work)
    assert allowed.count == limit


def test_the_memory_limiter_reads_the_time_of_a_call_under_its_lock() -> None:
    """Read before the lock, the time of a thread that then waits for the lock
    is older than that of the thread it waited for, and is appended after it:
    the log, out of order, keeps an expired call (thread A reads 0.0, B reads
    0.5 and records first: at 60.2 a 2/minute call is refused for 0.3 s
    though only one call lies in the last minute)."""
    held: list[bool] = []

    def clock() -> float:
        held.append(limiter._lock.locked())
        return 1000.0

    limiter = serveract.MemoryLimiter(clock=clock)
    limiter.acquire("client", 2, MINUTE)
    limiter.peek("client", 2, MINUTE)
    assert held == [True, True]


def test_the_middleware_counts_exactly_under_threads() -> None:
    api = build("40/hour")
    statuses: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            status = call(api).status_int
            with lock:
                statuses.append(status)

    run_together(8, work)
    assert sorted(statuses) == [200] * 40 + [429] * 40
    assert api.ran.count == 40


def test_memory_stays_bounded_however_many_keys_arrive() -> None:
    limiter = serveract.MemoryLimiter(max_keys=1000)

    def arrive(first: int, last: int) -> None:
        for number in range(first, last):
            limiter.acquire(f"client-{number}", 5, 3600)

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        arrive(0, 5_000)
        after_5k = tracemalloc.get_traced_memory()[0] - start
        arrive(5_000, 50_000)
        after_50k = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    # Unbounded, 45,000 more keys would take about ten times as much.
    assert after_50k < 2 * after_5k, (after_5k, after_50k)


def test_memory_stays_bounded_however_long_the_forwarded_addresses(
    clock: Clock,
) -> None:
    # Behind a trusted proxy the client writes its own address: 8 KiB each.
    limiter = serveract.MemoryLimiter(max_keys=100_000, clock=clock)
    api = build("1/minute", limiter=limiter, trusted_proxy=True)

    def arrive(size: int, count: int) -> int:
        start = tracemalloc.get_traced_memory()[0]
        for number in range(count):
            address = f"{number}-{size}".ljust(size, "x")
            assert_ok(call(api, headers={"X-Forwarded-For": address}))
        return int(tracemalloc.get_traced_memory()[0] - start)

    tracemalloc.start()
    try:
        short = arrive(16, 200)
        long = arrive(8192, 200)
    finally:
        tracemalloc.stop()
    # Kept as they came, the long ones would hold 1.6 MiB more.
    assert long < 2 * short + 100_000, (short, long)
    again = {"X-Forwarded-For": "0-8192".ljust(8192, "x")}
    assert call(api, headers=again).status_int == 429  # still one client's count


def test_keys_within_the_bound_keep_their_counts(clock: Clock) -> None:
    limiter = serveract.MemoryLimiter(max_keys=100, clock=clock)
    for _ in range(3):
        assert limiter.acquire("victim", 3, 3600) == 0.0
    for number in range(50):
        clock.advance(1)
        assert limiter.acquire(f"client-{number}", 3, 3600) == 0.0
    assert limiter.acquire("victim", 3, 3600) == pytest.approx(3600 - 50)


# -- The budget for bad signatures ---------------------------------------------


def signed_token(api: Api, todo_id: int = 7) -> str:
    markup = api.client.actions.hidden_field("rename", todo_id=todo_id)
    fields = dict(hidden_fields(str(markup)))
    return fields["$bound"]


def forged(token: str) -> str:
    payload, _, signature = token.partition(".")
    return payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]


def rename(
    api: Api, token: str, *, kind: str = "header", remote_addr: str = "192.0.2.10"
) -> Response:
    """Submit the rename form carrying ``token``: enhanced (header call with a
    form body) or without JavaScript (form call)."""
    body = f"%24bound={token}&title=new"
    if kind == "header":
        action = "rename"
    else:
        action, body = None, "%24action=rename&" + body
    return api.client.send(
        body.encode(), FORM, action=action, remote_addr=remote_addr, status="*"
    )


def test_ten_bad_signatures_in_ten_minutes_close_signed_calls_for_that_client(
    clock: Clock,
) -> None:
    api = build(limiter=serveract.MemoryLimiter(clock=clock))
    good = signed_token(api)
    start = clock.now
    for second in range(10):
        clock.now = start + second
        answer = rename(api, forged(good))
        assert (answer.status_int, answer.error["type"]) == (400, "bad_request"), second
    clock.now = start + 10
    assert_too_many(rename(api, forged(good)), 590)
    assert_too_many(rename(api, good), 590)  # a good signature too
    assert api.ran.count == 0
    # Calls carrying no signed value, and other clients, are not affected.
    assert_ok(call(api, "free"), "free")
    other = rename(api, good, remote_addr="198.51.100.9")
    assert (other.status_int, other.json) == (200, [7, "new"])
    # Ten minutes after the first failure, one more signed call may try.
    clock.now = start + 600.5
    answer = rename(api, good)
    assert (answer.status_int, answer.json) == (200, [7, "new"])


def test_good_signatures_do_not_use_the_budget(clock: Clock) -> None:
    api = build(limiter=serveract.MemoryLimiter(clock=clock))
    good = signed_token(api)
    for _ in range(30):
        assert rename(api, good).status_int == 200
    for _ in range(10):
        assert rename(api, forged(good)).status_int == 400


def test_bad_signatures_in_forms_without_javascript_count_too(clock: Clock) -> None:
    api = build(limiter=serveract.MemoryLimiter(clock=clock))
    bad = forged(signed_token(api))
    for kind in ["header", "form"] * 5:
        assert rename(api, bad, kind=kind).status_int == 400
    assert rename(api, bad, kind="form").status_int == 429
    assert api.ran.count == 0


def test_each_bad_signature_in_one_call_uses_the_budget(clock: Clock) -> None:
    # Ten guesses in ten minutes, not ten calls of a thousand fields each.
    api = build(limiter=serveract.MemoryLimiter(clock=clock))
    payload, _, signature = forged(signed_token(api)).partition(".")
    guesses = [f"{payload}.{c}{signature[1:]}" for c in "CDEFGHIJKLMNOPQRSTUV"]
    body = urlencode([*(("$bound", g) for g in guesses), ("title", "x")]).encode()
    answer = api.client.send(
        body, FORM, action="rename", remote_addr="192.0.2.10", status="*"
    )
    assert_too_many(answer, 600)  # ten tried, the eleventh refused
    assert_too_many(rename(api, signed_token(api)), 600)
    assert api.ran.count == 0


@pytest.mark.parametrize("size", ["many-tokens", "one-huge-token"])
def test_forged_tokens_cost_a_bounded_number_of_signature_checks(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    # However many actions are registered and however large the tokens, a
    # call checks its budget's worth of tokens against its own action only.
    api = build(limiter=serveract.MemoryLimiter(clock=clock))
    for number in range(50):
        api.client.actions.registry.action(lambda: None, name=f"extra{number}")
    checks: list[str] = []
    mac = serveract.ServerActions._mac

    def counted(key: bytes, name: str, payload: str) -> bytes:
        checks.append(name)
        return mac(key, name, payload)

    monkeypatch.setattr(serveract.ServerActions, "_mac", staticmethod(counted))
    payload, _, signature = forged(signed_token(api)).partition(".")
    if size == "many-tokens":
        guesses = [f"{payload}.{c}{signature[1:]}" for c in "CDEFGHIJKLMNOPQRSTUV"]
    else:
        guesses = ["A" * 1_000_000 + "." + signature]
    body = urlencode([*(("$bound", g) for g in guesses), ("title", "x")]).encode()
    checks.clear()
    api.client.send(body, FORM, action="rename", remote_addr="192.0.2.10", status="*")
    assert set(checks) == {"rename"} and len(checks) <= 11  # the budget, and one


def test_a_token_signed_for_another_action_is_refused_but_uses_no_budget(
    clock: Clock,
) -> None:
    # A form signed for rename, submitted by a button naming another action.
    api = build(limiter=serveract.MemoryLimiter(clock=clock))
    token = signed_token(api)
    body = f"%24action=rename&%24bound={token}&title=x&%24action=free".encode()
    for _ in range(12):
        answer = api.client.send(body, FORM, remote_addr="192.0.2.10", status="*")
        assert (answer.status_int, answer.error["type"]) == (400, "bad_request")
    assert rename(api, token).status_int == 200


def test_the_signature_budget_uses_limit_key(clock: Clock) -> None:
    api = build(
        limiter=serveract.MemoryLimiter(clock=clock),
        limit_key=lambda environ: "everyone",
    )
    good = signed_token(api)
    for number in range(10):
        answer = rename(api, forged(good), remote_addr=f"198.51.100.{number}")
        assert answer.status_int == 400
    assert rename(api, good, remote_addr="203.0.113.1").status_int == 429


# -- Redis ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    return f"serveract-test-{uuid.uuid4().hex[:8]}:"


def test_the_redis_limiter_allows_the_limit_then_says_how_long(
    redis: RedisServer, prefix: str
) -> None:
    limiter = serveract.RedisLimiter(redis.url, prefix=prefix)
    assert [limiter.acquire("client", 3, 3600) for _ in range(3)] == [0.0] * 3
    wait = limiter.acquire("client", 3, 3600)
    assert 0 < wait <= 3600
    assert 0 < limiter.peek("client", 3, 3600) <= 3600
    assert limiter.acquire("another", 3, 3600) == 0.0


def test_the_redis_limiter_peek_never_records(redis: RedisServer, prefix: str) -> None:
    limiter = serveract.RedisLimiter(redis.url, prefix=prefix)
    for _ in range(5):
        assert limiter.peek("client", 1, 3600) == 0.0
    assert limiter.acquire("client", 1, 3600) == 0.0
    assert limiter.acquire("client", 1, 3600) > 0


def test_the_redis_limiter_takes_a_client_and_keys_expire_under_its_prefix(
    redis: RedisServer, prefix: str
) -> None:
    import redis as redis_package

    client = redis_package.Redis.from_url(redis.url)
    try:
        client.flushdb()
        limiter = serveract.RedisLimiter(client, prefix=prefix)
        assert limiter.acquire("198.51.100.1", 2, 600) == 0.0
        assert limiter.acquire("198.51.100.2", 2, 600) == 0.0
        keys = [key.decode() for key in client.keys("*")]
        assert keys, "nothing stored"
        assert all(key.startswith(prefix) for key in keys), keys
        # Every key expires: memory in Redis is bounded by the active keys.
        assert all(0 < client.ttl(key) <= 600 for key in keys)
    finally:
        client.close()


def test_the_redis_limiter_refuses_an_asyncio_client_when_built(
    redis: RedisServer, prefix: str
) -> None:
    # Its script would return a coroutine, never awaited: every call a 500.
    from redis.asyncio import Redis as AsyncRedis

    client = AsyncRedis.from_url(redis.url)
    with pytest.raises(TypeError, match="synchronous"):
        serveract.RedisLimiter(client, prefix=prefix)


def test_the_redis_limiter_counts_exactly_under_threads(
    redis: RedisServer, prefix: str
) -> None:
    limiter = serveract.RedisLimiter(redis.url, prefix=prefix)
    allowed = Counter()

    def work() -> None:
        for _ in range(20):
            if limiter.acquire("client", 50, 3600) == 0.0:
                allowed()

    run_together(6, work)
    assert allowed.count == 50


def test_a_limited_action_on_redis_answers_429(redis: RedisServer, prefix: str) -> None:
    api = build("2/hour", limiter=serveract.RedisLimiter(redis.url, prefix=prefix))
    assert_ok(call(api))
    assert_ok(call(api, kind="header"))
    answer = call(api)
    assert answer.status_int == 429
    assert answer.error["type"] == "too_many_requests"
    retry_after = int(answer.header("Retry-After") or "0")
    assert 0 < retry_after <= 3600
    assert answer.error["data"] == {"retry_after": retry_after}
    assert api.ran.count == 2


def test_two_processes_share_one_limit_on_redis(
    redis: RedisServer, prefix: str
) -> None:
    env = subprocess_env(ACCESS_REDIS_URL=redis.url, ACCESS_REDIS_PREFIX=prefix)
    args = cli_args("access_limited_app:application")
    with ExitStack() as stack:
        # Started together, then each awaited: their imports overlap.
        first, second = [
            started(process)
            for process in [
                stack.enter_context(running(args, cwd=TESTS, env=env)) for _ in range(2)
            ]
        ]
        assert first.url != second.url

        def hit(server: Any) -> tuple[int, Any]:
            headers = {"Content-Type": JSON}
            reply = fetch(server.url + "/_serveract/hit", "POST", b"[]", headers)
            return reply.status, json.loads(reply.body)

        answers = [hit(first), hit(second), hit(first)]
        assert [status for status, _ in answers] == [200, 200, 200]
        assert answers[0][1] != answers[1][1]  # two processes answered
        for server in (second, first):
            status, body = hit(server)
            assert (status, body["error"]["type"]) == (429, "too_many_requests")


def test_a_redis_that_cannot_be_reached_is_a_503_and_a_log_line(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_server() as server:
        api = build("5/hour", limiter=serveract.RedisLimiter(server.url, prefix=prefix))
        assert_ok(call(api))
        server.stop()
        with caplog.at_level(logging.ERROR, logger="serveract"):
            answer = call(api)
    assert answer.status_int == 503, answer.body
    assert answer.error["type"] == "unavailable"
    assert answer.header("Cache-Control") == "no-store"
    assert api.ran.count == 1  # the action did not run the second time
    errors = [r for r in caplog.records if r.name == "serveract"]
    assert errors and all(r.levelno >= logging.ERROR for r in errors)


def test_the_redis_package_is_needed_only_when_redis_limiter_is_used() -> None:
    script = """
import sys
sys.modules["redis"] = None  # as if the package were not installed
import serveract
print("imported", flush=True)
try:
    limiter = serveract.RedisLimiter("redis://127.0.0.1:9/0")
    limiter.acquire("client", 1, 60)
except Exception as error:
    print(isinstance(error, ImportError), error)
else:
    print("no error")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=TESTS,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    imported, error = done.stdout.splitlines()
    assert imported == "imported"
    assert error.startswith("True "), error
    assert "serveract[redis]" in error
