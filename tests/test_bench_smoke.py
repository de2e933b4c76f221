"""The benchmark in bench/ still runs: a short smoke, every answer checked.

No timing is asserted here (CI machines are too noisy for that); the figures
come from ``python bench/bench_serveract.py`` run by hand.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# The compared frameworks are test dependencies: a missing one fails here
# rather than skipping the smoke.
import bottle  # noqa: F401
import falcon  # noqa: F401
import flask  # noqa: F401
import pyramid  # noqa: F401
import waitress  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench_serveract.py"


def _case_ids() -> set[str]:
    """The benchmark's own list of cases, read from the script."""
    spec = importlib.util.spec_from_file_location("bench_serveract", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return set(module.CASE_IDS)


ALL_CASES = _case_ids()
IN_PROCESS = ALL_CASES - {"server"}


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


def assert_all_checked(result: dict[str, Any], cases: set[str]) -> None:
    assert {case["id"] for case in result["cases"]} == cases
    assert result["all_checks_passed"] is True
    for case in result["cases"]:
        assert case["checks_passed"] is True, case["id"]
        assert case["targets"], case["id"]
        for impl in case["implementations"]:
            where = f"{case['id']} / {impl['name']}"
            assert impl["failures"] == [], where
            assert impl["answers_checked"] > 0, where
            assert impl["rounds"] > 0, where
        for target in case["targets"]:
            assert target["measured"] is not None, (case["id"], target)


def test_in_process_and_server_modes(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--all")
    assert_all_checked(result, ALL_CASES)
    upload = next(c for c in result["cases"] if c["id"] == "passthrough_upload")
    assert set(upload["extra"]["peak_bytes"]) == {"bare", "serveract-wrapped"}
    server = next(c for c in result["cases"] if c["id"] == "server")
    wrk = shutil.which("wrk")
    assert result["settings"]["server"]["client"] == ("wrk" if wrk else "python")
    for impl in server["implementations"]:
        assert impl["answers_checked"] > 1, impl["name"]  # the load, not one probe


def test_server_mode_with_the_python_client(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--server", "--client", "python", "--seconds", "0.3")
    assert_all_checked(result, {"server"})
    assert result["settings"]["server"]["client"] == "python"
