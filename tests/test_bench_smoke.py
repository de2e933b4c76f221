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

# The compared frameworks and tools are test dependencies: a missing one
# fails here rather than skipping the smoke.
import falcon  # noqa: F401
import flask  # noqa: F401
import waitress  # noqa: F401

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


def assert_every_answer_checked(result: dict[str, Any], cases: set[str]) -> None:
    assert {case["id"] for case in result["cases"]} == cases
    assert result["all_checks_passed"] is True
    for case in result["cases"]:
        for impl in case["impls"]:
            where = f"{case['title']} / {impl['name']}"
            assert impl["failures"] == [], where
            # the first in full, then the loop (a slow crafted body may be alone)
            assert impl["answers"] > (case["id"] != "crafted_multipart"), where
            assert impl["value"] is not None, where


def test_every_case_runs_with_every_answer_checked(tmp_path: Path) -> None:
    chart = tmp_path / "chart.svg"
    result = run_bench(tmp_path, "--server", "--svg", str(chart))
    assert_every_answer_checked(result, set(bench_serveract.CASE_IDS))
    limited = next(c for c in result["cases"] if c["id"] == "limited_call")
    names = [impl["name"] for impl in limited["impls"]]
    assert names == ["no limit", "MemoryLimiter", "RedisLimiter"]
    assert [goal["label"] for goal in result["targets"]][:4] == [
        "JSON header call / raw WSGI",
        "JSON header call / Falcon",
        "JSON header call / Flask",
        "no-JS form call / parse_qsl",
    ]
    assert all(goal["measured"] is not None for goal in result["targets"])
    bars = ET.parse(chart).getroot().findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 1 + sum(goal["unit"] != " KiB" for goal in result["targets"])


def test_a_serveract_without_rate_limits_skips_those_rows_with_a_note(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    source = (ROOT / "serveract.py").read_text(encoding="utf-8")
    (old / "serveract.py").write_text(source + "\ndel MemoryLimiter\n")
    result = run_bench(
        tmp_path, "--cases", "limited_call", BENCH_SERVERACT_DIR=str(old)
    )
    assert result["cases"] == []
    assert result["notes"] == [
        f"limited_call skipped: no MemoryLimiter in {old / 'serveract.py'}"
    ]


def test_instruction_counts_come_from_callgrind(tmp_path: Path) -> None:
    args = ["--instructions", "--loops", "1,2", "--jobs", "2", "--cases", "too_large"]
    result = run_bench(tmp_path, *args)
    assert_every_answer_checked(result, {"too_large"})
    assert result["metric"] == "instructions"
    for impl in result["cases"][0]["impls"]:
        assert 1_000 < impl["value"] < 10_000_000, impl  # instructions, not ns
