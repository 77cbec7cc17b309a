"""A pytest plugin that keeps each test's outcome per kata, for the learner views and the proofs.

In a subprocess: `python -m pytest -p katas._tools.results --results-json out.json ...`;
in-process: `pytest.main([...], plugins=[Results()])`, then read `.tests`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the progress view reads outcomes without paying for pytest's import
    import pytest


@dataclass
class Outcome:
    """One test (or one file that failed to import) and what became of it."""

    kata: str  # the kata folder, e.g. "04_gather"
    test: str  # the test name, or "" for a file that could not be collected
    outcome: str  # passed | failed | error | skipped
    reason: str  # the first line of the failure, "" when passed
    text: str  # the whole failure report
    duration: float


def _kata_of(nodeid: str) -> str:
    parts = nodeid.split("::")[0].split("/")
    return parts[parts.index("katas") + 1] if "katas" in parts[:-1] else parts[0]


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else report.outcome


class Results:
    """Collects one Outcome per test; a failure in setup or teardown counts as an error."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.tests: dict[str, Outcome] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.split("::", 1)[-1]
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome if report.when == "call" else "error"
            if report.outcome == "skipped":
                outcome = "skipped"
            known = self.tests.get(report.nodeid)
            if known is None or known.outcome == "passed":
                self.tests[report.nodeid] = Outcome(
                    _kata_of(report.nodeid),
                    name,
                    outcome,
                    "" if report.passed else _reason(report),
                    "" if report.passed else report.longreprtext,
                    report.duration,
                )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.tests[report.nodeid] = Outcome(
                _kata_of(report.nodeid), "", "error", _reason(report), report.longreprtext, 0.0
            )

    def pytest_sessionfinish(self) -> None:
        if self.path is not None:
            records = [asdict(o) for o in self.tests.values()]
            self.path.write_text(json.dumps(records, indent=1))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--results-json", help="write every test's outcome to this JSON file")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("results_json")
    if path:
        config.pluginmanager.register(Results(Path(path)), "kata-results")
