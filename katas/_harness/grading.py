"""Grading the tests a learner writes ("write the tests" katas): good tests catch bugs.

The learner's test file runs once on the working component and once on each broken version of it
(katas/_bugs/NN_slug/*.py, each a whole copy with one bug, its docstring saying in behaviour what
it gets wrong), every run in a fresh pytest (`_harness/graded_run.py` swaps the version in). A
test catches a bug when it passes on the working component and fails on the broken one.

A kata's grading tests stay a few lines each:

    GRADER = Grader(__file__, tests="cache_tests.py", component="loading_cache", shown_as="...")

    def test_your_tests_pass_on_the_working_cache(grade): grade.expect_all_pass()

(the `grade` fixture of katas/conftest.py runs the versions once per module, for its GRADER)
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from _harness.outcomes import fail, listed
from _harness.timeline import scaled

# A test that runs this long on the working component waits on real time (a fake clock takes
# microseconds); under load such a test is late and flaky.
SLOW_TEST = 1.0
RUN_LIMIT = 120.0  # one graded pytest run, at most (each learner test has its own timeout)


@dataclass(frozen=True)
class Bug:
    """A broken version of the component: a file and, in behaviour, what it gets wrong."""

    name: str
    path: Path
    breaks: str

    def __str__(self) -> str:  # the test id: test_your_tests_catch[keeps_a_failed_load]
        return self.name


@dataclass(frozen=True)
class Result:
    """One learner test on one version."""

    outcome: str  # passed | failed | error | skipped
    reason: str  # the first line of the failure
    seconds: float
    slept: tuple[tuple[float, int], ...] = ()  # real sleeps the test called: (seconds, line)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class Grade:
    """What the learner's tests did on every version, and the checks a grading test calls."""

    shown_as: str  # "LoadingCache"
    tests_file: str  # "katas/45_cache_tests/cache_tests.py"
    bugs: list[Bug]
    working: dict[str, Result] = field(default_factory=dict)
    broken: dict[str, dict[str, Result]] = field(default_factory=dict)
    problem: str = ""  # the file does not run: why

    def passing(self) -> list[str]:
        """The learner's tests that pass on the working component."""
        return [test for test, result in self.working.items() if result.passed]

    def catchers(self, bug: Bug) -> list[str]:
        """The tests that pass on the working component and fail on this broken one."""
        found = self.broken.get(bug.name, {})
        return [t for t in self.passing() if t in found and not found[t].passed]

    def score(self) -> str:
        caught = sum(bool(self.catchers(bug)) for bug in self.bugs)
        return f"Your tests caught {caught} of {len(self.bugs)} broken versions of {self.shown_as}."

    # The checks, in the order a learner meets them.

    def expect_all_pass(self) -> None:
        """Every test passes on the working component (a test failing there catches nothing)."""
        __tracebackhide__ = True
        self._expect_tests()
        failing = {t: r for t, r in self.working.items() if not r.passed}
        if failing:
            lines = "\n".join(f"  {test}: {r.reason}" for test, r in failing.items())
            fail(
                f"{len(failing)} of your {len(self.working)} tests "
                f"{'fails' if len(failing) == 1 else 'fail'} on the working "
                f"{self.shown_as}, the one the README describes:\n{lines}\n"
                "A test that fails on correct code cannot tell a bug from no bug. Read the "
                "failure: the test expects something the README does not promise, or it "
                "has a mistake of its own."
            )

    def expect_no_real_waits(self, advice: str) -> None:
        """No test sleeps on the real clock or waits long on real time: `advice` says what to
        use instead (the component's clock, its sleep, the loop's fake time)."""
        __tracebackhide__ = True
        self.expect_something_to_grade()
        sleepers = {t: r for t, r in self.working.items() if r.slept}
        slow = {
            t: r for t, r in self.working.items() if r.seconds > scaled(SLOW_TEST) and not r.slept
        }
        if not sleepers and not slow:
            return
        lines = [
            f"  {test} sleeps on the real clock: "
            + listed(f"{seconds:g} s at line {line}" for seconds, line in r.slept)
            for test, r in sleepers.items()
        ] + [
            f"  {test} took {r.seconds:.2f} s on the working {self.shown_as}: it waits on real time"
            for test, r in slow.items()
        ]
        fail(
            "Your tests wait on real time:\n" + "\n".join(lines) + "\n"
            "A test that sleeps to let time pass is slow, and flaky on a busy machine (CI): "
            f"the sleep ends before the work it waits for, or long after. {advice}"
        )

    def expect_caught(self, bug: Bug) -> None:
        """At least one test catches this broken version."""
        __tracebackhide__ = True
        self.expect_something_to_grade()
        if not self.catchers(bug):
            inert = [t for t in self.passing() if not any(t in self.catchers(b) for b in self.bugs)]
            fail(
                f"{self.score()}\nNot caught: a {self.shown_as} that {bug.breaks}.\n"
                f"{_every(self.passing())} passes on it. "
                "Write a test that would fail on such a version: which call shows it, with "
                "what input, and what does the README promise instead?"
                + (
                    f"\n{listed(inert)} {'fails' if len(inert) == 1 else 'fail'} on no broken "
                    "version at all: check that "
                    f"{'it asserts' if len(inert) == 1 else 'they assert'} what the call gave "
                    "back or did, not only that it ran."
                    if inert
                    else ""
                )
            )

    def _expect_tests(self) -> None:
        __tracebackhide__ = True
        if self.problem:
            fail(f"{self.tests_file} does not run: {self.problem}")
        if not self.working:
            fail(
                f"{self.tests_file} has no test: write functions named test_... "
                "(async def works too)."
            )

    def expect_something_to_grade(self) -> None:
        """Nothing is graded before a test passes on the working component (a kata's own
        grading checks start with this too)."""
        __tracebackhide__ = True
        self._expect_tests()
        if not self.passing():
            first, result = next(iter(self.working.items()))
            fail(
                f"Nothing to grade yet: none of your tests passes on the working "
                f"{self.shown_as} ({first}: {result.reason})."
            )


class Grader:
    """Runs a kata's learner test file on the working component and on each broken version."""

    def __init__(self, grading_file: str, *, tests: str, component: str, shown_as: str) -> None:
        self.folder = Path(grading_file).resolve().parent
        self.root = self.folder.parents[1]
        self.tests = self.folder / tests
        self.component = component
        self.shown_as = shown_as
        self.bugs = [
            Bug(path.stem, path, _first_line(path))
            for path in sorted((self.root / "katas" / "_bugs" / self.folder.name).glob("*.py"))
        ]

    def grade(self, work: Path) -> Grade:
        """Run every version (as many at once as there are cores) and gather the results."""
        versions = {"": self.folder / "given" / f"{self.component}.py"}
        versions |= {bug.name: bug.path for bug in self.bugs}
        for name in versions:
            (work / (name or "working")).mkdir(parents=True)
        runs = asyncio.run(self._run_all(versions, work))
        grade = Grade(self.shown_as, str(self.tests.relative_to(self.root)), self.bugs)
        problem, grade.working = runs.pop("")
        grade.problem = problem
        grade.broken = {name: results for name, (_, results) in runs.items()}
        return grade

    async def _run_all(
        self, versions: dict[str, Path], work: Path
    ) -> dict[str, tuple[str, dict[str, Result]]]:
        slots = asyncio.Semaphore(os.cpu_count() or 2)

        async def run(name: str, path: Path) -> tuple[str, dict[str, Result]]:
            async with slots:
                return await self._run(path, work / (name or "working"))

        async with asyncio.TaskGroup() as group:
            tasks = {name: group.create_task(run(name, path)) for name, path in versions.items()}
        return {name: task.result() for name, task in tasks.items()}

    async def _run(self, version: Path, work: Path) -> tuple[str, dict[str, Result]]:
        """One fresh pytest of the learner's tests on one version: (problem, results)."""
        results, sleeps, log = work / "results.json", work / "sleeps.json", work / "output.txt"
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            "KATA_GRADED_COMPONENT": f"{self.component}={version}",
            "KATA_GRADED_SLEEPS": str(sleeps),
        }
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "pytest", str(self.tests), "-q", "-p", "no:xdist"),
                *("-p", "no:anyio", "-p", "katas._harness.graded_run"),
                *("-p", "katas._tools.results", "--results-json", str(results)),
                f"--basetemp={work / 'tmp'}",
                cwd=self.root,
                env=environment,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                async with asyncio.timeout(scaled(RUN_LIMIT)):
                    await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        if not results.is_file():
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            return " / ".join(tail) or "pytest ended without a result", {}
        slept = json.loads(sleeps.read_text()) if sleeps.is_file() else {}
        found: dict[str, Result] = {}
        problem = ""
        for record in json.loads(results.read_text()):
            if not record["test"]:  # the file could not be collected
                problem = record["reason"]
                continue
            found[record["test"]] = Result(
                record["outcome"],
                record["reason"],
                record["duration"],
                tuple((s, line) for s, line in slept.get(record["test"], [])),
            )
        return problem, found


def _every(tests: list[str]) -> str:
    """ "test_a" / "Each of your tests (test_a and test_b)" / "Each of your 7 tests"."""
    if len(tests) == 1:
        return f"Your one test, {tests[0]},"
    if len(tests) <= 3:
        return f"Each of your tests ({listed(tests)})"
    return f"Each of your {len(tests)} tests"


def _first_line(path: Path) -> str:
    """A broken version's docstring, first line: what it gets wrong, in behaviour."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.strip().splitlines()[0].rstrip(".") if docstring.strip() else path.stem
