"""Run kata tests in a throw-away copy of the repository, with any file in place of a stub.

"With X in place of the stub" means exactly this: a copy of the harness and one kata folder in
which katas/NN_slug/slug.py is replaced by X. The proofs and the harness tests both use it.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from katas._tools.catalog import REPO, Kata
from katas._tools.results import Outcome

HARNESS = [
    "katas/conftest.py",
    "katas/harness.py",
    "katas/_harness",
    "katas/servers.py",
    "katas/_tools",
]


@dataclass
class Run:
    outcomes: list[Outcome]
    output: str
    leftovers: list[str]  # files written outside the run's temporary folder, processes left

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome != "passed"]

    def outcome_of(self, test: str) -> Outcome:
        matches = [o for o in self.outcomes if o.test == test]
        assert matches, (
            f"no test named {test} ran; ran: {[o.test for o in self.outcomes]}\n{self.output}"
        )
        return matches[0]


def build(tmp: Path, kata: Kata | None = None, answer: Path | None = None) -> Path:
    """A sandbox holding the harness, the pytest configuration and (optionally) one kata."""
    for part in ["pyproject.toml", *HARNESS]:
        source, target = REPO / part, tmp / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    if kata is not None:
        shutil.copytree(
            kata.folder, tmp / "katas" / kata.name, ignore=shutil.ignore_patterns("__pycache__")
        )
        if answer is not None:
            shutil.copy(answer, tmp / "katas" / kata.name / kata.stub.name)
        if kata.bugs:  # a kata whose learner writes the tests: its broken versions too
            shutil.copytree(kata.bugs[0].parent, tmp / "katas" / "_bugs" / kata.name)
    return tmp


def run(sandbox: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """Run pytest in the sandbox; every test's outcome plus the whole output."""
    results = sandbox / "results.json"
    before = _files(sandbox)
    arguments = [
        # Plugins of the proofs' own environment (xdist) or of no kata (anyio, a dependency's):
        # loading them is most of a short run's start-up.
        *("-p", "no:xdist", "-p", "no:xdist.looponfail", "-p", "no:anyio"),
        "-p",
        "katas._tools.results",
        "--results-json",
        str(results),
        # tmp_path inside the sandbox: what the tests leave behind can be found
        f"--basetemp={sandbox / TEMP}",
        *args,
    ]
    environment = {**os.environ, "KATA_STAGE": "all", **(env or {})}
    # Bytecode (pytest's assertion-rewritten plugins too) goes to one cache for every run, not
    # into the sandbox: written once, read by the next run.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = _bytecode_cache()
    log = sandbox / "output.txt"
    if hasattr(os, "fork") and os.environ.get("KATA_FORK", "1") != "0":
        _launcher().run(sandbox, arguments, environment, log)
    else:  # no fork (Windows), or KATA_FORK=0 to compare: a fresh interpreter for each run
        with log.open("w") as out:
            subprocess.run(
                [sys.executable, "-m", "pytest", *arguments],
                cwd=sandbox,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
            )
    output = log.read_text(errors="replace")
    records = json.loads(results.read_text()) if results.is_file() else []
    outcomes = [Outcome(**record) for record in records]
    return Run(outcomes, output, _leftovers(sandbox, before | {results, log}))


TEMP = ".pytest-tmp"


class Launcher:
    """tests/launcher.py, started once per process that runs sandboxes; each run is a fork."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("launcher.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(self.close)

    def run(self, cwd: Path, args: list[str], env: dict[str, str], log: Path) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"cwd": str(cwd), "args": args, "env": env, "log": str(log)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        pid = self._answer()["pid"]
        try:
            code: int = self._answer()["code"]
            return code
        except BaseException:  # interrupted (a timeout): end the run and what it started,
            with contextlib.suppress(ProcessLookupError):  # and keep the protocol in step
                os.killpg(pid, signal.SIGKILL)
            self._answer()
            raise

    def _answer(self) -> dict[str, int]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"tests/launcher.py ended (exit {self.process.wait()})")
        answer: dict[str, int] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


@functools.cache
def _launcher() -> Launcher:
    return Launcher()


@functools.cache
def _bytecode_cache() -> str:
    folder = tempfile.mkdtemp(prefix="katas-bytecode-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def _leftovers(sandbox: Path, expected: set[Path]) -> list[str]:
    """Files a run wrote outside its tmp_path, and processes of it still running (a server
    a test did not stop): the kata tests must leave nothing behind."""
    written = sorted(
        str(p.relative_to(sandbox))
        for p in _files(sandbox) - expected
        if not p.is_relative_to(sandbox / TEMP) and "__pycache__" not in p.parts
    )
    # With the separator: the sandbox "test_x1" must not claim the processes of "test_x10".
    inside, running = str(sandbox) + os.sep, []
    for process in Path("/proc").glob("[0-9]*"):  # Linux, where CI runs; elsewhere none seen
        try:
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(process / "cwd")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if inside in command or (cwd + os.sep).startswith(inside):
            running.append(f"process {process.name} still running: {command.strip()}")
    return written + running


def run_kata(tmp: Path, kata: Kata, answer: Path | None, only: str = "", stop: bool = False) -> Run:
    """The kata's tests (or just the test `only`) with `answer` in place of its stub; with
    `stop`, up to the first failure (pytest -x)."""
    target = f"katas/{kata.name}/{kata.tests.name}::{only}" if only else f"katas/{kata.name}"
    return run(build(tmp, kata, answer), target, *(["-x"] if stop else []))


@dataclass
class Decoy:
    """A plausible wrong answer: the mistake, the test that must catch it, what it must say."""

    path: Path
    mistake: str
    caught_by: str
    says: str
    # Why the mistake cannot show on uvloop, for a mistake only asyncio's own loop exposes.
    not_on_uvloop: str = ""


def read_decoy(path: Path) -> Decoy:
    """Parse a decoy's docstring: the mistake, then `caught by: test_x` and `says: phrase`
    (and `not on uvloop: why`, for a mistake only asyncio's own loop exposes)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    fields = dict(
        line.split(":", 1)
        for line in doc.splitlines()[1:]
        if line.split(":", 1)[0] in ("caught by", "says", "not on uvloop")
    )
    return Decoy(
        path,
        doc.splitlines()[0] if doc else "",
        fields.get("caught by", "").strip(),
        fields.get("says", "").strip(),
        fields.get("not on uvloop", "").strip(),
    )
