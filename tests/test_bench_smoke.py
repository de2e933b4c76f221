"""The benchmark in bench/ still runs: a short smoke, every answer checked.

No timing is asserted (CI machines are too noisy for that); the figures come
from ``python bench/bench_serveract.py`` run by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

# The compared frameworks are test dependencies: a missing one fails here
# rather than skipping the smoke.
import falcon  # noqa: F401
import flask  # noqa: F401
from access_support import redis_server

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench_serveract.py"
sys.path.insert(0, str(BENCH.parent))
import bench_serveract  # noqa: E402


def run_bench(tmp_path: Path, *args: str, **env: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(report), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def assert_every_answer_checked(impls: list[dict[str, Any]]) -> None:
    for impl in impls:
        where = f"{impl['case']} / {impl['name']}"
        assert impl["failure"] == "", where
        assert impl["answers"] > 1, where  # the first in full, then the loop
        assert impl["value"] is not None, where


def test_every_case_runs_with_every_answer_checked(tmp_path: Path) -> None:
    chart = tmp_path / "chart.svg"
    with redis_server() as redis:
        result = run_bench(tmp_path, "--svg", str(chart), REDIS_URL=redis.url)
    assert_every_answer_checked(result["impls"])
    assert {impl["case"] for impl in result["impls"]} == set(bench_serveract.TITLES)
    labels = [goal["label"] for goal in result["targets"]]
    assert labels == [target[0] for target in bench_serveract.TARGETS]
    assert all(goal["measured"] is not None for goal in result["targets"])
    bars = ET.parse(chart).getroot().findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 1 + sum(goal["unit"] != " KiB" for goal in result["targets"])


def test_without_redis_url_the_redis_row_is_not_run(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--cases", "limited_call", REDIS_URL="")
    names = [impl["name"] for impl in result["impls"]]
    assert names == ["no limit", "MemoryLimiter", "RedisLimiter"]
    assert_every_answer_checked(result["impls"][:2])
    assert result["impls"][2]["skipped"] is True
    assert result["impls"][2]["value"] is None
    assert [goal["label"] for goal in result["targets"]] == ["limit, memory / none"]


def test_instruction_counts_come_from_callgrind(tmp_path: Path) -> None:
    args = ["--instructions", "--jobs", "2", "--cases", "too_large"]
    result = run_bench(tmp_path, *args)
    assert_every_answer_checked(result["impls"])
    assert result["metric"] == "instructions"
    for impl in result["impls"]:
        assert 1_000 < impl["value"] < 10_000_000, impl  # instructions, not ns
