"""Benchmark serveract against hand-written WSGI, Falcon and Flask.

Each case runs implementations of the same work, every request a fresh
environ handed straight to the WSGI callable, and checks every answer: the
first in full, the others against it. A wrong answer fails the run (exit 1).

By default implementations are timed by wall clock, round-robin, and a ratio
is the median of per-round ratios. ``--instructions`` counts CPU instructions
per request under valgrind's callgrind instead, which repeat run to run where
wall-clock ratios move by 10-50 %: each implementation serves n₁ and n₂
requests in two fresh processes (``PYTHONHASHSEED=0``, no bytecode written,
start-up uninstrumented), and what stays fixed cancels in
(total₂ - total₁) / (n₂ - n₁). Issue 11's targets are these ratios, Flask's
excepted (wall clock). The crafted multipart bodies (issue 10) are timed in a
child killed after ``--timeout`` seconds, so that a parser taking minutes
shows as "> 10 s" rather than a hung bench. ``--server`` adds waitress and
wrk on 127.0.0.1 (no target depends on it).

Usage::

    python bench/bench_serveract.py                      # wall clock
    python bench/bench_serveract.py --instructions --jobs 2 --svg chart.svg
    python bench/bench_serveract.py --quick --server     # smoke, all checked

``BENCH_SERVERACT_DIR=/other/copy`` measures the serveract.py found there.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_apps as apps  # first: it puts BENCH_SERVERACT_DIR on sys.path
from bench_apps import Environ, WSGIApp, request

import serveract

HAS_LIMITS = hasattr(serveract, "MemoryLimiter")  # rate limits came with rev. 2
LIMIT = "1000000/second"
HEADER, FORWARD, PLAIN = "serveract header call", "do-nothing middleware", "plain"
CRAFTED = "200,000 header lines", 'a field of 1 MiB "\\n"', '50,000 ";" in Content-Type'
X = "\u00d7"  # the multiplication sign
TITLES = {
    "json_call": "1 JSON call create_user(name, email, age)",
    "form_call": "2 no-JS form call, the page rendered again",
    "passthrough_get": "3 pass-through GET",
    "passthrough_get_flask": "3 pass-through GET, Flask",
    "passthrough_form": "4 pass-through POST, urlencoded",
    "passthrough_upload": "4 pass-through POST, 2 MiB multipart",
    "too_large": "5 413 for Content-Length > max_body_size",
    "limited_call": f'6 JSON call, limit="{LIMIT}"',
    "crafted_multipart": "7 header calls, {} KiB multipart",
    "server": "8 waitress + wrk: JSON call",  # these two with --server only
    "server_get": "8 waitress + wrk: GET",
}
CASE_IDS = tuple(TITLES)
# name / base <= limit: issue 11's targets (instruction ratios, but Flask's),
# issue 10's (crafted bodies, wall clock); a limit of None shows a ratio.
TARGETS = [
    ("JSON header call / raw WSGI", "json_call", HEADER, "raw WSGI", 1.15),
    ("JSON header call / Falcon", "json_call", HEADER, "Falcon", 0.6),
    ("JSON header call / Flask", "json_call", HEADER, "Flask", 0.1),
    ("no-JS form call / parse_qsl", "form_call", "serveract", "parse_qsl handler", 1.1),
    ("pass-through GET / do-nothing", "passthrough_get", "serveract", FORWARD, 1.05),
    ("urlencoded POST / do-nothing", "passthrough_form", "serveract", FORWARD, 1.35),
    ("2 MiB multipart / do-nothing", "passthrough_upload", "serveract", FORWARD, 1.05),
    ("limit, memory / none", "limited_call", "MemoryLimiter", "no limit", None),
    ("limit, Redis / none", "limited_call", "RedisLimiter", "no limit", None),
    *[(f"{name} / plain", "crafted_multipart", name, PLAIN, 3.0) for name in CRAFTED],
]

Answer = tuple[str, list[tuple[str, str]], bytes]
Check = Callable[[Answer], list[str]]


# ---------------------------------------------------------------- checks


def json_answer(code: int, value: object = None) -> Check:
    """The status and a JSON body equal to ``value``; with ``value`` None,
    the spec's error body and ``Cache-Control: no-store``."""

    def check(answer: Answer) -> list[str]:
        status, headers, body = answer
        problems = [] if status.startswith(f"{code} ") else [f"status {status}"]
        try:
            got = json.loads(body)
        except ValueError:
            return [*problems, f"not JSON: {body[:80]!r}"]
        if value is not None:
            return problems + ([] if got == value else [f"got {got!r}"])
        error = got.get("error") if isinstance(got, dict) else None
        if not isinstance(error, dict) or not {"type", "message"} <= set(error):
            problems.append(f"not the spec's error body: {got!r}")
        if ("Cache-Control", "no-store") not in headers:
            problems.append("no Cache-Control: no-store")
        return problems

    return check


def exact_answer(status: str, headers: list[Any] | None, body: bytes) -> Check:
    """Byte for byte this answer; ``headers`` None: whatever the headers."""

    def check(got: Answer) -> list[str]:
        if got[0::2] == (status, body) and headers in (None, got[1]):
            return []
        return [f"differs: {got[0]} {got[1]} {got[2][:60]!r}"]

    return check


def clean_answer(answer: Answer) -> list[str]:
    """A crafted body may be parsed (200) or refused (4xx, the error body)."""
    code = int(answer[0][:3])
    if code == 200 or not 400 <= code < 500:
        return [] if code == 200 else [f"status {answer[0]}"]
    return json_answer(code)(answer)


# ---------------------------------------------------------------- cases


@dataclass
class Impl:
    """One implementation of a case, and what the run learnt of it."""

    name: str
    build: Callable[[], WSGIApp]
    environ: Callable[[], Environ]
    check: Check
    times: list[float] = field(default_factory=list)  # ns/request, per round
    value: float | None = None  # ns or instructions per request
    timed_out: bool = False
    answers: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        if problem not in self.failures and len(self.failures) < 5:
            self.failures.append(problem)

    def first_answer(self, app: WSGIApp) -> tuple[str, bytes] | None:
        """Call once and check the answer in full; None when it is wrong."""
        try:
            answer = call(app, self.environ())
        except Exception as exc:  # this implementation fails, the run goes on
            self.fail(f"raised {exc!r}")
            return None
        self.answers += 1
        for problem in self.check(answer):
            self.fail(problem)
        return None if self.failures else (answer[0], answer[2])

    def serve(self, app: WSGIApp, first: tuple[str, bytes], n: int) -> None:
        """The measured loop: ``n`` requests, each a fresh environ, as a
        server makes them; then each answer compared with the first."""
        make_environ, answers = self.environ, []
        state: list[Any] = [None]

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            state[0] = status
            return _no_write

        for _ in range(n):
            iterable = app(make_environ(), start_response)
            body = b"".join(iterable)  # may call start_response
            if hasattr(iterable, "close"):
                iterable.close()
            answers.append((state[0], body))
        self.answers += n
        for answer in answers:
            if answer != first:
                self.fail(f"an answer differs: {answer[0]} {answer[1][:60]!r}")


@dataclass
class Case:
    id: str
    title: str
    impls: list[Impl]

    def impl(self, name: str) -> Impl:
        return next(impl for impl in self.impls if impl.name == name)


def store(title: str, data: BinaryIO) -> dict[str, object]:
    """The action the multipart bodies call: the title, the file's size."""
    return {"title": title, "size": len(data.read())}


def wrap(app: WSGIApp, limit: str | None = None, **options: Any) -> WSGIApp:
    """``app`` in serveract with create_user (limited if asked) and store."""
    registry = serveract.Registry()
    decorate = registry.action(limit=limit) if limit else registry.action
    decorate(apps.create_user)
    registry.action(store)
    return serveract.ServerActions(app, registry, secret=apps.SECRET, **options)


def crafted(size: int) -> list[Impl]:
    """Issue 10's hostile bodies of about ``size`` bytes and a plain one, sent
    as header calls so that every body is parsed, whatever the code."""
    data = b"0123456789abcdef" * (size // 16)  # no CR, LF or "-": no boundary
    plain_type, plain = apps.multipart([("title", "plain"), ("data", ("d", data))])
    title = b'--b\r\nContent-Disposition: form-data; name="title"\r\n'
    junk = 'multipart/form-data; boundary=b; a="' + ";" * (size * 50_000 >> 20)
    end = b"\r\nx\r\n--b--\r\n"
    bodies = [
        (PLAIN, plain_type, plain, json_answer(200, {"title": "plain", "size": size})),
        (CRAFTED[0], plain_type, title + b"a:b\r\n" * (size // 5) + end, clean_answer),
        (CRAFTED[1], plain_type, title + b"\r\n" + b"\n" * size + end, clean_answer),
        (CRAFTED[2], junk, plain, clean_answer),
    ]
    headers = {**apps.SAME_ORIGIN, "Serveract-Action": "store"}
    big = functools.partial(wrap, apps.not_found, max_body_size=4 * size)
    impls = []
    for name, kind, body, check in bodies:
        environ = request("POST", "/", {**headers, "Content-Type": kind}, body)
        impls.append(Impl(name, big, environ, check))
    return impls


def passing(bare: Callable[[], WSGIApp], req: Callable[[], Environ]) -> list[Impl]:
    """A pass-through case: the app alone, behind the do-nothing middleware
    and in serveract, each answer the bare app's, byte for byte."""
    expected = functools.cache(lambda: exact_answer(*call(bare(), req())))

    def same(answer: Answer) -> list[str]:
        return expected()(answer)

    return [
        Impl("bare app", bare, req, same),
        Impl(FORWARD, lambda: apps.Forward(bare()), req, same),
        Impl("serveract", lambda: wrap(bare()), req, same),
    ]


def build_cases(size: int) -> list[Case]:
    """Every case (``size``: the crafted bodies'). Nothing is built or
    imported until an implementation's ``build`` runs."""
    json_req = request("POST", "/create_user", apps.JSON_HEADERS, apps.JSON_BODY)
    ok = json_answer(200, apps.USER)
    raw, called = lambda: apps.raw_create_user, lambda: wrap(apps.not_found)
    json_call = [
        Impl("raw WSGI", raw, json_req, ok),
        Impl("Falcon", apps.falcon_app, json_req, ok),
        Impl("Flask", apps.flask_app, json_req, ok),
        Impl(HEADER, called, json_req, ok),
    ]
    limited = [Impl("no limit", called, json_req, ok)]
    if HAS_LIMITS:  # path calls and rate limits came with rev. 2
        path = "/_serveract/create_user"
        path_req = request("POST", path, apps.JSON_CALL_HEADERS, apps.JSON_BODY)
        json_call.append(Impl("serveract path call", called, path_req, ok))
        memory = functools.partial(wrap, apps.not_found, LIMIT)
        limited.append(Impl("MemoryLimiter", memory, json_req, ok))
    if HAS_LIMITS and (url := os.environ.get("BENCH_REDIS_URL")):

        def redis() -> WSGIApp:
            return wrap(apps.not_found, LIMIT, limiter=serveract.RedisLimiter(url))

        limited.append(Impl("RedisLimiter", redis, json_req, ok))
    form = request("POST", "/signup", apps.FORM_HEADERS, apps.FORM_CALL_BODY)
    page = exact_answer("200 OK", None, apps.signup_page(apps.USER, None))
    get = request("GET", "/", apps.GET_HEADERS)
    post = request("POST", "/", apps.FORM_HEADERS, apps.PLAIN_FORM_BODY)
    upload = request("POST", "/", apps.UPLOAD_HEADERS, apps.UPLOAD_BODY, apps.copying)
    unread = request("POST", "/", apps.TOO_LARGE_HEADERS, stream=apps.Unreadable)
    refused = json_answer(413, {"error": "413 Content Too Large"})
    impls = {
        "json_call": json_call,
        "form_call": [
            Impl("parse_qsl handler", lambda: apps.raw_signup, form, page),
            Impl("serveract", lambda: wrap(apps.signup_app), form, page),
        ],
        "passthrough_get": passing(lambda: apps.hello_app, get),
        "passthrough_get_flask": passing(apps.flask_hello, get),
        "passthrough_form": passing(lambda: apps.echo_app, post),
        "passthrough_upload": passing(lambda: apps.upload, upload),
        "too_large": [
            Impl("raw WSGI", raw, unread, refused),
            Impl("serveract", called, unread, json_answer(413)),
        ],
        "limited_call": limited,
        "crafted_multipart": crafted(size),
        "server": [
            Impl("raw WSGI", raw, json_req, ok),
            Impl(HEADER, called, json_req, ok),
        ],
        "server_get": passing(lambda: apps.hello_app, get)[::2],
    }
    return [Case(id, TITLES[id].format(size >> 10), impls[id]) for id in impls]


# ---------------------------------------------------------------- measuring


def _no_write(data: bytes) -> None:
    raise AssertionError("these apps do not use write()")


def call(app: WSGIApp, environ: Environ) -> Answer:
    """One request as a server makes it: status, headers and body."""
    answer: list[Any] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        answer[:] = [status, list(headers)]
        return _no_write

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
    return answer[0], answer[1], body


def time_case(case: Case, rounds: int, sample_ns: float) -> None:
    """Round-robin: each round times every implementation once (the first
    one rotating), after a collection; each pays for its own garbage."""
    live = []
    for impl in case.impls:
        app = impl.build()
        if (first := impl.first_answer(app)) is not None:
            start = time.perf_counter_ns()
            impl.serve(app, first, 10)
            per_call = (time.perf_counter_ns() - start) / 10
            live.append((impl, app, first, max(2, int(sample_ns / per_call))))
    for number in range(rounds):
        shift = number % max(len(live), 1)
        for impl, app, first, calls in live[shift:] + live[:shift]:
            gc.collect()
            start = time.perf_counter_ns()
            impl.serve(app, first, calls)
            impl.times.append((time.perf_counter_ns() - start) / calls)
    for impl in case.impls:
        impl.value = statistics.median(impl.times) if impl.times else None


def extra_peak_memory(case: Case) -> float:
    """Peak bytes serveract's pass-through of the 2 MiB body allocates beyond
    the do-nothing middleware's (tracemalloc, the median of three)."""
    peaks: dict[str, list[int]] = {FORWARD: [], "serveract": []}
    tracemalloc.start()
    for name in [*peaks] * 3:
        impl = case.impl(name)
        app, environ = impl.build(), impl.environ()
        gc.collect()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        impl.answers += 1
        for problem in impl.check(call(app, environ)):
            impl.fail(problem)
        peaks[name].append(tracemalloc.get_traced_memory()[1] - before)
    tracemalloc.stop()
    return statistics.median(peaks["serveract"]) - statistics.median(peaks[FORWARD])


def child(mode: str, case_id: str, name: str, n: int, size: int) -> None:
    """Measure one implementation in this fresh process; print a JSON report.

    ``count`` (under callgrind, instrumentation off): warm up, switch the
    instrumentation on, serve ``n`` requests. ``time``: the first request,
    then more while all took less than a second, up to ``n``.
    """
    impl = next(c for c in build_cases(size) if c.id == case_id).impl(name)
    app = impl.build()
    start = time.perf_counter()
    first = impl.first_answer(app)
    seconds = [time.perf_counter() - start]
    if first is not None and mode == "count":
        impl.serve(app, first, 20)  # Python 3.11 specialises its bytecode
        gc.collect()
        gc.freeze()  # start-up's objects stay out of the counted collections
        on = ["callgrind_control", "--instr=on", str(os.getpid())]
        subprocess.run(on, check=True, stdout=subprocess.DEVNULL)  # no pipes to poll
        impl.serve(app, first, n)
    while mode == "time" and first and len(seconds) < n and sum(seconds) < 1:
        start = time.perf_counter()
        impl.serve(app, first, 1)
        seconds.append(time.perf_counter() - start)
    report = {"answers": impl.answers, "failures": impl.failures}
    print(json.dumps({**report, "seconds": statistics.median(seconds)}), flush=True)
    os._exit(0)  # no interpreter clean-up: nothing more to count


def run_child(impl: Impl, job: list[Any], timeout: float, *prefix: str) -> Any:
    """A child running ``child(*job)``: its report, with its stderr as "log";
    None when it failed (the failure kept)."""
    argv = [*prefix, sys.executable, __file__, "--child", json.dumps(job)]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
    try:
        report = json.loads(done.stdout.splitlines()[-1])
    except (IndexError, ValueError):
        impl.fail(f"child exited with {done.returncode}: {done.stderr[-500:]!r}")
        return None
    impl.answers += report["answers"]
    for problem in report["failures"]:
        impl.fail(problem)
    return None if impl.failures else {**report, "log": done.stderr.decode()}


def count_instructions(case: Case, impl: Impl, loops: list[int], size: int) -> None:
    """Instructions per request: the difference of two children's totals
    under callgrind, serving loops[0] and loops[1] requests."""
    valgrind = "valgrind --tool=callgrind --instr-atstart=no"
    totals = []
    for n in loops:
        job = ["count", case.id, impl.name, n, size]
        out = "--callgrind-out-file=/dev/null"
        if not (report := run_child(impl, job, 3600, *valgrind.split(), out)):
            return
        totals.append(int(re.findall(r"Collected : (\d+)", report["log"])[-1]))
    impl.value = (totals[1] - totals[0]) / (loops[1] - loops[0])


def time_in_child(case: Case, impl: Impl, size: int, timeout: float) -> None:
    """Seconds per request in a child, killed after ``timeout`` seconds."""
    try:
        report = run_child(impl, ["time", case.id, impl.name, 5, size], timeout)
    except subprocess.TimeoutExpired:
        impl.value, impl.timed_out = timeout * 1e9, True
    else:
        impl.value = report["seconds"] * 1e9 if report else None


def start_redis() -> tuple[subprocess.Popen[bytes], str] | None:
    """A throw-away redis-server on a free loopback port, persistence off."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = f"redis-server --bind 127.0.0.1 --port {port} --appendonly no".split()
    process = subprocess.Popen([*argv, "--save", ""], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    return None


# wrk's hooks: the request's method and body, and a count of the answers that
# differ from the first one (which was checked in full).
LUA = """wrk.method, wrk.body = {}, {}
local status, expected, threads = {}, {}, {{}}
function setup(thread) table.insert(threads, thread) end
function init() wrong = 0 end
function response(s, h, b)
  if s ~= status or b ~= expected then wrong = wrong + 1 end
end
function done()
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("wrong") end
  io.write(string.format("WRONG %d\\n", n))
end
"""


def over_http(impl: Impl, seconds: int) -> None:
    """``impl`` behind waitress (threads of this process) on 127.0.0.1,
    loaded by wrk over one keep-alive connection; the value is ns per request,
    1e9 / (req/s)."""
    import waitress

    app = impl.build()
    if (first := impl.first_answer(app)) is None:
        return
    server = waitress.create_server(app, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    environ = impl.environ()
    argv = ["wrk", "-t1", "-c1", f"-d{seconds}s"]
    for key, value in environ.items():  # Host too: Origin stays same-origin
        if key.startswith("HTTP_") or key == "CONTENT_TYPE":
            name = key.removeprefix("HTTP_").replace("_", "-").title()
            argv += ["-H", f"{name}: {value}"]  # wrk knows Host, not HOST

    def lua(data: bytes) -> str:
        return '"' + "".join(f"\\{byte}" for byte in data) + '"'

    method, body = environ["REQUEST_METHOD"].encode(), environ["wsgi.input"].read()
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(LUA.format(lua(method), lua(body), first[0][:3], lua(first[1])))
        script.flush()
        url = f"http://127.0.0.1:{server.effective_port}{environ['PATH_INFO']}"
        out = subprocess.run([*argv, "-s", script.name, url], capture_output=True)
    server.close()
    patterns = rb"Requests/sec:\s+([\d.]+)", rb"(\d+) requests in", rb"WRONG (\d+)"
    found = [re.search(pattern, out.stdout) for pattern in patterns]
    rps, requests, wrong = [float(match[1]) if match else -1 for match in found]
    impl.answers += int(requests)
    if wrong or rps <= 0:
        impl.fail(f"wrk: {wrong:.0f} wrong answers of {requests:.0f}")
    else:
        impl.value = 1e9 / rps


# ---------------------------------------------------------------- report


def ratio(case: Case, name: str, base: str) -> float | None:
    """name / base: the median of the per-round ratios when both ran rounds."""
    a, b = case.impl(name), case.impl(base)
    if a.failures or b.failures or not a.value or not b.value:
        return None
    if len(a.times) == len(b.times) > 1:
        return statistics.median(x / y for x, y in zip(a.times, b.times, strict=True))
    return a.value / b.value


def goal(
    label: str, measured: float | None, limit: float | None, above: bool, unit: str
) -> dict[str, Any]:
    """A target's row. ``met`` is None without a limit or a figure; ``above``
    (timed out) means the true figure is higher; ``shown`` has a third
    decimal where two would hide a miss."""
    shown, met = "-", None
    if measured is not None:
        close = limit is not None and round(measured, 2) == limit
        places = 3 if close else 0 if measured >= 10 else 2
        shown = f"{'> ' * above}{measured:,.{places}f}{unit}"
        met = None if limit is None else measured <= limit and not above
    return dict(
        label=label, measured=measured, limit=limit, unit=unit, met=met, shown=shown
    )


def evaluate(cases: list[Case], metric: str, peak: float | None) -> list[Any]:
    """The targets' rows, for the implementations that ran."""
    found = {(case.id, impl.name): case for case in cases for impl in case.impls}
    goals = []
    for label, case_id, name, base, limit in TARGETS:
        if case := found.get((case_id, name)):
            if metric == "instructions" and base == "Flask":
                limit = None  # Flask's target is wall clock
            above = case.impl(name).timed_out
            goals.append(goal(label, ratio(case, name, base), limit, above, X))
    if peak is not None:
        label = "2 MiB multipart: extra peak memory"
        goals.append(goal(label, peak / 1024, 64, False, " KiB"))
    return goals


def tables(cases: list[Case], goals: list[Any], metric: str) -> list[Any]:
    """The results and the targets, each a list of rows of strings."""
    unit = "instructions/request" if metric == "instructions" else "median"
    results = [("case", "implementation", unit, "ratio")]
    for case in cases:
        for number, impl in enumerate(case.impls):
            value, more = impl.value, "> " * impl.timed_out
            if value is None:
                shown = "FAILED" if impl.failures else "-"
            elif case.id == "crafted_multipart":
                shown = f"{more}{value / 1e6:,.1f} ms"
            elif case.id.startswith("server"):
                shown = f"{1e9 / value:,.0f} req/s"
            elif metric == "instructions":
                shown = f"{value:,.0f}"
            else:
                shown = f"{value / 1e3:,.2f} µs"
            base = ratio(case, impl.name, case.impls[0].name)
            base_text = "-" if base is None else f"{more}{base:,.2f}{X}"
            results.append((case.title * (not number), impl.name, shown, base_text))
    targets = [("target", "measured", "limit", "result")]
    for row in goals:
        limit = "" if row["limit"] is None else f"≤ {row['limit']:g}{row['unit']}"
        verdict = {True: "PASS", False: "MISS", None: ""}[row["met"]]
        targets.append((row["label"], row["shown"], limit, verdict))
    return [results, targets]


def plain(value: Impl | Case) -> dict[str, Any]:
    """A case or an implementation as JSON: what the run found out."""
    return {k: v for k, v in vars(value).items() if not callable(v)}


def aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    rows = [rows[0], tuple("-" * width for width in widths), *rows[1:]]
    return "\n".join("  ".join(map(str.ljust, r, widths)).rstrip() for r in rows)


def list_table(rows: list[tuple[str, ...]]) -> str:
    """``rows`` as a reST list-table; a backslash (the "\\n" row) stays."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        lines += [f"   {'  ' if i else '* '}- {c}".rstrip() for i, c in enumerate(row)]
    return "\n".join(lines).replace("\\", "\\\\") + "\n"


def svg_chart(goals: list[Any], title: str, note: str) -> str:
    """A bar per ratio on a linear axis to 3.5x, each target a black tick."""
    rows = [row for row in goals if row["unit"] == X and row["measured"]]
    left, top, step = 300, 62, 26  # px; 100 px per 1x
    width, height = left + 440, top + step * len(rows) + 36
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="12" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="12" y="42" fill="#555">{escape(note)}</text>',
    ]
    for half in range(8):  # the grid, every 0.5x
        x = left + half * 50
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{top - 4}" y2="{height - 30}" '
            f'stroke="{"#999" if half == 2 else "#e4e4e4"}"/><text x="{x}" '
            f'y="{height - 14}" text-anchor="middle" fill="#555">{half / 2:g}{X}</text>'
        )
    for number, row in enumerate(rows):
        y, length = top + number * step, min(row["measured"], 3.5) * 100
        color = {True: "#2e7d32", False: "#c62828", None: "#78909c"}[row["met"]]
        tick = left + min(row["limit"] or 0, 3.5) * 100
        figure = max(left + length, tick + 2) + 5  # clear of the tick
        out.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">'
            f'{escape(row["label"])}</text><rect x="{left}" y="{y + 3}" '
            f'width="{length:.1f}" height="17" fill="{color}"/>'
            f'<text x="{figure:.1f}" y="{y + 16}">{row["shown"]}</text>'
        )
        if row["limit"] is not None:
            out.append(
                f'<line x1="{tick}" x2="{tick}" y1="{y}" y2="{y + 23}" '
                'stroke="#000" stroke-width="3"/>'
            )
    return "\n".join([*out, "</svg>"]) + "\n"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--instructions", action="store_true", help="count with callgrind (minutes)")
    add("--loops", default="20,220", help="instructions: the two loop counts")
    add("--jobs", type=int, default=1, help="instructions: children run at once")
    add("--rounds", type=int, help="wall-clock rounds (default 31, quick 3)")
    add("--server", action="store_true", help="also waitress + wrk on 127.0.0.1")
    add("--quick", action="store_true", help="a short smoke run, answers checked")
    add("--cases", help=f"comma-separated, of: {', '.join(CASE_IDS)}")
    add("--timeout", type=float, default=10.0, help="seconds per crafted body")
    add("--json", metavar="PATH", help="write the results as JSON")
    add("--svg", metavar="PATH", help="write the ratios as an SVG bar chart")
    add("--rst", metavar="PATH", help="write the tables as reST list-tables")
    add("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = 64 << 10 if args.quick else 1 << 20
    if args.child:
        child(*json.loads(args.child))
    wanted = set(args.cases.split(",")) if args.cases else set(CASE_IDS)
    if not wanted <= set(CASE_IDS):
        parser.error(f"--cases: known cases are {', '.join(CASE_IDS)}")
    if not args.server:
        wanted -= {"server", "server_get"}
    for tool, needed in ("wrk", args.server), ("callgrind_control", args.instructions):
        if needed and not shutil.which(tool):
            parser.error(f"{tool} is not on PATH")
    metric = "instructions" if args.instructions else "wall clock"
    notes, redis, started = [], None, time.time()
    if "limited_call" in wanted and not HAS_LIMITS:
        notes.append(f"limited_call skipped: no MemoryLimiter in {serveract.__file__}")
        wanted.remove("limited_call")
    elif "limited_call" in wanted and shutil.which("redis-server"):
        redis = start_redis()
        os.environ["BENCH_REDIS_URL"] = redis[1] if redis else ""  # children too
    if "limited_call" in wanted and not os.environ.get("BENCH_REDIS_URL"):
        notes.append("RedisLimiter skipped: no redis-server could be started")
    loops = [int(n) for n in args.loops.split(",")]
    rounds = args.rounds or (3 if args.quick else 31)
    try:
        cases = [case for case in build_cases(size) if case.id in wanted]
        gc.collect()
        gc.freeze()  # the requests' bodies stay out of every later collection
        counted, peak = [], None
        for case in cases:
            print(f"{case.title} ...", file=sys.stderr, flush=True)
            if case.id == "crafted_multipart":
                for impl in case.impls:
                    time_in_child(case, impl, size, args.timeout)
            elif case.id.startswith("server"):
                for impl in case.impls:
                    over_http(impl, 1 if args.quick else 5)
            elif args.instructions:
                counted += [(case, impl, loops, size) for impl in case.impls]
            else:
                time_case(case, rounds, 1e6 if args.quick else 5e6)
            if case.id == "passthrough_upload":
                peak = extra_peak_memory(case)
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: count_instructions(*job), counted))
    finally:
        if redis is not None:
            redis[0].terminate()
            redis[0].wait(10)
    goals = evaluate(cases, metric, peak)
    results, targets = tables(cases, goals, metric)
    failures = [
        f"FAILED {case.title} / {impl.name}: {problem}"
        for case in cases
        for impl in case.impls
        for problem in impl.failures
    ]
    version = f"serveract {getattr(serveract, '__version__', '?')}"
    where = f"{version} ({serveract.__file__}), Python {sys.version.split()[0]}"
    print(aligned(results), "", aligned(targets), *notes, *failures, sep="\n")
    print(f"{metric}; {where}; {time.time() - started:.0f} s")
    if args.json:
        report: dict[str, Any] = {"metric": metric, "serveract": where}
        report["notes"] = notes
        report |= {"all_checks_passed": not failures, "targets": goals, "cases": cases}
        text = json.dumps(report, indent=2, default=plain)
        Path(args.json).write_text(text + "\n")
    if args.svg:
        title = f"serveract / reference, {metric} per request: lower is better"
        note = f"Black tick: the target. Crafted bodies: wall clock. {version}, one run"
        Path(args.svg).write_text(svg_chart(goals, title, note), encoding="utf-8")
    if args.rst:
        Path(args.rst).write_text(list_table(results) + "\n" + list_table(targets))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
