"""asyncio-katas: every workflow, the learner's and the maintainer's. `nox -l` lists them.

Learner:     nox -s practice          where you are and which kata is next
             nox -s kata -- 04        one kata's tests (by number or name)
Maintainer:  nox                      the repository's checks (proofs, harness, lint, types)
Author:      nox -s new -- SLUG "Title"   start a kata;  nox -s proofs -- NN   check one kata
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from katas._tools.catalog import KataError, find

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)


def _install(session: nox.Session, group: str) -> None:
    # Compiled now, not at each import: where PYTHONDONTWRITEBYTECODE is set (our machines), each
    # of the proofs' hundreds of pytest runs would compile pytest and aiohttp again.
    session.install(
        *nox.project.dependency_groups(PYPROJECT, group), env={"UV_COMPILE_BYTECODE": "1"}
    )


@nox.session(default=False, reuse_venv=True)
def practice(session: nox.Session) -> None:
    """Show every kata's state and the next one to work on (-- --json PATH to save results)."""
    _install(session, "test")
    session.run("python", "-m", "katas._tools.learner", "practice", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def kata(session: nox.Session) -> None:
    """Run one kata's tests: nox -s kata -- 04 (or -- gather)."""
    _learner(session, "kata")


def _learner(session: nox.Session, command: str, module: str = "katas._tools.learner") -> None:
    """Run a learner command on the kata named after `--`, refusing unknown names in one line."""
    if not session.posargs:
        session.error(f"name one kata, e.g. `python3 -m nox -s {command} -- 04` or `-- gather`")
    try:
        find(session.posargs[0])
    except KataError as error:
        session.error(str(error))
    _install(session, "test")
    session.run("python", "-m", module, command, *session.posargs)


@nox.session(default=False, reuse_venv=True)
def watch(session: nox.Session) -> None:
    """Rerun the current kata on every save and move on when it passes: nox -s watch [-- 04]."""
    if session.posargs:
        try:
            find(session.posargs[0])
        except KataError as error:
            session.error(str(error))
    _install(session, "learn")
    session.run("python", "-m", "katas._tools.watch", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def hint(session: nox.Session) -> None:
    """Reveal the next hint of a kata, one at a time: nox -s hint -- 04."""
    _learner(session, "hint")


@nox.session(default=False, reuse_venv=True)
def reset(session: nox.Session) -> None:
    """Restore a kata's original stub after a confirmation, backing up yours: -- 04 [--yes]."""
    _learner(session, "reset")


@nox.session(default=False, reuse_venv=True)
def solution(session: nox.Session) -> None:
    """Show a kata's reference solution as a diff against the stub (a spoiler): -- 04."""
    _learner(session, "solution")


@nox.session(default=False, reuse_venv=True)
def dojo(session: nox.Session) -> None:
    """Run a dojo: rotate every few minutes with the tests' verdict: -- 04 [--minutes 5]."""
    _learner(session, "dojo", module="katas._tools.sessions")


@nox.session(default=False, reuse_venv=True)
def interview(session: nox.Session) -> None:
    """Practise an interview: brief, clock, tests on demand, follow-up: -- 13 [--minutes 30]."""
    _learner(session, "interview", module="katas._tools.sessions")


@nox.session(default=False, reuse_venv=True)
def new(session: nox.Session) -> None:
    """Start a new kata from the templates: nox -s new -- SLUG "Title" [--after NN]."""
    session.run("python", "-m", "katas._tools.scaffold", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def proofs(session: nox.Session) -> None:
    """Check one kata while you write it: its layout and three proofs (nox -s proofs -- NN)."""
    if len(session.posargs) != 1:
        session.error("name one kata, e.g. `python3 -m nox -s proofs -- 07`")
    try:
        name = find(session.posargs[0]).name
    except KataError as error:
        session.error(str(error))
    _install(session, "proofs")
    session.run(
        "pytest", "tests/test_proofs.py", "tests/test_layout.py", "-q", "-n", "2", "-k", name
    )


@nox.session(default=False, python=False)
def publish(session: nox.Session) -> None:
    """Build the practice (no solutions) and solutions branches locally; pushes nothing."""
    session.run("python3", "-m", "katas._tools.publish", external=True)


# Default sessions run in the order defined: lint and types first, so that the tests' failures
# (pytest's summary) are the last thing a red CI log shows.
@nox.session
def lint(session: nox.Session) -> None:
    """Check style and asyncio pitfalls with ruff."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _components() -> list[str]:
    """The folders of the katas whose learner writes the tests (they have katas/_bugs/)."""
    bugs = Path("katas/_bugs")
    return [f"katas/{p.name}/given" for p in bugs.iterdir() if p.is_dir()] if bugs.is_dir() else []


@nox.session
def types(session: nox.Session) -> None:
    """Type-check the reference solutions, the harness and the tools with mypy (strict)."""
    _install(session, "types")
    # Two runs, because the harness is imported as `harness` (pytest puts katas/ on the path)
    # while the tools are the package `katas._tools`.
    solutions = sorted(str(p) for p in Path("solutions").glob("*/*.py"))
    session.run(
        "mypy",
        "katas/harness.py",
        "katas/_harness",
        "katas/servers.py",
        "katas/conftest.py",
        *solutions,
        # A "write the tests" kata's reference imports the component beside its stub.
        env={"MYPYPATH": os.pathsep.join(["katas", *sorted(_components())])},
    )
    session.run("mypy", "noxfile.py", *sorted(str(p) for p in Path("tests").glob("*.py")))
    session.run("mypy", "-p", "katas._tools")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the repository's own tests: the three proofs for every kata, the harness, the tools."""
    _install(session, "proofs")
    # Four workers on two cores: most proof runs wait on their kata's sleeps, not the CPU.
    session.run("pytest", "tests", "-n", "6", "-q", *session.posargs)


@nox.session(python=PYTHONS, default=False)
def matrix(session: nox.Session) -> None:
    """Run the repository's own tests on every supported Python."""
    tests(session)


@nox.session(python=PYTHONS, default=False)
def stress(session: nox.Session) -> None:
    """Prove every kata under jitter, eager tasks and uvloop with both cores busy."""
    _install(session, "stress")
    session.run("python", "tests/stress.py", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def mutation(session: nox.Session) -> None:
    """List the changes to a kata's reference that no test notices (nox -s mutation -- NN)."""
    if not session.posargs:
        session.error("name a kata, e.g. `python3 -m nox -s mutation -- 14`")
    _install(session, "mutation")
    session.run("python", "tests/mutation.py", *session.posargs)


@nox.session(default=False, reuse_venv=True)
def messages(session: nox.Session) -> None:
    """Print what a learner sees for a kata's stub and decoys (nox -s messages -- NN [decoy])."""
    _install(session, "proofs")
    session.run("python", "tests/messages.py", *session.posargs)
