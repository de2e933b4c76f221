"""The benchmark in bench/ still runs: a short smoke, every answer checked.

No timing is asserted (CI machines are too noisy for that); the figures come
from ``python bench/bench_serveract.py`` run by hand.
"""

from __future__ import annotations

import json
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

HAS_LIMITS = bench_serveract.HAS_LIMITS


def run_bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(report), *args],
        cwd=ROOT,
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
        for impl in case["implementations"]:
            where = f"{case['title']} / {impl['name']}"
            assert impl["failures"] == [], where
            # the first in full, then the loop (a slow crafted body may be alone)
            assert impl["answers"] > (case["id"] != "crafted_multipart"), where
            assert impl["value"] is not None, where


def test_every_case_runs_with_every_answer_checked(tmp_path: Path) -> None:
    chart = tmp_path / "chart.svg"
    result = run_bench(tmp_path, "--server", "--svg", str(chart))
    expected = set(bench_serveract.CASE_IDS) - (
        set() if HAS_LIMITS else {"limited_call"}
    )
    assert_every_answer_checked(result, expected)
    assert [goal["label"] for goal in result["targets"]][:4] == [
        "JSON header call / raw WSGI",
        "JSON header call / Falcon",
        "JSON header call / Flask",
        "no-JS form call / parse_qsl",
    ]
    assert all(goal["measured"] is not None for goal in result["targets"])
    bars = ET.parse(chart).getroot().findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 1 + sum(goal["unit"] != " KiB" for goal in result["targets"])


def test_rate_limited_calls_are_skipped_with_a_note_only_on_code_without_them(
    tmp_path: Path,
) -> None:
    result = run_bench(tmp_path, "--cases", "limited_call")
    if HAS_LIMITS:
        assert_every_answer_checked(result, {"limited_call"})
        names = [i["name"] for i in result["cases"][0]["implementations"]]
        assert names == ["no limit", "MemoryLimiter", "RedisLimiter"]
    else:
        assert result["cases"] == []
        assert result["notes"][0].startswith("limited_call skipped: no MemoryLimiter")


def test_instruction_counts_come_from_callgrind(tmp_path: Path) -> None:
    result = run_bench(
        tmp_path,
        "--instructions",
        "--loops",
        "1,3",
        "--jobs",
        "2",
        "--cases",
        "too_large",
    )
    assert_every_answer_checked(result, {"too_large"})
    assert result["metric"] == "instructions"
    for impl in result["cases"][0]["implementations"]:
        assert 1_000 < impl["value"] < 10_000_000, impl  # instructions, not seconds
